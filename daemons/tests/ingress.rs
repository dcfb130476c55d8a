//! `lastbackend ingress` against a real HAProxy (Debian's `haproxy`): the
//! binary serves a route from the API router over HTTP, reports it ready,
//! and stops on SIGTERM, releasing the port. The member loop and the
//! HAProxy driver themselves are tested in `lastbackend-runtime`'s
//! `tests/ingress.rs`. Skips with a reason when haproxy is missing; under
//! `CI=true` that fails instead.

#[path = "../../lastbackend-runtime/tests/support/skip.rs"]
mod skip;
#[path = "../../lastbackend-runtime/tests/support/ingress.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lastbackend_core::api::{Api, Settings};
use lastbackend_core::model::State;
use lastbackend_core::storage::MemoryStorage;
use lastbackend_core::store::Store;
use support::*;

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
