//! OpenAPI schemas of the REST API's request and response bodies (feature
//! `openapi`), derived from the types with `utoipa::ToSchema` and carrying
//! the constraints the validators enforce, so a client reading the document
//! knows what the server accepts.
//!
//! Every body type derives `ToSchema`: the external manifests, the model
//! objects, [`List`] and the wire types of
//! [`api::types`](crate::api::types). A router's `#[utoipa::path]` can name
//! them directly; [`schemas`] returns all of them with the one rule a derive
//! cannot state (below), to put in the document's components last.
//!
//! What the schemas say, by rule of the manifest reader and
//! [`Validator`](crate::manifest::Validator):
//! - names are DNS-1123 labels ([`patterns::DNS_LABEL`], at most 63), label
//!   and data keys, host names, paths, ports (1–65535), port mappings, sizes
//!   and CPU amounts match the patterns in [`patterns`];
//! - `replicas` is at most [`MAX_REPLICAS`](crate::manifest::MAX_REPLICAS);
//!   a service needs a container and a route a rule;
//! - a field the validator requires is `required` (a serde `default` alone
//!   does not make one optional: an empty `meta.name` is refused), closed
//!   string sets are `enum`s;
//! - a manifest allows no field it does not know, at any depth (the reader
//!   reports every one), which [`schemas`] states as `additionalProperties:
//!   false` on each manifest object;
//! - scalars read as text (`name: 2048`, `value: true`) allow numbers and
//!   booleans, as the reader does.
//!
//! - rules across fields are stated beside the derived schemas: "exactly
//!   one of" sources, an `auth` secret's keys, TLS or TCP, a namespace's
//!   limits both or neither; an optional object or list may be `null`,
//!   which the reader reads as empty.
//!
//! What they cannot say is written on the type it concerns: a request not
//! above its limit, names that must be unique or refer to something, sizes
//! that leave part of a byte. Integers must be written without a fraction
//! (`2`, not `2.0`), which JSON Schema's `integer` does not say.

mod documents;
mod formats;
pub mod patterns;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

pub use formats::{
    AbsolutePath, ConfigData, CpuText, DataKey, DataKeyScalar, DataMap, DnsLabel, EnvName,
    ExtraHost, Hostname, IpAddress, LabelMap, Name, NonEmptyScalar, PortMappingText, RamText,
    RelativeFile, RelativePath, Scalar, SocketAddress, Words,
};

use crate::api::types::{
    Ack, ApplyReport, ErrorBody, List, MemberReport, NodeRegistration, NodeStatusReport,
};
use crate::manifest::Manifest;
use crate::manifest::internal::{DiscoveryManifest, IngressManifest, NodeManifest};
use crate::model::{
    Cluster, Config, Deployment, Discovery, Exporter, Ingress, Namespace, Node, Pod, Route, Secret,
    Service, Volume,
};

/// Adds `T` and every schema it refers to.
fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

/// Adds `T` and `List<T>`, as `<T>List`: a derive names every `List<T>`
/// `List`, and leaves `T` out of what it refers to.
fn add_list<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    add::<T>(schemas);
    schemas.push((format!("{}List", T::name()), List::<T>::schema()));
    List::<T>::schemas(schemas);
}

/// The component schemas of every request and response body, by name:
/// what the derives give, with the manifests closed to unknown fields.
///
/// Put them into the document after the ones a router collected, so these
/// replace the derived manifest schemas.
pub fn schemas() -> BTreeMap<String, RefOr<Schema>> {
    let mut schemas = Vec::new();
    let s = &mut schemas;
    add::<Manifest>(s);
    add::<Cluster>(s);
    add_list::<Node>(s);
    add_list::<Namespace>(s);
    add_list::<Service>(s);
    add_list::<Secret>(s);
    add_list::<Config>(s);
    add_list::<Route>(s);
    add_list::<Volume>(s);
    add_list::<Deployment>(s);
    add_list::<Pod>(s);
    add_list::<Ingress>(s);
    add_list::<Discovery>(s);
    add_list::<Exporter>(s);
    add::<NodeRegistration>(s);
    add::<NodeStatusReport>(s);
    add::<MemberReport>(s);
    add::<Ack>(s);
    add::<ApplyReport>(s);
    add::<ErrorBody>(s);
    add::<NodeManifest>(s);
    add::<IngressManifest>(s);
    add::<DiscoveryManifest>(s);
    let mut schemas: BTreeMap<String, Value> = schemas
        .into_iter()
        .map(|(name, schema)| {
            let json = serde_json::to_value(schema).expect("a schema serializes");
            (name, json)
        })
        .collect();
    close_manifests(&mut schemas);
    rules::state(&mut schemas);
    schemas
        .into_iter()
        .map(|(name, json)| (name, formats::schema(json)))
        .collect()
}

/// Sets `additionalProperties: false` on every object schema a manifest
/// reaches that says nothing of other properties: the manifest reader
/// refuses unknown fields at every depth. Objects inside an `allOf` (a
/// flattened field) stay open, as JSON Schema would read the other parts'
/// properties as unknown there. An optional field that holds an object or
/// a list also takes `null`, which the reader reads as empty.
fn close_manifests(schemas: &mut BTreeMap<String, Value>) {
    let containers: BTreeSet<String> = schemas
        .iter()
        .filter(|(_, schema)| is_container(schema))
        .map(|(name, _)| format!("#/components/schemas/{name}"))
        .collect();
    let mut pending: Vec<String> = documents::NAMES.map(str::to_owned).to_vec();
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.get_mut(&name) {
            close(schema, false, &mut pending);
            if name != documents::NAMES[0] {
                null_is_empty(schema, &containers);
            }
        }
    }
}

/// Whether `schema` is an object or a list (and not already `null`).
fn is_container(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(kind)) => kind == "object" || kind == "array",
        Some(_) => false,
        None => schema.get("properties").is_some(),
    }
}

/// Whether `property` is an object or a list, inline, named in
/// `containers`, or as the one part of a `oneOf` or `allOf` (how a derive
/// writes a named type with a description).
fn holds_container(property: &Value, containers: &BTreeSet<String>) -> bool {
    let named = |schema: &Value| {
        schema
            .get("$ref")
            .and_then(Value::as_str)
            .is_some_and(|target| containers.contains(target))
    };
    let single = ["oneOf", "allOf"]
        .iter()
        .find_map(|key| match property.get(*key) {
            Some(Value::Array(parts)) if parts.len() == 1 => Some(&parts[0]),
            _ => None,
        });
    named(property)
        || is_container(property)
        || single.is_some_and(|part| named(part) || is_container(part))
}

/// Lets the optional properties of `schema` that hold an object or a list
/// (inline or named in `containers`) be `null`, at every depth.
fn null_is_empty(schema: &mut Value, containers: &BTreeSet<String>) {
    match schema {
        Value::Object(object) => {
            let required: Vec<Value> = match object.get("required") {
                Some(Value::Array(required)) => required.clone(),
                _ => Vec::new(),
            };
            if let Some(Value::Object(properties)) = object.get_mut("properties") {
                for (name, property) in properties.iter_mut() {
                    if !required.contains(&Value::from(name.as_str()))
                        && holds_container(property, containers)
                    {
                        let inner = property.take();
                        *property = serde_json::json!({"anyOf": [inner, {"type": "null"}]});
                    }
                }
            }
            for value in object.values_mut() {
                null_is_empty(value, containers);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| null_is_empty(item, containers)),
        _ => {}
    }
}

fn close(schema: &mut Value, in_all_of: bool, refs: &mut Vec<String>) {
    match schema {
        Value::Object(object) => {
            // A part of an `allOf` is left open, named or not.
            if let Some(Value::String(target)) = object.get("$ref")
                && let Some(name) = target.strip_prefix("#/components/schemas/")
                && !in_all_of
            {
                refs.push(name.to_owned());
            }
            if object.contains_key("properties")
                && !object.contains_key("additionalProperties")
                && !in_all_of
            {
                object.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (key, value) in object.iter_mut() {
                close(value, key == "allOf", refs);
            }
        }
        Value::Array(items) => {
            for item in items {
                close(item, in_all_of, refs);
            }
        }
        _ => {}
    }
}
