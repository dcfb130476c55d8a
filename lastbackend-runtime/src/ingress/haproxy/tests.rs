use std::collections::BTreeMap;

use lastbackend_core::manifest::internal::IngressManifest;
use lastbackend_core::model::{EndpointSpec, RouteRule, RouteSpec, RouteTls, SecretSpec};

use super::HaproxySettings;
use super::render::render;
use crate::ingress::plan::{Layout, plan};

fn manifest() -> IngressManifest {
    let mut m = IngressManifest::default();
    m.endpoints.insert(
        "demo:web".into(),
        EndpointSpec {
            ports: vec!["8080:80".parse().unwrap()],
            upstreams: vec!["10.0.0.5".parse().unwrap(), "10.0.0.6".parse().unwrap()],
            ..EndpointSpec::default()
        },
    );
    m.routes.insert(
        "demo:web".into(),
        route("web.demo.example.com", &[("/", 8080), ("/api", 8080)]),
    );
    m
}

fn route(host: &str, rules: &[(&str, u16)]) -> RouteSpec {
    RouteSpec {
        endpoint: host.into(),
        port: 80,
        rules: rules
            .iter()
            .map(|(path, port)| RouteRule {
                path: (*path).into(),
                service: "web".into(),
                port: *port,
            })
            .collect(),
        ..RouteSpec::default()
    }
}

fn config(m: &IngressManifest) -> String {
    let mut layout = Layout::default();
    for planned in plan(m).into_values() {
        layout.add(planned.unwrap()).unwrap();
    }
    render(
        &HaproxySettings::new("haproxy", "/run/lb"),
        &layout,
        &BTreeMap::new(),
    )
    .unwrap()
}

#[test]
fn longest_prefix_first_and_pods_at_the_pod_port() {
    let cfg = config(&manifest());
    let api = cfg.find("path_beg /api/").unwrap();
    let root = cfg
        .find("use_backend r0_demo_web_0 if { var(txn.host) -m str web.demo.example.com }\n")
        .unwrap();
    assert!(api < root, "{cfg}");
    assert!(cfg.contains("bind 0.0.0.0:80\n"), "{cfg}");
    assert!(
        cfg.contains("server s0 10.0.0.5:80\n") && cfg.contains("server s1 10.0.0.6:80\n"),
        "{cfg}"
    );
}

#[test]
fn bad_routes_name_the_field() {
    let mut m = manifest();
    m.routes
        .insert("demo:port".into(), route("x.example.com", &[("/", 9999)]));
    m.routes
        .insert("demo:host".into(), route("bad host!", &[("/", 8080)]));
    m.routes.insert(
        "demo:path".into(),
        route("p.example.com", &[("/a b", 8080)]),
    );
    let mut tls = route("t.example.com", &[("/", 8080)]);
    tls.tls = Some(RouteTls {
        secret: Some("missing".into()),
        passthrough: false,
    });
    m.routes.insert("demo:tls".into(), tls);
    let planned = plan(&m);
    let err = |link: &str| planned[link].clone().unwrap_err();
    assert!(
        err("demo:port").contains("spec.rules[0].port 9999"),
        "{}",
        err("demo:port")
    );
    assert!(err("demo:host").starts_with("spec.endpoint"));
    assert!(err("demo:path").starts_with("spec.rules[0].path"));
    assert!(err("demo:tls").contains("no such secret"));
}

#[test]
fn a_port_has_one_kind() {
    let mut m = manifest();
    let mut tcp = route("", &[("/", 8080)]);
    tcp.tcp = true;
    m.routes.insert("demo:tcp".into(), tcp);
    m.secrets.insert("demo:cert".into(), SecretSpec::default());
    let mut layout = Layout::default();
    let mut results: Vec<_> = plan(&m)
        .into_values()
        .map(|p| layout.add(p.unwrap()))
        .collect();
    results.sort_by_key(|r| r.is_ok());
    assert!(
        results[0].as_ref().unwrap_err().contains("plain TCP"),
        "{results:?}"
    );
}
