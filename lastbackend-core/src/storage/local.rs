//! What the two in-process backends ([`memory`](super::memory) and
//! [`embedded`](super::embedded)) share: the write semantics over a key table,
//! the watch fan-out with its bounded history ([`hub`]) and the lease
//! bookkeeping with its expiry timer ([`lease`]).
//!
//! A backend owns its key table and a write lock; under that lock it calls
//! [`apply`] with the next revision, makes the result durable if it has to,
//! then hands the events to the [`hub::Hub`] before it lets the lock go, so
//! events reach the hub in revision order.

pub(crate) mod hub;
pub(crate) mod lease;

use std::collections::HashSet;

use bytes::Bytes;

use super::{Error, Event, EventKind, KeyValue, LeaseId, Result, Revision, TxnOp};

/// A stored key's value and metadata, without the key itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) value: Bytes,
    pub(crate) create_revision: Revision,
    pub(crate) mod_revision: Revision,
    pub(crate) lease: Option<LeaseId>,
}

impl Record {
    pub(crate) fn into_key_value(self, key: String) -> KeyValue {
        KeyValue {
            key,
            value: self.value,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            lease: self.lease,
        }
    }
}

/// The key table of a backend, as [`apply`] needs it.
pub(crate) trait Table {
    fn get(&self, key: &str) -> Result<Option<Record>>;
    fn insert(&mut self, key: &str, record: Record) -> Result<()>;
    fn remove(&mut self, key: &str) -> Result<()>;
}

/// Applies `ops` to `table` at `revision`, all of them or none, and returns
/// the events. Every guard is checked before anything is written, so a failing
/// guard leaves the table untouched. Returns no events when nothing is written
/// (only `Check` operations): the caller then keeps its revision.
pub(crate) fn apply(
    table: &mut impl Table,
    lease_exists: impl Fn(LeaseId) -> bool,
    revision: Revision,
    ops: Vec<TxnOp>,
) -> Result<Vec<Event>> {
    let mut prevs = Vec::with_capacity(ops.len());
    let mut seen = HashSet::with_capacity(if ops.len() > 1 { ops.len() } else { 0 });
    for op in &ops {
        let key = op_key(op);
        if key.is_empty() {
            return Err(Error::Invalid("empty key".to_owned()));
        }
        if ops.len() > 1 && !seen.insert(key) {
            return Err(Error::Invalid(format!(
                "key {key} twice in one transaction"
            )));
        }
        let prev = table.get(key)?;
        check(op, prev.as_ref(), &lease_exists)?;
        prevs.push(prev);
    }

    let mut events = Vec::with_capacity(ops.len());
    for (op, prev) in ops.into_iter().zip(prevs) {
        let (key, value, lease) = match op {
            TxnOp::Create { key, value, lease }
            | TxnOp::Update {
                key, value, lease, ..
            }
            | TxnOp::Upsert { key, value, lease } => (key, value, lease),
            TxnOp::Delete { key, .. } => {
                table.remove(&key)?;
                let prev = prev.map(|record| record.into_key_value(key.clone()));
                events.push(Event {
                    kind: EventKind::Deleted,
                    kv: KeyValue {
                        key,
                        value: Bytes::new(),
                        create_revision: 0,
                        mod_revision: revision,
                        lease: None,
                    },
                    prev,
                });
                continue;
            }
            TxnOp::Check { .. } => continue,
        };
        let record = Record {
            value,
            create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
            mod_revision: revision,
            lease,
        };
        table.insert(&key, record.clone())?;
        let kind = if prev.is_some() {
            EventKind::Updated
        } else {
            EventKind::Created
        };
        let prev = prev.map(|record| record.into_key_value(key.clone()));
        events.push(Event {
            kind,
            kv: record.into_key_value(key),
            prev,
        });
    }
    Ok(events)
}

fn op_key(op: &TxnOp) -> &str {
    match op {
        TxnOp::Create { key, .. }
        | TxnOp::Update { key, .. }
        | TxnOp::Upsert { key, .. }
        | TxnOp::Delete { key, .. }
        | TxnOp::Check { key, .. } => key,
    }
}

/// Checks one operation's guard against the key's current record.
fn check(op: &TxnOp, prev: Option<&Record>, lease_exists: impl Fn(LeaseId) -> bool) -> Result<()> {
    let actual = prev.map_or(0, |p| p.mod_revision);
    let conflict = |key: &str, expected: Revision| Error::Conflict {
        key: key.to_owned(),
        expected,
        actual,
    };
    let not_found = |key: &str| Error::NotFound {
        key: key.to_owned(),
    };
    let lease = match op {
        TxnOp::Create { key, lease, .. } => {
            if prev.is_some() {
                return Err(Error::Exists { key: key.clone() });
            }
            *lease
        }
        TxnOp::Update {
            key,
            revision,
            lease,
            ..
        } => {
            if prev.is_none() {
                return Err(not_found(key));
            }
            if actual != *revision {
                return Err(conflict(key, *revision));
            }
            *lease
        }
        TxnOp::Upsert { lease, .. } => *lease,
        TxnOp::Delete { key, revision } => {
            if prev.is_none() {
                return Err(not_found(key));
            }
            match revision {
                Some(expected) if *expected != actual => return Err(conflict(key, *expected)),
                _ => None,
            }
        }
        TxnOp::Check { key, revision } => {
            if actual != *revision {
                return Err(conflict(key, *revision));
            }
            None
        }
    };
    match lease {
        Some(lease) if !lease_exists(lease) => Err(Error::LeaseNotFound { lease }),
        _ => Ok(()),
    }
}

/// The operations that end a lease: delete each of its keys still attached
/// to it.
pub(crate) fn lease_end_ops(
    table: &impl Table,
    lease: LeaseId,
    keys: impl IntoIterator<Item = String>,
) -> Result<Vec<TxnOp>> {
    let mut ops = Vec::new();
    for key in keys {
        if table.get(&key)?.is_some_and(|r| r.lease == Some(lease)) {
            ops.push(TxnOp::Delete {
                key,
                revision: None,
            });
        }
    }
    Ok(ops)
}
