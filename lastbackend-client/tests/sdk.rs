//! The SDK against a scripted fake server: a tower `Service` that checks
//! each request and answers from a script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use lastbackend_client::core::api::types::{ApplyAction, WatchEvent};
use lastbackend_client::core::manifest::{ManifestMeta, NamespaceManifest};
use lastbackend_client::{ApplyOptions, BoxError, Client};
use serde_json::json;

type Body = UnsyncBoxBody<Bytes, BoxError>;

/// One scripted exchange: what the request must be, what to answer.
struct Exchange {
    request: &'static str,
    answer: Result<Response<Body>, &'static str>,
}

/// Requests as `METHOD path?query`, with their headers and bodies.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, http::HeaderMap, Bytes)>,
}

#[derive(Clone, Default)]
struct Script {
    exchanges: Arc<Mutex<VecDeque<Exchange>>>,
    seen: Arc<Mutex<Seen>>,
}

impl Script {
    fn then(self, request: &'static str, answer: Response<Body>) -> Self {
        self.exchanges.lock().unwrap().push_back(Exchange {
            request,
            answer: Ok(answer),
        });
        self
    }

    fn then_fail(self, request: &'static str, error: &'static str) -> Self {
        self.exchanges.lock().unwrap().push_back(Exchange {
            request,
            answer: Err(error),
        });
        self
    }

    fn client(&self) -> Client {
        let script = self.clone();
        let service = tower::service_fn(move |request: Request<Full<Bytes>>| {
            let script = script.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let line = format!("{} {}", parts.method, parts.uri.path_and_query().unwrap());
                let exchange = script
                    .exchanges
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or_else(|| panic!("unscripted request {line}"));
                assert_eq!(line, exchange.request);
                script
                    .seen
                    .lock()
                    .unwrap()
                    .requests
                    .push((line, parts.headers, body));
                exchange.answer.map_err(BoxError::from)
            }
        });
        Client::new(service, "http://lb.test").unwrap()
    }

    fn done(&self) {
        assert!(self.exchanges.lock().unwrap().is_empty(), "unused script");
    }

    fn request(&self, index: usize) -> (String, http::HeaderMap, Bytes) {
        self.seen.lock().unwrap().requests[index].clone()
    }
}

fn json_answer(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    text_answer(status, &value.to_string())
}

fn text_answer(status: StatusCode, text: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(text.to_owned()))
        .map_err(|never| match never {})
        .boxed_unsync();
    Response::builder().status(status).body(body).unwrap()
}

fn error(code: u16, status: &str, message: &str) -> Response<Body> {
    json_answer(
        StatusCode::from_u16(code).unwrap(),
        json!({"code": code, "status": status, "message": message}),
    )
}

/// A watch body: these lines, then the connection drops (or ends cleanly).
fn stream_answer(lines: Vec<String>, drop_at_end: bool) -> Response<Body> {
    let mut frames: Vec<Result<Frame<Bytes>, BoxError>> = lines
        .into_iter()
        .map(|line| Ok(Frame::data(Bytes::from(line + "\n"))))
        .collect();
    if drop_at_end {
        frames.push(Err("connection reset".into()));
    }
    let body = StreamBody::new(futures::stream::iter(frames)).boxed_unsync();
    Response::builder()
        .status(StatusCode::OK)
        .body(body)
        .unwrap()
}

fn namespace_json(name: &str, revision: u64) -> serde_json::Value {
    json!({"meta": {"name": name, "self_link": name, "created": "2026-01-01T00:00:00Z",
        "updated": "2026-01-01T00:00:00Z", "revision": revision}})
}

fn service_event(kind: &str, name: &str, revision: u64) -> String {
    json!({"type": kind, "revision": revision, "object": {"meta": {"name": name,
        "namespace": "demo", "self_link": format!("demo:{name}"),
        "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z"}}})
    .to_string()
}

fn manifest(name: &str) -> NamespaceManifest {
    NamespaceManifest {
        meta: ManifestMeta {
            name: name.into(),
            description: Some("staging".into()),
            ..ManifestMeta::default()
        },
        ..NamespaceManifest::default()
    }
}

#[tokio::test]
async fn create_posts_the_manifest_with_the_token() {
    let script = Script::default().then(
        "POST /namespace",
        json_answer(StatusCode::CREATED, namespace_json("demo", 3)),
    );
    let client = script.client().with_token("s3cret").unwrap();
    let ns = client.namespaces().create(&manifest("demo")).await.unwrap();
    assert_eq!((ns.meta.name.as_str(), ns.meta.revision), ("demo", 3));
    let (_, headers, body) = script.request(0);
    assert_eq!(headers["authorization"], "Bearer s3cret");
    assert_eq!(headers["content-type"], "application/json");
    let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        sent["meta"],
        json!({"name": "demo", "description": "staging"})
    );
    script.done();
}

#[tokio::test]
async fn unauthorized_is_told_apart() {
    let script = Script::default().then(
        "GET /namespace",
        error(401, "Unauthorized", "access denied: wrong or missing token"),
    );
    let err = script.client().namespaces().list().await.unwrap_err();
    assert!(err.is_unauthorized());
    assert!(!err.is_not_found());
    assert_eq!(err.to_string(), "access denied: wrong or missing token");
}

#[tokio::test]
async fn not_found_carries_the_server_message() {
    let script = Script::default().then(
        "GET /namespace/ghost/service/2048",
        error(404, "Not Found", "Namespace not found"),
    );
    let err = script
        .client()
        .namespace("ghost")
        .service("2048")
        .get()
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.body().unwrap().status, "Not Found");
    assert_eq!(err.to_string(), "Namespace not found");
}

#[tokio::test]
async fn a_duplicate_name_is_a_conflict() {
    let script = Script::default().then(
        "POST /namespace",
        error(409, "Conflict", "Name is already in use"),
    );
    let err = script
        .client()
        .namespaces()
        .create(&manifest("demo"))
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    assert_eq!(err.to_string(), "Name is already in use");
}

#[tokio::test]
async fn invalid_input_lists_every_field_problem() {
    let script = Script::default().then(
        "PUT /namespace/demo/apply?dry_run=true",
        json_answer(
            StatusCode::BAD_REQUEST,
            json!({"code": 400, "status": "Bad Request", "message": "invalid manifests",
            "errors": [
                {"document": 1, "path": "spec.replicas", "reason": "must be at most 100"},
                {"document": 2, "path": "meta.name", "reason": "is required"},
            ]}),
        ),
    );
    let options = ApplyOptions {
        dry_run: true,
        ..ApplyOptions::default()
    };
    let err = script
        .client()
        .namespace("demo")
        .apply("kind: Service\n", options)
        .await
        .unwrap_err();
    assert!(err.is_invalid());
    assert_eq!(err.body().unwrap().errors.len(), 2);
    assert_eq!(
        err.to_string(),
        "invalid manifests\n\
         document 1: spec.replicas: must be at most 100\n\
         document 2: meta.name: is required"
    );
    let (_, headers, body) = script.request(0);
    assert_eq!(headers["content-type"], "application/yaml");
    assert_eq!(body, "kind: Service\n");
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let script = Script::default().then(
        "GET /namespace/demo",
        text_answer(StatusCode::OK, r#"{"meta": {"name": "#),
    );
    let err = script.client().namespace("demo").get().await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unexpected answer from the API")
    );
    assert!(err.body().is_none());
}

#[tokio::test]
async fn a_transport_failure_is_unavailable() {
    let script = Script::default().then_fail("GET /cluster", "connection refused");
    let err = script.client().cluster().get().await.unwrap_err();
    assert!(err.is_unavailable());
    assert_eq!(err.to_string(), "cannot reach the API: connection refused");
}

#[tokio::test]
async fn apply_scale_and_update_send_what_the_contract_says() {
    let report = json!({"items": [{"kind": "Service", "name": "2048", "action": "created"}],
        "revision": 9, "dry_run": false});
    let service = json!({"meta": {"name": "2048", "namespace": "demo", "self_link": "demo:2048",
        "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z"},
        "spec": {"replicas": 3}});
    let script = Script::default()
        .then(
            "PUT /namespace/demo/apply?redeploy=true",
            json_answer(StatusCode::OK, report),
        )
        .then(
            "PUT /namespace/demo/service/2048/scale",
            json_answer(StatusCode::OK, service.clone()),
        )
        .then(
            "PUT /namespace/demo/service/2048?redeploy=true",
            json_answer(StatusCode::OK, service),
        );
    let client = script.client();
    let demo = client.namespace("demo");
    let manifests = lastbackend_client::core::manifest::parse(
        "kind: Service\nversion: v1\nmeta:\n  name: 2048\nspec:\n  template:\n    containers:\n      - name: web\n        image:\n          name: nginx\n",
    )
    .unwrap();
    let options = ApplyOptions {
        redeploy: true,
        ..ApplyOptions::default()
    };
    let report = demo.apply(manifests.clone(), options).await.unwrap();
    assert_eq!(report.items[0].action, ApplyAction::Created);
    let (_, headers, body) = script.request(0);
    assert_eq!(headers["content-type"], "application/json");
    let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent[0]["kind"], "Service");
    assert_eq!(sent[0]["meta"]["name"], "2048");

    let scaled = demo.service("2048").scale(3).await.unwrap();
    assert_eq!(scaled.spec.replicas, 3);
    assert_eq!(script.request(1).2, r#"{"replicas":3}"#);

    let lastbackend_client::core::manifest::Manifest::Service(manifest) = &manifests[0] else {
        unreachable!()
    };
    demo.service("2048").update(manifest, true).await.unwrap();
    script.done();
}

#[tokio::test(start_paused = true)]
async fn a_dropped_watch_resumes_after_the_last_revision_without_repeats() {
    let script = Script::default()
        .then(
            "GET /namespace/demo/service?watch=true&revision=5",
            stream_answer(
                vec![
                    service_event("created", "2048", 6),
                    service_event("updated", "2048", 7),
                ],
                true,
            ),
        )
        .then(
            "GET /namespace/demo/service?watch=true&revision=7",
            // A server may send the last event again after a reconnect.
            stream_answer(
                vec![
                    service_event("updated", "2048", 7),
                    String::new(),
                    service_event("deleted", "2048", 8),
                ],
                false,
            ),
        )
        .then(
            "GET /namespace/demo/service?watch=true&revision=8",
            stream_answer(
                vec![
                    json!({"type": "error", "code": 410, "status": "Gone",
                        "message": "revision 8 is compacted"})
                    .to_string(),
                ],
                false,
            ),
        );
    let client = script.client();
    let mut watch = client.namespace("demo").services().watch(Some(5));
    let mut revisions = Vec::new();
    let mut kinds = Vec::new();
    let last = loop {
        match watch.next().await {
            Some(Ok(event)) => {
                revisions.push(event.revision().unwrap());
                kinds.push(match event {
                    WatchEvent::Created { .. } => "created",
                    WatchEvent::Updated { .. } => "updated",
                    WatchEvent::Deleted { .. } => "deleted",
                    WatchEvent::Error(_) => "error",
                });
            }
            Some(Err(err)) => break err,
            None => panic!("the stream ended without the 410"),
        }
    };
    assert_eq!(revisions, [6, 7, 8]);
    assert_eq!(kinds, ["created", "updated", "deleted"]);
    assert!(last.is_compacted());
    assert_eq!(last.to_string(), "revision 8 is compacted");
    assert!(watch.next().await.is_none());
    script.done();
}

#[tokio::test(start_paused = true)]
async fn a_watch_from_now_lists_first_and_retries_an_unreachable_server() {
    let script = Script::default()
        .then_fail("GET /namespace", "connection refused")
        .then(
            "GET /namespace",
            json_answer(StatusCode::OK, json!({"items": [], "revision": 41})),
        )
        .then(
            "GET /namespace?watch=true&revision=41",
            stream_answer(
                vec![
                    json!({"type": "created", "revision": 42,
                    "object": namespace_json("demo", 42)})
                    .to_string(),
                ],
                false,
            ),
        )
        .then(
            "GET /namespace?watch=true&revision=42",
            error(401, "Unauthorized", "token expired"),
        );
    let client = script.client();
    let mut watch = client.namespaces().watch(None);
    let first = watch.next().await.unwrap().unwrap_err();
    assert!(first.is_unavailable());
    let event = watch.next().await.unwrap().unwrap();
    assert_eq!(event.revision(), Some(42));
    let last = watch.next().await.unwrap().unwrap_err();
    assert!(last.is_unauthorized());
    assert!(watch.next().await.is_none());
    script.done();
}

#[tokio::test]
async fn logs_stream_lines_even_without_a_final_newline() {
    let script = Script::default().then(
        "GET /namespace/demo/service/2048/logs?tail=2&follow=true",
        text_answer(StatusCode::OK, "first\r\nsecond\nthird"),
    );
    let lines: Vec<String> = script
        .client()
        .namespace("demo")
        .service("2048")
        .logs(Some(2), true)
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(lines, ["first", "second", "third"]);
}
