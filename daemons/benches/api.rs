//! The REST API under a steady open-loop load, against the store it runs on.
//!
//! `cargo bench -p lastbackend --bench api` (`API_BENCH_SECONDS=N` sets each
//! phase's length, 10 by default)
//!
//! The real router serves HTTP on 127.0.0.1 from its own two-worker runtime,
//! over an embedded (redb) store in a temporary directory. The load generator
//! on the main thread keeps 32 keep-alive connections and sends 1,000
//! requests/s on a fixed timetable: a thread stamps each request with the
//! instant it is due, and its latency runs from then to the end of its
//! response, so time spent queued behind a slow request counts (no
//! coordinated omission). Two phases, each alternating two operations:
//!
//! - mutating: `POST` a secret under a new name, `PUT` one of 100 configs
//!   with new data;
//! - read: `GET` a service, `GET` the list of those 100 configs.
//!
//! The baseline runs the same operations on the same timetable straight on a
//! `Store` over a second embedded store: `Store::create` of the secret,
//! `Store::get` then `Store::update` of the config (the API's
//! read-modify-write), `Store::get` of the service, `Store::list` of the
//! configs. Last, each store operation's service time one at a time: an
//! embedded write is one fsync, which bounds the writes per second of both.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use lastbackend_core::api::{Api, Settings};
use lastbackend_core::model::{Config, Kind, Secret, SelfLink, Service};
use lastbackend_core::server::{self, ApiState};
use lastbackend_core::storage::EmbeddedStorage;
use lastbackend_core::store::Store;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};

const RATE: u64 = 1_000;
/// Enough for the reads' concurrency at 1,000/s; more would only queue on
/// the server's write lock during the mutating phase.
const CONNECTIONS: usize = 32;
const NAMESPACE: &str = "bench";
const SERVICE: &str = "web";
/// Updates go round these, so no two in flight hit the same config and a
/// compare-and-swap retry never blurs the figure.
const CONFIGS: usize = 100;
const TOKEN: &str = "bench-token";
/// Where the one-at-a-time service times number their objects, past any
/// phase's.
const SERVICE_TIME_OFFSET: usize = 1 << 40;
const SERVICE_TIME_OPS: usize = 200;

/// One request: which, how long from its due instant, whether it succeeded.
struct Sample {
    index: usize,
    latency: Duration,
    ok: bool,
}

/// A phase: its samples, and the time from the first due instant to the
/// last response.
struct Run {
    samples: Vec<Sample>,
    elapsed: Duration,
}

/// The figures of one operation or of a phase's mix.
struct Figures {
    count: usize,
    errors: usize,
    throughput_rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Run {
    /// The figures of the requests whose index `keep` accepts.
    fn figures(&self, keep: impl Fn(usize) -> bool) -> Figures {
        let kept: Vec<&Sample> = self.samples.iter().filter(|s| keep(s.index)).collect();
        let mut latencies: Vec<Duration> = kept.iter().map(|s| s.latency).collect();
        latencies.sort();
        Figures {
            count: kept.len(),
            errors: kept.iter().filter(|s| !s.ok).count(),
            throughput_rps: kept.len() as f64 / self.elapsed.as_secs_f64(),
            p50_ms: percentile_ms(&latencies, 0.50),
            p99_ms: percentile_ms(&latencies, 0.99),
            max_ms: percentile_ms(&latencies, 1.0),
        }
    }

    fn all(&self) -> Figures {
        self.figures(|_| true)
    }

    /// Prints the mix and each of its two operations (even and odd indices).
    fn describe(&self, label: &str, even: &str, odd: &str) {
        for (name, figures) in [
            (label.to_owned(), self.all()),
            (
                format!("{label} {even}"),
                self.figures(|i| i.is_multiple_of(2)),
            ),
            (
                format!("{label} {odd}"),
                self.figures(|i| !i.is_multiple_of(2)),
            ),
        ] {
            eprintln!(
                "{name}: {} requests, {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, {} errors",
                figures.count,
                figures.throughput_rps,
                figures.p50_ms,
                figures.p99_ms,
                figures.max_ms,
                figures.errors
            );
        }
    }
}

/// The `q` quantile of `sorted`, in ms (nearest rank).
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
}

/// Sends `seconds × RATE` requests on the timetable through `workers`:
/// `op(worker, i)` sends request `i` and says whether it succeeded.
async fn drive<W>(workers: Vec<W>, seconds: u64, op: impl AsyncFn(&mut W, usize) -> bool) -> Run {
    let total = usize::try_from(seconds * RATE).unwrap();
    let interval = Duration::from_secs(1) / u32::try_from(RATE).unwrap();
    let start = Instant::now() + Duration::from_millis(10);
    // An unbounded queue and a thread of its own: a slow server never moves
    // the timetable, and the thread's sleeps are finer than tokio's 1 ms
    // timer wheel.
    let (due_tx, due_rx) = mpsc::unbounded_channel();
    let timetable = std::thread::spawn(move || {
        for index in 0..total {
            let due = start + interval * u32::try_from(index).unwrap();
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if due_tx.send((index, due)).is_err() {
                break;
            }
        }
    });
    let due_rx = Mutex::new(due_rx);
    let per_worker = futures::future::join_all(workers.into_iter().map(|mut worker| {
        let (due_rx, op) = (&due_rx, &op);
        async move {
            let mut samples = Vec::new();
            loop {
                let next = due_rx.lock().await.recv().await;
                let Some((index, due)) = next else { break };
                let ok = op(&mut worker, index).await;
                samples.push(Sample {
                    index,
                    latency: due.elapsed(),
                    ok,
                });
            }
            samples
        }
    }))
    .await;
    let elapsed = start.elapsed();
    timetable.join().unwrap();
    Run {
        samples: per_worker.into_iter().flatten().collect(),
        elapsed,
    }
}

/// A keep-alive HTTP/1.1 connection to the server, reopened if it drops.
struct Connection {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Self {
        Self {
            addr,
            sender: handshake(addr).await,
        }
    }

    /// Sends an authenticated request; true on a 2xx answer read whole.
    async fn send(&mut self, method: Method, path: &str, body: Option<Value>) -> bool {
        if self.sender.ready().await.is_err() {
            self.sender = handshake(self.addr).await;
        }
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.addr.to_string())
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .unwrap();
        match self.sender.send_request(request).await {
            Ok(response) => {
                let success = response.status().is_success();
                success && response.into_body().collect().await.is_ok()
            }
            Err(_) => false,
        }
    }
}

async fn handshake(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

/// The API serving on its own two-worker runtime until stopped.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    fn start(api: Api) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let app = server::router(ApiState::new(api, Some(TOKEN.into())));
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(server::serve(listener, app, None, async {
                    let _ = stopped.await;
                }))
                .unwrap();
        });
        Self { addr, stop, thread }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().unwrap();
    }
}

fn embedded_api(path: std::path::PathBuf) -> Api {
    let storage = EmbeddedStorage::open(path).unwrap();
    Api::new(
        Store::new(std::sync::Arc::new(storage)),
        Settings::default(),
    )
}

fn config_name(index: usize) -> String {
    format!("config-{:03}", (index / 2) % CONFIGS)
}

fn secret_manifest(index: usize) -> Value {
    json!({"version": "v1", "meta": {"name": format!("secret-{index}")},
           "spec": {"data": {"token": format!("value-{index}")}}})
}

fn config_manifest(index: usize) -> Value {
    json!({"version": "v1", "meta": {"name": config_name(index)},
           "spec": {"data": {"revision": index.to_string()}}})
}

fn parse<T: serde::de::DeserializeOwned>(manifest: Value) -> T {
    serde_json::from_value(manifest).unwrap()
}

/// What both sides work on: a namespace with a service and the configs, and
/// a secret the baseline copies for its creates.
async fn populate(api: &Api) {
    api.create_namespace(parse(json!({"version": "v1", "meta": {"name": NAMESPACE}})))
        .await
        .unwrap();
    let service = json!({"version": "v1", "meta": {"name": SERVICE}, "spec": {"template": {"containers": [
        {"name": "web", "image": {"name": "nginx"}}
    ]}}});
    api.create_service(NAMESPACE, parse(service)).await.unwrap();
    for config in (0..CONFIGS).map(|k| k * 2 + 1) {
        api.create_config(NAMESPACE, parse(config_manifest(config)))
            .await
            .unwrap();
    }
    api.create_secret(NAMESPACE, parse(secret_manifest(usize::MAX)))
        .await
        .unwrap();
}

/// Even: create a secret; odd: update a config.
async fn http_mutate(connection: &mut Connection, index: usize) -> bool {
    if index.is_multiple_of(2) {
        let path = format!("/namespace/{NAMESPACE}/secret");
        connection
            .send(Method::POST, &path, Some(secret_manifest(index)))
            .await
    } else {
        let path = format!("/namespace/{NAMESPACE}/config/{}", config_name(index));
        connection
            .send(Method::PUT, &path, Some(config_manifest(index)))
            .await
    }
}

/// Even: get the service; odd: list the configs.
async fn http_read(connection: &mut Connection, index: usize) -> bool {
    let path = if index.is_multiple_of(2) {
        format!("/namespace/{NAMESPACE}/service/{SERVICE}")
    } else {
        format!("/namespace/{NAMESPACE}/config")
    };
    connection.send(Method::GET, &path, None).await
}

/// One phase over fresh keep-alive connections.
async fn http_phase(
    addr: SocketAddr,
    seconds: u64,
    label: &str,
    op: impl AsyncFn(&mut Connection, usize) -> bool,
) -> Run {
    let mut connections = Vec::new();
    for _ in 0..CONNECTIONS {
        connections.push(Connection::open(addr).await);
    }
    eprintln!("{label}: {seconds} s at {RATE} req/s");
    drive(connections, seconds, op).await
}

/// The API's operations done straight on the store.
struct Direct {
    store: Store,
    secret: Secret,
}

impl Direct {
    async fn new(store: Store) -> Self {
        let link = SelfLink::namespaced(Kind::Secret, NAMESPACE, format!("secret-{}", usize::MAX));
        let secret = store.get(&link).await.unwrap();
        Self { store, secret }
    }

    async fn mutate(&self, index: usize) -> bool {
        if index.is_multiple_of(2) {
            let mut secret = self.secret.clone();
            secret.meta.revision = 0;
            secret.meta.name = format!("secret-{index}");
            secret.meta.self_link =
                SelfLink::namespaced(Kind::Secret, NAMESPACE, &secret.meta.name).to_string();
            secret
                .spec
                .data
                .insert("token".into(), format!("value-{index}"));
            self.store.create(&secret).await.is_ok()
        } else {
            let link = SelfLink::namespaced(Kind::Config, NAMESPACE, config_name(index));
            let Ok(mut config) = self.store.get::<Config>(&link).await else {
                return false;
            };
            config
                .spec
                .data
                .insert("revision".into(), index.to_string());
            self.store.update(&config).await.is_ok()
        }
    }

    async fn read(&self, index: usize) -> bool {
        if index.is_multiple_of(2) {
            let link = SelfLink::namespaced(Kind::Service, NAMESPACE, SERVICE);
            self.store.get::<Service>(&link).await.is_ok()
        } else {
            let configs = self.store.list::<Config>(&format!("{NAMESPACE}:")).await;
            configs.is_ok_and(|(items, _)| items.len() == CONFIGS)
        }
    }
}

/// Prints the p50 and p99 of `op` over `indices`, one call at a time.
async fn service_time(
    name: &str,
    indices: impl Iterator<Item = usize>,
    op: impl AsyncFn(usize) -> bool,
) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    for index in indices {
        let start = Instant::now();
        errors += usize::from(!op(index).await);
        latencies.push(start.elapsed());
    }
    latencies.sort();
    eprintln!(
        "store service time, one at a time, {name}: p50 {:.3} ms, p99 {:.3} ms, {errors} errors",
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99)
    );
}

/// Each operation alone: what a request costs the store without queueing.
async fn service_times(direct: &Direct) {
    let even = (SERVICE_TIME_OFFSET..).step_by(2).take(SERVICE_TIME_OPS);
    let odd = (SERVICE_TIME_OFFSET + 1..)
        .step_by(2)
        .take(SERVICE_TIME_OPS);
    let mutate = async |i| direct.mutate(i).await;
    let read = async |i| direct.read(i).await;
    service_time("create secret", even.clone(), mutate).await;
    service_time("get+update config", odd.clone(), mutate).await;
    service_time("get service", even, read).await;
    service_time("list 100 configs", odd, read).await;
}

fn result(metric: &str, value: f64, baseline: f64) {
    println!(
        "RESULT api.{metric}={value:.3} baseline={baseline:.3} ratio={:.3}",
        value / baseline
    );
}

fn main() {
    let seconds: u64 = std::env::var("API_BENCH_SECONDS")
        .map(|s| {
            s.parse()
                .expect("API_BENCH_SECONDS: a whole number of seconds")
        })
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let api = embedded_api(dir.path().join("api.redb"));
    let baseline = embedded_api(dir.path().join("baseline.redb"));
    client.block_on(async {
        populate(&api).await;
        populate(&baseline).await;
    });
    let server = Server::start(api);
    // Each API phase right before its baseline: the disk's fsync time
    // drifts with whatever else the machine is doing.
    let (api_mutating, store_mutating, api_read, store_read) = client.block_on(async {
        let direct = Direct::new(baseline.store().clone()).await;
        let workers = || vec![(); CONNECTIONS];
        let api_mutating = http_phase(server.addr, seconds, "api mutating", http_mutate).await;
        eprintln!("store mutating: {seconds} s at {RATE} req/s");
        let store_mutating = drive(workers(), seconds, async |_, i| direct.mutate(i).await).await;
        let api_read = http_phase(server.addr, seconds, "api read", http_read).await;
        eprintln!("store read: {seconds} s at {RATE} req/s");
        let store_read = drive(workers(), seconds, async |_, i| direct.read(i).await).await;
        service_times(&direct).await;
        (api_mutating, store_mutating, api_read, store_read)
    });
    server.stop();

    api_mutating.describe("api mutating", "create secret", "update config");
    store_mutating.describe("store mutating", "create secret", "get+update config");
    api_read.describe("api read", "get service", "list 100 configs");
    store_read.describe("store read", "get service", "list 100 configs");

    let (api_mutating, api_read) = (api_mutating.all(), api_read.all());
    let (store_mutating, store_read) = (store_mutating.all(), store_read.all());
    result(
        "mutating_p50_ms",
        api_mutating.p50_ms,
        store_mutating.p50_ms,
    );
    result(
        "mutating_p99_ms",
        api_mutating.p99_ms,
        store_mutating.p99_ms,
    );
    result("read_p50_ms", api_read.p50_ms, store_read.p50_ms);
    result("read_p99_ms", api_read.p99_ms, store_read.p99_ms);
    result(
        "mutating_throughput_rps",
        api_mutating.throughput_rps,
        RATE as f64,
    );
    result("read_throughput_rps", api_read.throughput_rps, RATE as f64);
    let requests = api_mutating.count + api_read.count;
    let busy = api_mutating.count as f64 / api_mutating.throughput_rps
        + api_read.count as f64 / api_read.throughput_rps;
    result("throughput_rps", requests as f64 / busy, RATE as f64);
    let errors = [api_mutating, api_read, store_mutating, store_read].map(|f| f.errors);
    assert_eq!(
        errors, [0; 4],
        "failed requests (api mutating, api read, store mutating, store read)"
    );
}
