//! `GET /openapi.json`: the OpenAPI 3.1 description of the API, derived
//! from the router. Each handler carries its `#[utoipa::path]` and the
//! router mounts it by that path, so no route exists without its operation;
//! [`document`] adds what holds for every operation, the links between
//! them and the core's schemas ([`crate::openapi::schemas`]), which carry
//! the validators' constraints.

use axum::http::header;
use axum::routing::{MethodRouter, get};
use bytes::Bytes;
use serde_json::{Value, json};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    Components, ContentBuilder, InfoBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder,
    Schema, SecurityRequirement,
};
use utoipa::{PartialSchema, ToSchema};

mod links;

use super::ApiState;
use super::auth::TOKEN_QUERY;
use super::extract::ManifestsBody;
use crate::api::types::ErrorBody;
use crate::manifest::{
    ConfigManifest, Manifest, RouteManifest, SecretManifest, ServiceManifest, VolumeManifest,
};

/// Where the document is served.
pub(crate) const PATH: &str = "/openapi.json";

/// The OpenAPI document of the API.
pub fn openapi() -> OpenApi {
    document(super::routes::routes().into_openapi())
}

/// Answers `document`, serialized once.
pub(crate) fn serve(document: &OpenApi) -> MethodRouter<ApiState> {
    let json = Bytes::from(document.to_json().expect("the OpenAPI document serializes"));
    get(move || async move { ([(header::CONTENT_TYPE, "application/json")], json) })
}

/// The operations the router collected, made whole: ids, tags, path
/// parameters and the error answer every operation shares, links from each
/// create to what it makes reachable, the security schemes, and the core's
/// schemas last, so they replace the derived ones of the same name.
pub(crate) fn document(mut document: OpenApi) -> OpenApi {
    document.info = InfoBuilder::new()
        .title("Last.Backend REST API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The lastbackend-rs cluster API. `GET /events` is a websocket of \
             `{\"event\":\"<kind>:<create|update|delete>\",\"payload\":<object>}` messages.",
        ))
        .build();
    for (path, item) in document.paths.paths.iter_mut() {
        for (method, operation) in [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
        ] {
            if let Some(operation) = operation {
                finish(path, method, operation);
            }
        }
    }
    let components = document.components.get_or_insert_with(Components::new);
    components.security_schemes.insert(
        "bearer".into(),
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.security_schemes.insert(
        "token_query".into(),
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new(TOKEN_QUERY))),
    );
    components.schemas.extend(crate::openapi::schemas());
    components
        .schemas
        .insert(ManifestsBody::name().into_owned(), ManifestsBody::schema());
    // `lb` reads a config entry's `file` before sending: the API takes
    // values only.
    if let Some(entry) = components.schemas.get_mut("ConfigEntryManifest") {
        let read = serde_json::to_value(&*entry).expect("a schema serializes");
        *entry = schema(json!({"allOf": [
            read,
            {"type": "object", "properties": {"file": {"type": "null"}}}
        ]}));
    }
    components.schemas.values_mut().for_each(tighten);
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            for parameter in operation.parameters.iter_mut().flatten() {
                parameter.schema.iter_mut().for_each(tighten);
            }
        }
    }
    links::link(&mut document);
    document.security = Some(vec![
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("token_query", Vec::<String>::new()),
    ]);
    document
}

/// The names of a path's `{parameters}`, in order.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// What every operation has: an id from its method and path
/// (`put_namespace_ns_service_name`), its path's first segment as its tag,
/// its path parameters (non-empty strings) and the `ErrorBody` of every
/// failure.
fn finish(path: &str, method: &str, operation: &mut Operation) {
    let segments: Vec<_> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches(|c| c == '{' || c == '}'))
        .collect();
    operation.operation_id = Some(format!("{method}_{}", segments.join("_")));
    operation.tags = segments.first().map(|tag| vec![(*tag).to_owned()]);
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    let named: Vec<_> = path_parameters(path)
        .map(|name| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema(json!({"type": "string", "minLength": 1}))))
                .build()
        })
        .collect();
    parameters.splice(0..0, named);
    operation.responses.responses.insert(
        "default".into(),
        RefOr::T(
            ResponseBuilder::new()
                .description(
                    "An error: 400 invalid input (`errors` lists the field paths), \
                     401, 403, 404, 405, 409, 413, 503",
                )
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                        .build(),
                )
                .build(),
        ),
    );
}

/// A time as chrono reads it (RFC 3339). A day past its month's end (the
/// 30th of February) passes the pattern and is refused.
const DATE_TIME: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]\
    ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";

/// States what utoipa leaves to a `format`, which a JSON Schema 2020-12
/// reader may take as a mere note: a `u32` is `format: int32, minimum: 0`,
/// which tells a client 2^31 is too large though the server takes it, and
/// a time is any string.
fn tighten(schema: &mut RefOr<Schema>) {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(object) => {
                let maximum = match object.get("format").and_then(Value::as_str) {
                    Some("int32") => Some(Value::from(u32::MAX)),
                    Some("int64") => Some(Value::from(u64::MAX)),
                    _ => None,
                };
                let from_zero = object.get("minimum").and_then(Value::as_f64) == Some(0.0);
                if let Some(maximum) = maximum.filter(|_| from_zero) {
                    object.remove("format");
                    object.entry("maximum").or_insert(maximum);
                }
                if object.get("format").and_then(Value::as_str) == Some("date-time") {
                    object.entry("pattern").or_insert(DATE_TIME.into());
                }
                object.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(&*schema).expect("a schema serializes");
    walk(&mut value);
    *schema = serde_json::from_value(value).expect("still a schema");
}

fn schema(value: Value) -> RefOr<Schema> {
    serde_json::from_value(value).expect("a valid schema")
}

/// An apply's body: one manifest or an array of them (`null`, in the array
/// or as the body, is skipped like an empty YAML document), each naming
/// its `kind` and `version`, of the kinds that live in a namespace (a namespace is made by
/// `POST /namespace`); as YAML, one or more documents of the same shape.
impl PartialSchema for ManifestsBody {
    fn schema() -> RefOr<Schema> {
        let kinds: Vec<_> = [
            ServiceManifest::name(),
            SecretManifest::name(),
            ConfigManifest::name(),
            RouteManifest::name(),
            VolumeManifest::name(),
        ]
        .iter()
        .map(|name| {
            json!({"allOf": [
                {"$ref": format!("#/components/schemas/{name}")},
                {"type": "object", "required": ["kind", "version"]}
            ]})
        })
        .collect();
        schema(json!({
            "description": "One manifest or several, each naming its `kind` and `version`.",
            "oneOf": [
                {"oneOf": kinds},
                {"type": "array", "items": {"anyOf": [{"oneOf": kinds}, {"type": "null"}]}},
                {"type": "null"}
            ]
        }))
    }
}

impl ToSchema for ManifestsBody {
    fn name() -> std::borrow::Cow<'static, str> {
        "Manifests".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        let name = <Manifest as ToSchema>::name().into_owned();
        schemas.push((name, Manifest::schema()));
        <Manifest as ToSchema>::schemas(schemas);
    }
}
