//! Lease bookkeeping and expiry for the in-process backends.
//!
//! Deadlines are [`tokio::time::Instant`]s, so tests drive expiry with
//! `tokio::time::pause()`. Expiry is done by a reaper task, spawned on the
//! runtime of the first [`Storage::lease_grant`](crate::storage::Storage)
//! call (so a store can be built outside a runtime), that sleeps until the
//! earliest deadline. A grant wakes it, since a new lease may end first; a
//! keep-alive does not need to, it only moves a deadline later. The task holds
//! the store weakly and stops when the store is dropped; if its runtime went
//! away, the next grant starts another one. Keep-alive also checks the
//! deadline itself, so a lease past its deadline is never renewed even if the
//! reaper has not run yet.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::storage::{Error, Event, EventKind, LeaseId, Result};

#[derive(Debug)]
struct Lease {
    ttl: Duration,
    deadline: Instant,
    keys: BTreeSet<String>,
}

/// The live leases and the keys attached to each.
#[derive(Debug)]
pub(crate) struct LeaseTable {
    leases: HashMap<LeaseId, Lease>,
    next_id: LeaseId,
}

impl LeaseTable {
    /// An empty table whose next lease id is `next_id`.
    pub(crate) fn new(next_id: LeaseId) -> Self {
        Self {
            leases: HashMap::new(),
            next_id: next_id.max(1),
        }
    }

    #[cfg(feature = "embedded")]
    pub(crate) fn next_id(&self) -> LeaseId {
        self.next_id
    }

    pub(crate) fn contains(&self, lease: LeaseId) -> bool {
        self.leases.contains_key(&lease)
    }

    /// Adds a lease ending `ttl` after `now`, under the next id.
    pub(crate) fn grant(&mut self, ttl: Duration, now: Instant) -> LeaseId {
        let id = self.next_id;
        self.next_id += 1;
        self.insert(id, ttl, now);
        id
    }

    /// Adds a lease under a known id (when a durable store reopens).
    pub(crate) fn insert(&mut self, lease: LeaseId, ttl: Duration, now: Instant) {
        self.next_id = self.next_id.max(lease + 1);
        self.leases.insert(
            lease,
            Lease {
                ttl,
                deadline: now + ttl,
                keys: BTreeSet::new(),
            },
        );
    }

    /// Renews a lease that has not reached its deadline.
    pub(crate) fn keep_alive(&mut self, lease: LeaseId, now: Instant) -> Result<Duration> {
        match self.leases.get_mut(&lease) {
            Some(entry) if entry.deadline > now => {
                entry.deadline = now + entry.ttl;
                Ok(entry.ttl)
            }
            _ => Err(Error::LeaseNotFound { lease }),
        }
    }

    /// Whether `lease` exists and has reached its deadline.
    pub(crate) fn is_due(&self, lease: LeaseId, now: Instant) -> bool {
        self.leases.get(&lease).is_some_and(|l| l.deadline <= now)
    }

    /// The keys of `lease`, which stays until [`Self::remove`].
    pub(crate) fn keys(&self, lease: LeaseId) -> Result<Vec<String>> {
        self.leases
            .get(&lease)
            .map(|l| l.keys.iter().cloned().collect())
            .ok_or(Error::LeaseNotFound { lease })
    }

    pub(crate) fn remove(&mut self, lease: LeaseId) {
        self.leases.remove(&lease);
    }

    /// The leases at or past their deadline.
    pub(crate) fn due(&self, now: Instant) -> Vec<LeaseId> {
        self.leases
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.leases.values().map(|l| l.deadline).min()
    }

    /// Moves keys between leases as committed `events` say.
    pub(crate) fn track(&mut self, events: &[Event]) {
        for event in events {
            if let Some(lease) = event.prev.as_ref().and_then(|p| p.lease)
                && let Some(entry) = self.leases.get_mut(&lease)
            {
                entry.keys.remove(&event.kv.key);
            }
            if event.kind != EventKind::Deleted {
                self.attach(event.kv.lease, &event.kv.key);
            }
        }
    }

    /// Attaches `key` to `lease` (when a durable store reopens).
    pub(crate) fn attach(&mut self, lease: Option<LeaseId>, key: &str) {
        if let Some(entry) = lease.and_then(|lease| self.leases.get_mut(&lease)) {
            entry.keys.insert(key.to_owned());
        }
    }
}

/// A store whose leases the reaper ends.
pub(crate) trait Expire: Send + Sync + 'static {
    /// Ends every lease past its deadline and returns the next deadline.
    fn expire_due(&self) -> Option<Instant>;
}

/// The handle to a store's reaper task.
#[derive(Debug, Default)]
pub(crate) struct Reaper {
    wake: Arc<Notify>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Reaper {
    /// Starts the reaper for `store` unless it runs, and wakes it so it sees
    /// a new deadline. Must be called inside a tokio runtime.
    pub(crate) fn granted<S: Expire>(&self, store: Weak<S>) {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if task.as_ref().is_none_or(JoinHandle::is_finished) {
            *task = Some(tokio::spawn(reap(store, Arc::clone(&self.wake))));
        } else {
            self.wake.notify_one();
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // The store is going away: let the task see it and stop.
        self.wake.notify_one();
    }
}

async fn reap<S: Expire>(store: Weak<S>, wake: Arc<Notify>) {
    loop {
        let next = match store.upgrade() {
            Some(store) => store.expire_due(),
            None => return,
        };
        match next {
            Some(deadline) => {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}
