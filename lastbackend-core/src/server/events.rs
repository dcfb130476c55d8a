//! `GET /events`: a websocket that relays every change of the cluster's
//! objects as the original's monitor did:
//! `{"event":"<kind>:<create|update|delete>","payload":<object>}`.

use crate::model::Kind;
use crate::storage::{Event, EventKind};
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::StreamExt;

use super::ApiState;
use super::error::{HttpError, HttpResult};

/// Upgrades to a websocket fed by a storage watch from now on.
pub(crate) async fn events(
    State(state): State<ApiState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> HttpResult<Response> {
    let upgrade = upgrade.map_err(|rejection| {
        HttpError::new(
            rejection.status(),
            format!("/events is a websocket: {}", rejection.body_text()),
        )
    })?;
    let changes = state
        .api()
        .store()
        .storage()
        .watch("", None)
        .await
        .map_err(|e| HttpError::from(crate::api::ApiError::Storage(e)))?;
    Ok(upgrade.on_upgrade(move |socket| relay(socket, changes)))
}

async fn relay(mut socket: WebSocket, mut changes: crate::storage::WatchStream) {
    loop {
        tokio::select! {
            change = changes.next() => {
                let Some(Ok(event)) = change else { break };
                let Some(message) = message(&event) else { continue };
                if socket.send(Message::Text(message.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The monitor message of a change, or `None` for keys that are not objects
/// (leases, agent status records).
pub(crate) fn message(event: &Event) -> Option<String> {
    let kind = kind_of(&event.kv.key)?;
    let action = match event.kind {
        EventKind::Created => "create",
        EventKind::Updated => "update",
        EventKind::Deleted => "delete",
    };
    let value = match (event.kind, &event.prev) {
        (EventKind::Deleted, Some(prev)) => &prev.value,
        _ => &event.kv.value,
    };
    let payload: serde_json::Value = serde_json::from_slice(value).unwrap_or_default();
    Some(
        serde_json::json!({
            "event": format!("{}:{action}", kind.as_str()),
            "payload": payload,
        })
        .to_string(),
    )
}

/// The kind whose collection holds `key` (the longest collection wins:
/// `node/info/` over a bare `node/`).
fn kind_of(key: &str) -> Option<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|kind| {
            key.strip_prefix(kind.collection())
                .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|kind| kind.collection().len())
}

#[cfg(test)]
mod tests {
    use crate::storage::KeyValue;

    use super::*;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: value.as_bytes().to_vec().into(),
            create_revision: 1,
            mod_revision: 2,
            lease: None,
        }
    }

    #[test]
    fn messages_name_the_kind_and_action_as_the_original() {
        let created = Event {
            kind: EventKind::Created,
            kv: kv("node/info/n1", r#"{"meta":{"name":"n1"}}"#),
            prev: None,
        };
        let sent: serde_json::Value = serde_json::from_str(&message(&created).unwrap()).unwrap();
        assert_eq!(sent["event"], "node:create");
        assert_eq!(sent["payload"]["meta"]["name"], "n1");

        let deleted = Event {
            kind: EventKind::Deleted,
            kv: kv("service/demo:web", ""),
            prev: Some(kv("service/demo:web", r#"{"meta":{"name":"web"}}"#)),
        };
        let sent: serde_json::Value = serde_json::from_str(&message(&deleted).unwrap()).unwrap();
        assert_eq!(sent["event"], "service:delete");
        assert_eq!(sent["payload"]["meta"]["name"], "web");
    }

    #[test]
    fn keys_that_are_not_objects_are_skipped() {
        let lease = Event {
            kind: EventKind::Updated,
            kv: kv("node/lease/n1", "{}"),
            prev: None,
        };
        assert_eq!(message(&lease), None);
    }
}
