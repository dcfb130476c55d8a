//! Requests through the ingress (HAProxy as the driver configures it) vs
//! straight to the backend, in the same run, with wrk.
//!
//! `cargo bench -p lastbackend --bench ingress` (`INGRESS_BENCH_SECONDS=N`
//! sets each phase's length, 10 by default; `INGRESS_BENCH_CONNECTIONS`
//! the keep-alive connections, 32 by default)
//!
//! The backend is a small HTTP server on 127.0.0.1 answering `ok`, in its
//! own two-worker runtime. Both phases run `wrk -t1 -c<N> --latency` with
//! the route's Host header: first at the backend, then at the route port
//! HAProxy listens on. Figures: requests/s and the p50/p99 latency wrk
//! reports; the added p99 is the ingress p99 minus the direct one.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use lastbackend_core::manifest::internal::IngressManifest;
use lastbackend_core::model::{EndpointSpec, RouteRule, RouteSpec};
use lastbackend_runtime::ingress::haproxy::{Haproxy, HaproxySettings};

const HOST: &str = "web.demo.bench.test";

fn main() {
    let Some(exec) = ["/usr/local/bin/haproxy", "/usr/sbin/haproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        println!("haproxy is not installed: apt-get install haproxy; nothing measured");
        return;
    };
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("wrk is not installed: apt-get install wrk; nothing measured");
        return;
    }
    let seconds: u64 = env("INGRESS_BENCH_SECONDS", 10);
    let connections: u64 = env("INGRESS_BENCH_CONNECTIONS", 32);
    let backend_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let backend = backend_runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(|| async { "ok" });
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings = HaproxySettings::new(exec, dir.path());
    settings.bind_address = "127.0.0.1".parse().unwrap();
    let driver = Haproxy::new(settings);
    let mut manifest = IngressManifest::default();
    manifest.endpoints.insert(
        "demo:web".into(),
        EndpointSpec {
            ports: vec![format!("8080:{backend}").parse().unwrap()],
            upstreams: vec!["127.0.0.1".parse().unwrap()],
            ..EndpointSpec::default()
        },
    );
    manifest.routes.insert(
        "demo:web".into(),
        RouteSpec {
            endpoint: HOST.into(),
            port,
            rules: vec![RouteRule {
                path: "/".into(),
                service: "web".into(),
                port: 8080,
            }],
            ..RouteSpec::default()
        },
    );
    let statuses = runtime.block_on(driver.apply(&manifest)).unwrap();
    println!("route: {:?}", statuses.values().next());
    // The master forks its worker after the apply returns.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "haproxy did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "machine: {} cores, load average {}; wrk -t1 -c{connections} -d{seconds}s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let direct = wrk(backend, connections, seconds);
    println!("direct:  {direct:?}");
    let ingress = wrk(port, connections, seconds);
    println!("ingress: {ingress:?}");
    runtime.block_on(driver.stop());
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    for (metric, a, b) in [
        ("ingress_requests_per_s", ingress["rps"], direct["rps"]),
        ("ingress_p50_ms", ingress["p50"], direct["p50"]),
        ("ingress_p99_ms", ingress["p99"], direct["p99"]),
    ] {
        println!(
            "RESULT {metric}={a:.3} baseline={b:.3} ratio={:.3}",
            ratio(a, b)
        );
    }
    let added = ingress["p99"] - direct["p99"];
    println!(
        "RESULT ingress_p99_added_ms={added:.3} baseline=1.000 ratio={:.3}",
        ratio(added, 1.0)
    );
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs wrk and reads `rps`, `p50` and `p99` (ms) from its report.
fn wrk(port: u16, connections: u64, seconds: u64) -> BTreeMap<&'static str, f64> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
        ])
        .args(["-H", &format!("Host: {HOST}")])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("Non-2xx"),
        "wrk failed or saw errors:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {prefix:?} in wrk's report:\n{text}"))
    };
    BTreeMap::from([
        ("rps", field("Requests/sec:").parse().unwrap()),
        ("p50", millis(&field("50%"))),
        ("p99", millis(&field("99%"))),
    ])
}

fn millis(value: &str) -> f64 {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        _ => f64::NAN,
    }
}
