//! A watch that survives etcd restarts: it re-watches from the revision after
//! the last one it delivered, so no event is lost or repeated.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{EventType, WatchClient, WatchOptions};
use futures::StreamExt;

use super::Keys;
use crate::storage::{Error, Event, EventKind, Revision, WatchStream};

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// One etcd watch stream on a prefix with the state needed to resume it.
pub(super) struct Resuming {
    client: WatchClient,
    keys: Arc<Keys>,
    /// The full etcd key prefix watched.
    prefix: Vec<u8>,
    /// The first revision not yet delivered: where a new watch starts.
    next: Revision,
    stream: Option<etcd_client::WatchStream>,
    pending: VecDeque<Event>,
    backoff: Duration,
    done: bool,
}

impl Resuming {
    /// Opens the first etcd watch now, so an unreachable etcd fails the call
    /// instead of the stream.
    pub(super) async fn open(
        client: WatchClient,
        keys: Arc<Keys>,
        prefix: Vec<u8>,
        next: Revision,
        timeout: Duration,
    ) -> crate::storage::Result<Self> {
        let mut watch = Self {
            client,
            keys,
            prefix,
            next,
            stream: None,
            pending: VecDeque::new(),
            backoff: BACKOFF_MIN,
            done: false,
        };
        let stream = tokio::time::timeout(timeout, watch.start())
            .await
            .map_err(|_| Error::unavailable("etcd", format!("no watch within {timeout:?}")))?
            .map_err(|e| Error::unavailable("etcd", e))?;
        watch.stream = Some(stream);
        Ok(watch)
    }

    /// The revision etcd has compacted to, learnt from a watch started at a
    /// compacted revision (etcd's errors for reads do not carry it).
    pub(super) async fn compact_revision(
        mut self,
        timeout: Duration,
    ) -> crate::storage::Result<Revision> {
        let find = async {
            let Some(stream) = self.stream.as_mut() else {
                return Err(Error::unavailable("etcd", "no watch"));
            };
            loop {
                match stream.message().await {
                    Ok(Some(response)) if response.compact_revision() > 0 => {
                        return Ok(response.compact_revision() as Revision);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => return Err(Error::unavailable("etcd", "watch ended")),
                    Err(e) => return Err(Error::unavailable("etcd", e)),
                }
            }
        };
        tokio::time::timeout(timeout, find).await.map_err(|_| {
            Error::unavailable("etcd", format!("no compaction answer within {timeout:?}"))
        })?
    }

    pub(super) fn into_stream(self) -> WatchStream {
        futures::stream::unfold(self, |mut watch| async move {
            let item = watch.next_item().await?;
            Some((item, watch))
        })
        .boxed()
    }

    async fn start(&mut self) -> Result<etcd_client::WatchStream, etcd_client::Error> {
        let options = WatchOptions::new()
            .with_prefix()
            .with_prev_key()
            .with_start_revision(self.next as i64);
        self.client.watch(self.prefix.clone(), Some(options)).await
    }

    async fn next_item(&mut self) -> Option<crate::storage::Result<Event>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            let Some(stream) = self.stream.as_mut() else {
                match self.start().await {
                    Ok(stream) => self.stream = Some(stream),
                    Err(e) => self.retry_later(&e).await,
                }
                continue;
            };
            match stream.message().await {
                Ok(Some(response)) => {
                    if response.compact_revision() > 0 {
                        self.done = true;
                        return Some(Err(Error::Compacted {
                            requested: self.next.saturating_sub(1),
                            compacted: response.compact_revision() as Revision,
                        }));
                    }
                    if response.canceled() {
                        self.done = true;
                        let reason = format!("watch canceled: {}", response.cancel_reason());
                        return Some(Err(Error::unavailable("etcd", reason)));
                    }
                    self.backoff = BACKOFF_MIN;
                    for event in response.events() {
                        let Some(kv) = event.kv() else { continue };
                        self.next = self.next.max(kv.mod_revision() as Revision + 1);
                        if let Some(event) = self.event(event) {
                            self.pending.push_back(event);
                        }
                    }
                }
                Ok(None) => {
                    self.stream = None;
                    let e = etcd_client::Error::WatchError("stream ended".to_owned());
                    self.retry_later(&e).await;
                }
                Err(e) => {
                    self.stream = None;
                    self.retry_later(&e).await;
                }
            }
        }
    }

    async fn retry_later(&mut self, error: &etcd_client::Error) {
        tracing::debug!(
            %error,
            next = self.next,
            backoff = ?self.backoff,
            "etcd watch broke; resuming"
        );
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    fn event(&self, event: &etcd_client::Event) -> Option<Event> {
        let kv = event.kv()?;
        let prev = event.prev_kv().and_then(|prev| self.keys.kv(prev));
        match event.event_type() {
            EventType::Put => {
                let kv = self.keys.kv(kv)?;
                let created = kv.create_revision == kv.mod_revision;
                Some(Event {
                    kind: if created {
                        EventKind::Created
                    } else {
                        EventKind::Updated
                    },
                    kv,
                    prev: if created { None } else { prev },
                })
            }
            EventType::Delete => Some(Event {
                kind: EventKind::Deleted,
                kv: self.keys.kv(kv)?,
                prev,
            }),
        }
    }
}
