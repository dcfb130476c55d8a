//! `lb service logs` and the SDK's `ServiceHandle::logs` against the real
//! API server proxying to a real exporter, both in this process on
//! loopback: stored lines first, then live ones while following, each
//! prefixed with its pod.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lastbackend_client::Client;
use lastbackend_client::core::api::types::MemberReport;
use lastbackend_client::core::api::{Api, Settings};
use lastbackend_client::core::model::{Kind, Presence};
use lastbackend_client::core::storage::memory::MemoryStorage;
use lastbackend_client::core::store::Store;
use lastbackend_core::server::{ApiState, router, serve};
use lastbackend_runtime::exporter::{Exporter, StoreConfig};
use lastbackend_runtime::logs::{LogRecord, SourceKey, StreamKind};

const TOKEN: &str = "logs-test-token";
const WAIT: Duration = Duration::from_secs(60);

fn record(pod: &str, seq: u64) -> LogRecord {
    LogRecord {
        key: SourceKey {
            pod: format!("demo:web:d_v1:{pod}"),
            container: "web".into(),
            source: format!("id-{pod}"),
        },
        stream: StreamKind::Stdout,
        time: chrono::Utc::now(),
        seq,
        line: format!("{pod} says {seq}"),
    }
}

/// The API with a service `demo/web` and a ready exporter; its endpoint.
async fn start(exporter: &Exporter) -> String {
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_address = http.local_addr().unwrap();
    let app = exporter.router(Some(TOKEN.to_owned()));
    tokio::spawn(serve(http, app, None, std::future::pending()));

    let api = Api::new(
        Store::new(Arc::new(MemoryStorage::new())),
        Settings::default(),
    );
    let namespace = serde_json::json!({"version": "v1", "meta": {"name": "demo"}});
    api.create_namespace(serde_json::from_value(namespace).unwrap())
        .await
        .unwrap();
    let service = serde_json::json!({"version": "v1", "meta": {"name": "web"}, "spec": {"template": {
        "containers": [{"name": "web", "image": {"name": "busybox"}}]
    }}});
    api.create_service("demo", serde_json::from_value(service).unwrap())
        .await
        .unwrap();
    let report = MemberReport {
        presence: Presence {
            ready: true,
            online: true,
        },
        http: Some(http_address),
        ..MemberReport::default()
    };
    api.register_member(Kind::Exporter, "exporter-1", report)
        .await
        .unwrap();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let app = router(ApiState::new(api, Some(TOKEN.to_owned())));
    tokio::spawn(serve(listener, app, None, std::future::pending()));
    format!("http://{address}")
}

/// `lb` as a child process, killed on drop.
struct Lb(Child);

impl Drop for Lb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lb(endpoint: &str, home: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lb"));
    command
        .args(args)
        .args(["--api-uri", endpoint, "--token", TOKEN])
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("LB_API_URI")
        .env_remove("LB_ACCESS_TOKEN")
        .env_remove("LB_CONFIG");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_follows_the_lines_of_every_pod_of_a_service() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let exporter = Exporter::open(StoreConfig::new(dir.path(), 1 << 20, 2)).unwrap();
    let endpoint = start(&exporter).await;
    exporter
        .append(vec![record("aaaaaaa", 1), record("bbbbbbb", 1)])
        .await
        .unwrap();

    let mut child = lb(
        &endpoint,
        home.path(),
        &["service", "logs", "demo", "web", "-f"],
    );
    let mut child = Lb(child.stdout(Stdio::piped()).spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut next = async || {
        tokio::time::timeout(WAIT, lines.recv())
            .await
            .expect("lb prints the next line")
            .expect("lb is still running")
    };
    let mut stored = vec![next().await, next().await];
    stored.sort();
    assert_eq!(stored, ["aaaaaaa aaaaaaa says 1", "bbbbbbb bbbbbbb says 1"]);

    // Live lines follow as they are stored, in order.
    for seq in 2..=4 {
        exporter
            .append(vec![record("bbbbbbb", seq), record("aaaaaaa", seq)])
            .await
            .unwrap();
    }
    let mut live = Vec::new();
    for _ in 0..6 {
        live.push(next().await);
    }
    let expected: Vec<String> = (2..=4)
        .flat_map(|seq| {
            [
                format!("bbbbbbb bbbbbbb says {seq}"),
                format!("aaaaaaa aaaaaaa says {seq}"),
            ]
        })
        .collect();
    assert_eq!(live, expected);
    drop(child);

    // Without -f: the tail, then lb exits.
    let output = lb(
        &endpoint,
        home.path(),
        &["service", "logs", "demo", "web", "--tail", "2"],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "bbbbbbb bbbbbbb says 4\naaaaaaa aaaaaaa says 4\n"
    );

    // The SDK reads the same stream.
    let client = Client::builder()
        .endpoint(&endpoint)
        .token(TOKEN)
        .build()
        .unwrap();
    let mut sdk = client
        .namespace("demo")
        .service("web")
        .logs(Some(1), true)
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, sdk.next()).await.unwrap();
    assert_eq!(first.unwrap().unwrap(), "aaaaaaa aaaaaaa says 4");
    exporter.append(vec![record("aaaaaaa", 5)]).await.unwrap();
    let live = tokio::time::timeout(WAIT, sdk.next()).await.unwrap();
    assert_eq!(live.unwrap().unwrap(), "aaaaaaa aaaaaaa says 5");
    let missing = client
        .namespace("demo")
        .service("nope")
        .logs(None, false)
        .await;
    assert!(missing.err().is_some_and(|e| e.is_not_found()));
}
