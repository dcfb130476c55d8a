//! The schemas of whole manifest documents, written by hand: `kind` is not a
//! field of the typed manifests (the reader takes it off to pick the type),
//! yet a body may carry it.

use serde_json::json;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::formats::schema;
use super::patterns;
use crate::manifest::{
    ConfigManifest, ConfigSpecManifest, Manifest, ManifestKind, ManifestMeta, NamespaceManifest,
    NamespaceSpecManifest, RouteManifest, RouteSpecManifest, SecretManifest, SecretSpecManifest,
    ServiceManifest, ServiceSpecManifest, VolumeManifest, VolumeSpecManifest,
};

/// The schemas [`Manifest`] refers to: the one-kind documents.
pub(super) const NAMES: [&str; 7] = [
    "Manifest",
    "NamespaceManifest",
    "ServiceManifest",
    "SecretManifest",
    "ConfigManifest",
    "RouteManifest",
    "VolumeManifest",
];

fn reference(name: &str) -> serde_json::Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A document of one kind: `kind` (any case) and `version` may be left out
/// of a create or update body, which names the kind in its path.
fn document(kind: ManifestKind, spec: &str, spec_required: bool) -> RefOr<Schema> {
    let mut required = vec!["meta"];
    if spec_required {
        required.push("spec");
    }
    schema(json!({
        "type": "object",
        "description": format!("A `kind: {kind}` manifest."),
        "properties": {
            "kind": {"type": "string", "pattern": patterns::kind(kind.as_str())},
            "version": {"type": "string", "enum": ["v1"]},
            "meta": reference(&ManifestMeta::name()),
            "spec": reference(spec),
        },
        "required": required,
        "additionalProperties": false
    }))
}

/// `PartialSchema` and `ToSchema` for each document type; `$spec_required`
/// where an absent `spec` fails validation (a service needs a container, a
/// route a rule).
macro_rules! documents {
    ($($ty:ty => $kind:ident, $spec:ty, $spec_required:literal;)*) => {$(
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                document(ManifestKind::$kind, &<$spec>::name(), $spec_required)
            }
        }

        impl ToSchema for $ty {
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                super::add::<ManifestMeta>(schemas);
                super::add::<$spec>(schemas);
            }
        }
    )*};
}

documents! {
    NamespaceManifest => Namespace, NamespaceSpecManifest, false;
    ServiceManifest => Service, ServiceSpecManifest, true;
    SecretManifest => Secret, SecretSpecManifest, false;
    ConfigManifest => Config, ConfigSpecManifest, false;
    RouteManifest => Route, RouteSpecManifest, true;
    VolumeManifest => Volume, VolumeSpecManifest, false;
}

/// One document of an apply: `kind` is required there.
impl PartialSchema for Manifest {
    fn schema() -> RefOr<Schema> {
        let kinds: Vec<_> = NAMES[1..]
            .iter()
            .map(|name| json!({"allOf": [reference(name), {"type": "object", "required": ["kind"]}]}))
            .collect();
        schema(json!({
            "description": "A manifest of any kind, `kind` required.",
            "oneOf": kinds
        }))
    }
}

impl ToSchema for Manifest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        super::add::<NamespaceManifest>(schemas);
        super::add::<ServiceManifest>(schemas);
        super::add::<SecretManifest>(schemas);
        super::add::<ConfigManifest>(schemas);
        super::add::<RouteManifest>(schemas);
        super::add::<VolumeManifest>(schemas);
    }
}
