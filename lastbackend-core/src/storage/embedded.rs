//! [`EmbeddedStorage`]: a durable single-node store in one redb file, for
//! `lastbackend up` and programs that want a cluster state that survives a
//! restart without running etcd.

mod codec;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::local::hub::{Batch, DEFAULT_HISTORY, Hub};
use super::local::lease::{Expire, LeaseTable, Reaper};
use super::local::{self, Record, Table};
use super::{Error, KeyValue, LeaseId, List, Result, Revision, Storage, Txn, TxnOp, WatchStream};

/// Key → encoded [`Record`].
const KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("keys");
/// Revision → the encoded events of that revision (the watch history).
const HISTORY: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("history");
/// Lease id → TTL in nanoseconds.
const LEASES: TableDefinition<'_, i64, u64> = TableDefinition::new("leases");
/// Counters, under the names below.
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

const REVISION: &str = "revision";
const HISTORY_START: &str = "history_start";
const NEXT_LEASE: &str = "next_lease";

fn unavailable(error: impl Into<redb::Error>) -> Error {
    Error::unavailable("embedded", error.into())
}

/// A [`Storage`] in a redb file.
///
/// Every write is one redb transaction committed with immediate durability:
/// once a call returns `Ok` its write survives a crash. The transaction holds
/// the keys with their revisions and leases, the store revision, the watch
/// history (bounded, see [`EmbeddedStorage::open_with_history`]) and the
/// leases, so after a reopen a watch resumes where it left off and every
/// lease gets its whole TTL again, as etcd grants after a leader change.
/// Reads use redb read transactions and never wait for a writer.
///
/// redb's calls are blocking and run on the caller's task: a read is a few
/// microseconds, a write one `fsync`. Watches and leases behave as in
/// [`MemoryStorage`](super::MemoryStorage); a lease's expiry deletes all its
/// keys at one new revision.
///
/// ```no_run
/// use lastbackend_core::storage::{EmbeddedStorage, Storage};
///
/// # async fn demo() -> lastbackend_core::storage::Result<()> {
/// let store = EmbeddedStorage::open("/var/lib/lastbackend/state.redb")?;
/// store.put("node/n1", "{}".into(), None).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct EmbeddedStorage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Database,
    /// Serialises writers, so events reach the hub in revision order.
    writer: Mutex<Writer>,
    /// Transactions waiting for a drain.
    queue: Queue,
    /// The last committed revision, for [`Storage::revision`].
    revision: AtomicU64,
    hub: Arc<Hub>,
    reaper: Reaper,
}

#[derive(Debug)]
struct Writer {
    revision: Revision,
    leases: LeaseTable,
}

/// Group commit: a caller queues its transaction and starts a drain on
/// tokio's blocking pool; a drain takes the writer and applies everything
/// waiting in one redb transaction, so writers that arrive during an fsync
/// share the next one. Each transaction keeps its own revision, guards and
/// all-or-nothing outcome, and is answered only once its commit is durable.
/// (Blocking-pool work also keeps paused test clocks from jumping ahead while
/// a commit runs.)
#[derive(Debug, Default)]
struct Queue(Mutex<Vec<Pending>>);

#[derive(Debug)]
struct Pending {
    ops: Vec<TxnOp>,
    reply: oneshot::Sender<Result<Revision>>,
}

impl Queue {
    fn push(&self, pending: Pending) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(pending);
    }

    fn take(&self) -> Vec<Pending> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The key table inside a write transaction.
struct KeyTable<'txn>(redb::Table<'txn, &'static str, &'static [u8]>);

impl Table for KeyTable<'_> {
    fn get(&self, key: &str) -> Result<Option<Record>> {
        match self.0.get(key).map_err(unavailable)? {
            Some(bytes) => codec::decode_record(bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn insert(&mut self, key: &str, record: Record) -> Result<()> {
        let bytes = codec::encode_record(&record);
        self.0.insert(key, bytes.as_slice()).map_err(unavailable)?;
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Result<()> {
        self.0.remove(key).map_err(unavailable)?;
        Ok(())
    }
}

impl EmbeddedStorage {
    /// Opens the store at `path`, creating it if missing, keeping the last
    /// 100,000 events for watches.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_history(path, DEFAULT_HISTORY)
    }

    /// Opens the store at `path` keeping the last `events` events for
    /// watches: a watch after an older revision fails with
    /// [`Error::Compacted`].
    pub fn open_with_history(path: impl AsRef<Path>, events: usize) -> Result<Self> {
        let db = Database::create(path).map_err(unavailable)?;
        let txn = db.begin_write().map_err(unavailable)?;
        let now = Instant::now();
        let (revision, start, leases, batches) = {
            let meta = txn.open_table(META).map_err(unavailable)?;
            let counter = |name| -> Result<u64> {
                Ok(meta
                    .get(name)
                    .map_err(unavailable)?
                    .map_or(0, |v| v.value()))
            };
            let revision = counter(REVISION)?;
            let start = counter(HISTORY_START)?;
            let mut leases = LeaseTable::new(counter(NEXT_LEASE)? as LeaseId);
            for row in txn
                .open_table(LEASES)
                .map_err(unavailable)?
                .iter()
                .map_err(unavailable)?
            {
                let (id, ttl) = row.map_err(unavailable)?;
                leases.insert(id.value(), Duration::from_nanos(ttl.value()), now);
            }
            for row in txn
                .open_table(KEYS)
                .map_err(unavailable)?
                .iter()
                .map_err(unavailable)?
            {
                let (key, record) = row.map_err(unavailable)?;
                leases.attach(codec::decode_record(record.value())?.lease, key.value());
            }
            let mut batches = Vec::new();
            for row in txn
                .open_table(HISTORY)
                .map_err(unavailable)?
                .iter()
                .map_err(unavailable)?
            {
                let (revision, events) = row.map_err(unavailable)?;
                batches.push(Batch {
                    revision: revision.value(),
                    events: codec::decode_events(events.value())?,
                });
            }
            (revision, start, leases, batches)
        };
        // Creates the tables of a new file.
        txn.commit().map_err(unavailable)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                writer: Mutex::new(Writer { revision, leases }),
                queue: Queue::default(),
                revision: AtomicU64::new(revision),
                hub: Arc::new(Hub::new(events, start, revision, batches)),
                reaper: Reaper::default(),
            }),
        })
    }
}

impl Inner {
    // The writer is changed only after its transaction committed, by steps
    // that cannot panic halfway, so a poisoned lock still holds a consistent
    // writer.
    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// In one transaction: applies the operations `ops` builds at the next
    /// revision, records the events in the history and runs `extra`; then
    /// publishes the events.
    fn commit(
        &self,
        writer: &mut Writer,
        ops: impl FnOnce(&KeyTable<'_>) -> Result<Vec<TxnOp>>,
        extra: impl FnOnce(&WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<Revision> {
        let txn = self.db.begin_write().map_err(unavailable)?;
        let revision = writer.revision + 1;
        let events = {
            let mut table = KeyTable(txn.open_table(KEYS).map_err(unavailable)?);
            let ops = ops(&table)?;
            let leases = &writer.leases;
            local::apply(&mut table, |l| leases.contains(l), revision, ops)?
        };
        extra(&txn).map_err(unavailable)?;
        if !events.is_empty() {
            let start = self.hub.start_after_publish(&[(revision, events.len())]);
            let mut history = txn.open_table(HISTORY).map_err(unavailable)?;
            history
                .insert(revision, codec::encode_events(&events).as_slice())
                .map_err(unavailable)?;
            history
                .retain_in(..=start, |_, _| false)
                .map_err(unavailable)?;
            let mut meta = txn.open_table(META).map_err(unavailable)?;
            meta.insert(REVISION, revision).map_err(unavailable)?;
            meta.insert(HISTORY_START, start).map_err(unavailable)?;
        }
        txn.commit().map_err(unavailable)?;
        if events.is_empty() {
            return Ok(writer.revision);
        }
        writer.revision = revision;
        writer.leases.track(&events);
        self.revision.store(revision, Ordering::Release);
        self.hub.publish(Batch { revision, events });
        Ok(revision)
    }

    /// Commits whatever is queued (nothing, when an earlier drain took it).
    fn drain(&self) {
        let mut writer = self.writer();
        let (ops, replies): (Vec<_>, Vec<_>) = self
            .queue
            .take()
            .into_iter()
            .map(|p| (p.ops, p.reply))
            .unzip();
        if ops.is_empty() {
            return;
        }
        let results = self.commit_group(&mut writer, ops);
        drop(writer);
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have stopped waiting; the write stands.
            let _ = reply.send(result);
        }
    }

    /// Applies each transaction of `group` at its own next revision, all in
    /// one redb commit (one fsync), and answers each: a transaction whose
    /// guard fails writes nothing and the others go on; if the commit itself
    /// fails, none of them is applied.
    fn commit_group(&self, writer: &mut Writer, group: Vec<Vec<TxnOp>>) -> Vec<Result<Revision>> {
        let count = group.len();
        match self.apply_group(writer, group) {
            Ok((results, batches)) => {
                for batch in batches {
                    writer.revision = batch.revision;
                    writer.leases.track(&batch.events);
                    self.revision.store(batch.revision, Ordering::Release);
                    self.hub.publish(batch);
                }
                results
            }
            Err(error) => {
                let error = error.to_string();
                (0..count)
                    .map(|_| Err(Error::unavailable("embedded", error.clone())))
                    .collect()
            }
        }
    }

    fn apply_group(
        &self,
        writer: &Writer,
        group: Vec<Vec<TxnOp>>,
    ) -> Result<(Vec<Result<Revision>>, Vec<Batch>)> {
        let txn = self.db.begin_write().map_err(unavailable)?;
        let mut revision = writer.revision;
        let mut results = Vec::with_capacity(group.len());
        let mut batches = Vec::new();
        {
            let mut table = KeyTable(txn.open_table(KEYS).map_err(unavailable)?);
            let leases = &writer.leases;
            for ops in group {
                match local::apply(&mut table, |l| leases.contains(l), revision + 1, ops) {
                    Ok(events) if events.is_empty() => results.push(Ok(revision)),
                    Ok(events) => {
                        revision += 1;
                        results.push(Ok(revision));
                        batches.push(Batch { revision, events });
                    }
                    // A storage failure may have left half a write in the
                    // transaction: give up the whole group.
                    Err(error) if error.is_unavailable() => return Err(error),
                    // Guards are all checked before anything is written.
                    Err(error) => results.push(Err(error)),
                }
            }
        }
        if !batches.is_empty() {
            let sizes: Vec<_> = batches
                .iter()
                .map(|b| (b.revision, b.events.len()))
                .collect();
            let start = self.hub.start_after_publish(&sizes);
            let mut history = txn.open_table(HISTORY).map_err(unavailable)?;
            for batch in &batches {
                history
                    .insert(
                        batch.revision,
                        codec::encode_events(&batch.events).as_slice(),
                    )
                    .map_err(unavailable)?;
            }
            history
                .retain_in(..=start, |_, _| false)
                .map_err(unavailable)?;
            let mut meta = txn.open_table(META).map_err(unavailable)?;
            meta.insert(REVISION, revision).map_err(unavailable)?;
            meta.insert(HISTORY_START, start).map_err(unavailable)?;
        }
        txn.commit().map_err(unavailable)?;
        Ok((results, batches))
    }

    /// Deletes the keys of `lease` and forgets it, in one transaction.
    fn end_lease(&self, writer: &mut Writer, lease: LeaseId) -> Result<()> {
        let keys = writer.leases.keys(lease)?;
        self.commit(
            writer,
            |table| local::lease_end_ops(table, lease, keys),
            |txn| {
                txn.open_table(LEASES)?.remove(lease)?;
                Ok(())
            },
        )?;
        writer.leases.remove(lease);
        Ok(())
    }
}

impl Expire for Inner {
    fn expire_due(&self) -> Option<Instant> {
        let mut writer = self.writer();
        let now = Instant::now();
        for lease in writer.leases.due(now) {
            if let Err(error) = self.end_lease(&mut writer, lease) {
                tracing::warn!(lease, %error, "cannot end an expired lease; retrying in a second");
                return Some(now + Duration::from_secs(1));
            }
        }
        writer.leases.next_deadline()
    }
}

#[async_trait]
impl Storage for EmbeddedStorage {
    async fn revision(&self) -> Result<Revision> {
        Ok(self.inner.revision.load(Ordering::Acquire))
    }

    async fn get(&self, key: &str) -> Result<KeyValue> {
        let txn = self.inner.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(KEYS).map_err(unavailable)?;
        match table.get(key).map_err(unavailable)? {
            Some(bytes) => Ok(codec::decode_record(bytes.value())?.into_key_value(key.to_owned())),
            None => Err(Error::NotFound {
                key: key.to_owned(),
            }),
        }
    }

    async fn list(&self, prefix: &str) -> Result<List> {
        let txn = self.inner.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(KEYS).map_err(unavailable)?;
        let mut items = Vec::new();
        for row in table.range(prefix..).map_err(unavailable)? {
            let (key, record) = row.map_err(unavailable)?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            items.push(codec::decode_record(record.value())?.into_key_value(key.to_owned()));
        }
        let meta = txn.open_table(META).map_err(unavailable)?;
        let revision = meta
            .get(REVISION)
            .map_err(unavailable)?
            .map_or(0, |v| v.value());
        Ok(List { items, revision })
    }

    async fn txn(&self, txn: Txn) -> Result<Revision> {
        let (reply, answer) = oneshot::channel();
        self.inner.queue.push(Pending {
            ops: txn.ops,
            reply,
        });
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.drain())
            .await
            .map_err(|e| Error::unavailable("embedded", e))?;
        answer
            .await
            .map_err(|_| Error::unavailable("embedded", "the write was dropped unanswered"))?
    }

    async fn watch(&self, prefix: &str, after: Option<Revision>) -> Result<WatchStream> {
        self.inner.hub.watch(prefix, after)
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        let mut writer = self.inner.writer();
        let lease = writer.leases.next_id();
        let nanos = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
        self.inner.commit(
            &mut writer,
            |_| Ok(Vec::new()),
            |txn| {
                txn.open_table(LEASES)?.insert(lease, nanos)?;
                txn.open_table(META)?
                    .insert(NEXT_LEASE, u64::try_from(lease + 1).unwrap_or(0))?;
                Ok(())
            },
        )?;
        writer.leases.insert(lease, ttl, Instant::now());
        drop(writer);
        self.inner.reaper.granted(Arc::downgrade(&self.inner));
        Ok(lease)
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<Duration> {
        let mut writer = self.inner.writer();
        let now = Instant::now();
        if writer.leases.is_due(lease, now) {
            self.inner.end_lease(&mut writer, lease)?;
        }
        writer.leases.keep_alive(lease, now)
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.inner.end_lease(&mut self.inner.writer(), lease)
    }
}
