//! `cargo bench -p lastbackend --bench leader`: how long the controllers go
//! without a leader when it dies (SIGKILL: its lease has to end) and when it
//! is stopped (SIGTERM: it resigns), three real `lastbackend controller`
//! processes on a real etcd, against the baseline of the lease TTL (what a
//! crash may cost at worst, give or take etcd's expiry tick).
//!
//! Each round starts three controllers under a fresh prefix, kills the
//! leader, then stops its successor; a handover runs from the signal until
//! the lead key names another controller (polled every 5 ms). Figures are
//! medians over the rounds.
//!
//! Knobs: `LB_BENCH_LEADER_ROUNDS` (5), `LB_BENCH_LEADER_TTL` seconds (3).
//! Needs `etcd` (Debian package etcd-server); skips with a message without.

#[path = "../../lastbackend-core/tests/support/etcd.rs"]
mod etcd;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lastbackend_core::controller::leader::{LEAD_KEY, Lead};
use lastbackend_core::storage::{EtcdConfig, EtcdStorage, Storage};

use self::etcd::{EtcdServer, unique_prefix};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Controllers killed when dropped, however the bench ends.
struct Controllers(Vec<Child>);

impl Drop for Controllers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() -> anyhow::Result<()> {
    let Some(server) = EtcdServer::start() else {
        println!("skipping: etcd is not installed (Debian package etcd-server)");
        return Ok(());
    };
    let rounds = knob("LB_BENCH_LEADER_ROUNDS", 5).max(1);
    let ttl = Duration::from_secs(knob("LB_BENCH_LEADER_TTL", 3).max(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut killed, mut stopped) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (kill, term) = runtime.block_on(round(&server, ttl))?;
        killed.push(kill);
        stopped.push(term);
    }
    println!("leader: {rounds} rounds, lease TTL {ttl:?}");
    println!("  SIGKILL handovers: {killed:?}");
    println!("  SIGTERM handovers: {stopped:?}");
    let median = |mut runs: Vec<Duration>| {
        runs.sort();
        runs[runs.len() / 2].as_secs_f64() * 1e3
    };
    let baseline = ttl.as_secs_f64() * 1e3;
    for (signal, runs) in [("sigkill", killed), ("sigterm", stopped)] {
        let ms = median(runs);
        println!(
            "RESULT leader_handover_{signal}_ms={ms:.0} baseline={baseline:.0} ratio={:.3}",
            ms / baseline
        );
    }
    Ok(())
}

/// One round: the handover after a SIGKILL, then after a SIGTERM.
async fn round(server: &EtcdServer, ttl: Duration) -> anyhow::Result<(Duration, Duration)> {
    let prefix = unique_prefix("bench-leader");
    let storage =
        EtcdStorage::connect(EtcdConfig::new([server.endpoint()]).with_prefix(&prefix)).await?;
    let controllers = Controllers(
        (0..3)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_lastbackend"))
                    .args(["controller", "--storage", "etcd"])
                    .args(["--etcd-endpoints", &server.endpoint()])
                    .args(["--etcd-prefix", &prefix])
                    .args(["--lease-ttl", &ttl.as_secs().to_string()])
                    .env_remove("LB_CONFIG")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("the lastbackend binary runs")
            })
            .collect::<anyhow::Result<_>>()?,
    );
    let (first, _) = next_leader(&storage, None).await?;
    signal(first, "-KILL")?;
    let (second, killed) = next_leader(&storage, Some(first)).await?;
    signal(second, "-TERM")?;
    let (_, stopped) = next_leader(&storage, Some(second)).await?;
    drop(controllers);
    Ok((killed, stopped))
}

fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()?;
    if !status.success() {
        bail!("kill {signal} {pid}: {status}");
    }
    Ok(())
}

/// Waits for a leader other than `not`: its pid, and how long it took.
async fn next_leader(storage: &EtcdStorage, not: Option<u32>) -> anyhow::Result<(u32, Duration)> {
    let start = Instant::now();
    loop {
        match storage.get(LEAD_KEY).await {
            Ok(kv) => {
                let lead: Lead = serde_json::from_slice(&kv.value)?;
                let pid = lead
                    .holder
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .with_context(|| format!("holder {:?} is not host:pid", lead.holder))?;
                if Some(pid) != not {
                    return Ok((pid, start.elapsed()));
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("no new leader after 2 minutes (the old one: {not:?})");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
