//! The ingress member loop and its HAProxy driver against a real HAProxy
//! (Debian's `haproxy`), fed by an in-process `Api`: routes served by host
//! and path, route changes, an invalid route reported while the rest keeps
//! serving, a supervised restart, zero failed requests across reloads, and
//! the stats page's credentials. Backends are small HTTP servers on
//! loopback that answer their own name. Skips with a reason when haproxy
//! is missing; under `CI=true` that fails instead.
#![cfg(feature = "ingress")]

#[path = "support/skip.rs"]
mod skip;
#[path = "support/ingress.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use lastbackend_core::api::{Api, ControlPlane, Settings};
use lastbackend_core::model::{Kind, Meta, RouteTls, Secret, SecretSpec, SelfLink, State};
use lastbackend_core::storage::MemoryStorage;
use lastbackend_core::store::Store;
use lastbackend_runtime::ingress::haproxy::{Haproxy, HaproxySettings, StatsSettings};
use lastbackend_runtime::ingress::member;
use support::*;

async fn curl_status(args: &[&str]) -> String {
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .output()
        .await
        .expect("curl is installed (apt-get install curl)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Requests in a loop until `stop`: keep-alive (one connection reused,
/// replaced when the server says `Connection: close`) or a new connection
/// each time. Counts `(ok, failed)`.
async fn load(
    port: u16,
    keep_alive: bool,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) {
    let mut sender: Option<
        hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    > = None;
    while !stop.load(Ordering::Relaxed) {
        let good = if keep_alive {
            if sender.as_ref().is_none_or(|s| s.is_closed()) {
                let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .unwrap();
                let (s, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .unwrap();
                tokio::spawn(conn);
                sender = Some(s);
            }
            let s = sender.as_mut().unwrap();
            let _ = s.ready().await;
            let request = hyper::Request::get("/")
                .header("host", HOST)
                .body(http_body_util::Empty::new())
                .unwrap();
            match s.send_request(request).await {
                Ok(response) => {
                    let close = response
                        .headers()
                        .get("connection")
                        .is_some_and(|v| v == "close");
                    let status = response.status();
                    let body = http_body_util::BodyExt::collect(response.into_body()).await;
                    if close {
                        sender = None;
                    }
                    status == 200 && body.is_ok_and(|b| b.to_bytes() == "beta /")
                }
                Err(error) => {
                    eprintln!("keep-alive request failed: {error}");
                    sender = None;
                    false
                }
            }
        } else {
            match get(port, HOST, "/").await {
                Ok((200, body)) if body == "beta /" => true,
                other => {
                    eprintln!("request failed: {other:?}");
                    false
                }
            }
        };
        if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_reloads_restarts_and_stats_on_a_real_haproxy() {
    let Some(exec) = haproxy() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (alpha, beta) = (backend("alpha").await, backend("beta").await);
    let mut settings = Settings::default();
    settings.external_domain = "example.test".into();
    let api = Arc::new(Api::new(
        Store::new(Arc::new(MemoryStorage::new())),
        settings,
    ));
    let store = api.store().clone();
    store.create(&endpoint("web", 8080, alpha)).await.unwrap();
    store.create(&endpoint("other", 8080, beta)).await.unwrap();
    let (port, stats_port, tls_port) = (free_port(), free_port(), free_port());
    set_route(&store, route("web", port, &[("/", "web")])).await;

    let mut haproxy = HaproxySettings::new(exec, dir.path());
    haproxy.bind_address = "127.0.0.1".parse().unwrap();
    haproxy.hard_stop_after = Duration::from_secs(10);
    haproxy.stats = Some(
        StatsSettings::new("127.0.0.1".parse().unwrap(), stats_port)
            .with_credentials("admin", "s3cret"),
    );
    let pid_file = haproxy.pid_path.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let plane: Arc<dyn ControlPlane> = api.clone();
    let member = tokio::spawn(async move {
        member::run(plane, "edge", Arc::new(Haproxy::new(haproxy)), async {
            let _ = stopped.await;
        })
        .await;
    });

    // The route answers by host.
    eventually("the route to answer", || answers(port, "/", "alpha /")).await;
    let url = format!("http://127.0.0.1:{port}/");
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-H", &format!("Host: {HOST}"), &url])
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha /");
    assert_eq!(get(port, "unknown.example.test", "/").await.unwrap().0, 503);
    eventually("the route to be ready", || async {
        route_state(&store, "web").await.0 == State::Ready
    })
    .await;

    // A changed route: `/` to another service, a longer prefix to the first.
    set_route(
        &store,
        route("web", port, &[("/", "other"), ("/alpha", "web")]),
    )
    .await;
    eventually("the changed route", || answers(port, "/", "beta /")).await;
    assert!(answers(port, "/alpha/x", "alpha /alpha/x").await);
    assert!(answers(port, "/alphabet", "beta /alphabet").await);

    // A route with a bad certificate is reported, the rest keeps serving.
    let secret = Secret {
        meta: Meta::new("cert", &SelfLink::namespaced(Kind::Secret, "demo", "cert")),
        spec: SecretSpec {
            data: [
                ("tls.crt".to_owned(), "garbage".to_owned()),
                ("tls.key".to_owned(), "garbage".to_owned()),
            ]
            .into(),
            ..SecretSpec::default()
        },
    };
    store.create(&secret).await.unwrap();
    let mut secure = route("secure", tls_port, &[("/", "web")]);
    secure.spec.tls = Some(RouteTls {
        secret: Some("cert".into()),
        passthrough: false,
    });
    set_route(&store, secure).await;
    eventually("the bad route's error", || async {
        let (state, message) = route_state(&store, "secure").await;
        state == State::Error && message.contains("unable to load certificate")
    })
    .await;
    assert!(answers(port, "/", "beta /").await);
    assert!(
        get(tls_port, HOST, "/").await.is_err(),
        "the invalid route's port must not be served"
    );

    // Stats need the credentials.
    let stats = format!("http://127.0.0.1:{stats_port}/stats");
    assert_eq!(curl_status(&[&stats]).await, "401");
    assert_eq!(curl_status(&["-u", "admin:wrong", &stats]).await, "401");
    assert_eq!(curl_status(&["-u", "admin:s3cret", &stats]).await, "200");

    // Reloads under steady load fail no request.
    let (halt, ok, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let loops: Vec<_> = [true, false]
        .into_iter()
        .map(|keep_alive| {
            tokio::spawn(load(
                port,
                keep_alive,
                halt.clone(),
                ok.clone(),
                failed.clone(),
            ))
        })
        .collect();
    let master = std::fs::read_to_string(&pid_file).unwrap();
    for i in 0..5 {
        let extra = format!("/r{i}");
        set_route(
            &store,
            route(
                "web",
                port,
                &[("/", "other"), ("/alpha", "web"), (&extra, "web")],
            ),
        )
        .await;
        let expected = format!("alpha {extra}");
        eventually("a reload", || answers(port, &extra, &expected)).await;
        // Load through the new configuration, counted rather than slept
        // for, so a slow machine still sends requests across every reload.
        let sent = ok.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed);
        eventually("requests after the reload", || {
            let (ok, failed) = (ok.clone(), failed.clone());
            async move { ok.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) >= sent + 20 }
        })
        .await;
    }
    halt.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("across 5 reloads: {ok} requests ok, {failed} failed");
    assert_eq!(failed, 0, "requests failed during reloads ({ok} ok)");
    assert!(ok > 50, "the load loops ran ({ok} requests)");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        master,
        "reloads keep the master"
    );

    // A killed master is restarted and serves again.
    let killed = tokio::process::Command::new("kill")
        .args(["-9", master.trim()])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    eventually("a new master", || async {
        std::fs::read_to_string(&pid_file).is_ok_and(|p| !p.is_empty() && p != master)
    })
    .await;
    eventually("serving after the restart", || answers(port, "/", "beta /")).await;

    let _ = stop.send(());
    member.await.unwrap();
    eventually("the ports to be released", || async {
        tokio::net::TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .is_err()
    })
    .await;
}
