//! Watch streams that survive a dropped connection.
//!
//! A watch lists first when it has no revision to start from, so it knows
//! exactly where "now" is, then follows `?watch=true&revision=N`. When the
//! connection ends it reconnects with exponential backoff from the last
//! revision it yielded, and skips anything at or below it, so no change is
//! lost or repeated. A compacted revision (410) ends the stream with
//! [`Error::Compacted`](crate::Error::Compacted): list again.

use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use http::Method;
use lastbackend_core::api::types::{List, WatchEvent};
use lastbackend_core::storage::Revision;
use serde::de::DeserializeOwned;

use crate::client::{Client, Lines, Payload, decode};
use crate::error::{Error, Result};

/// The changes of a collection, in revision order.
pub type WatchStream<T> = BoxStream<'static, Result<WatchEvent<T>>>;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

struct Watch {
    client: Client,
    path: String,
    last: Option<Revision>,
    lines: Option<Lines>,
    backoff: Option<Duration>,
    ended: bool,
}

/// Watches the list route `path` for changes after `from` (from now when
/// `None`).
pub(crate) fn watch<T>(client: Client, path: String, from: Option<Revision>) -> WatchStream<T>
where
    T: DeserializeOwned + Send + 'static,
{
    let state = Watch {
        client,
        path,
        last: from,
        lines: None,
        backoff: None,
        ended: false,
    };
    stream::unfold(state, |mut state| async move {
        let item = state.next::<T>().await?;
        Some((item, state))
    })
    .boxed()
}

impl Watch {
    async fn next<T: DeserializeOwned>(&mut self) -> Option<Result<WatchEvent<T>>> {
        while !self.ended {
            let Some(lines) = &mut self.lines else {
                if let Err(err) = self.connect::<T>().await {
                    if err.is_unavailable() {
                        // Said once per failed attempt; the stream goes on.
                        return Some(Err(err));
                    }
                    self.ended = true;
                    return Some(Err(err));
                }
                continue;
            };
            match lines.next().await {
                Some(Ok(line)) if line.trim().is_empty() => {}
                Some(Ok(line)) => match decode::<WatchEvent<T>>(line.as_bytes()) {
                    Ok(WatchEvent::Error(body)) => {
                        self.ended = true;
                        return Some(Err(if body.code == 410 {
                            Error::Compacted(Box::new(body))
                        } else {
                            Error::Api(Box::new(body))
                        }));
                    }
                    Ok(event) => {
                        let revision = event.revision().unwrap_or_default();
                        if self.last.is_some_and(|last| revision <= last) {
                            continue;
                        }
                        self.last = Some(revision);
                        self.backoff = None;
                        return Some(Ok(event));
                    }
                    Err(err) => {
                        self.ended = true;
                        return Some(Err(err));
                    }
                },
                // The server or the network closed the stream: resume.
                Some(Err(_)) | None => self.lines = None,
            }
        }
        None
    }

    async fn connect<T: DeserializeOwned>(&mut self) -> Result<()> {
        if let Some(wait) = self.backoff {
            tokio::time::sleep(wait).await;
        }
        self.backoff = Some(
            self.backoff
                .map_or(FIRST_BACKOFF, |wait| (wait * 2).min(MAX_BACKOFF)),
        );
        let last = match self.last {
            Some(last) => last,
            None => {
                let list: List<T> = self.client.get(&self.path).await?;
                self.last = Some(list.revision);
                list.revision
            }
        };
        let path = format!("{}?watch=true&revision={last}", self.path);
        let response = self.client.send(Method::GET, &path, Payload::Empty).await?;
        self.lines = Some(Lines::new(response.into_body(), false));
        Ok(())
    }
}
