//! `lastbackend ingress` against a real HAProxy (Debian's `haproxy`): the
//! binary serves a route from the API router over HTTP, reports it ready,
//! and stops on SIGTERM, releasing the port. The member loop and the
//! HAProxy driver themselves are tested in `lastbackend-runtime`'s
//! `tests/ingress.rs`. Skips with a reason when haproxy is missing; under
//! `CI=true` that fails instead.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lastbackend_core::api::{Api, Settings};
use lastbackend_core::model::{
    Endpoint, EndpointSpec, Kind, Meta, Route, RouteRule, RouteSpec, SelfLink, State,
};
use lastbackend_core::storage::MemoryStorage;
use lastbackend_core::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOST: &str = "web.demo.example.test";

fn haproxy() -> Option<PathBuf> {
    let found = [
        "/usr/sbin/haproxy",
        "/usr/local/sbin/haproxy",
        "/usr/bin/haproxy",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("haproxy is not installed and CI=true: apt-get install haproxy");
        }
        eprintln!("SKIPPED: haproxy is not installed (apt-get install haproxy)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP server answering `<name> <path>`.
async fn backend(name: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .fallback(move |uri: axum::http::Uri| async move { format!("{name} {}", uri.path()) });
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// One request on a new connection: `(status, body)`.
async fn get(port: u16, host: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {answer:?}")))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Polls until `check` holds, for at most 60 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn answers(port: u16, path: &str, expected: &str) -> bool {
    matches!(get(port, HOST, path).await, Ok((200, body)) if body == expected)
}

fn endpoint(service: &str, service_port: u16, pod_port: u16) -> Endpoint {
    Endpoint {
        meta: Meta::new(
            service,
            &SelfLink::namespaced(Kind::Endpoint, "demo", service),
        ),
        spec: EndpointSpec {
            domain: format!("{service}.demo.lb.local"),
            ports: vec![format!("{service_port}:{pod_port}").parse().unwrap()],
            upstreams: vec!["127.0.0.1".parse().unwrap()],
            ..EndpointSpec::default()
        },
        ..Endpoint::default()
    }
}

fn route(name: &str, port: u16, rules: &[(&str, &str)]) -> Route {
    Route {
        meta: Meta::new(name, &SelfLink::namespaced(Kind::Route, "demo", name)),
        spec: RouteSpec {
            endpoint: HOST.into(),
            port,
            rules: rules
                .iter()
                .map(|(path, service)| RouteRule {
                    path: (*path).into(),
                    service: (*service).into(),
                    port: 8080,
                })
                .collect(),
            ingress: Some("edge".into()),
            ..RouteSpec::default()
        },
        ..Route::default()
    }
}

async fn set_route(store: &Store, mut new: Route) {
    match store
        .find::<Route>(&SelfLink::parse(Kind::Route, &new.meta.self_link).unwrap())
        .await
        .unwrap()
    {
        Some(old) => {
            new.meta = old.meta;
            new.status = old.status;
            store.update(&new).await.unwrap();
        }
        None => {
            store.create(&new).await.unwrap();
        }
    }
}

async fn route_state(store: &Store, name: &str) -> (State, String) {
    let link = SelfLink::namespaced(Kind::Route, "demo", name);
    let route: Route = store.find(&link).await.unwrap().unwrap();
    (route.status.state, route.status.message)
}

/// Kills the daemon if the test fails before it stops it.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_routes_from_the_api_over_http() {
    let Some(exec) = haproxy() else { return };
    let dir = tempfile::tempdir().unwrap();
    let backend_port = backend("alpha").await;
    let api = Api::new(
        Store::new(Arc::new(MemoryStorage::new())),
        Settings::default(),
    );
    let store = api.store().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_port = listener.local_addr().unwrap().port();
    let router = lastbackend_core::server::router(lastbackend_core::server::ApiState::new(
        api,
        Some("t0ken".into()),
    ));
    tokio::spawn(async move { axum::serve(listener, router).await });

    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let port = free_port();
    store
        .create(&endpoint("web", 8080, backend_port))
        .await
        .unwrap();
    let mut web = route("web", port, &[("/", "web")]);
    web.spec.ingress = Some(name);
    set_route(&store, web).await;
    let mut daemon = Daemon(
        std::process::Command::new(env!("CARGO_BIN_EXE_lastbackend"))
            .arg("ingress")
            .args([
                "--api-uri",
                &format!("127.0.0.1:{api_port}"),
                "--access-token",
                "t0ken",
            ])
            .args(["--bind-interface", "any", "--haproxy-stat-port", "0"])
            .arg("--haproxy-exec")
            .arg(&exec)
            .arg("--haproxy-config-path")
            .arg(dir.path().join("haproxy.cfg"))
            .arg("--haproxy-pid")
            .arg(dir.path().join("haproxy.pid"))
            .spawn()
            .unwrap(),
    );
    eventually("the daemon to serve the route", || {
        answers(port, "/", "alpha /")
    })
    .await;
    eventually("the route to be ready", || async {
        route_state(&store, "web").await.0 == State::Ready
    })
    .await;

    let pid = daemon.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually("the route port to be released", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    })
    .await;
}
