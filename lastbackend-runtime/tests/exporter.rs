//! The exporter as a library, in this process on loopback: a `LogShipper`
//! streams to `Exporter::serve_logs`, and the stored lines are read back
//! through `Exporter::router` driven with `oneshot` (no HTTP server): per
//! pod with `tail`, per service merged and prefixed with the pod's name, new
//! lines while following, a restarted shipper's resends stored once, the
//! token by header or query, and errors in the API's body shape.
//!
//! The exporter registered with a real API and read through the API's logs
//! route, and the `lastbackend exporter` process killed mid-stream, are in
//! the daemons' `tests/exporter.rs`.
#![cfg(feature = "exporter")]

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use lastbackend_runtime::core::api::types::ErrorBody;
use lastbackend_runtime::exporter::{Exporter, StoreConfig};
use lastbackend_runtime::logs::{LogRecord, LogShipper, ShipperConfig, SourceKey, StreamKind};
use tower::ServiceExt;

const TOKEN: &str = "exporter-library-token";
const WAIT: Duration = Duration::from_secs(60);

/// Line `seq` of the one container of pod `demo:web:d_v1:<pod>`.
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
        line: format!("line {seq}"),
    }
}

/// An exporter over a fresh work dir, taking log streams on loopback.
async fn start() -> (Exporter, std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::open(StoreConfig::new(dir.path(), 1 << 20, 2)).unwrap();
    let logs = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = logs.local_addr().unwrap();
    tokio::spawn(exporter.clone().serve_logs(logs));
    (exporter, address, dir)
}

/// Ships `records` and waits until the exporter acknowledged them all.
async fn ship(address: std::net::SocketAddr, records: impl IntoIterator<Item = LogRecord>) {
    let shipper = LogShipper::start(Some(address), ShipperConfig::default());
    for record in records {
        shipper.ship(record).unwrap();
    }
    tokio::time::timeout(WAIT, shipper.flushed())
        .await
        .expect("every line acknowledged");
}

/// A GET through the exporter's router; the status and the body.
async fn get(exporter: &Exporter, uri: &str, token: Option<&str>) -> (StatusCode, Body) {
    let mut request = Request::get(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = exporter
        .router(Some(TOKEN.to_owned()))
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    (response.status(), response.into_body())
}

async fn text(body: Body) -> String {
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The lines of `pod` in a service read, unprefixed.
fn of_pod<'a>(lines: &'a [String], pod: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&format!("{pod} ")))
        .collect()
}

fn numbered(range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    range.map(|i| format!("line {i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_lines_are_read_by_pod_by_service_and_while_following() {
    let (exporter, address, _dir) = start().await;
    ship(
        address,
        (1..=20).flat_map(|seq| [record("aaaaaaa", seq), record("bbbbbbb", seq)]),
    )
    .await;

    let uri = "/logs?pod=demo:web:d_v1:aaaaaaa&container=web&tail=3";
    let (status, body) = get(&exporter, uri, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text(body).await, "line 18\nline 19\nline 20\n");

    let (status, body) = get(&exporter, "/logs?service=demo:web", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<String> = text(body).await.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 40, "{lines:?}");
    for pod in ["aaaaaaa", "bbbbbbb"] {
        assert_eq!(of_pod(&lines, pod), numbered(1..=20), "{lines:?}");
    }

    let (status, body) = get(&exporter, "/logs?service=demo:web&follow=true", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let mut chunks = body.into_data_stream();
    // A restarted shipper resends what it had (1..=20 of `aaaaaaa`) with
    // one new line, and a new pod of the service starts writing.
    ship(
        address,
        (1..=21)
            .map(|seq| record("aaaaaaa", seq))
            .chain([record("ccccccc", 1)]),
    )
    .await;
    let mut buffer = Vec::new();
    let mut followed = Vec::new();
    while followed.len() < 42 {
        let chunk = tokio::time::timeout(WAIT, chunks.next())
            .await
            .unwrap_or_else(|_| panic!("after {} lines: {followed:?}", followed.len()))
            .expect("the followed body stays open")
            .unwrap();
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            followed.push(String::from_utf8_lossy(&line[..end]).into_owned());
        }
    }
    assert_eq!(
        of_pod(&followed, "aaaaaaa"),
        numbered(1..=21),
        "{followed:?}"
    );
    assert_eq!(
        of_pod(&followed, "bbbbbbb"),
        numbered(1..=20),
        "{followed:?}"
    );
    assert_eq!(
        of_pod(&followed, "ccccccc"),
        numbered(1..=1),
        "{followed:?}"
    );

    let uri = "/logs?pod=demo:web:d_v1:aaaaaaa";
    let (_, body) = get(&exporter, uri, Some(TOKEN)).await;
    let stored: Vec<String> = text(body).await.lines().map(str::to_owned).collect();
    assert_eq!(stored, numbered(1..=21), "each line stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_present_the_token_and_errors_have_the_api_body() {
    let (exporter, address, _dir) = start().await;
    ship(address, [record("aaaaaaa", 1)]).await;

    let pod = "/logs?pod=demo:web:d_v1:aaaaaaa";
    for token in [None, Some("wrong")] {
        let (status, body) = get(&exporter, pod, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        let error: ErrorBody = serde_json::from_str(&text(body).await).unwrap();
        assert_eq!((error.code, error.status.as_str()), (401, "Unauthorized"));
    }
    let query = format!("{pod}&x-lastbackend-token={TOKEN}");
    let (status, body) = get(&exporter, &query, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text(body).await, "line 1\n");

    for uri in [
        "/logs?service=demo",
        "/logs?pod=demo:web:d_v1:aaaaaaa&service=demo:web",
        "/logs?pod=.hidden",
    ] {
        let (status, body) = get(&exporter, uri, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let error: ErrorBody = serde_json::from_str(&text(body).await).unwrap();
        assert_eq!(error.code, 400, "{uri}");
    }
}
