//! Time to apply one endpoint change with 10,000 services programmed by the
//! nftables proxy driver, against the same run's full reload of the same
//! table by one `nft -f` (what a proxy without incremental updates does on
//! every change).
//!
//! Run (root, `nft`, `ip`): `cargo bench -p lastbackend-runtime --bench proxy_sync`
//!
//! The bench moves itself into a fresh network namespace and runs `nft`
//! directly, as the node agent does on a host.

use std::collections::BTreeMap;
use std::fs::File;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lastbackend_runtime::Cpi;
use lastbackend_runtime::core::model::EndpointSpec;
use lastbackend_runtime::cpi::nftables::{NftCommand, NftRunner, Nftables, Spread, full_batch};

const SERVICES: usize = 10_000;
const CHANGES: usize = 200;

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn endpoint(i: usize, extra: bool) -> EndpointSpec {
    let (hi, lo) = (i / 256, i % 256);
    let mut upstreams = vec![format!("10.244.{hi}.{lo}"), format!("10.245.{hi}.{lo}")];
    if extra {
        upstreams.push(format!("10.246.{hi}.{lo}"));
    }
    EndpointSpec {
        ip: Some(format!("10.96.{hi}.{lo}").parse().unwrap()),
        domain: format!("s{i}.bench.lb.local"),
        ports: vec!["80:8080".parse().unwrap()],
        upstreams: upstreams.iter().map(|u| u.parse().unwrap()).collect(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1e3
}

/// Applies [`CHANGES`] endpoint changes to `endpoints` (alternately a third
/// upstream added to a service and taken away) and returns the p50 and p99
/// of one sync, in milliseconds.
async fn changes(
    cpi: &Nftables,
    mut endpoints: BTreeMap<String, EndpointSpec>,
    services: usize,
) -> (f64, f64) {
    let mut times = Vec::with_capacity(CHANGES);
    for change in 0..CHANGES {
        let i = (change / 2 * 7919) % services;
        endpoints.insert(format!("bench:s{i}"), endpoint(i, change % 2 == 0));
        let start = Instant::now();
        let sync = cpi.sync(&endpoints).await.unwrap();
        times.push(start.elapsed());
        assert_eq!(sync.backends_changed, 1, "change {change}: {sync:?}");
    }
    times.sort();
    (percentile(&times, 0.50), percentile(&times, 0.99))
}

fn main() {
    if !nix::unistd::geteuid().is_root() || Command::new("nft").arg("--version").output().is_err() {
        println!("skipped: the proxy_sync bench needs root and nft");
        return;
    }
    let netns = Netns(format!("lbbench-{}", std::process::id()));
    let added = Command::new("ip")
        .args(["netns", "add", &netns.0])
        .status()
        .unwrap();
    assert!(added.success(), "ip netns add {}", netns.0);
    // Single-threaded from here: the runtime and every nft it starts live
    // in the namespace this thread enters.
    let file = File::open(format!("/run/netns/{}", netns.0)).unwrap();
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let runner = Arc::new(NftCommand::new());
    let cpi = Nftables::new(runner.clone(), Spread::Random);
    let endpoints: BTreeMap<String, EndpointSpec> = (0..SERVICES)
        .map(|i| (format!("bench:s{i}"), endpoint(i, false)))
        .collect();

    // The same changes with 100 services first: the cost per change should
    // not grow with the number of services programmed.
    let few: BTreeMap<String, EndpointSpec> = (0..100)
        .map(|i| (format!("bench:s{i}"), endpoint(i, false)))
        .collect();
    cpi.sync(&few).await.unwrap();
    let (few_p50, few_p99) = changes(&cpi, few, 100).await;
    println!("one endpoint change with 100 services: p50 {few_p50:.2} ms, p99 {few_p99:.2} ms");

    let start = Instant::now();
    let sync = cpi.sync(&endpoints).await.unwrap();
    println!(
        "sync up to {SERVICES} services: {:.1} ms ({sync:?})",
        start.elapsed().as_secs_f64() * 1e3
    );
    // A sync that changes nothing runs no nft: what is left is this
    // driver's own diff over 10,000 services.
    let mut noop = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        assert!(cpi.sync(&endpoints).await.unwrap().is_empty());
        noop.push(start.elapsed());
    }
    noop.sort();
    println!(
        "sync with nothing to change: p50 {:.2} ms",
        percentile(&noop, 0.5)
    );
    let (p50, p99) = changes(&cpi, endpoints.clone(), SERVICES).await;
    println!(
        "one endpoint change with {SERVICES} services, {CHANGES} changes: p50 {p50:.2} ms, p99 {p99:.2} ms"
    );

    // The floor under any change made through the binary: starting nft
    // with an empty batch (no cache to load) on this machine, now.
    let mut floor = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        runner.run(&["-f", "-"], Some("")).await.unwrap();
        floor.push(start.elapsed());
    }
    floor.sort();
    println!(
        "floor: nft -f - with an empty batch: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&floor, 0.5),
        percentile(&floor, 0.99)
    );

    let reload = format!(
        "delete table ip lastbackend\n{}",
        full_batch(&endpoints, Spread::Random)
    );
    let mut reloads = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        runner.run(&["-f", "-"], Some(&reload)).await.unwrap();
        reloads.push(start.elapsed());
    }
    reloads.sort();
    let full = percentile(&reloads, 0.5);
    println!("full reload of {SERVICES} services by one nft -f: median of 5 {full:.1} ms");
    cpi.teardown().await.unwrap();

    println!(
        "RESULT proxy_sync_100_services_p99_ms={few_p99:.2} baseline={full:.1} ratio={:.1}",
        full / few_p99
    );
    println!(
        "RESULT proxy_sync_p50_ms={p50:.2} baseline={full:.1} ratio={:.1}",
        full / p50
    );
    println!(
        "RESULT proxy_sync_p99_ms={p99:.2} baseline={full:.1} ratio={:.1}",
        full / p99
    );
}
