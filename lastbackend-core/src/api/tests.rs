//! Tests of the API operations over the memory store; the cases port the
//! original's handler tests (`pkg/api/http/*/handlers_test.go`).

mod agents;
mod apply;
mod crud;
mod membership;
mod quota;
mod view;
mod watch;

use std::sync::Arc;

use super::{Api, Settings};
use crate::manifest::{
    self, ConfigManifest, Manifest, NamespaceManifest, RouteManifest, SecretManifest,
    ServiceManifest, VolumeManifest,
};
use crate::storage::{MemoryStorage, Storage};
use crate::store::Store;

fn api_over(storage: Arc<dyn Storage>) -> Api {
    Api::new(Store::new(storage), Settings::default())
}

fn api() -> Api {
    api_over(Arc::new(MemoryStorage::new()))
}

/// One document, typed but not validated (the operations must).
fn doc(text: &str) -> Manifest {
    let text = if text.contains("version:") {
        text.to_owned()
    } else {
        format!("version: v1\n{text}")
    };
    // Typed but not validated: the operations must validate.
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn namespace_m(name: &str, spec: &str) -> NamespaceManifest {
    match doc(&format!(
        "kind: Namespace\nmeta: {{name: {name}}}\nspec: {{{spec}}}\n"
    )) {
        Manifest::Namespace(m) => m,
        _ => unreachable!(),
    }
}

/// A service of one `redis` container with the given limits.
fn service_m(name: &str, replicas: u32, ram: Option<&str>, cpu: Option<&str>) -> ServiceManifest {
    let mut limits = Vec::new();
    if let Some(ram) = ram {
        limits.push(format!("ram: {ram}"));
    }
    if let Some(cpu) = cpu {
        limits.push(format!("cpu: \"{cpu}\""));
    }
    match doc(&format!(
        "kind: Service\nmeta: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  template:\n    containers:\n      - name: redis\n        image: {{name: redis}}\n        resources: {{limits: {{{}}}}}\n",
        limits.join(", ")
    )) {
        Manifest::Service(m) => m,
        _ => unreachable!(),
    }
}

fn secret_m(name: &str, spec: &str) -> SecretManifest {
    match doc(&format!(
        "kind: Secret\nmeta: {{name: {name}}}\nspec: {{{spec}}}\n"
    )) {
        Manifest::Secret(m) => m,
        _ => unreachable!(),
    }
}

fn config_m(name: &str, spec: &str) -> ConfigManifest {
    match doc(&format!(
        "kind: Config\nmeta: {{name: {name}}}\nspec: {{{spec}}}\n"
    )) {
        Manifest::Config(m) => m,
        _ => unreachable!(),
    }
}

fn route_m(name: &str, port: u16, endpoint: &str, services: &[&str]) -> RouteManifest {
    let rules: Vec<String> = services
        .iter()
        .map(|s| format!("{{service: {s}, path: /, port: 80}}"))
        .collect();
    match doc(&format!(
        "kind: Route\nmeta: {{name: {name}}}\nspec: {{port: {port}, endpoint: {endpoint}, rules: [{}]}}\n",
        rules.join(", ")
    )) {
        Manifest::Route(m) => m,
        _ => unreachable!(),
    }
}

fn volume_m(name: &str, spec: &str) -> VolumeManifest {
    match doc(&format!(
        "kind: Volume\nmeta: {{name: {name}}}\nspec: {{{spec}}}\n"
    )) {
        Manifest::Volume(m) => m,
        _ => unreachable!(),
    }
}

/// An API with namespace `demo` (no limits).
async fn with_demo() -> Api {
    let api = api();
    api.create_namespace(namespace_m("demo", "")).await.unwrap();
    api
}
