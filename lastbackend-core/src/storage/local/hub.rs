//! The watch fan-out: a bounded history of committed writes and a broadcast
//! channel to the live watchers.
//!
//! Each write is one [`Batch`] (all events of one revision) behind an `Arc`,
//! kept in the history and sent once on a broadcast channel; each watcher
//! filters by prefix on its own task, so a write costs the writer the same
//! whatever the number of watchers. A watcher that falls more than the
//! channel's capacity behind is told so by the channel and catches up from the
//! history, starting after the last revision it delivered; when the history no
//! longer reaches back that far its stream ends with [`Error::Compacted`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use futures::StreamExt;
use tokio::sync::broadcast;

use crate::storage::{Error, Event, Result, Revision, WatchStream};

/// How many events the history keeps unless told otherwise.
pub(crate) const DEFAULT_HISTORY: usize = 100_000;

/// How many batches a live watcher may fall behind before it has to catch up
/// from the history.
const CHANNEL_CAPACITY: usize = 4096;

/// The events of one write, sharing its revision.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) revision: Revision,
    pub(crate) events: Vec<Event>,
}

#[derive(Debug)]
pub(crate) struct Hub {
    inner: Mutex<History>,
    sender: broadcast::Sender<Arc<Batch>>,
}

#[derive(Debug)]
struct History {
    batches: VecDeque<Arc<Batch>>,
    /// Events in `batches`.
    len: usize,
    /// The most events to keep; whole batches are dropped to stay under it.
    capacity: usize,
    /// Every revision after this one is in `batches`.
    start: Revision,
    /// The revision of the last published batch.
    revision: Revision,
}

impl History {
    fn trim(&mut self) {
        while self.len > self.capacity {
            let Some(oldest) = self.batches.pop_front() else {
                break;
            };
            self.len -= oldest.events.len();
            self.start = oldest.revision;
        }
    }
}

impl Hub {
    /// A hub whose history holds `batches` (oldest first) and reaches back to
    /// `start`, for a store at `revision`.
    pub(crate) fn new(
        capacity: usize,
        start: Revision,
        revision: Revision,
        batches: Vec<Batch>,
    ) -> Self {
        let len = batches.iter().map(|b| b.events.len()).sum();
        let mut history = History {
            batches: batches.into_iter().map(Arc::new).collect(),
            len,
            capacity,
            start,
            revision,
        };
        history.trim();
        Self {
            inner: Mutex::new(history),
            sender: broadcast::channel(CHANNEL_CAPACITY).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        // The history is only changed by whole-statement updates that cannot
        // panic halfway, so a poisoned lock still holds a consistent history.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `start` the history will have once batches of the given
    /// `(revision, events)` sizes are published, in order, so a durable
    /// backend can trim its copy in the same commit.
    #[cfg(feature = "embedded")]
    pub(crate) fn start_after_publish(&self, batches: &[(Revision, usize)]) -> Revision {
        let history = self.lock();
        let mut len = history.len + batches.iter().map(|(_, n)| n).sum::<usize>();
        let mut start = history.start;
        let sizes = history
            .batches
            .iter()
            .map(|b| (b.revision, b.events.len()))
            .chain(batches.iter().copied());
        for (revision, events) in sizes {
            if len <= history.capacity {
                return start;
            }
            len -= events;
            start = revision;
        }
        start
    }

    /// Records and fans out one write. The caller holds its write lock, so
    /// batches arrive in revision order.
    pub(crate) fn publish(&self, batch: Batch) {
        let batch = Arc::new(batch);
        let mut history = self.lock();
        history.revision = batch.revision;
        history.len += batch.events.len();
        history.batches.push_back(Arc::clone(&batch));
        history.trim();
        // An error only means that nobody is watching.
        let _ = self.sender.send(batch);
    }

    /// The batches after `after` and a receiver for everything published
    /// later, taken together so nothing falls between them.
    fn resume(&self, after: Option<Revision>) -> Result<Resumed> {
        let history = self.lock();
        let after = after.unwrap_or(history.revision);
        if after < history.start {
            return Err(Error::Compacted {
                requested: after,
                compacted: history.start,
            });
        }
        let first = history.batches.partition_point(|b| b.revision <= after);
        Ok(Resumed {
            after,
            backlog: history.batches.range(first..).cloned().collect(),
            receiver: self.sender.subscribe(),
        })
    }

    /// Streams the events under `prefix` after `after` (`None`: from now).
    pub(crate) fn watch(
        self: &Arc<Self>,
        prefix: &str,
        after: Option<Revision>,
    ) -> Result<WatchStream> {
        let resumed = self.resume(after)?;
        let watcher = Watcher {
            hub: Arc::downgrade(self),
            prefix: prefix.to_owned(),
            last: resumed.after,
            backlog: resumed.backlog,
            current: None,
            receiver: resumed.receiver,
            done: false,
        };
        Ok(futures::stream::unfold(watcher, |mut watcher| async move {
            let item = watcher.next().await?;
            Some((item, watcher))
        })
        .boxed())
    }
}

/// Where a watch (re)starts: after `after`, with the `backlog` from the
/// history, then the live `receiver`.
struct Resumed {
    after: Revision,
    backlog: VecDeque<Arc<Batch>>,
    receiver: broadcast::Receiver<Arc<Batch>>,
}

struct Watcher {
    /// Weak, so that the stream ends when its store is dropped.
    hub: Weak<Hub>,
    prefix: String,
    /// The revision of the last batch taken; later batches only are taken.
    last: Revision,
    backlog: VecDeque<Arc<Batch>>,
    current: Option<(Arc<Batch>, usize)>,
    receiver: broadcast::Receiver<Arc<Batch>>,
    done: bool,
}

impl Watcher {
    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if self.done {
                return None;
            }
            if let Some((batch, index)) = &mut self.current {
                let matching = batch.events[*index..]
                    .iter()
                    .position(|e| e.kv.key.starts_with(&self.prefix));
                match matching {
                    Some(offset) => {
                        let event = batch.events[*index + offset].clone();
                        *index += offset + 1;
                        return Some(Ok(event));
                    }
                    None => self.current = None,
                }
                continue;
            }
            let batch = match self.backlog.pop_front() {
                Some(batch) => batch,
                None => match self.receiver.recv().await {
                    Ok(batch) => batch,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        match self.hub.upgrade()?.resume(Some(self.last)) {
                            Ok(resumed) => {
                                self.backlog = resumed.backlog;
                                self.receiver = resumed.receiver;
                            }
                            Err(error) => {
                                self.done = true;
                                return Some(Err(error));
                            }
                        }
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            if batch.revision > self.last {
                self.last = batch.revision;
                self.current = Some((batch, 0));
            }
        }
    }
}
