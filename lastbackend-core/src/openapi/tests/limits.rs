//! What the schemas cannot state.

use serde_json::{Value, json};

use crate::manifest::ManifestKind;

/// Rules JSON Schema (or utoipa's model of it) cannot state: the document
/// accepts these bodies, the server refuses them. Each rule is written in
/// the doc comment of the type it concerns.
pub(super) fn limits() -> Vec<(ManifestKind, Vec<(&'static str, Value)>)> {
    use ManifestKind::{Config, Namespace as Ns, Route, Service as Svc};
    let env = "/spec/template/containers/0/env";
    let two_rules = json!([{"service": "a", "port": 1}, {"service": "b", "port": 1}]);
    let entries = "/spec/data";
    vec![
        (Svc, vec![(env, json!([{"name": "A"}]))]),
        (
            Svc,
            vec![(
                env,
                json!([{"name": "A", "value": "1", "config": {"name": "c", "key": "k"}}]),
            )],
        ),
        (
            Svc,
            vec![(
                env,
                json!([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]),
            )],
        ),
        (
            Svc,
            vec![(
                "/spec/template/containers/0/volumes",
                json!([{"name": "none", "path": "/d"}]),
            )],
        ),
        (
            Svc,
            vec![(
                "/spec/template/containers/1",
                json!({"name": "app", "image": {"name": "x"}}),
            )],
        ),
        (
            Svc,
            vec![(
                "/spec/template/containers/0/resources",
                json!({"limits": {"ram": "1Mi"}, "request": {"ram": "2Mi"}}),
            )],
        ),
        (Svc, vec![("/spec/replicas", json!(2.0))]),
        (Ns, vec![("/spec/resources/request/ram", json!("1.3Ki"))]),
        (
            Ns,
            vec![("/spec/resources/request/cpu", json!("99999999999999999999"))],
        ),
        (
            Route,
            vec![("/spec/rules", two_rules), ("/spec/tcp", json!(true))],
        ),
        (
            Config,
            vec![(
                entries,
                json!([{"key": "a", "value": "x"}, {"key": "a", "value": "y"}]),
            )],
        ),
    ]
}
