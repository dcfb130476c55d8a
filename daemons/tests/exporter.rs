//! The exporter end to end: a `LogShipper` following containers of a
//! scripted runtime streams to a real exporter on loopback; lines are read
//! back over the exporter's HTTP and through the API's service-logs route;
//! an exporter process SIGKILLed mid-stream and restarted loses and
//! duplicates no line.
//!
//! The exporter alone, as a library, is tested in `lastbackend-runtime`'s
//! `tests/exporter.rs`; with real Docker containers, in `node_docker.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use lastbackend_core::api::types::MemberReport;
use lastbackend_core::api::{Api, Membership, Settings};
use lastbackend_core::model::{Kind, Presence};
use lastbackend_core::server::{ApiState, router, serve};
use lastbackend_core::storage::MemoryStorage;
use lastbackend_core::store::Store;
use lastbackend_runtime::exporter::{Exporter, StoreConfig};
use lastbackend_runtime::logs::{LogShipper, ShipperConfig};
use lastbackend_runtime::{
    ContainerEvent, ContainerFilter, ContainerInfo, ContainerSpec, Cri, LogLine, LogOptions,
    LogStream,
};
use tokio::sync::mpsc;

const TOKEN: &str = "exporter-test-token";
const WAIT: Duration = Duration::from_secs(60);

/// A runtime whose containers write what the test sends them.
#[derive(Default)]
struct ScriptedLogs {
    streams: Mutex<HashMap<String, mpsc::UnboundedReceiver<LogLine>>>,
}

impl ScriptedLogs {
    fn container(&self, id: &str) -> mpsc::UnboundedSender<LogLine> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.streams.lock().unwrap().insert(id.to_owned(), rx);
        tx
    }
}

fn out(text: String) -> LogLine {
    LogLine {
        stderr: false,
        data: Bytes::from(text),
    }
}

#[async_trait]
impl Cri for ScriptedLogs {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn version(&self) -> lastbackend_runtime::Result<String> {
        Ok("1".into())
    }
    async fn create(&self, _: &ContainerSpec) -> lastbackend_runtime::Result<String> {
        Err(lastbackend_runtime::Error::unsupported(
            "scripted", "create",
        ))
    }
    async fn start(&self, _: &str) -> lastbackend_runtime::Result<()> {
        Ok(())
    }
    async fn stop(&self, _: &str, _: Duration) -> lastbackend_runtime::Result<()> {
        Ok(())
    }
    async fn remove(&self, _: &str, _: bool) -> lastbackend_runtime::Result<()> {
        Ok(())
    }
    async fn inspect(&self, id: &str) -> lastbackend_runtime::Result<ContainerInfo> {
        Err(lastbackend_runtime::Error::not_found("container", id))
    }
    async fn list(&self, _: &ContainerFilter) -> lastbackend_runtime::Result<Vec<ContainerInfo>> {
        Ok(Vec::new())
    }
    async fn logs(&self, id: &str, _: LogOptions) -> lastbackend_runtime::Result<LogStream> {
        let rx = self
            .streams
            .lock()
            .unwrap()
            .remove(id)
            .ok_or_else(|| lastbackend_runtime::Error::not_found("container", id))?;
        let lines = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|line| (Ok(line), rx))
        });
        Ok(lines.boxed())
    }
    async fn events(
        &self,
    ) -> lastbackend_runtime::Result<BoxStream<'static, lastbackend_runtime::Result<ContainerEvent>>>
    {
        Ok(futures::stream::empty().boxed())
    }
    async fn wait(&self, _: &str) -> lastbackend_runtime::Result<i64> {
        Ok(0)
    }
}

/// Sends a GET; the status and the body as it streams.
async fn get(
    address: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, hyper::body::Incoming)> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    let mut request = hyper::Request::get(path).header("host", address.to_string());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(http_body_util::Empty::<Bytes>::new()).unwrap())
        .await
        .map_err(std::io::Error::other)?;
    Ok((response.status().as_u16(), response.into_body()))
}

/// The whole body of a GET as text.
async fn get_text(address: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let (status, body) = get(address, path, token).await.unwrap();
    let bytes = body.collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The lines of a streaming GET as they come.
async fn follow(address: SocketAddr, path: &str) -> mpsc::UnboundedReceiver<String> {
    let (status, mut body) = get(address, path, Some(TOKEN)).await.unwrap();
    assert_eq!(status, 200, "{path}");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buffer = Vec::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.extend_from_slice(&data);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line[..end]).into_owned();
                if tx.send(text).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

async fn take(lines: &mut mpsc::UnboundedReceiver<String>, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(WAIT, lines.recv()).await {
            Ok(Some(line)) => got.push(line),
            other => panic!("after {} of {n} lines: {other:?}; got {got:?}", got.len()),
        }
    }
    got
}

/// Polls `check` every 50 ms until it holds or [`WAIT`] passes.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn listen() -> (std::net::TcpListener, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_arrive_in_order_through_the_exporter_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::open(StoreConfig::new(dir.path(), 1 << 20, 2)).unwrap();
    let logs = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let log_address = logs.local_addr().unwrap();
    tokio::spawn(exporter.clone().serve_logs(logs));
    let (http, http_address) = listen();
    let exporter_app = exporter.router(Some(TOKEN.to_owned()));
    tokio::spawn(serve(http, exporter_app, None, std::future::pending()));

    let api = Api::new(
        Store::new(Arc::new(MemoryStorage::new())),
        Settings::default(),
    );
    let namespace = serde_json::json!({"version": "v1", "meta": {"name": "demo"}});
    api.create_namespace(serde_json::from_value(namespace).unwrap())
        .await
        .unwrap();
    let service = serde_json::json!({"version": "v1", "meta": {"name": "web"}, "spec": {"template": {"containers": [
        {"name": "web", "image": {"name": "busybox"}}
    ]}}});
    api.create_service("demo", serde_json::from_value(service).unwrap())
        .await
        .unwrap();
    let (api_listener, api_address) = listen();
    let api_app = router(ApiState::new(api.clone(), Some(TOKEN.to_owned())));
    tokio::spawn(serve(api_listener, api_app, None, std::future::pending()));

    let route = "/namespace/demo/service/web/logs";
    let (status, body) = get_text(api_address, route, Some(TOKEN)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no exporter is ready"), "{body}");

    // The exporter registers through the API's HTTP member routes.
    let members = lastbackend_client::Client::builder()
        .endpoint(format!("http://{api_address}"))
        .token(TOKEN)
        .build();
    let report = MemberReport {
        http: Some(http_address),
        listener: Some(log_address),
        presence: Presence {
            ready: true,
            online: true,
        },
        ..MemberReport::default()
    };
    let registration = tokio::spawn(
        Membership::new(Arc::new(members.unwrap()), Kind::Exporter, "exporter-test")
            .every(Duration::from_millis(200))
            .run(
                tokio::sync::watch::channel(report).1,
                std::future::pending(),
            ),
    );
    eventually("the exporter is ready in the API", || async {
        let list = api.exporters().await.unwrap();
        list.items
            .iter()
            .any(|e| e.status.presence.ready && e.status.http == Some(http_address))
    })
    .await;

    let mut direct = follow(http_address, "/logs?service=demo:web&follow=true").await;
    let mut proxied = follow(api_address, &format!("{route}?follow=true")).await;

    let cri = Arc::new(ScriptedLogs::default());
    let (a, b) = (cri.container("ca"), cri.container("cb"));
    let shipper = LogShipper::start(Some(log_address), ShipperConfig::default());
    let following = [
        shipper.follow(cri.clone(), "ca", "demo:web:d_v1:aaaaaaa", "web"),
        shipper.follow(cri.clone(), "cb", "demo:web:d_v1:bbbbbbb", "web"),
    ];
    for i in 1..=50 {
        a.send(out(format!("a {i}\n"))).unwrap();
        b.send(out(format!("b {i}\n"))).unwrap();
    }
    drop((a, b));
    for task in following {
        assert_eq!(task.await.unwrap().unwrap(), 50);
    }
    tokio::time::timeout(WAIT, shipper.flushed())
        .await
        .expect("every line acknowledged");

    for (what, lines) in [("exporter", &mut direct), ("api", &mut proxied)] {
        let got = take(lines, 100).await;
        for pod in ["aaaaaaa", "bbbbbbb"] {
            let of_pod: Vec<&str> = got
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("{pod} ")))
                .collect();
            let expected: Vec<String> = (1..=50).map(|i| format!("{} {i}", &pod[..1])).collect();
            assert_eq!(of_pod, expected, "{what}: {got:?}");
        }
    }

    let (status, tail) = get_text(
        http_address,
        "/logs?pod=demo:web:d_v1:aaaaaaa&container=web&tail=3",
        Some(TOKEN),
    )
    .await;
    assert_eq!((status, tail.as_str()), (200, "a 48\na 49\na 50\n"));
    let (status, tail) = get_text(api_address, &format!("{route}?tail=2"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert_eq!(get_text(http_address, "/logs?pod=x", None).await.0, 401);
    assert_eq!(get_text(api_address, route, Some("wrong")).await.0, 401);
    let (status, body) = get_text(http_address, "/logs?service=demo", Some(TOKEN)).await;
    assert_eq!(status, 400, "{body}");
    registration.abort();
}

/// `lastbackend exporter` as a child process, SIGKILLed on drop.
struct ExporterProcess {
    child: Child,
}

impl ExporterProcess {
    fn start(dir: &Path, logs: SocketAddr, http: SocketAddr) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_lastbackend"))
            .args(["exporter", "--insecure-no-auth"])
            .args(["--bind-listener-address", "127.0.0.1"])
            .args(["--bind-listener-port", &logs.port().to_string()])
            .args(["--bind-rest-address", "127.0.0.1"])
            .args(["--bind-rest-port", &http.port().to_string()])
            .arg("--log-workdir")
            .arg(dir)
            .env_remove("LB_CONFIG")
            .env_remove("LB_API_URI")
            .env_remove("LB_ACCESS_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ExporterProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two loopback ports free right now.
fn two_ports() -> (SocketAddr, SocketAddr) {
    let (first, a) = listen();
    let (second, b) = listen();
    drop((first, second));
    (a, b)
}

async fn serving(http: SocketAddr) {
    eventually("the exporter serves HTTP", || async {
        match get(http, "/logs?pod=probe", None).await {
            Ok((status, _)) => status == 200,
            Err(_) => false,
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exporter_killed_mid_stream_loses_and_duplicates_no_line() {
    const LINES: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let (logs, http) = two_ports();
    let mut process = ExporterProcess::start(dir.path(), logs, http);
    serving(http).await;

    let cri = Arc::new(ScriptedLogs::default());
    let container = cri.container("cc");
    let config =
        ShipperConfig::default().backoff(Duration::from_millis(20), Duration::from_millis(200));
    let shipper = LogShipper::start(Some(logs), config);
    let following = shipper.follow(cri, "cc", "demo:web:d_v1:ccccccc", "web");
    let writer = tokio::spawn(async move {
        for i in 1..=LINES {
            container.send(out(format!("line {i}\n"))).unwrap();
            if i % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });

    eventually("a first part is acknowledged", || async {
        shipper.stats().acked_records >= 300
    })
    .await;
    process.kill();
    let at_kill = shipper.stats();
    assert!(
        at_kill.acked_records < LINES as u64,
        "the stream was over before the kill: {at_kill:?}"
    );
    let mut process = ExporterProcess::start(dir.path(), logs, http);
    serving(http).await;

    writer.await.unwrap();
    assert_eq!(following.await.unwrap().unwrap(), LINES as u64);
    tokio::time::timeout(WAIT, shipper.flushed())
        .await
        .expect("every line acknowledged after the restart");
    let stats = shipper.stats();
    assert_eq!(stats.dropped_records, 0);
    assert!(stats.connects >= 2, "{stats:?}");

    let (status, text) =
        get_text(http, "/logs?pod=demo:web:d_v1:ccccccc&container=web", None).await;
    assert_eq!(status, 200);
    let got: Vec<&str> = text.lines().collect();
    let expected: Vec<String> = (1..=LINES).map(|i| format!("line {i}")).collect();
    assert_eq!(got.len(), LINES, "each line exactly once");
    assert_eq!(got, expected);
    process.kill();
}
