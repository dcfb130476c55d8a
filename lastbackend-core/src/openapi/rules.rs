//! Rules across fields that a derive cannot write, added to the derived
//! schemas by name: "exactly one of" sources, what an `auth` secret holds,
//! TLS or TCP, a namespace's limits both or neither. A field written `null`
//! is absent to the reader, so "set" here means present and not `null`.
//!
//! Each rule is built from what utoipa's schema model keeps (it has no
//! `not`, and drops an `allOf` written beside `type`): a rule joins the
//! schema it constrains in an `allOf` of its own.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::manifest::SecretType;

/// `field` is present and not `null`.
fn set(field: &str) -> Value {
    let any = ["string", "number", "boolean", "object", "array"];
    json!({"type": "object", "required": [field], "properties": {field: {"type": any}}})
}

/// `field` is absent or `null`.
fn unset(field: &str) -> Value {
    json!({"type": "object", "properties": {field: {"type": "null"}}})
}

/// `field` is absent or one of `values`, of JSON type `kind`.
fn absent_or(field: &str, kind: &str, values: Value) -> Value {
    json!({"type": "object", "properties": {field: {"type": kind, "enum": values}}})
}

/// Exactly one of `fields` is set.
fn exactly_one(fields: &[&str]) -> Value {
    json!({"oneOf": fields.iter().map(|field| set(field)).collect::<Vec<_>>()})
}

/// The schema `name` and `rule` both hold.
fn add(schemas: &mut BTreeMap<String, Value>, name: &str, rule: Value) {
    let schema = schemas
        .get_mut(name)
        .unwrap_or_else(|| panic!("no schema {name} to add a rule to"));
    let described = schema.get("description").cloned();
    let mut joined = json!({"allOf": [schema.take(), rule]});
    if let Some(description) = described {
        joined["description"] = description;
    }
    *schema = joined;
}

/// Adds every rule to `schemas`, after they are closed to unknown fields
/// (an object inside an `allOf` is left open).
pub(super) fn state(schemas: &mut BTreeMap<String, Value>) {
    add(
        schemas,
        "ConfigEntryManifest",
        exactly_one(&["value", "file"]),
    );
    add(
        schemas,
        "TemplateVolumeManifest",
        exactly_one(&["volume", "secret", "config"]),
    );
    // Terminate with a secret, or pass through: one of the two.
    add(
        schemas,
        "RouteTlsManifest",
        json!({"oneOf": [
            set("secret"),
            {
                "type": "object",
                "required": ["passthrough"],
                "properties": {"passthrough": {"type": "boolean", "enum": [true]}}
            }
        ]}),
    );
    // A route is plain TCP or TLS, not both.
    add(
        schemas,
        "RouteSpecManifest",
        json!({"anyOf": [absent_or("tcp", "boolean", json!([false])), unset("tls")]}),
    );
    let others: Vec<_> = [SecretType::Opaque, SecretType::Text, SecretType::File]
        .iter()
        .map(|kind| serde_json::to_value(kind).expect("a secret type serializes"))
        .collect();
    add(
        schemas,
        "SecretSpecManifest",
        json!({"anyOf": [
            absent_or("type", "string", Value::from(others)),
            {
                "type": "object",
                "required": ["data"],
                "properties": {"data": {"type": "object", "required": SecretType::AUTH_KEYS}}
            }
        ]}),
    );
    // Limits give both RAM and CPU, or neither (the API refuses one alone).
    let limits = schemas
        .get_mut("NamespaceResourcesManifest")
        .and_then(|schema| schema.pointer_mut("/properties/limits"))
        .expect("a namespace's limits");
    *limits = json!({
        "description": "Never exceeded by the namespace: RAM and CPU both, or neither.",
        "anyOf": [
            {"allOf": [
                {"$ref": "#/components/schemas/QuotaManifest"},
                {"anyOf": [
                    {"allOf": [unset("ram"), unset("cpu")]},
                    {"allOf": [set("ram"), set("cpu")]}
                ]}
            ]},
            {"type": "null"}
        ]
    });
}
