//! The state machine behind [`watcher`](super::watcher): one call of
//! [`Watcher::next`] per item of the stream.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::{Error, Event};
use crate::controller::runtime::Backoff;
use crate::storage::{EventKind, KeyValue, Revision, Storage, WatchStream};

/// Where the loop is.
enum Phase {
    /// Listing the prefix next.
    List,
    /// Starting a watch after `after` next.
    Watch { after: Revision },
    /// Reading the watch; `progressed` once it delivered an event.
    Stream {
        stream: WatchStream,
        after: Revision,
        progressed: bool,
    },
}

pub(super) struct Watcher {
    storage: Arc<dyn Storage>,
    prefix: String,
    backoff: Backoff,
    /// Failures in a row, for the backoff.
    failures: u32,
    /// Slept before the next step: the delay after a failure.
    wait: Option<Duration>,
    phase: Phase,
}

impl Watcher {
    pub(super) fn new(storage: Arc<dyn Storage>, prefix: String, backoff: Backoff) -> Self {
        Self {
            storage,
            prefix,
            backoff,
            failures: 0,
            wait: None,
            phase: Phase::List,
        }
    }

    /// Counts a failure and schedules the delay before the next try.
    fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
        self.wait = Some(self.backoff.delay(self.failures));
    }

    /// The next item: an event, or an error after which the loop goes on.
    pub(super) async fn next(&mut self) -> Result<Event<KeyValue>, Error> {
        loop {
            if let Some(wait) = self.wait.take() {
                tokio::time::sleep(wait).await;
            }
            match &mut self.phase {
                Phase::List => match self.storage.list(&self.prefix).await {
                    Ok(list) => {
                        self.failures = 0;
                        self.phase = Phase::Watch {
                            after: list.revision,
                        };
                        return Ok(Event::Restarted {
                            items: list.items,
                            revision: list.revision,
                        });
                    }
                    Err(source) => {
                        self.failed();
                        let prefix = self.prefix.clone();
                        return Err(Error::ListFailed { prefix, source });
                    }
                },
                Phase::Watch { after } => {
                    let after = *after;
                    match self.storage.watch(&self.prefix, Some(after)).await {
                        Ok(stream) => {
                            self.phase = Phase::Stream {
                                stream,
                                after,
                                progressed: false,
                            }
                        }
                        Err(error) if error.is_compacted() => {
                            tracing::debug!(prefix = self.prefix, %error, "history compacted; relisting");
                            self.phase = Phase::List;
                        }
                        Err(source) => {
                            self.failed();
                            let prefix = self.prefix.clone();
                            return Err(Error::WatchStartFailed { prefix, source });
                        }
                    }
                }
                Phase::Stream {
                    stream,
                    after,
                    progressed,
                } => match stream.next().await {
                    Some(Ok(event)) => {
                        self.failures = 0;
                        *after = event.revision();
                        *progressed = true;
                        return Ok(into_event(event));
                    }
                    Some(Err(error)) if error.is_compacted() => {
                        tracing::debug!(prefix = self.prefix, %error, "watch compacted; relisting");
                        self.phase = Phase::List;
                    }
                    Some(Err(source)) => {
                        self.phase = Phase::Watch { after: *after };
                        self.failed();
                        let prefix = self.prefix.clone();
                        return Err(Error::WatchFailed { prefix, source });
                    }
                    None => {
                        // Resumed at once after progress; a watch that ends
                        // without any (a backend closing streams) is a
                        // failure, or the loop would spin.
                        let progressed = *progressed;
                        self.phase = Phase::Watch { after: *after };
                        if !progressed {
                            self.failed();
                        }
                    }
                },
            }
        }
    }
}

/// A storage change as a watcher event.
fn into_event(event: crate::storage::Event) -> Event<KeyValue> {
    let revision = event.revision();
    match event.kind {
        EventKind::Created | EventKind::Updated => Event::Applied {
            key: event.kv.key.clone(),
            item: event.kv,
            revision,
        },
        EventKind::Deleted => Event::Deleted {
            key: event.kv.key,
            previous: event.prev,
            revision,
        },
    }
}
