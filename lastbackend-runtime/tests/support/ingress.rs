//! The helpers of the ingress tests against a real HAProxy, shared by
//! `lastbackend-runtime`'s `tests/ingress.rs` (the member loop and driver)
//! and the daemons' `tests/ingress.rs` (the binary): HAProxy's path, HTTP
//! backends that answer their name, a raw HTTP client, and the endpoint and
//! route objects the manifests are made of. The including test declares
//! `mod skip` (`support/skip.rs`) beside this module.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lastbackend_core::model::{
    Endpoint, EndpointSpec, Kind, Meta, Route, RouteRule, RouteSpec, SelfLink, State,
};
use lastbackend_core::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::skip;

pub const HOST: &str = "web.demo.example.test";

pub fn haproxy() -> Option<PathBuf> {
    let found = [
        "/usr/sbin/haproxy",
        "/usr/local/sbin/haproxy",
        "/usr/bin/haproxy",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        skip::skip(
            "the ingress test",
            "haproxy is not installed (apt-get install haproxy)",
        );
    }
    found
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP server answering `<name> <path>`.
pub async fn backend(name: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .fallback(move |uri: axum::http::Uri| async move { format!("{name} {}", uri.path()) });
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// One request on a new connection: `(status, body)`.
pub async fn get(port: u16, host: &str, path: &str) -> std::io::Result<(u16, String)> {
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
pub async fn eventually<F, Fut>(what: &str, mut check: F)
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

pub async fn answers(port: u16, path: &str, expected: &str) -> bool {
    matches!(get(port, HOST, path).await, Ok((200, body)) if body == expected)
}

pub fn endpoint(service: &str, service_port: u16, pod_port: u16) -> Endpoint {
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

pub fn route(name: &str, port: u16, rules: &[(&str, &str)]) -> Route {
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

pub async fn set_route(store: &Store, mut new: Route) {
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

pub async fn route_state(store: &Store, name: &str) -> (State, String) {
    let link = SelfLink::namespaced(Kind::Route, "demo", name);
    let route: Route = store.find(&link).await.unwrap().unwrap();
    (route.status.state, route.status.message)
}
