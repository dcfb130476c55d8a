//! Every route of the REST API driven through the router with `oneshot`, over
//! a memory store: successes and each error code.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use lastbackend_core::api::{Api, Settings};
use lastbackend_core::server::{ApiState, router};
use lastbackend_core::storage::MemoryStorage;
use lastbackend_core::store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "s3cret";

fn app_with(limit: usize) -> Router {
    let api = Api::new(
        Store::new(Arc::new(MemoryStorage::new())),
        Settings::default(),
    );
    router(ApiState::new(api, Some(TOKEN.into())).with_body_limit(limit))
}

fn app() -> Router {
    app_with(10 * 1024 * 1024)
}

fn request(method: &str, uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{status}: not JSON: {:?}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

async fn call(app: &Router, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    send(app, request(method, uri, body)).await
}

fn assert_error(status: StatusCode, body: &Value, code: u16) {
    assert_eq!(status.as_u16(), code, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["status"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
}

fn service(name: &str) -> Value {
    json!({"meta": {"name": name}, "spec": {"template": {"containers": [
        {"name": "web", "image": {"name": "nginx"}}
    ]}}})
}

async fn with_namespace(app: &Router, name: &str) -> Value {
    let (status, body) = call(app, "POST", "/namespace", json!({"meta": {"name": name}})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_by_header_and_query() {
    let app = app();
    let bare = Request::get("/cluster").body(Body::empty()).unwrap();
    let (status, body) = send(&app, bare).await;
    assert_error(status, &body, 401);
    let wrong = Request::get("/cluster")
        .header(header::AUTHORIZATION, "Bearer nope")
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(&app, wrong).await;
    assert_error(status, &body, 401);
    let wrong_query = Request::get("/cluster?x-lastbackend-token=nope")
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(&app, wrong_query).await;
    assert_error(status, &body, 401);
    let query = Request::get(format!("/cluster?x-lastbackend-token={TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, query).await.0, StatusCode::OK);
    let (status, _) = call(&app, "GET", "/cluster", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    // The events socket is guarded like the rest.
    let events = Request::get("/events").body(Body::empty()).unwrap();
    let (status, body) = send(&app, events).await;
    assert_error(status, &body, 401);
}

#[tokio::test]
async fn the_openapi_document_is_open_and_lists_every_route() {
    let app = app();
    let (status, doc) = send(
        &app,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/cluster",
        "/cluster/node/{node}/spec",
        "/namespace/{ns}/apply",
        "/namespace/{ns}/service/{name}/scale",
        "/namespace/{ns}/volume/{name}",
        "/discovery/{name}/spec",
        "/exporter/{name}/status",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    assert!(doc["paths"]["/namespace"]["post"]["requestBody"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["components"]["schemas"]["ScaleBody"].is_object());
    // A create links to the operations on what it made.
    let link = &doc["paths"]["/namespace"]["post"]["responses"]["201"]["links"]["get_namespace_ns"];
    assert_eq!(link["operationId"], "get_namespace_ns");
    assert_eq!(link["parameters"]["ns"], "$response.body#/meta/name");
    // The constraints the validators enforce are in the document.
    let name = &doc["components"]["schemas"]["DnsLabel"];
    assert_eq!(name["maxLength"], 63);
}

#[tokio::test]
async fn node_labels_follow_the_manifest_rules() {
    let app = app();
    let (status, body) = call(
        &app,
        "PUT",
        "/cluster/node/n1/meta",
        json!({"labels": {"": "x"}}),
    )
    .await;
    assert_error(status, &body, 400);
    assert_eq!(body["errors"][0]["path"], "labels");
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = app();
    let (status, body) = call(&app, "GET", "/nowhere", Value::Null).await;
    assert_error(status, &body, 404);
    let (status, body) = call(&app, "DELETE", "/cluster", Value::Null).await;
    assert_error(status, &body, 405);
    let (status, body) = call(&app, "POST", "/namespace/demo", json!({})).await;
    assert_error(status, &body, 405);
}

#[tokio::test]
async fn namespaces_crud_with_conflicts() {
    let app = app();
    let created = with_namespace(&app, "demo").await;
    assert_eq!(created["meta"]["name"], "demo");
    let (status, body) = call(
        &app,
        "POST",
        "/namespace",
        json!({"meta": {"name": "demo"}}),
    )
    .await;
    assert_error(status, &body, 409);
    assert_eq!(body["message"], "Name is already in use");
    let (status, body) = call(&app, "GET", "/namespace/test", Value::Null).await;
    assert_error(status, &body, 404);
    assert_eq!(body["message"], "Namespace not found");
    let (status, list) = call(&app, "GET", "/namespace", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["revision"].as_u64().unwrap() > 0);

    let revision = created["meta"]["revision"].as_u64().unwrap();
    let update = json!({"meta": {"name": "demo", "description": "updated"}});
    let mut req = request("PUT", "/namespace/demo", update.to_string());
    req.headers_mut()
        .insert(header::IF_MATCH, revision.to_string().parse().unwrap());
    let (status, updated) = send(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["meta"]["description"], "updated");
    let mut stale = request("PUT", "/namespace/demo", update.to_string());
    stale
        .headers_mut()
        .insert(header::IF_MATCH, revision.to_string().parse().unwrap());
    let (status, body) = send(&app, stale).await;
    assert_error(status, &body, 409);
    let (status, body) = call(&app, "PUT", "/namespace/empty", update).await;
    assert_error(status, &body, 404);

    let (status, removed) = call(&app, "DELETE", "/namespace/demo", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    let (status, body) = call(&app, "DELETE", "/namespace/test", Value::Null).await;
    assert_error(status, &body, 404);
}

#[tokio::test]
async fn bad_json_and_invalid_manifests_are_400_with_paths() {
    let app = app();
    let (status, body) = send(&app, request("POST", "/namespace", "{name:demo}")).await;
    assert_error(status, &body, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Incorrect json"),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("line 1"),
        "{body}"
    );
    let (status, body) = send(&app, request("PUT", "/namespace/demo", "")).await;
    assert_error(status, &body, 400);

    let (status, body) = call(
        &app,
        "POST",
        "/namespace",
        json!({"meta": {"name": "__test"}, "spec": {"resources": {"request": {"ram": "1GB"}}}}),
    )
    .await;
    assert_error(status, &body, 400);
    assert_eq!(body["errors"][0]["path"], "meta.name", "{body}");

    with_namespace(&app, "demo").await;
    let mut bad = service("web");
    bad["spec"]["replica"] = json!(2);
    bad["spec"]["template"]["containers"][0]["image"]["name"] = json!("");
    let (status, body) = call(&app, "POST", "/namespace/demo/service", bad).await;
    assert_error(status, &body, 400);
    let paths: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect();
    assert!(paths.contains(&"spec.replica".to_owned()), "{body}");
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("spec.template.containers[0]")),
        "{body}"
    );
    // Agent bodies are typed JSON: a wrong type names its field.
    let (status, body) = call(
        &app,
        "PUT",
        "/namespace/demo/service/web/scale",
        json!({"replicas": "many"}),
    )
    .await;
    assert_error(status, &body, 400);
    assert_eq!(body["errors"][0]["path"], "replicas", "{body}");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = app_with(256);
    let big = json!({"meta": {"name": "demo", "description": "x".repeat(1024)}});
    let (status, body) = call(&app, "POST", "/namespace", big).await;
    assert_error(status, &body, 413);
    let (status, _) = call(&app, "POST", "/namespace", json!({"meta": {"name": "ok"}})).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn services_and_their_subroutes() {
    let app = app();
    let (status, body) = call(&app, "POST", "/namespace/test/service", service("web")).await;
    assert_error(status, &body, 404);
    assert_eq!(body["message"], "Namespace not found");
    with_namespace(&app, "demo").await;
    let (status, created) = call(&app, "POST", "/namespace/demo/service", service("web")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, body) = call(&app, "POST", "/namespace/demo/service", service("web")).await;
    assert_error(status, &body, 409);
    let (status, got) = call(&app, "GET", "/namespace/demo/service/web", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["meta"]["name"], "web");
    let (status, body) = call(&app, "GET", "/namespace/demo/service/nope", Value::Null).await;
    assert_error(status, &body, 404);
    assert_eq!(body["message"], "Service not found");
    let (status, list) = call(&app, "GET", "/namespace/demo/service", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let (status, scaled) = call(
        &app,
        "PUT",
        "/namespace/demo/service/web/scale",
        json!({"replicas": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{scaled}");
    assert_eq!(scaled["spec"]["replicas"], 3);

    let mut update = service("web");
    update["meta"]["description"] = json!("front");
    let (status, updated) = call(
        &app,
        "PUT",
        "/namespace/demo/service/web?redeploy=true",
        update.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["meta"]["description"], "front");
    let mut stale = request("PUT", "/namespace/demo/service/web", update.to_string());
    stale
        .headers_mut()
        .insert(header::IF_MATCH, "1".parse().unwrap());
    let (status, body) = send(&app, stale).await;
    assert_error(status, &body, 409);

    for uri in [
        "/namespace/demo/service/web/deployment",
        "/namespace/demo/service/web/pod",
    ] {
        let (status, list) = call(&app, "GET", uri, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {list}");
        assert!(list["items"].is_array(), "{uri}: {list}");
    }
    for uri in [
        "/namespace/demo/service/web/deployment/nope",
        "/namespace/demo/service/web/deployment/nope/pod",
    ] {
        let (status, body) = call(&app, "GET", uri, Value::Null).await;
        assert_error(status, &body, 404);
        assert_eq!(body["message"], "Deployment not found");
    }
    let (status, body) = call(&app, "GET", "/namespace/demo/service/web/logs", Value::Null).await;
    assert_error(status, &body, 503);
    let (status, body) = call(
        &app,
        "GET",
        "/namespace/demo/service/nope/logs",
        Value::Null,
    )
    .await;
    assert_error(status, &body, 404);

    let (status, removed) = call(&app, "DELETE", "/namespace/demo/service/web", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
}

#[tokio::test]
async fn secrets_configs_routes_and_volumes_crud() {
    let app = app();
    with_namespace(&app, "demo").await;
    call(&app, "POST", "/namespace/demo/service", service("web")).await;
    let cases = [
        (
            "secret",
            json!({"meta": {"name": "db"}, "spec": {"data": {"password": "s3cret"}}}),
            "Secret not found",
        ),
        (
            "config",
            json!({"meta": {"name": "app"}, "spec": {"data": {"test.txt": "one"}}}),
            "Config not found",
        ),
        (
            "route",
            json!({"meta": {"name": "front"}, "spec": {"port": 80, "endpoint": "demo.example.com",
                "rules": [{"service": "web", "path": "/", "port": 80}]}}),
            "Route not found",
        ),
        (
            "volume",
            json!({"meta": {"name": "data"}, "spec": {"type": "dir", "capacity": {"storage": "128MB"}}}),
            "Volume not found",
        ),
    ];
    for (kind, manifest, missing) in cases {
        let base = format!("/namespace/demo/{kind}");
        let name = manifest["meta"]["name"].as_str().unwrap().to_owned();
        let one = format!("{base}/{name}");
        let (status, body) = call(&app, "POST", &base, manifest.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {body}");
        let (status, body) = call(&app, "POST", &base, manifest.clone()).await;
        assert_error(status, &body, 409);
        let (status, body) = send(&app, request("POST", &base, "{name:demo}")).await;
        assert_error(status, &body, 400);
        let (status, list) = call(&app, "GET", &base, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{kind}: {list}");
        let (status, got) = call(&app, "GET", &one, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        let mut update = manifest.clone();
        update["meta"]["description"] = json!("changed");
        let (status, body) = call(&app, "PUT", &one, update.clone()).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {body}");
        let mut stale = request("PUT", &one, update.to_string());
        let old = got["meta"]["revision"].as_u64().unwrap();
        stale
            .headers_mut()
            .insert(header::IF_MATCH, old.to_string().parse().unwrap());
        let (status, body) = send(&app, stale).await;
        assert_error(status, &body, 409);
        let (status, body) = call(&app, "GET", &format!("{base}/nope"), Value::Null).await;
        assert_error(status, &body, 404);
        assert_eq!(body["message"], missing);
        let (status, body) =
            call(&app, "GET", &format!("/namespace/test/{kind}"), Value::Null).await;
        assert_error(status, &body, 404);
        let (status, body) = call(&app, "DELETE", &one, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {body}");
        assert_eq!(body["meta"]["name"], name.as_str());
    }
}

fn apply_request(uri: &str, text: &str) -> Request<Body> {
    Request::builder()
        .method("PUT")
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/yaml")
        .body(Body::from(text.to_owned()))
        .unwrap()
}

const MANIFESTS: &str = r"kind: Secret
version: v1
meta: {name: db}
spec: {data: {password: x}}
---
kind: Service
version: v1
meta: {name: web}
spec:
  template:
    containers:
      - name: web
        image: {name: nginx}
";

#[tokio::test]
async fn apply_takes_yaml_with_a_dry_run() {
    let app = app();
    with_namespace(&app, "demo").await;
    let (status, report) = send(
        &app,
        apply_request("/namespace/demo/apply?dry_run=true", MANIFESTS),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["items"].as_array().unwrap().len(), 2);
    assert_eq!(report["items"][0]["action"], "created");
    let (_, list) = call(&app, "GET", "/namespace/demo/secret", Value::Null).await;
    assert!(
        list["items"].as_array().unwrap().is_empty(),
        "dry run wrote"
    );

    let (status, report) = send(&app, apply_request("/namespace/demo/apply", MANIFESTS)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report["revision"].as_u64().unwrap() > 0);
    let (status, report) = send(
        &app,
        apply_request("/namespace/demo/apply?redeploy=true", MANIFESTS),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    // JSON arrays are manifests too.
    let array = json!([{"kind": "Config", "version": "v1", "meta": {"name": "c"}, "spec": {"data": {"a": "b"}}}]);
    let (status, report) = call(&app, "PUT", "/namespace/demo/apply", array).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["items"][0]["kind"], "Config");
}

#[tokio::test]
async fn apply_is_all_or_nothing() {
    let app = app();
    let quota = json!({"meta": {"name": "small"}, "spec": {"resources": {"limits": {"ram": "256MB", "cpu": "1"}}}});
    let (status, body) = call(&app, "POST", "/namespace", quota).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let over = MANIFESTS.replace(
        "        image: {name: nginx}\n",
        "        image: {name: nginx}\n        resources: {limits: {ram: 1GB, cpu: 0.5}}\n",
    );
    let (status, body) = send(&app, apply_request("/namespace/small/apply", &over)).await;
    assert_error(status, &body, 400);
    assert!(body["message"].as_str().unwrap().contains("ram"), "{body}");
    let (_, list) = call(&app, "GET", "/namespace/small/secret", Value::Null).await;
    assert!(
        list["items"].as_array().unwrap().is_empty(),
        "the secret was written: {list}"
    );
    let broken = format!(
        "{MANIFESTS}---\nkind: Route\nversion: v1\nmeta: {{name: r}}\nspec: {{prot: 80}}\n"
    );
    let (status, body) = send(&app, apply_request("/namespace/small/apply", &broken)).await;
    assert_error(status, &body, 400);
    assert_eq!(body["errors"][0]["document"], 3, "{body}");
    let (status, body) = send(&app, apply_request("/namespace/none/apply", MANIFESTS)).await;
    assert_error(status, &body, 404);
}

/// Reads NDJSON lines from a streaming response body.
struct Lines {
    body: Body,
    buffer: Vec<u8>,
}

impl Lines {
    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return serde_json::from_slice(&line).unwrap();
            }
            let frame = tokio::time::timeout(Duration::from_secs(5), self.body.frame())
                .await
                .expect("a watch line within 5 s")
                .expect("the stream goes on")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.buffer.extend_from_slice(&data);
            }
        }
    }
}

async fn watch(app: &Router, uri: &str) -> Lines {
    let response = app
        .clone()
        .oneshot(request("GET", uri, Body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/x-ndjson"
    );
    Lines {
        body: response.into_body(),
        buffer: Vec::new(),
    }
}

#[tokio::test]
async fn watch_streams_lines_and_resumes_from_a_revision() {
    let app = app();
    let first = with_namespace(&app, "one").await;
    let after_first = first["meta"]["revision"].as_u64().unwrap();
    with_namespace(&app, "two").await;

    let mut resumed = watch(
        &app,
        &format!("/namespace?watch=true&revision={after_first}"),
    )
    .await;
    let line = resumed.next().await;
    assert_eq!(line["type"], "created", "{line}");
    assert_eq!(line["object"]["meta"]["name"], "two");

    let mut live = watch(&app, "/namespace?watch=true").await;
    with_namespace(&app, "three").await;
    let line = live.next().await;
    assert_eq!(line["type"], "created");
    assert_eq!(line["object"]["meta"]["name"], "three");
    assert_eq!(resumed.next().await["object"]["meta"]["name"], "three");

    let mut services = watch(&app, "/namespace/one/service?watch=true").await;
    call(&app, "POST", "/namespace/two/service", service("other")).await;
    call(&app, "POST", "/namespace/one/service", service("web")).await;
    let line = services.next().await;
    assert_eq!(
        line["object"]["meta"]["name"], "web",
        "only namespace one: {line}"
    );

    let (status, body) = call(
        &app,
        "GET",
        "/namespace/none/service?watch=true",
        Value::Null,
    )
    .await;
    assert_error(status, &body, 404);
}

#[tokio::test]
async fn a_compacted_revision_ends_the_watch_with_410() {
    let api = Api::new(
        Store::new(Arc::new(MemoryStorage::with_history(2))),
        Settings::default(),
    );
    let app = router(ApiState::new(api, Some(TOKEN.into())));
    for name in ["a1", "a2", "a3", "a4", "a5"] {
        with_namespace(&app, name).await;
    }
    let mut lines = watch(&app, "/namespace?watch=true&revision=1").await;
    let line = lines.next().await;
    assert_eq!(line["type"], "error", "{line}");
    assert_eq!(line["code"], 410, "{line}");
    let end = tokio::time::timeout(Duration::from_secs(5), lines.body.frame()).await;
    assert!(
        matches!(end, Ok(None)),
        "the stream ends after the error line"
    );
}

#[tokio::test]
async fn nodes_register_report_and_long_poll_their_spec() {
    let app = app();
    let registration = json!({"info": {"hostname": "n1", "architecture": "x86_64"}});
    let (status, node) = call(&app, "PUT", "/cluster/node/n1", registration.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{node}");
    let (status, _) = call(&app, "PUT", "/cluster/node/n1", registration).await;
    assert_eq!(status, StatusCode::OK);
    let (status, list) = call(&app, "GET", "/cluster/node", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, body) = call(&app, "GET", "/cluster/node/n2", Value::Null).await;
    assert_error(status, &body, 404);
    assert_eq!(body["message"], "Node not found");
    let (status, node) = call(
        &app,
        "PUT",
        "/cluster/node/n1/meta",
        json!({"labels": {"zone": "a"}, "description": "rack 1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{node}");
    assert_eq!(node["meta"]["labels"]["zone"], "a");
    let (status, ack) = call(&app, "PUT", "/cluster/node/n1/status", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert!(ack["revision"].as_u64().is_some());
    let (status, body) = call(&app, "PUT", "/cluster/node/n2/status", json!({})).await;
    assert_error(status, &body, 404);

    let (status, spec) = call(&app, "GET", "/cluster/node/n1/spec", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{spec}");
    let revision = spec["revision"].as_u64().unwrap();
    let (status, body) = call(&app, "GET", "/cluster/node/n2/spec?timeout=1", Value::Null).await;
    assert_error(status, &body, 404);

    let poll = tokio::spawn({
        let app = app.clone();
        async move {
            call(
                &app,
                "GET",
                &format!("/cluster/node/n1/spec?revision={revision}&timeout=20"),
                Value::Null,
            )
            .await
        }
    });
    // A write that concerns no node's spec (labels are not in it), then
    // plain reads until the agents' view has applied it: only then is "the
    // poll did not answer" a fact rather than a guess about timing. This
    // runtime has one thread: each yield lets the poll and the view's task
    // run until they wait again, so a poll the write woke has answered by
    // the check.
    let (status, node) = call(
        &app,
        "PUT",
        "/cluster/node/n1/meta",
        json!({"labels": {"zone": "b"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{node}");
    let (status, ack) = call(&app, "PUT", "/cluster/node/n1/status", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    let unrelated = ack["revision"].as_u64().unwrap();
    assert!(unrelated > revision);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::task::yield_now().await;
        let (status, spec) = call(&app, "GET", "/cluster/node/n1/spec", Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{spec}");
        if spec["revision"].as_u64().unwrap() >= unrelated {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the view never reached revision {unrelated}: {spec}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::task::yield_now().await;
    assert!(
        !poll.is_finished(),
        "the long-poll answered a change that does not concern the node"
    );
    let (status, body) = call(
        &app,
        "PUT",
        "/discovery/dns1",
        json!({"ready": true, "online": true, "address": "10.0.0.9:53"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, spec) = tokio::time::timeout(Duration::from_secs(30), poll)
        .await
        .expect("the long-poll answers on a change")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(spec["resolvers"][0], "10.0.0.9:53", "{spec}");
    assert!(spec["revision"].as_u64().unwrap() > revision);

    let (status, body) = call(&app, "DELETE", "/cluster/node/n1", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn members_register_report_and_answer_their_specs() {
    let app = app();
    for kind in ["ingress", "discovery", "exporter"] {
        let one = format!("/{kind}/m1");
        let (status, body) = call(&app, "PUT", &one, json!({"ready": true})).await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {body}");
        let (status, _) = call(&app, "PUT", &one, json!({"ready": true})).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        let (status, list) = call(&app, "GET", &format!("/{kind}"), Value::Null).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{kind}: {list}");
        let (status, _) = call(&app, "GET", &one, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        let (status, ack) = call(
            &app,
            "PUT",
            &format!("{one}/status"),
            json!({"ready": true}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{kind}: {ack}");
        if kind != "exporter" {
            let (status, spec) = call(&app, "GET", &format!("{one}/spec"), Value::Null).await;
            assert_eq!(status, StatusCode::OK, "{kind}: {spec}");
            let (status, body) =
                call(&app, "GET", &format!("/{kind}/nope/spec"), Value::Null).await;
            assert_error(status, &body, 404);
        }
        let (status, body) = call(&app, "GET", &format!("/{kind}/nope"), Value::Null).await;
        assert_error(status, &body, 404);
        let (status, body) = call(&app, "DELETE", &one, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {body}");
    }
}

#[tokio::test]
async fn cluster_information() {
    let app = app();
    let (status, cluster) = call(&app, "GET", "/cluster", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert!(cluster["meta"].is_object(), "{cluster}");
}

/// A storage whose backend is gone: every call fails as unavailable.
#[derive(Debug)]
struct Down;

fn down() -> lastbackend_core::storage::Error {
    lastbackend_core::storage::Error::unavailable("test", "connection refused")
}

#[async_trait::async_trait]
impl lastbackend_core::storage::Storage for Down {
    async fn revision(&self) -> lastbackend_core::storage::Result<u64> {
        Err(down())
    }
    async fn get(
        &self,
        _: &str,
    ) -> lastbackend_core::storage::Result<lastbackend_core::storage::KeyValue> {
        Err(down())
    }
    async fn list(
        &self,
        _: &str,
    ) -> lastbackend_core::storage::Result<lastbackend_core::storage::List> {
        Err(down())
    }
    async fn put(
        &self,
        _: &str,
        _: bytes::Bytes,
        _: Option<i64>,
    ) -> lastbackend_core::storage::Result<u64> {
        Err(down())
    }
    async fn set(
        &self,
        _: &str,
        _: bytes::Bytes,
        _: u64,
        _: Option<i64>,
    ) -> lastbackend_core::storage::Result<u64> {
        Err(down())
    }
    async fn set_unconditional(
        &self,
        _: &str,
        _: bytes::Bytes,
        _: Option<i64>,
    ) -> lastbackend_core::storage::Result<u64> {
        Err(down())
    }
    async fn del(&self, _: &str, _: Option<u64>) -> lastbackend_core::storage::Result<u64> {
        Err(down())
    }
    async fn txn(
        &self,
        _: lastbackend_core::storage::Txn,
    ) -> lastbackend_core::storage::Result<u64> {
        Err(down())
    }
    async fn watch(
        &self,
        _: &str,
        _: Option<u64>,
    ) -> lastbackend_core::storage::Result<lastbackend_core::storage::WatchStream> {
        Err(down())
    }
    async fn lease_grant(&self, _: Duration) -> lastbackend_core::storage::Result<i64> {
        Err(down())
    }
    async fn lease_keep_alive(&self, _: i64) -> lastbackend_core::storage::Result<Duration> {
        Err(down())
    }
    async fn lease_revoke(&self, _: i64) -> lastbackend_core::storage::Result<()> {
        Err(down())
    }
}

#[tokio::test]
async fn an_unavailable_storage_is_503() {
    let api = Api::new(Store::new(Arc::new(Down)), Settings::default());
    let app = router(ApiState::new(api, Some(TOKEN.into())));
    for (method, uri, body) in [
        ("GET", "/namespace", Value::Null),
        ("POST", "/namespace", json!({"meta": {"name": "demo"}})),
        ("GET", "/cluster/node", Value::Null),
        ("GET", "/namespace?watch=true", Value::Null),
    ] {
        let (status, body) = call(&app, method, uri, body).await;
        assert_error(status, &body, 503);
    }
    let events = request("GET", "/events", Body::empty());
    let (status, body) = send(&app, events).await;
    assert!(
        status.is_client_error() || status.as_u16() == 503,
        "{status}: {body}"
    );
}
