//! `GET /logs`: stored lines of a pod or a service, then new ones while
//! following.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use lastbackend_core::server::{HttpError, presented_token};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::sync::broadcast;

use super::{Exporter, LiveLine, StoreError, StoredLine};

#[derive(Clone)]
struct HttpState {
    exporter: Exporter,
    token: Option<Arc<str>>,
}

pub(super) fn router(exporter: Exporter, token: Option<String>) -> Router {
    let state = HttpState {
        exporter,
        token: token.map(Arc::from),
    };
    Router::new()
        .route("/logs", get(logs))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .with_state(state)
}

async fn authenticate(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let Some(expected) = state.token.as_deref() else {
        return next.run(request).await;
    };
    // The API's rule (the API forwards its own token when it proxies, and
    // readers use one token for both): the header first, then the query.
    match presented_token(&request) {
        Some(token) if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => {
            next.run(request).await
        }
        _ => error_response(
            StatusCode::UNAUTHORIZED,
            "Access token is invalid or missing",
        ),
    }
}

/// An error in the API's body shape (`{code,status,message}`), so a reader
/// gets the same answer straight from here as through the API's proxy.
fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    HttpError::new(status, message).into_response()
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    pod: Option<String>,
    service: Option<String>,
    container: Option<String>,
    tail: Option<usize>,
    #[serde(default)]
    follow: bool,
}

/// Which lines a request reads.
#[derive(Clone)]
enum Selection {
    /// One pod, unprefixed.
    Pod(String),
    /// The pods whose selflink starts with `<ns>:<svc>:`, prefixed.
    Service(String),
}

impl Selection {
    fn matches(&self, pod: &str, container: &str, wanted: Option<&str>) -> bool {
        let pod_matches = match self {
            Self::Pod(link) => pod == link,
            Self::Service(prefix) => pod.starts_with(prefix.as_str()),
        };
        pod_matches && wanted.is_none_or(|c| c == container)
    }

    fn format(&self, pod: &str, line: &StoredLine) -> Bytes {
        let text = match self {
            Self::Pod(_) => format!("{}\n", line.line),
            Self::Service(_) => {
                let name = pod.rsplit(':').next().unwrap_or(pod);
                format!("{name} {}\n", line.line)
            }
        };
        Bytes::from(text)
    }
}

/// The highest sequence already written, per pod, container and source.
type Seen = HashMap<(String, String, String), u64>;

async fn logs(State(state): State<HttpState>, Query(query): Query<LogsQuery>) -> Response {
    let selection = match (query.pod, query.service) {
        (Some(pod), None) => Selection::Pod(pod),
        (None, Some(service)) if service.split(':').count() == 2 => {
            Selection::Service(format!("{service}:"))
        }
        _ => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "give exactly one of `pod` (a pod selflink, ns:svc:d_dep:pod) or `service` \
                 (ns:svc)",
            );
        }
    };
    // Subscribed before reading, so no line falls between the two.
    let live = state.exporter.subscribe();
    let (sel, wanted, tail) = (selection.clone(), query.container.clone(), query.tail);
    let read = state
        .exporter
        .with_store(move |store| -> Result<_, StoreError> {
            let pods = match &sel {
                Selection::Pod(link) => vec![link.clone()],
                Selection::Service(prefix) => store.pods(prefix)?,
            };
            let mut lines = Vec::new();
            for pod in pods {
                for container in store.containers(&pod)? {
                    if wanted.as_deref().is_some_and(|w| w != container) {
                        continue;
                    }
                    for line in store.read(&pod, &container, tail)? {
                        lines.push((pod.clone(), container.clone(), line));
                    }
                }
            }
            Ok(lines)
        })
        .await;
    let mut lines = match read {
        Ok(lines) => lines,
        Err(error @ StoreError::InvalidName { .. }) => {
            return error_response(StatusCode::BAD_REQUEST, error.to_string());
        }
        Err(error) => {
            tracing::error!(%error, "cannot read logs");
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, error.to_string());
        }
    };
    let mut seen = Seen::new();
    for (pod, container, line) in &lines {
        let held = seen
            .entry((pod.clone(), container.clone(), line.source.clone()))
            .or_default();
        *held = (*held).max(line.seq);
    }
    // Stable: lines of one container keep their order on equal times.
    lines.sort_by_key(|(_, _, line)| line.time);
    if let Some(n) = tail {
        lines.drain(..lines.len().saturating_sub(n));
    }
    let head: Vec<Result<Bytes, Infallible>> = lines
        .iter()
        .map(|(pod, _, line)| Ok(selection.format(pod, line)))
        .collect();
    let head = futures::stream::iter(head);
    let body = if query.follow {
        let follow = (live, seen, selection, query.container);
        Body::from_stream(head.chain(futures::stream::unfold(follow, next_live)))
    } else {
        Body::from_stream(head)
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

type Follow = (
    broadcast::Receiver<Arc<LiveLine>>,
    Seen,
    Selection,
    Option<String>,
);

/// The next new line for a follower.
async fn next_live(mut follow: Follow) -> Option<(Result<Bytes, Infallible>, Follow)> {
    loop {
        let live = match follow.0.recv().await {
            Ok(live) => live,
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::warn!(skipped, "a log follower fell behind; lines skipped");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        if !follow
            .2
            .matches(&live.pod, &live.container, follow.3.as_deref())
        {
            continue;
        }
        let key = (
            live.pod.clone(),
            live.container.clone(),
            live.line.source.clone(),
        );
        let held = follow.1.entry(key).or_default();
        if live.line.seq <= *held {
            continue;
        }
        *held = live.line.seq;
        let bytes = follow.2.format(&live.pod, &live.line);
        return Some((Ok(bytes), follow));
    }
}
