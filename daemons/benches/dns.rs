//! `cargo bench -p lastbackend --bench dns`: dnsperf against the discovery
//! server serving 10,000 service names, and in the same run against dnsmasq
//! serving the same names from a hosts file (the baseline).
//!
//! dnsperf runs per server: an unthrottled one for throughput (QPS and lost
//! queries) and three half as long at a fixed rate for latency (the median
//! of their p99s, from dnsperf's per-query lines; at saturation latency
//! only measures dnsperf's queue).
//! The server runs in process, release-built, on its own runtime.
//!
//! Write to answer: one endpoint's address changed `LB_BENCH_DNS_UPDATES`
//! times, each timed from the storage write until a query's answer carries
//! it (p50 and p99), against the baseline of the same write reaching a plain
//! storage watch (what the discovery server's own watch cannot beat). It
//! needs no tool, so it runs (and prints its figures) without dnsperf too.
//!
//! Knobs: `LB_BENCH_DNS_NAMES` (10000), `LB_BENCH_DNS_SECONDS` per run (10),
//! `LB_BENCH_DNS_RATE` queries/s of the latency runs (5000),
//! `LB_BENCH_DNS_THREADS` runtime threads and UDP sockets of the server
//! (1: dnsmasq is single-threaded, so both get one core, and dnsperf the
//! other on a two-core machine; the daemon itself takes one per core). Needs dnsperf
//! and dnsmasq (Debian packages); skips with a message without them.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lastbackend_core::model::{Endpoint, EndpointSpec, Kind, Meta, SelfLink};
use lastbackend_core::storage::MemoryStorage;
use lastbackend_core::store::{Store, Writes};
use lastbackend_core::units::PortMapping;
use lastbackend_runtime::discovery::hickory_server::proto::op::{
    Message, MessageType, OpCode, Query,
};
use lastbackend_runtime::discovery::hickory_server::proto::rr::{Name, RData, RecordType};
use lastbackend_runtime::discovery::{DnsServer, EndpointWatch, ServiceZone, ZoneConfig};

const TTL: u32 = 30;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let update = write_to_answer(knob("LB_BENCH_DNS_UPDATES", 200).max(1) as usize)?;
    for tool in ["dnsperf", "dnsmasq"] {
        if Command::new(tool).arg("--version").output().is_err() {
            println!("skipping the dnsperf runs: {tool} is not installed (Debian package {tool})");
            update.print();
            return Ok(());
        }
    }
    let names = knob("LB_BENCH_DNS_NAMES", 10_000) as usize;
    let seconds = knob("LB_BENCH_DNS_SECONDS", 10);
    let rate = knob("LB_BENCH_DNS_RATE", 5_000);
    let dir = tempfile::tempdir()?;

    let services: Vec<(String, String)> = (0..names)
        .map(|i| {
            (
                format!("svc-{i}.ns-{}.lb.local", i % 100),
                format!("10.{}.{}.{}", 96 + i / 65536, (i / 256) % 256, i % 256),
            )
        })
        .collect();
    let queries = dir.path().join("queries.txt");
    std::fs::write(
        &queries,
        services
            .iter()
            .map(|(name, _)| format!("{name} A\n"))
            .collect::<String>(),
    )?;
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        services
            .iter()
            .map(|(name, ip)| format!("{ip} {name}\n"))
            .collect::<String>(),
    )?;

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = knob("LB_BENCH_DNS_THREADS", 1).max(1) as usize;
    let (discovery, _server) = start_discovery(names, threads)?;
    let (dnsmasq, _dnsmasq) = start_dnsmasq(&hosts)?;
    for (server, label) in [(discovery, "discovery"), (dnsmasq, "dnsmasq")] {
        let (name, ip) = &services[names / 2];
        let answer = query_a(server, name).with_context(|| format!("{label} does not answer"))?;
        if answer != *ip {
            bail!("{label} answers {name} with {answer}, expected {ip}");
        }
    }
    println!(
        "dns: {names} names, {seconds} s per run, latency at {rate} q/s; server on {threads} \
         threads; {cores} cores shared with dnsperf (and any other load: check `uptime`)"
    );

    // Interleaved so a load change on the machine hits both alike.
    let ours = throughput(discovery, &queries, seconds)?;
    let theirs = throughput(dnsmasq, &queries, seconds)?;
    // p99 on a shared machine is mostly someone else's scheduling: the
    // median of three interleaved runs per server.
    let (mut ours_p99, mut theirs_p99) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        ours_p99.push(p99_latency(discovery, &queries, seconds.div_ceil(2), rate)?);
        theirs_p99.push(p99_latency(dnsmasq, &queries, seconds.div_ceil(2), rate)?);
    }
    println!("p99 runs: discovery {ours_p99:?}, dnsmasq {theirs_p99:?}");
    let median = |mut runs: Vec<Duration>| {
        runs.sort();
        runs[runs.len() / 2]
    };
    let (our_p99, their_p99) = (median(ours_p99), median(theirs_p99));
    for (label, run, p99) in [
        ("discovery", &ours, our_p99),
        ("dnsmasq", &theirs, their_p99),
    ] {
        println!(
            "{label:>9}: {:.0} q/s, {:.2}% lost, p99 {:.3} ms at {rate} q/s (median of 3)",
            run.qps,
            run.loss_pct,
            p99.as_secs_f64() * 1e3
        );
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "RESULT dns_qps={:.0} baseline={:.0} ratio={:.2}",
        ours.qps,
        theirs.qps,
        ours.qps / theirs.qps
    );
    println!(
        "RESULT dns_loss_pct={:.3} baseline={:.3} ratio={:.2}",
        ours.loss_pct,
        theirs.loss_pct,
        if theirs.loss_pct > 0.0 {
            ours.loss_pct / theirs.loss_pct
        } else if ours.loss_pct > 0.0 {
            f64::INFINITY
        } else {
            1.0
        }
    );
    println!(
        "RESULT dns_p99_ms={:.3} baseline={:.3} ratio={:.2}",
        ms(our_p99),
        ms(their_p99),
        ms(our_p99) / ms(their_p99)
    );
    update.print();
    Ok(())
}

/// Storage write to answer, and to a plain watch's event, per update.
struct Update {
    answered: Vec<Duration>,
    watched: Vec<Duration>,
}

impl Update {
    fn print(mut self) {
        self.answered.sort();
        self.watched.sort();
        let at = |sorted: &[Duration], pct: usize| {
            sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)].as_secs_f64() * 1e3
        };
        for pct in [50, 99] {
            let (ours, theirs) = (at(&self.answered, pct), at(&self.watched, pct));
            println!(
                "RESULT dns_update_p{pct}_ms={ours:.3} baseline={theirs:.3} ratio={:.2}",
                ours / theirs
            );
        }
    }
}

/// `updates` address changes of one endpoint, each timed from the write
/// until an answer carries it (queried in a loop) and until a plain watch
/// of the same store delivers it. The server and the store run on a
/// runtime of their own; the loop of queries runs on this thread.
fn write_to_answer(updates: usize) -> anyhow::Result<Update> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let (address, mut db, events) = runtime.block_on(async {
        let zone = Arc::new(ServiceZone::new(ZoneConfig::new("lb.local")?.with_ttl(TTL)));
        let watch = EndpointWatch::start(store.clone(), zone.clone()).await?;
        let server = DnsServer::builder(zone)
            .bind("127.0.0.1:0".parse()?)
            .await?;
        let address = server.local_addr();
        tokio::spawn(async move {
            let _watch = watch;
            server.run_until(std::future::pending()).await
        });
        let db = store.create(&endpoint(0)).await?;
        // Watched from here on: each event is one of the updates below.
        let mut watch = store
            .storage()
            .watch("", Some(store.storage().revision().await?))
            .await?;
        let (tx, rx) = std::sync::mpsc::channel();
        tokio::spawn(async move {
            while let Some(Ok(_)) = futures::StreamExt::next(&mut watch).await {
                if tx.send(Instant::now()).is_err() {
                    return;
                }
            }
        });
        anyhow::Ok((address, db, rx))
    })?;
    let name = db.spec.domain.clone();
    let mut update = Update {
        answered: Vec::with_capacity(updates),
        watched: Vec::with_capacity(updates),
    };
    for i in 1..=updates {
        let ip = format!("10.200.{}.{}", (i / 256) % 256, i % 256);
        db.spec.ip = Some(ip.parse()?);
        let written = Instant::now();
        db = runtime.block_on(store.update(&db))?;
        let deadline = written + Duration::from_secs(10);
        while query_a(address, &name).ok().as_ref() != Some(&ip) {
            if Instant::now() > deadline {
                bail!("{name} never answered {ip}");
            }
        }
        update.answered.push(written.elapsed());
        let event = events
            .recv_timeout(Duration::from_secs(10))
            .context("the plain watch delivered no event")?;
        update.watched.push(event - written);
    }
    println!(
        "write to answer: {updates} updates of one endpoint, answers polled in a loop from \
         another thread, baseline a plain storage watch of the same writes"
    );
    Ok(update)
}

/// The discovery server on its own runtime thread, `names` endpoints
/// loaded through the storage watch path.
fn start_discovery(
    names: usize,
    threads: usize,
) -> anyhow::Result<(SocketAddr, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let store = Store::new(Arc::new(MemoryStorage::new()));
            let zone = Arc::new(ServiceZone::new(
                ZoneConfig::new("lb.local").unwrap().with_ttl(TTL),
            ));
            // Started empty, so every name arrives through the watch.
            let _watch = EndpointWatch::start(store.clone(), zone.clone())
                .await
                .unwrap();
            for chunk in (0..names).collect::<Vec<_>>().chunks(500) {
                let mut writes = Writes::new();
                for &i in chunk {
                    writes = writes.create(&endpoint(i)).unwrap();
                }
                store.commit(writes).await.unwrap();
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            while zone.len() < names {
                assert!(Instant::now() < deadline, "the watch never caught up");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let server = DnsServer::builder(zone)
                .udp_sockets(threads)
                .bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            tx.send(server.local_addr()).unwrap();
            server.run_until(std::future::pending()).await.unwrap();
        });
    });
    let address = rx
        .recv_timeout(Duration::from_secs(120))
        .context("the discovery server did not start")?;
    Ok((address, thread))
}

fn endpoint(i: usize) -> Endpoint {
    let (ns, svc) = (format!("ns-{}", i % 100), format!("svc-{i}"));
    let link = SelfLink::namespaced(Kind::Endpoint, &ns, &svc);
    Endpoint {
        meta: Meta::new(&svc, &link),
        spec: EndpointSpec {
            ip: Some(
                format!("10.{}.{}.{}", 96 + i / 65536, (i / 256) % 256, i % 256)
                    .parse()
                    .unwrap(),
            ),
            domain: format!("{svc}.{ns}.lb.local"),
            ports: vec![PortMapping::parse("80:8080/tcp").unwrap()],
            ..EndpointSpec::default()
        },
        ..Endpoint::default()
    }
}

/// Kills dnsmasq when the bench ends, however it ends.
struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_dnsmasq(hosts: &std::path::Path) -> anyhow::Result<(SocketAddr, Dnsmasq)> {
    for _ in 0..10 {
        let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("dnsmasq")
            .args([
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
            ])
            .args(["--listen-address", "127.0.0.1", "--conf-file=/dev/null"])
            .args(["--pid-file=", "--user=root", "--log-facility=-"])
            .arg(format!("--port={port}"))
            .arg(format!("--local-ttl={TTL}"))
            .arg(format!("--addn-hosts={}", hosts.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start dnsmasq")?;
        let mut dnsmasq = Dnsmasq(child);
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if dnsmasq.0.try_wait()?.is_some() {
                break; // the port was taken meanwhile: another one
            }
            if query_a(address, "svc-0.ns-0.lb.local").is_ok() {
                return Ok((address, dnsmasq));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    bail!("dnsmasq did not start")
}

/// The first A record's address for `name`.
fn query_a(server: SocketAddr, name: &str) -> anyhow::Result<String> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut message = Message::new(4242, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name)?, RecordType::A));
    socket.send_to(&message.to_vec()?, server)?;
    let mut buffer = [0_u8; 2048];
    let len = socket.recv(&mut buffer)?;
    let answer = Message::from_vec(&buffer[..len])?;
    answer
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .context("no A record")
}

struct Throughput {
    qps: f64,
    loss_pct: f64,
}

fn dnsperf(server: SocketAddr, queries: &std::path::Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("dnsperf")
        .args([
            "-s",
            &server.ip().to_string(),
            "-p",
            &server.port().to_string(),
        ])
        .arg("-d")
        .arg(queries)
        .args(args)
        .output()
        .context("cannot run dnsperf")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "dnsperf failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(text)
}

/// Unthrottled: as many queries as the server takes, 4 clients (source
/// ports) with 100 outstanding each.
fn throughput(
    server: SocketAddr,
    queries: &std::path::Path,
    seconds: u64,
) -> anyhow::Result<Throughput> {
    let text = dnsperf(
        server,
        queries,
        &[
            "-l",
            &seconds.to_string(),
            "-c",
            "4",
            "-q",
            "400",
            "-t",
            "1",
        ],
    )?;
    let field = |label: &str| -> anyhow::Result<&str> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(str::trim)
            .with_context(|| format!("no {label:?} in dnsperf's output:\n{text}"))
    };
    let qps: f64 = field("Queries per second:")?.parse()?;
    // "Queries lost:         0 (0.00%)"
    let lost = field("Queries lost:")?;
    let loss_pct: f64 = lost
        .split(['(', '%'])
        .nth(1)
        .context("no loss percentage")?
        .parse()?;
    Ok(Throughput { qps, loss_pct })
}

/// At `rate` queries/s: the 99th percentile of dnsperf's per-query
/// latencies (`> NOERROR name A 0.000123`); a lost query counts as the
/// worst.
fn p99_latency(
    server: SocketAddr,
    queries: &std::path::Path,
    seconds: u64,
    rate: u64,
) -> anyhow::Result<Duration> {
    let text = dnsperf(
        server,
        queries,
        &[
            "-l",
            &seconds.to_string(),
            "-Q",
            &rate.to_string(),
            "-c",
            "4",
            "-t",
            "1",
            "-v",
        ],
    )?;
    let mut latencies: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("> "))
        .filter_map(|l| l.split_whitespace().last()?.parse().ok())
        .collect();
    let lost = text.lines().filter(|l| l.starts_with("[Timeout]")).count();
    latencies.extend(std::iter::repeat_n(f64::INFINITY, lost));
    if latencies.is_empty() {
        bail!("no per-query latency in dnsperf's output");
    }
    latencies.sort_by(f64::total_cmp);
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    Ok(Duration::from_secs_f64(p99.min(3600.0)))
}
