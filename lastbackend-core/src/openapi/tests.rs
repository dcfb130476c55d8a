//! The schemas against the validators: for each constraint, a value the
//! document accepts is accepted by the server's reader and validator, and a
//! value it refuses is refused; then the rules the schemas cannot state,
//! which the document accepts and the server refuses, each written on the
//! type it concerns.

mod cases;
mod check;
mod limits;
mod properties;

use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::manifest::{self, ManifestKind};
use check::Components;

static COMPONENTS: LazyLock<Components> = LazyLock::new(|| {
    let schemas = super::schemas()
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).expect("serializes")))
        .collect();
    Components(schemas)
});

/// What the API does with a create or update body of `kind`: fill in
/// `kind` and `version` when absent, read and validate it, and refuse a
/// manifest of another kind.
fn server_accepts(kind: ManifestKind, body: &Value) -> bool {
    let Some(object) = body.as_object() else {
        return false;
    };
    let mut object = object.clone();
    object.entry("kind").or_insert(kind.as_str().into());
    object.entry("version").or_insert("v1".into());
    manifest::parse(&Value::Object(object).to_string())
        .is_ok_and(|manifests| manifests.len() == 1 && manifests[0].kind() == kind)
}

fn document_accepts(kind: ManifestKind, body: &Value) -> bool {
    COMPONENTS.accepts(&format!("{kind}Manifest"), body)
}

/// The smallest valid body of each kind.
fn base(kind: ManifestKind) -> Value {
    match kind {
        ManifestKind::Service => json!({"meta": {"name": "web"}, "spec": {"template": {
            "containers": [{"name": "app", "image": {"name": "nginx"}}]
        }}}),
        ManifestKind::Route => json!({
            "meta": {"name": "www"}, "spec": {"rules": [{"service": "web", "port": 80}]}
        }),
        _ => json!({"meta": {"name": "demo"}}),
    }
}

/// `body` with the value at the JSON pointer `at` set (objects created on
/// the way), or removed for `None`.
fn set(mut body: Value, at: &str, value: Option<Value>) -> Value {
    let (parent, last) = at.rsplit_once('/').expect("a pointer");
    let mut node = &mut body;
    for key in parent.split('/').skip(1) {
        node = match node {
            Value::Array(items) => &mut items[key.parse::<usize>().expect("an index")],
            other => other
                .as_object_mut()
                .expect("an object")
                .entry(key)
                .or_insert_with(|| json!({})),
        };
    }
    match (node, value) {
        (Value::Array(items), Some(value)) => {
            let index = last.parse::<usize>().expect("an index");
            match items.get_mut(index) {
                Some(item) => *item = value,
                None => items.push(value),
            }
        }
        (Value::Object(object), Some(value)) => drop(object.insert(last.to_owned(), value)),
        (Value::Object(object), None) => drop(object.remove(last)),
        (other, _) => panic!("cannot set {at} in {other}"),
    }
    body
}

/// One change to a kind's base body and whether the server takes it.
type Case = (ManifestKind, &'static str, Option<Value>, bool);

#[test]
fn constraints_match_the_validators() {
    let mut wrong = Vec::new();
    for (kind, at, value, valid) in cases::cases() {
        let body = set(base(kind), at, value);
        let document = document_accepts(kind, &body);
        let server = server_accepts(kind, &body);
        if (document, server) != (valid, valid) {
            wrong.push(format!(
                "{kind} {at}: document {document}, server {server}: {body}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn limits_are_accepted_by_the_document_only() {
    let mut wrong = Vec::new();
    for (kind, changes) in limits::limits() {
        let body = changes
            .into_iter()
            .fold(base(kind), |body, (at, value)| set(body, at, Some(value)));
        let document = document_accepts(kind, &body);
        let server = server_accepts(kind, &body);
        if (document, server) != (true, false) {
            wrong.push(format!(
                "{kind}: document {document}, server {server}: {body}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Responses as the server writes them fit their schemas: defaults, and
/// objects with every optional part present.
#[test]
fn responses_match_their_schemas() {
    use crate::api::types::{Ack, ErrorBody, FieldProblem, List, MemberReport};
    use crate::manifest::internal::NodeManifest;
    use crate::model::{Node, Pod, Service};

    let service: Service = serde_json::from_value(json!({
        "meta": {"name": "web", "namespace": "demo", "self_link": "demo:web",
                 "labels": {"app": "web"}, "revision": 3},
        "spec": {"replicas": 2, "network": {"ip": "10.96.0.7", "ports": ["80:8080/tcp"]},
                 "strategy": {"type": "rolling", "max_surge": {"count": 1}},
                 "template": {"containers": [{
                     "name": "app", "image": {"name": "nginx"}, "ports": ["[::1]:80:8080/udp"],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "secret": {"name": "s", "key": "k"}}],
                     "resources": {"limits": {"ram": "512Mi", "cpu": "500m"}},
                     "probes": {"liveness": {"http": {"port": 80, "path": "/"}, "period": 5}}
                 }], "volumes": [{"name": "data", "volume": {"name": "data"}}]}},
        "status": {"state": "ready", "endpoint": "web.demo.lb.local", "ip": "10.96.0.7"}
    }))
    .expect("a service");
    let pod: Pod = serde_json::from_value(json!({
        "status": {"state": "ready", "network": {"pod_ip": "10.10.1.5"},
                   "containers": {"app": {"state": "ready", "started": "2026-01-01T00:00:00Z"}}}
    }))
    .expect("a pod");
    let member: MemberReport = serde_json::from_value(json!({
        "ready": true, "address": "[fd00::1]:53", "http": "10.0.0.3:2963"
    }))
    .expect("a report");
    let error = ErrorBody {
        code: 400,
        status: "Bad Request".into(),
        message: "meta.name: required".into(),
        errors: vec![FieldProblem {
            document: Some(1),
            path: "meta.name".into(),
            reason: "required".into(),
        }],
    };
    let list = List {
        items: vec![service.clone()],
        revision: 7,
    };
    let bodies = [
        ("Service", serde_json::to_value(&service)),
        ("Pod", serde_json::to_value(&pod)),
        ("Node", serde_json::to_value(Node::default())),
        ("MemberReport", serde_json::to_value(&member)),
        ("ErrorBody", serde_json::to_value(&error)),
        ("ServiceList", serde_json::to_value(&list)),
        ("Ack", serde_json::to_value(Ack { revision: 1 })),
        (
            "NodeManifest",
            serde_json::to_value(NodeManifest::default()),
        ),
    ];
    for (name, body) in bodies {
        let body = body.expect("serializes");
        assert!(COMPONENTS.accepts(name, &body), "{name}: {body}");
    }
}
