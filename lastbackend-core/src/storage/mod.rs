//! The cluster's whole state: a revisioned key-value store behind one
//! object-safe trait, [`Storage`], used as `Arc<dyn Storage>`.
//!
//! Semantics are etcd's, so every backend behaves the same:
//! - every write bumps one store-wide [`Revision`]; a key remembers the revision
//!   that created it and the one that last modified it;
//! - [`Storage::put`] only creates, [`Storage::set`] is compare-and-swap on the
//!   key's `mod_revision`, [`Storage::del`] removes the exact key;
//! - [`Storage::txn`] applies several guarded operations all or nothing;
//! - [`Storage::watch`] streams the changes under a prefix after a revision, so a
//!   caller that lists at revision `R` and watches after `R` misses nothing;
//!   when the backend no longer holds history that old it answers
//!   [`Error::Compacted`] and the caller lists again;
//! - leases carry TTL keys (node heartbeats, controller leadership): when a
//!   lease expires or is revoked its keys are deleted and watchers see it.
//!
//! [`watcher()`] turns that list → watch → relist loop into one stream of
//! typed events, for raw keys or ([`object_watcher`]) for decoded objects.
//!
//! Keys are relative to the backend's prefix (default `lastbackend`), laid out
//! as the original's etcd tree: `<collection>/<selflink>`, see [`key`].

#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
#[cfg(feature = "etcd")]
pub mod etcd;
mod local;
pub mod memory;
pub mod watcher;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

#[cfg(feature = "embedded")]
pub use embedded::EmbeddedStorage;
pub use error::{BoxError, Error, Result};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdConfig, EtcdStorage};
pub use memory::MemoryStorage;
pub use watcher::{object_watcher, watcher};

/// A store-wide, strictly increasing write counter. `0` means "never written".
pub type Revision = u64;

/// The id of a lease granted by [`Storage::lease_grant`].
pub type LeaseId = i64;

/// The key prefix every backend puts in front of its keys unless told
/// otherwise, as the original's `--etcd-prefix` default.
pub const DEFAULT_PREFIX: &str = "lastbackend";

/// The storage key of an object: `<collection>/<selflink>`.
///
/// ```
/// assert_eq!(lastbackend_core::storage::key("service", "demo:web"), "service/demo:web");
/// ```
pub fn key(collection: &str, self_link: &str) -> String {
    format!("{collection}/{self_link}")
}

/// One stored key with its value and revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, relative to the backend prefix.
    pub key: String,
    /// The raw value (JSON for every object the platform stores).
    pub value: Bytes,
    /// The revision of the write that created this key.
    pub create_revision: Revision,
    /// The revision of the last write to this key.
    pub mod_revision: Revision,
    /// The lease this key is attached to, if any.
    pub lease: Option<LeaseId>,
}

/// The keys under a prefix and the store revision they were read at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List {
    /// The keys, sorted by key.
    pub items: Vec<KeyValue>,
    /// The store revision of the read: watch after it to miss nothing.
    pub revision: Revision,
}

impl List {
    /// The same keys as a map from key to value.
    pub fn into_map(self) -> BTreeMap<String, KeyValue> {
        self.items
            .into_iter()
            .map(|kv| (kv.key.clone(), kv))
            .collect()
    }
}

/// One operation of a [`Txn`]; each carries its own guard.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxnOp {
    /// Create `key`; fails with [`Error::Exists`] if it is there.
    Create {
        /// The key.
        key: String,
        /// The value.
        value: Bytes,
        /// Attach the key to this lease.
        lease: Option<LeaseId>,
    },
    /// Replace `key` if its `mod_revision` is `revision`; else
    /// [`Error::Conflict`] (or [`Error::NotFound`] when it is gone).
    Update {
        /// The key.
        key: String,
        /// The value.
        value: Bytes,
        /// The expected `mod_revision`.
        revision: Revision,
        /// Attach the key to this lease.
        lease: Option<LeaseId>,
    },
    /// Create or replace `key` whatever it holds.
    Upsert {
        /// The key.
        key: String,
        /// The value.
        value: Bytes,
        /// Attach the key to this lease.
        lease: Option<LeaseId>,
    },
    /// Delete `key`, if `revision` is given only at that `mod_revision`.
    /// Fails with [`Error::NotFound`] when the key is missing.
    Delete {
        /// The key.
        key: String,
        /// The expected `mod_revision`, if any.
        revision: Option<Revision>,
    },
    /// Write nothing, but fail the transaction unless `key` is at `revision`
    /// (`0`: unless the key is missing). Used to fence writes with a
    /// leadership key.
    Check {
        /// The key.
        key: String,
        /// The expected `mod_revision`, `0` for "missing".
        revision: Revision,
    },
}

/// Several operations applied atomically at one new revision: all of them or,
/// when any guard fails, none (the error names the first failing key).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    /// The operations, applied in order. A key may appear once at most.
    pub ops: Vec<TxnOp>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an operation.
    pub fn op(mut self, op: TxnOp) -> Self {
        self.ops.push(op);
        self
    }
}

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The key did not exist before.
    Created,
    /// The key existed and was replaced.
    Updated,
    /// The key was deleted (also when its lease ended).
    Deleted,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        })
    }
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The key after the change; for a deletion the key with an empty value
    /// and `mod_revision` set to the deletion's revision.
    pub kv: KeyValue,
    /// The key before the change (`None` for a creation).
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision at which this change happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A stream of changes, in revision order. It ends with an error item when it
/// cannot go on ([`Error::Compacted`]: list again and watch after the list's
/// revision).
pub type WatchStream = BoxStream<'static, Result<Event>>;

/// A revisioned key-value store. See the [module docs](self) for semantics.
///
/// A backend implements reads, [`Storage::txn`], watches and leases; the
/// single-key writes default to one-operation transactions.
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug {
    /// The current store revision.
    async fn revision(&self) -> Result<Revision>;

    /// Reads one key; [`Error::NotFound`] if missing.
    async fn get(&self, key: &str) -> Result<KeyValue>;

    /// Reads every key starting with `prefix`, sorted, with the revision of
    /// the read.
    async fn list(&self, prefix: &str) -> Result<List>;

    /// Creates `key`; [`Error::Exists`] if it is there. Returns the new
    /// revision. (A one-operation [`Storage::txn`] unless a backend has a
    /// cheaper way.)
    async fn put(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        let key = key.to_owned();
        self.txn(Txn::new().op(TxnOp::Create { key, value, lease }))
            .await
    }

    /// Replaces `key` if its `mod_revision` equals `revision`: otherwise
    /// [`Error::Conflict`], or [`Error::NotFound`] when the key is missing.
    /// Returns the new revision.
    async fn set(
        &self,
        key: &str,
        value: Bytes,
        revision: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        let key = key.to_owned();
        let op = TxnOp::Update {
            key,
            value,
            revision,
            lease,
        };
        self.txn(Txn::new().op(op)).await
    }

    /// Creates or replaces `key` unconditionally: last write wins. Only for
    /// callers that own the key outright (an agent's own status, a lease key).
    async fn set_unconditional(
        &self,
        key: &str,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        let key = key.to_owned();
        self.txn(Txn::new().op(TxnOp::Upsert { key, value, lease }))
            .await
    }

    /// Deletes exactly `key` (never a prefix), if `revision` is given only at
    /// that `mod_revision`. [`Error::NotFound`] if missing. Returns the new
    /// revision.
    async fn del(&self, key: &str, revision: Option<Revision>) -> Result<Revision> {
        let key = key.to_owned();
        self.txn(Txn::new().op(TxnOp::Delete { key, revision }))
            .await
    }

    /// Applies every operation of `txn` at one new revision, or none.
    /// Returns the new revision (the current one for an empty transaction).
    async fn txn(&self, txn: Txn) -> Result<Revision>;

    /// Streams the changes to keys under `prefix` with a revision greater than
    /// `after`; `None` means changes from now on.
    async fn watch(&self, prefix: &str, after: Option<Revision>) -> Result<WatchStream>;

    /// Grants a lease that ends `ttl` after its last keep-alive.
    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId>;

    /// Renews a lease for its whole TTL and returns the TTL;
    /// [`Error::LeaseNotFound`] when it has already ended.
    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<Duration>;

    /// Ends a lease now, deleting its keys; [`Error::LeaseNotFound`] if it
    /// has already ended.
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()>;
}
