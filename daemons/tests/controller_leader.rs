//! Leader election across real `lastbackend controller` processes on a real
//! etcd: exactly one leads; a killed leader is replaced within the lease
//! TTL; a terminated one hands over at once (it resigns).
//!
//! Needs `etcd` on `PATH` (skipped with a message otherwise; required under
//! `CI=true`). Run with `cargo test -p lastbackend --test controller_leader`.
#![cfg(feature = "etcd")]

#[path = "../../lastbackend-core/tests/support/etcd.rs"]
mod etcd;

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lastbackend_core::controller::leader::{LEAD_KEY, Lead};
use lastbackend_core::storage::{EtcdConfig, EtcdStorage, Storage};

use self::etcd::{EtcdServer, unique_prefix};

const TTL: Duration = Duration::from_secs(3);
/// Time for etcd to expire a lease (it checks about every 500 ms) and for a
/// follower to notice and win.
const SLACK: Duration = Duration::from_secs(3);

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
}

/// The pid in the lead key's holder (`<host>:<pid>`), if somebody leads.
async fn leader_pid(storage: &EtcdStorage) -> Option<u32> {
    let kv = match storage.get(LEAD_KEY).await {
        Ok(kv) => kv,
        Err(e) if e.is_not_found() => return None,
        Err(e) => panic!("reading the lead key: {e}"),
    };
    let lead: Lead = serde_json::from_slice(&kv.value).expect("a Lead value");
    let pid = lead.holder.rsplit(':').next().and_then(|p| p.parse().ok());
    Some(pid.unwrap_or_else(|| panic!("holder {:?} is not host:pid", lead.holder)))
}

/// Waits for a leader other than `not`; returns it and how long it took.
async fn next_leader(storage: &EtcdStorage, not: Option<u32>, within: Duration) -> (u32, Duration) {
    let start = Instant::now();
    loop {
        if let Some(pid) = leader_pid(storage).await
            && Some(pid) != not
        {
            return (pid, start.elapsed());
        }
        assert!(
            start.elapsed() < within,
            "no new leader within {within:?} (the old one: {not:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
async fn one_controller_leads_a_killed_one_is_replaced_and_a_stopped_one_hands_over() {
    let Some(server) = EtcdServer::start() else {
        return;
    };
    let prefix = unique_prefix("controller-leader");
    let logs = tempfile::tempdir().unwrap();
    let storage = EtcdStorage::connect(EtcdConfig::new([server.endpoint()]).with_prefix(&prefix))
        .await
        .unwrap();
    let mut controllers = Controllers::start(3, &server.endpoint(), &prefix, logs.path());

    // One leads, and goes on leading.
    let (first, _) = next_leader(&storage, None, Duration::from_secs(30)).await;
    let first_index = controllers.index_of(first);
    tokio::time::sleep(TTL).await;
    assert_eq!(leader_pid(&storage).await, Some(first), "a stable lead");
    assert_eq!(
        leading_logs(logs.path(), 3),
        [first_index],
        "exactly one ran the reconcilers"
    );

    // SIGKILL: nobody resigns; the lease ends within the TTL.
    controllers.children[first_index].kill().unwrap();
    controllers.children[first_index].wait().unwrap();
    let (second, took) = next_leader(&storage, Some(first), TTL + SLACK + SLACK).await;
    println!("a killed leader replaced after {took:?}");
    assert!(
        took <= TTL + SLACK,
        "a killed leader replaced after {took:?}"
    );
    let second_index = controllers.index_of(second);

    // SIGTERM: the leader resigns, the last one takes over at once.
    let status = Command::new("kill")
        .args(["-TERM", &second.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (third, took) = next_leader(&storage, Some(second), TTL + SLACK).await;
    println!("a terminated leader handed over after {took:?}");
    assert!(
        took < TTL / 2,
        "a terminated leader handed over after {took:?}, not at once"
    );
    assert_ne!(third, first);
    let exit = controllers.children[second_index].wait().unwrap();
    assert!(exit.success(), "a clean exit on SIGTERM: {exit}");
    let log = std::fs::read_to_string(logs.path().join(format!("controller-{second_index}.log")))
        .unwrap();
    assert!(log.contains("controller stopped"), "{log}");
}
