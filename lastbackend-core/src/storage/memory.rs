//! [`MemoryStorage`]: the whole store in process memory, for tests, examples
//! and programs that embed a throwaway control plane.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::local::hub::{Batch, DEFAULT_HISTORY, Hub};
use super::local::lease::{Expire, LeaseTable, Reaper};
use super::local::{self, Record, Table};
use super::{Error, KeyValue, LeaseId, List, Result, Revision, Storage, Txn, TxnOp, WatchStream};

/// A [`Storage`] held in memory: one lock over a sorted map, a bounded
/// history of events for watches (see [`MemoryStorage::with_history`]) and
/// leases that expire on tokio's clock.
///
/// Reads take the lock shared; writes take it exclusively and publish their
/// events before releasing it. A lease's expiry deletes all its keys at one
/// new revision, as a transaction would.
///
/// ```
/// use lastbackend_core::storage::{MemoryStorage, Storage};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStorage::new();
/// let revision = store.put("node/n1", "{}".into(), None).await?;
/// assert_eq!(store.get("node/n1").await?.mod_revision, revision);
/// # Ok::<_, lastbackend_core::storage::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: RwLock<State>,
    hub: Arc<Hub>,
    reaper: Reaper,
}

#[derive(Debug)]
struct State {
    keys: BTreeMap<String, Record>,
    revision: Revision,
    leases: LeaseTable,
}

impl Table for BTreeMap<String, Record> {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        Ok(BTreeMap::get(self, key).cloned())
    }

    fn insert(&mut self, key: &str, record: Record) -> Result<()> {
        match self.get_mut(key) {
            Some(slot) => *slot = record,
            None => {
                BTreeMap::insert(self, key.to_owned(), record);
            }
        }
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Result<()> {
        BTreeMap::remove(self, key);
        Ok(())
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// An empty store keeping the last 100,000 events for watches.
    pub fn new() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }

    /// An empty store keeping the last `events` events for watches: a watch
    /// after an older revision fails with [`Error::Compacted`].
    pub fn with_history(events: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: RwLock::new(State {
                    keys: BTreeMap::new(),
                    revision: 0,
                    leases: LeaseTable::new(1),
                }),
                hub: Arc::new(Hub::new(events, 0, 0, Vec::new())),
                reaper: Reaper::default(),
            }),
        }
    }
}

impl Inner {
    // The state is changed by `commit` only after every fallible step, so a
    // panic elsewhere leaves it consistent and the poison can be ignored.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `ops` at the next revision and publishes the events.
    fn commit(&self, state: &mut State, ops: Vec<TxnOp>) -> Result<Revision> {
        let revision = state.revision + 1;
        let State { keys, leases, .. } = state;
        let events = local::apply(keys, |l| leases.contains(l), revision, ops)?;
        if events.is_empty() {
            return Ok(state.revision);
        }
        state.revision = revision;
        state.leases.track(&events);
        self.hub.publish(Batch { revision, events });
        Ok(revision)
    }

    /// Deletes the keys of `lease` and forgets it.
    fn end_lease(&self, state: &mut State, lease: LeaseId) -> Result<()> {
        let keys = state.leases.keys(lease)?;
        let ops = local::lease_end_ops(&state.keys, lease, keys)?;
        self.commit(state, ops)?;
        state.leases.remove(lease);
        Ok(())
    }

    fn write_ops(&self, ops: Vec<TxnOp>) -> Result<Revision> {
        self.commit(&mut self.write(), ops)
    }
}

impl Expire for Inner {
    fn expire_due(&self) -> Option<Instant> {
        let mut state = self.write();
        for lease in state.leases.due(Instant::now()) {
            // Deleting keys in memory cannot fail.
            let _ = self.end_lease(&mut state, lease);
        }
        state.leases.next_deadline()
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn revision(&self) -> Result<Revision> {
        Ok(self.inner.read().revision)
    }

    async fn get(&self, key: &str) -> Result<KeyValue> {
        let state = self.inner.read();
        match state.keys.get(key) {
            Some(record) => Ok(record.clone().into_key_value(key.to_owned())),
            None => Err(Error::NotFound {
                key: key.to_owned(),
            }),
        }
    }

    async fn list(&self, prefix: &str) -> Result<List> {
        let state = self.inner.read();
        let items = state
            .keys
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, record)| record.clone().into_key_value(key.clone()))
            .collect();
        Ok(List {
            items,
            revision: state.revision,
        })
    }

    async fn txn(&self, txn: Txn) -> Result<Revision> {
        self.inner.write_ops(txn.ops)
    }

    async fn watch(&self, prefix: &str, after: Option<Revision>) -> Result<WatchStream> {
        self.inner.hub.watch(prefix, after)
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        let lease = self.inner.write().leases.grant(ttl, Instant::now());
        self.inner.reaper.granted(Arc::downgrade(&self.inner));
        Ok(lease)
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<Duration> {
        let mut state = self.inner.write();
        let now = Instant::now();
        if state.leases.is_due(lease, now) {
            self.inner.end_lease(&mut state, lease)?;
        }
        state.leases.keep_alive(lease, now)
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.inner.end_lease(&mut self.inner.write(), lease)
    }
}
