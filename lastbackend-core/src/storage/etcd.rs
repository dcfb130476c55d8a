//! [`Storage`] on an etcd v3 cluster, compatible with the original's key tree:
//! `/<prefix>/<collection>/<selflink>` holding JSON, so
//! `etcdctl get --prefix /lastbackend/` shows the cluster's state.
//!
//! Every guarded write is one etcd transaction: the guards are compares, the
//! writes the success branch, and the failure branch reads the guarded keys so
//! a failed write says which key failed and why in the same round trip.
//! Watches resume by themselves after a lost connection or an etcd restart.
//!
//! ```no_run
//! use lastbackend_core::storage::etcd::{EtcdConfig, EtcdStorage};
//! use lastbackend_core::storage::Storage;
//!
//! # async fn run() -> lastbackend_core::storage::Result<()> {
//! let storage = EtcdStorage::connect(EtcdConfig::new(["127.0.0.1:2379"])).await?;
//! storage.put("namespace/demo", r#"{"meta":{"name":"demo"}}"#.into(), None).await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod watch;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, KvClient, LeaseClient, PutOptions,
    TxnOpResponse,
};

pub use config::{EtcdConfig, EtcdTls};
/// The etcd client library, for callers that need etcd beyond [`Storage`].
pub use etcd_client;

use super::{Error, KeyValue, LeaseId, List, Result, Revision, Storage, Txn, TxnOp, WatchStream};

const BACKEND: &str = "etcd";

/// Lists of tens of thousands of objects, and the watch events of a large
/// transaction, exceed tonic's 4 MiB default.
const MAX_MESSAGE: usize = 256 * 1024 * 1024;

/// A [`Storage`] backed by etcd. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct EtcdStorage {
    client: Client,
    kv: KvClient,
    lease: LeaseClient,
    keys: Arc<Keys>,
    timeout: Duration,
    /// The TTL each lease granted here was given, so a keep-alive needs one
    /// round trip (etcd-client keeps the TTL of its first answer to itself).
    /// An entry goes when its lease is revoked or found ended; one that
    /// expires unobserved stays, a few bytes per lease ever granted.
    lease_ttls: Arc<Mutex<HashMap<LeaseId, Duration>>>,
}

impl fmt::Debug for EtcdStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdStorage")
            .field("root", &self.keys.root)
            .finish_non_exhaustive()
    }
}

impl EtcdStorage {
    /// Connects to the cluster in `config`. The connection is lazy and
    /// re-established after failures, so this fails only on a bad config
    /// (unreadable TLS files, malformed endpoints); an unreachable etcd
    /// makes the operations fail with [`Error::Unavailable`].
    pub async fn connect(config: EtcdConfig) -> Result<Self> {
        let root = config.root()?;
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.request_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true);
        if let Some(tls) = &config.tls {
            options = options.with_tls(tls.load()?);
        }
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(|e| match e {
                etcd_client::Error::InvalidArgs(_)
                | etcd_client::Error::InvalidUri(_)
                | etcd_client::Error::EndpointError(_) => {
                    Error::Invalid(format!("etcd endpoints {:?}: {e}", config.endpoints))
                }
                e => Error::unavailable(BACKEND, e),
            })?;
        Ok(Self::from_client(client, root, config.request_timeout))
    }

    fn from_client(client: Client, root: String, timeout: Duration) -> Self {
        Self {
            kv: client
                .kv_client()
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            lease: client.lease_client(),
            client,
            keys: Arc::new(Keys { root }),
            timeout,
            lease_ttls: Arc::default(),
        }
    }

    /// The underlying etcd client, sharing this storage's connection.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The etcd key prefix every key is stored under, `/<prefix>/`.
    pub fn root(&self) -> &str {
        &self.keys.root
    }

    /// Runs one request with the request timeout, mapping etcd's errors.
    async fn call<T>(
        &self,
        lease: Option<LeaseId>,
        request: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(error(e, lease)),
            Err(_) => Err(Error::unavailable(
                BACKEND,
                format!("no answer within {:?}", self.timeout),
            )),
        }
    }

    /// Applies guarded operations in one etcd transaction. On failure the
    /// else branch has read every guarded key, which tells the first failing
    /// operation and why.
    async fn guarded(&self, ops: &[TxnOp]) -> Result<Revision> {
        let mut seen = HashSet::new();
        let mut compares = Vec::new();
        let mut writes = Vec::new();
        let mut reads = Vec::new();
        let mut guards = Vec::new();
        for op in ops {
            let (key, guard) = guard_of(op);
            let full = self.keys.full(key)?;
            if !seen.insert(key) {
                return Err(Error::Invalid(format!(
                    "key {key} twice in one transaction"
                )));
            }
            compares.extend(guard.compares(&full));
            if let Some(write) = write_of(op, &full) {
                writes.push(write);
            }
            if guard != Guard::None {
                reads.push(etcd_client::TxnOp::get(
                    full,
                    Some(GetOptions::new().with_keys_only()),
                ));
                guards.push((key, guard));
            }
        }
        let lease = ops.iter().find_map(lease_of);
        let txn = etcd_client::Txn::new()
            .when(compares)
            .and_then(writes)
            .or_else(reads);
        let mut kv = self.kv.clone();
        let response = self.call(lease, kv.txn(txn)).await?;
        if response.succeeded() {
            return Ok(revision(response.header()));
        }
        for ((key, guard), read) in guards.iter().zip(response.op_responses()) {
            let TxnOpResponse::Get(read) = read else {
                continue;
            };
            let actual = read.kvs().first().map(|kv| kv.mod_revision() as Revision);
            if let Some(e) = guard.failure(key, actual) {
                return Err(e);
            }
        }
        // Only a guarded key changing between the compare and the read could
        // get here, and a transaction sees one revision: say so loudly.
        Err(Error::unavailable(
            BACKEND,
            "transaction failed but every guard holds",
        ))
    }
}

/// The mapping between storage keys and etcd keys.
#[derive(Debug)]
struct Keys {
    /// `/<prefix>/`.
    root: String,
}

impl Keys {
    fn full(&self, key: &str) -> Result<String> {
        if key.is_empty() {
            return Err(Error::Invalid("empty key".to_owned()));
        }
        Ok(self.prefix(key))
    }

    fn prefix(&self, prefix: &str) -> String {
        format!("{}{prefix}", self.root)
    }

    /// [`Self::kv`] without copying the value: lists move megabytes.
    fn owned_kv(&self, kv: etcd_client::KeyValue) -> Option<KeyValue> {
        if !kv.key().starts_with(self.root.as_bytes()) {
            return None;
        }
        let (create_revision, mod_revision, lease) =
            (kv.create_revision(), kv.mod_revision(), kv.lease());
        let (mut key, value) = kv.into_key_value();
        key.drain(..self.root.len());
        Some(KeyValue {
            key: String::from_utf8(key)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            value: Bytes::from(value),
            create_revision: create_revision as Revision,
            mod_revision: mod_revision as Revision,
            lease: (lease != 0).then_some(lease),
        })
    }

    /// The storage view of an etcd key-value, `None` for a key outside the
    /// root (never handed out).
    fn kv(&self, kv: &etcd_client::KeyValue) -> Option<KeyValue> {
        let key = kv.key().strip_prefix(self.root.as_bytes())?;
        Some(KeyValue {
            key: String::from_utf8_lossy(key).into_owned(),
            value: Bytes::copy_from_slice(kv.value()),
            create_revision: kv.create_revision() as Revision,
            mod_revision: kv.mod_revision() as Revision,
            lease: (kv.lease() != 0).then_some(kv.lease()),
        })
    }
}

/// What must hold of a key for a transaction operation to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    /// Nothing.
    None,
    /// The key is missing.
    Absent,
    /// The key exists.
    Present,
    /// The key exists at this `mod_revision`.
    At(Revision),
    /// The key's `mod_revision` is this (`0`: missing).
    Check(Revision),
}

impl Guard {
    fn compares(self, full: &str) -> Vec<Compare> {
        let exists = || Compare::version(full, CompareOp::Greater, 0);
        let at = |rev: Revision| Compare::mod_revision(full, CompareOp::Equal, rev as i64);
        match self {
            Self::None => vec![],
            Self::Absent => vec![Compare::create_revision(full, CompareOp::Equal, 0)],
            Self::Present => vec![exists()],
            // `mod_revision == 0` alone would also match a missing key; any
            // other revision implies the key exists. One compare per op keeps
            // a transaction of 128 ops within etcd's `--max-txn-ops`.
            Self::At(0) => vec![exists(), at(0)],
            Self::At(rev) => vec![at(rev)],
            Self::Check(rev) => vec![at(rev)],
        }
    }

    /// The error for `key` at `actual` (`None`: missing), if the guard fails.
    fn failure(self, key: &str, actual: Option<Revision>) -> Option<Error> {
        let key = key.to_owned();
        match (self, actual) {
            (Self::Absent, Some(_)) => Some(Error::Exists { key }),
            (Self::Present | Self::At(_), None) => Some(Error::NotFound { key }),
            (Self::At(expected), Some(actual)) if actual != expected => Some(Error::Conflict {
                key,
                expected,
                actual,
            }),
            (Self::Check(expected), actual) if actual.unwrap_or(0) != expected => {
                Some(Error::Conflict {
                    key,
                    expected,
                    actual: actual.unwrap_or(0),
                })
            }
            _ => None,
        }
    }
}

fn guard_of(op: &TxnOp) -> (&str, Guard) {
    match op {
        TxnOp::Create { key, .. } => (key, Guard::Absent),
        TxnOp::Update { key, revision, .. } => (key, Guard::At(*revision)),
        TxnOp::Upsert { key, .. } => (key, Guard::None),
        TxnOp::Delete {
            key,
            revision: None,
        } => (key, Guard::Present),
        TxnOp::Delete {
            key,
            revision: Some(revision),
        } => (key, Guard::At(*revision)),
        TxnOp::Check { key, revision } => (key, Guard::Check(*revision)),
    }
}

fn write_of(op: &TxnOp, full: &str) -> Option<etcd_client::TxnOp> {
    match op {
        TxnOp::Create { value, lease, .. }
        | TxnOp::Update { value, lease, .. }
        | TxnOp::Upsert { value, lease, .. } => Some(etcd_client::TxnOp::put(
            full,
            value.to_vec(),
            lease.map(|lease| PutOptions::new().with_lease(lease)),
        )),
        TxnOp::Delete { .. } => Some(etcd_client::TxnOp::delete(full, None)),
        TxnOp::Check { .. } => None,
    }
}

fn lease_of(op: &TxnOp) -> Option<LeaseId> {
    match op {
        TxnOp::Create { lease, .. } | TxnOp::Update { lease, .. } | TxnOp::Upsert { lease, .. } => {
            *lease
        }
        TxnOp::Delete { .. } | TxnOp::Check { .. } => None,
    }
}

fn revision(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map_or(0, |header| header.revision() as Revision)
}

/// Maps an etcd-client error; `lease` is the lease the request named, if any.
fn error(e: etcd_client::Error, lease: Option<LeaseId>) -> Error {
    let lease_gone = match &e {
        etcd_client::Error::GRpcStatus(status) => status.message().contains("lease not found"),
        etcd_client::Error::LeaseKeepAliveError(message) => message.contains("lease not found"),
        _ => false,
    };
    // Requests etcd will never take: retrying cannot help.
    let refused = match &e {
        etcd_client::Error::GRpcStatus(status) => ["too many operations", "request is too large"]
            .iter()
            .any(|reason| status.message().contains(reason)),
        _ => false,
    };
    match lease {
        Some(lease) if lease_gone => Error::LeaseNotFound { lease },
        _ if refused => Error::Invalid(e.to_string()),
        _ => Error::unavailable(BACKEND, e),
    }
}

/// A lease TTL in etcd's whole seconds: rounded up, at least one.
fn ttl_seconds(ttl: Duration) -> i64 {
    let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    i64::try_from(seconds.max(1)).unwrap_or(i64::MAX)
}

#[async_trait]
impl Storage for EtcdStorage {
    async fn revision(&self) -> Result<Revision> {
        let mut kv = self.kv.clone();
        let options = GetOptions::new().with_count_only();
        let response = self
            .call(None, kv.get(self.keys.root.as_str(), Some(options)))
            .await?;
        Ok(revision(response.header()))
    }

    async fn get(&self, key: &str) -> Result<KeyValue> {
        let full = self.keys.full(key)?;
        let mut kv = self.kv.clone();
        // The default read is linearizable, unlike the original's
        // serializable (possibly stale) one.
        let mut response = self.call(None, kv.get(full, None)).await?;
        response
            .take_kvs()
            .pop()
            .and_then(|kv| self.keys.owned_kv(kv))
            .ok_or_else(|| Error::NotFound {
                key: key.to_owned(),
            })
    }

    async fn list(&self, prefix: &str) -> Result<List> {
        let mut kv = self.kv.clone();
        let options = GetOptions::new().with_prefix();
        let mut response = self
            .call(None, kv.get(self.keys.prefix(prefix), Some(options)))
            .await?;
        Ok(List {
            revision: revision(response.header()),
            // etcd answers a range in key order.
            items: response
                .take_kvs()
                .into_iter()
                .filter_map(|kv| self.keys.owned_kv(kv))
                .collect(),
        })
    }

    /// A plain etcd put: cheaper than a transaction with no compare.
    async fn set_unconditional(
        &self,
        key: &str,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        let full = self.keys.full(key)?;
        let mut kv = self.kv.clone();
        let options = lease.map(|lease| PutOptions::new().with_lease(lease));
        let response = self
            .call(lease, kv.put(full, value.to_vec(), options))
            .await?;
        Ok(revision(response.header()))
    }

    async fn txn(&self, txn: Txn) -> Result<Revision> {
        if txn.ops.is_empty() {
            return self.revision().await;
        }
        self.guarded(&txn.ops).await
    }

    async fn watch(&self, prefix: &str, after: Option<Revision>) -> Result<WatchStream> {
        let (after, compacted) = match after {
            Some(after) => (after, self.is_compacted(after).await?),
            None => (self.revision().await?, false),
        };
        let stream = watch::Resuming::open(
            self.client
                .watch_client()
                .max_decoding_message_size(MAX_MESSAGE),
            self.keys.clone(),
            self.keys.prefix(prefix).into_bytes(),
            after + 1,
            self.timeout,
        )
        .await?;
        if compacted {
            return Err(Error::Compacted {
                requested: after,
                compacted: stream.compact_revision(self.timeout).await?,
            });
        }
        Ok(stream.into_stream())
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        let mut lease = self.lease.clone();
        let response = self.call(None, lease.grant(ttl_seconds(ttl), None)).await?;
        if !response.error().is_empty() {
            return Err(Error::unavailable(BACKEND, response.error().to_owned()));
        }
        let granted = Duration::from_secs(response.ttl().max(0) as u64);
        self.lease_ttls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(response.id(), granted);
        Ok(response.id())
    }

    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration> {
        let mut lease = self.lease.clone();
        // etcd-client sends one keep-alive, reads its answer and fails on TTL 0.
        let result = self.call(Some(id), lease.keep_alive(id)).await;
        let (mut keeper, mut answers) = match result {
            Ok(stream) => stream,
            Err(e) => {
                if e.is_not_found() {
                    self.forget_lease(id);
                }
                return Err(e);
            }
        };
        let known = self
            .lease_ttls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&id)
            .copied();
        if let Some(ttl) = known {
            return Ok(ttl);
        }
        // A lease granted by another client: one more round trip to learn
        // its TTL.
        self.call(Some(id), keeper.keep_alive()).await?;
        let answer = self.call(Some(id), answers.message()).await?;
        match answer {
            Some(answer) if answer.ttl() > 0 => Ok(Duration::from_secs(answer.ttl() as u64)),
            _ => Err(Error::LeaseNotFound { lease: id }),
        }
    }

    async fn lease_revoke(&self, id: LeaseId) -> Result<()> {
        let mut lease = self.lease.clone();
        let result = self.call(Some(id), lease.revoke(id)).await;
        if result.is_ok() || result.as_ref().is_err_and(Error::is_not_found) {
            self.forget_lease(id);
        }
        result.map(drop)
    }
}

impl EtcdStorage {
    /// Whether the history after `after` is gone. Etcd tells a watch so
    /// only in a later message; a read at the same revision answers at once,
    /// so a compacted watch fails the call rather than the stream.
    async fn is_compacted(&self, after: Revision) -> Result<bool> {
        let mut kv = self.kv.clone();
        let options = GetOptions::new()
            .with_count_only()
            .with_revision((after + 1) as i64);
        let request = kv.get(self.keys.root.as_str(), Some(options));
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(_)) => Ok(false),
            Ok(Err(etcd_client::Error::GRpcStatus(status)))
                if status.message().contains("compacted") =>
            {
                Ok(true)
            }
            // Watching after the current revision waits for what comes next.
            Ok(Err(etcd_client::Error::GRpcStatus(status)))
                if status.message().contains("future revision") =>
            {
                Ok(false)
            }
            Ok(Err(e)) => Err(error(e, None)),
            Err(_) => Err(Error::unavailable(
                BACKEND,
                format!("no answer within {:?}", self.timeout),
            )),
        }
    }

    fn forget_lease(&self, id: LeaseId) {
        self.lease_ttls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_whole_seconds() {
        assert_eq!(ttl_seconds(Duration::ZERO), 1);
        assert_eq!(ttl_seconds(Duration::from_millis(1)), 1);
        assert_eq!(ttl_seconds(Duration::from_secs(1)), 1);
        assert_eq!(ttl_seconds(Duration::from_millis(1001)), 2);
    }

    #[test]
    fn guards_name_the_failure() {
        assert!(Guard::Absent.failure("a", Some(3)).unwrap().is_exists());
        assert!(Guard::Absent.failure("a", None).is_none());
        assert!(Guard::At(3).failure("a", None).unwrap().is_not_found());
        assert!(Guard::At(3).failure("a", Some(4)).unwrap().is_conflict());
        assert!(Guard::At(3).failure("a", Some(3)).is_none());
        assert!(Guard::Present.failure("a", None).unwrap().is_not_found());
        assert!(Guard::Check(0).failure("a", Some(2)).unwrap().is_conflict());
        assert!(Guard::Check(0).failure("a", None).is_none());
    }

    #[test]
    fn keys_outside_the_root_are_not_handed_out() {
        let keys = Keys {
            root: "/lastbackend/".to_owned(),
        };
        assert_eq!(keys.full("node/n1").unwrap(), "/lastbackend/node/n1");
        assert!(keys.full("").unwrap_err().to_string().contains("empty"));
    }
}
