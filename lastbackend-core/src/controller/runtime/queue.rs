//! [`WorkQueue`]: the keys waiting to be reconciled.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Per-key exponential backoff after failed reconciles: `base`, doubling up
/// to `cap`, back to `base` after a success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
}

impl Default for Backoff {
    /// 5 ms doubling up to 5 s.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(5),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// A backoff from `base` up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The delay after `failures` failures in a row (`failures >= 1`).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.base
            .checked_mul(1 << doublings)
            .map_or(self.cap, |d| d.min(self.cap))
    }
}

/// How a reconcile of a key ended, as the queue needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success: forget the key's failures.
    Done,
    /// Success, but look again after this long.
    RequeueAfter(Duration),
    /// Failure: retry after the key's next backoff delay.
    Failed,
}

/// A queue of keys (selflinks) to reconcile, shared by a pool of workers.
///
/// - a key is handed to one worker at a time: while it is processed it is
///   not handed out again;
/// - a key added while it is processed is marked dirty and handed out again
///   once [`done`](Self::done) is called, so no trigger is lost;
/// - a key added several times before a worker takes it is processed once;
/// - a failed key comes back after a per-key exponential [`Backoff`], reset
///   by a success;
/// - after [`shutdown`](Self::shutdown) no key is handed out any more.
///
/// Cheap to clone: clones share one queue.
#[derive(Clone, Debug)]
pub struct WorkQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Keys ready to be handed out, in order.
    ready: VecDeque<String>,
    /// The keys in `ready`.
    queued: HashSet<String>,
    /// Keys held by a worker.
    processing: HashSet<String>,
    /// Keys added while held by a worker.
    dirty: HashSet<String>,
    /// Keys to add later, by due time; `sequence` orders equal times.
    delayed: BTreeSet<(Instant, u64, String)>,
    delayed_at: HashMap<String, (Instant, u64)>,
    sequence: u64,
    /// Failures in a row per key.
    failures: HashMap<String, u32>,
    backoff: Backoff,
    shut_down: bool,
}

impl State {
    fn add(&mut self, key: &str) -> bool {
        if self.shut_down {
            return false;
        }
        if let Some(at) = self.delayed_at.remove(key) {
            self.delayed.remove(&(at.0, at.1, key.to_owned()));
        }
        if self.processing.contains(key) {
            self.dirty.insert(key.to_owned());
            return false;
        }
        if self.queued.insert(key.to_owned()) {
            self.ready.push_back(key.to_owned());
            return true;
        }
        false
    }

    fn add_after(&mut self, key: &str, delay: Duration, now: Instant) {
        if self.shut_down || self.queued.contains(key) {
            return;
        }
        let due = now + delay;
        if let Some(&(at, sequence)) = self.delayed_at.get(key) {
            if at <= due {
                return;
            }
            self.delayed.remove(&(at, sequence, key.to_owned()));
        }
        self.sequence += 1;
        self.delayed.insert((due, self.sequence, key.to_owned()));
        self.delayed_at.insert(key.to_owned(), (due, self.sequence));
    }

    /// Moves the delayed keys due at `now` to `ready`; returns the next due
    /// time.
    fn promote(&mut self, now: Instant) -> Option<Instant> {
        while let Some((due, _, _)) = self.delayed.first() {
            if *due > now {
                return Some(*due);
            }
            let Some((_, _, key)) = self.delayed.pop_first() else {
                break;
            };
            self.delayed_at.remove(&key);
            self.add(&key);
        }
        None
    }
}

impl WorkQueue {
    /// An empty queue with the default [`Backoff`].
    pub fn new() -> Self {
        Self::with_backoff(Backoff::default())
    }

    /// An empty queue retrying failed keys after `backoff`.
    pub fn with_backoff(backoff: Backoff) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    backoff,
                    ..State::default()
                }),
                wake: Notify::new(),
            }),
        }
    }

    // Every change of the state is a few map operations that cannot panic
    // half-way, so a poisoned lock still guards a consistent state.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for `key` to be reconciled (again). A pending delayed retry of
    /// the key is replaced by this immediate one.
    pub fn add(&self, key: &str) {
        if self.lock().add(key) {
            self.inner.wake.notify_one();
        }
    }

    /// Asks for `key` to be reconciled after `delay`, unless it is due
    /// sooner already.
    pub fn add_after(&self, key: &str, delay: Duration) {
        self.lock().add_after(key, delay, Instant::now());
        // A sleeping worker may have to wake earlier than it planned.
        self.inner.wake.notify_waiters();
    }

    /// Waits for the next key to reconcile and marks it processed; `None`
    /// once the queue is shut down. Hand the key back with
    /// [`done`](Self::done).
    pub async fn get(&self) -> Option<String> {
        loop {
            let mut woken = pin!(self.inner.wake.notified());
            // Registered before the state is read, so a key added right after
            // the read wakes this worker.
            woken.as_mut().enable();
            let next_due = {
                let mut state = self.lock();
                if state.shut_down {
                    return None;
                }
                let next_due = state.promote(Instant::now());
                if let Some(key) = state.ready.pop_front() {
                    state.queued.remove(&key);
                    state.processing.insert(key.clone());
                    if !state.ready.is_empty() {
                        // Promoted keys may be waiting for other workers.
                        self.inner.wake.notify_one();
                    }
                    return Some(key);
                }
                next_due
            };
            match next_due {
                Some(due) => {
                    tokio::select! {
                        () = woken => {}
                        () = tokio::time::sleep_until(due) => {}
                    }
                }
                None => woken.await,
            }
        }
    }

    /// Hands back a key from [`get`](Self::get) with how its reconcile
    /// ended: a dirty key is queued again at once, a failed one after its
    /// backoff, a requeued one after the delay asked for.
    pub fn done(&self, key: &str, outcome: Outcome) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.processing.remove(key);
        let now = Instant::now();
        match outcome {
            Outcome::Done => {
                state.failures.remove(key);
            }
            Outcome::RequeueAfter(delay) => {
                state.failures.remove(key);
                state.add_after(key, delay, now);
            }
            Outcome::Failed => {
                let failures = state.failures.entry(key.to_owned()).or_default();
                *failures = failures.saturating_add(1);
                let delay = state.backoff.delay(*failures);
                state.add_after(key, delay, now);
            }
        }
        if state.dirty.remove(key) {
            state.add(key);
        }
        drop(guard);
        // Wakes every registered worker: one for a dirty key, and any
        // sleeping until a later due time than the new delayed one.
        self.inner.wake.notify_waiters();
    }

    /// Retries failed keys after `backoff` from now on.
    pub fn set_backoff(&self, backoff: Backoff) {
        self.lock().backoff = backoff;
    }

    /// How many failures in a row `key` has had.
    pub fn failures(&self, key: &str) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Keys waiting now (not counting delayed or processed ones).
    pub fn len(&self) -> usize {
        self.lock().ready.len()
    }

    /// No key is waiting now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys held by workers.
    pub fn in_flight(&self) -> usize {
        self.lock().processing.len()
    }

    /// Stops handing out keys: [`get`](Self::get) answers `None` from now
    /// on, and adds are ignored. Keys being processed may still be handed
    /// back.
    pub fn shutdown(&self) {
        self.lock().shut_down = true;
        self.inner.wake.notify_waiters();
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.lock().shut_down
    }
}

impl Default for WorkQueue {
    fn default() -> Self {
        Self::new()
    }
}
