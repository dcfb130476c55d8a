//! Leader election across real `lastbackend controller` processes on a real
//! etcd: exactly one leads and keeps leading; a killed leader is replaced
//! once its lease ends; a terminated one resigns (revokes its lease) and
//! exits cleanly; and whoever leads runs the reconcilers (a node without a
//! heartbeat is marked offline).
//!
//! Outcomes only: how long a handover takes is printed here and measured by
//! `cargo bench -p lastbackend --bench leader`.
//!
//! Needs `etcd` on `PATH` (skipped with a message otherwise; required under
//! `CI=true`). Run with `cargo test -p lastbackend --test controller_leader`.
#![cfg(feature = "etcd")]

#[path = "../../lastbackend-core/tests/support/etcd.rs"]
mod etcd;

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use lastbackend_core::controller::leader::{LEAD_KEY, Lead};
use lastbackend_core::model::{Kind, Meta, Node, SelfLink};
use lastbackend_core::storage::{EtcdConfig, EtcdStorage, EventKind, KeyValue, Storage};
use lastbackend_core::store::Store;

use self::etcd::{EtcdServer, unique_prefix};

const TTL: Duration = Duration::from_secs(3);
/// How long any step may take before the test calls it hung: far above
/// the TTL a replacement needs, so a busy machine cannot fail it.
const WITHIN: Duration = Duration::from_secs(60);

/// The controller processes, killed when dropped (even when a test fails).
struct Controllers {
    children: Vec<Child>,
}

impl Drop for Controllers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Controllers {
    fn start(n: usize, endpoint: &str, prefix: &str, logs: &Path) -> Self {
        let children = (0..n)
            .map(|i| {
                let log = File::create(logs.join(format!("controller-{i}.log"))).unwrap();
                Command::new(env!("CARGO_BIN_EXE_lastbackend"))
                    .args(["controller", "--storage", "etcd", "-v", "3"])
                    .args(["--etcd-endpoints", endpoint, "--etcd-prefix", prefix])
                    .args(["--lease-ttl", &TTL.as_secs().to_string()])
                    .env_remove("LB_CONFIG")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("the lastbackend binary runs")
            })
            .collect();
        Self { children }
    }

    fn index_of(&self, pid: u32) -> usize {
        self.children
            .iter()
            .position(|c| c.id() == pid)
            .unwrap_or_else(|| panic!("the leader {pid} is not one of ours"))
    }

    /// Waits for controller `index` to exit, without blocking the runtime.
    async fn exit(&mut self, index: usize) -> ExitStatus {
        let deadline = Instant::now() + WITHIN;
        loop {
            if let Some(status) = self.children[index].try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "controller {index} never exited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The lead key, if somebody leads.
async fn lead_key(storage: &EtcdStorage) -> Option<KeyValue> {
    match storage.get(LEAD_KEY).await {
        Ok(kv) => Some(kv),
        Err(e) if e.is_not_found() => None,
        Err(e) => panic!("reading the lead key: {e}"),
    }
}

/// The pid in the lead key's holder (`<host>:<pid>`).
fn holder_pid(kv: &KeyValue) -> u32 {
    let lead: Lead = serde_json::from_slice(&kv.value).expect("a Lead value");
    let pid = lead.holder.rsplit(':').next().and_then(|p| p.parse().ok());
    pid.unwrap_or_else(|| panic!("holder {:?} is not host:pid", lead.holder))
}

/// A node marked online whose heartbeat key is missing (its agent is
/// gone): the leader's presence reconciler marks it offline.
fn ghost_node(name: &str) -> Node {
    let mut node = Node {
        meta: Meta::new(name, &SelfLink::host(Kind::Node, name)),
        ..Node::default()
    };
    node.status.online = true;
    node
}

/// Waits until the node is marked offline: a leader's reconcilers run.
async fn until_offline(store: &Store, name: &str) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let node: Node = store.get(&SelfLink::host(Kind::Node, name)).await.unwrap();
        if !node.status.online {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {name} still online: no leader reconciles"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for a leader other than `not`; returns its pid and how long it
/// took (printed, not asserted: the figure is the bench's).
async fn next_leader(storage: &EtcdStorage, not: Option<u32>) -> (u32, Duration) {
    let start = Instant::now();
    loop {
        if let Some(pid) = lead_key(storage).await.as_ref().map(holder_pid)
            && Some(pid) != not
        {
            return (pid, start.elapsed());
        }
        assert!(
            start.elapsed() < WITHIN,
            "no new leader within {WITHIN:?} (the old one: {not:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until a lease granted now, twice the TTL long, has expired in
/// etcd (its key's deletion seen on a watch). The leader's lease is older:
/// had it not been renewed all along, etcd would have ended it first.
/// etcd's clock, not a sleep in the test, decides when "long enough" is.
async fn outlive_a_lease(storage: &EtcdStorage) {
    let probe = storage.lease_grant(TTL * 2).await.unwrap();
    let key = "test/probe";
    let created = storage
        .put(key, Bytes::from_static(b"probe"), Some(probe))
        .await
        .unwrap();
    let mut watch = storage.watch(key, Some(created)).await.unwrap();
    let event = tokio::time::timeout(WITHIN, watch.next())
        .await
        .expect("the probe lease expires")
        .expect("the watch goes on")
        .expect("an event, not an error");
    assert_eq!(
        (event.kv.key.as_str(), event.kind),
        (key, EventKind::Deleted)
    );
}

fn leading_logs(logs: &Path, n: usize) -> Vec<usize> {
    (0..n)
        .filter(|i| {
            std::fs::read_to_string(logs.join(format!("controller-{i}.log")))
                .unwrap_or_default()
                .contains("leading; reconcilers started")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_controller_leads_a_killed_one_is_replaced_and_a_stopped_one_resigns() {
    let Some(server) = EtcdServer::start() else {
        return;
    };
    let prefix = unique_prefix("controller-leader");
    let logs = tempfile::tempdir().unwrap();
    let storage = EtcdStorage::connect(EtcdConfig::new([server.endpoint()]).with_prefix(&prefix))
        .await
        .unwrap();
    let store = Store::new(Arc::new(storage.clone()));
    store.create(&ghost_node("gone-1")).await.unwrap();
    let mut controllers = Controllers::start(3, &server.endpoint(), &prefix, logs.path());

    // One leads, and goes on leading: the same lead key (same revision,
    // same lease) after a lease granted later has run out.
    let (first, took) = next_leader(&storage, None).await;
    println!("a first leader after {took:?}");
    let first_index = controllers.index_of(first);
    let lead = lead_key(&storage).await.expect("a lead key");
    outlive_a_lease(&storage).await;
    let still = lead_key(&storage).await.expect("a lead key");
    assert_eq!(
        (still.mod_revision, still.lease, holder_pid(&still)),
        (lead.mod_revision, lead.lease, first),
        "a stable lead"
    );
    until_offline(&store, "gone-1").await;
    assert_eq!(
        leading_logs(logs.path(), 3),
        [first_index],
        "exactly one ran the reconcilers"
    );

    // SIGKILL: nobody resigns; another takes over once the lease ends.
    controllers.children[first_index].kill().unwrap();
    controllers.children[first_index].wait().unwrap();
    let (second, took) = next_leader(&storage, Some(first)).await;
    println!("a killed leader replaced after {took:?} (lease TTL {TTL:?})");
    let second_index = controllers.index_of(second);
    store.create(&ghost_node("gone-2")).await.unwrap();
    until_offline(&store, "gone-2").await;

    // SIGTERM: the leader resigns. The test keeps its lease alive meanwhile,
    // so the lease cannot expire: the lead key goes only because the leader
    // revoked it, which the keeper sees as the lease ending.
    let lease = lead_key(&storage)
        .await
        .and_then(|kv| kv.lease)
        .expect("the lead key has a lease");
    let keeper = tokio::spawn({
        let storage = storage.clone();
        async move {
            loop {
                match storage.lease_keep_alive(lease).await {
                    Ok(_) => tokio::time::sleep(TTL / 6).await,
                    Err(e) if e.is_not_found() => return,
                    Err(e) => panic!("keeping lease {lease:x} alive: {e}"),
                }
            }
        }
    });
    let status = Command::new("kill")
        .args(["-TERM", &second.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (third, took) = next_leader(&storage, Some(second)).await;
    println!("a terminated leader handed over after {took:?} (lease TTL {TTL:?})");
    assert_ne!(third, first);
    tokio::time::timeout(WITHIN, keeper)
        .await
        .expect("the resigned leader's lease ends")
        .expect("the keeper saw the lease end");
    store.create(&ghost_node("gone-3")).await.unwrap();
    until_offline(&store, "gone-3").await;
    let exit = controllers.exit(second_index).await;
    assert!(exit.success(), "a clean exit on SIGTERM: {exit}");
    let log = std::fs::read_to_string(logs.path().join(format!("controller-{second_index}.log")))
        .unwrap();
    assert!(log.contains("controller stopped"), "{log}");
    assert!(!log.contains("resigning failed"), "{log}");
}
