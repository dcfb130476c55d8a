//! `GET /openapi.json`: the OpenAPI 3.1 description of the API, built with
//! utoipa from the route table below.
//!
//! The daemons' own request types derive `ToSchema`; the core's entity and
//! wire types are described here by hand (core does not depend on utoipa),
//! loosely where the model is large: an object's `meta` identity is precise,
//! its `spec` and `status` are open objects.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, Required, ResponseBuilder, SecurityRequirement,
};

use super::auth::TOKEN_QUERY;
use super::routes::MAX_SPEC_TIMEOUT;

/// Where the document is served.
pub(crate) const PATH: &str = "/openapi.json";

/// What a route takes as its body.
#[derive(Clone, Copy)]
enum In {
    Nothing,
    /// A JSON body of this schema.
    Json(&'static str),
    /// Manifest text (YAML or JSON).
    Manifests,
}

/// The query parameters of a route.
#[derive(Clone, Copy, PartialEq)]
enum Query {
    None,
    /// `?revision` (and `?watch`, described but not listed: a stream).
    List,
    /// `?revision&timeout` of a long-poll.
    Spec,
    /// `?dry_run&redeploy`.
    Apply,
    /// `?redeploy`.
    Redeploy,
    /// `?tail&follow`.
    Logs,
}

struct Route {
    method: HttpMethod,
    path: String,
    summary: String,
    body: In,
    query: Query,
    if_match: bool,
    status: u16,
    answer: String,
}

fn route(
    method: HttpMethod,
    path: impl Into<String>,
    summary: impl Into<String>,
    answer: impl Into<String>,
) -> Route {
    Route {
        method,
        path: path.into(),
        summary: summary.into(),
        body: In::Nothing,
        query: Query::None,
        if_match: false,
        status: 200,
        answer: answer.into(),
    }
}

impl Route {
    fn body(mut self, body: In) -> Self {
        self.body = body;
        self
    }
    fn query(mut self, query: Query) -> Self {
        self.query = query;
        self
    }
    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    fn if_match(mut self) -> Self {
        self.if_match = true;
        self
    }
}

/// The namespaced kinds with plain CRUD: path segment, manifest, object.
const NAMESPACED: [(&str, &str, &str); 5] = [
    ("service", "ServiceManifest", "Service"),
    ("secret", "SecretManifest", "Secret"),
    ("config", "ConfigManifest", "Config"),
    ("route", "RouteManifest", "Route"),
    ("volume", "VolumeManifest", "Volume"),
];

/// Cluster members: path segment, object, whether it has a spec long-poll.
const MEMBERS: [(&str, &str, Option<&str>); 3] = [
    ("ingress", "Ingress", Some("IngressManifest")),
    ("discovery", "Discovery", Some("DiscoveryManifest")),
    ("exporter", "Exporter", None),
];

fn table() -> Vec<Route> {
    use HttpMethod::{Delete, Get, Post, Put};
    let mut routes = vec![
        route(Get, "/cluster", "Cluster information", "Cluster"),
        route(Get, "/cluster/node", "List nodes", "NodeList").query(Query::List),
        route(Get, "/cluster/node/{node}", "Get a node", "Node"),
        route(Delete, "/cluster/node/{node}", "Remove a node", "Node"),
        route(
            Put,
            "/cluster/node/{node}",
            "Register a node agent (201 when new)",
            "Node",
        )
        .body(In::Json("NodeRegistration")),
        route(
            Put,
            "/cluster/node/{node}/meta",
            "Set a node's labels and description",
            "Node",
        )
        .body(In::Json("NodeMeta")),
        route(
            Put,
            "/cluster/node/{node}/status",
            "Report a node's full status",
            "Ack",
        )
        .body(In::Json("NodeStatusReport")),
        route(
            Get,
            "/cluster/node/{node}/spec",
            "A node's desired state, long-polled",
            "NodeManifest",
        )
        .query(Query::Spec),
        route(Get, "/namespace", "List namespaces", "NamespaceList").query(Query::List),
        route(Post, "/namespace", "Create a namespace", "Namespace")
            .body(In::Json("NamespaceManifest"))
            .status(201),
        route(Get, "/namespace/{ns}", "Get a namespace", "Namespace"),
        route(Put, "/namespace/{ns}", "Update a namespace", "Namespace")
            .body(In::Json("NamespaceManifest"))
            .if_match(),
        route(
            Delete,
            "/namespace/{ns}",
            "Remove a namespace (marked destroy)",
            "Namespace",
        ),
        route(
            Put,
            "/namespace/{ns}/apply",
            "Apply manifests all or nothing",
            "ApplyReport",
        )
        .body(In::Manifests)
        .query(Query::Apply),
        route(
            Put,
            "/namespace/{ns}/service/{name}/scale",
            "Scale a service",
            "Service",
        )
        .body(In::Json("ScaleBody")),
        route(
            Get,
            "/namespace/{ns}/service/{name}/deployment",
            "List a service's deployments",
            "DeploymentList",
        )
        .query(Query::List),
        route(
            Get,
            "/namespace/{ns}/service/{name}/deployment/{deployment}",
            "Get a deployment",
            "Deployment",
        ),
        route(
            Get,
            "/namespace/{ns}/service/{name}/deployment/{deployment}/pod",
            "List a deployment's pods",
            "PodList",
        )
        .query(Query::List),
        route(
            Get,
            "/namespace/{ns}/service/{name}/pod",
            "List a service's pods",
            "PodList",
        )
        .query(Query::List),
        route(
            Get,
            "/namespace/{ns}/service/{name}/logs",
            "A service's logs (from an exporter)",
            "Logs",
        )
        .query(Query::Logs),
    ];
    for (segment, manifest, object) in NAMESPACED {
        let list = format!("/namespace/{{ns}}/{segment}");
        let one = format!("/namespace/{{ns}}/{segment}/{{name}}");
        let list_schema = format!("{object}List");
        routes.push(route(Get, &list, format!("List {segment}s"), list_schema).query(Query::List));
        routes.push(
            route(Post, &list, format!("Create a {segment}"), object)
                .body(In::Json(manifest))
                .status(201),
        );
        routes.push(route(Get, &one, format!("Get a {segment}"), object));
        let update = route(Put, &one, format!("Update a {segment}"), object)
            .body(In::Json(manifest))
            .if_match();
        routes.push(if segment == "service" {
            update.query(Query::Redeploy)
        } else {
            update
        });
        routes.push(route(Delete, &one, format!("Remove a {segment}"), object));
    }
    for (segment, object, spec) in MEMBERS {
        let list = format!("/{segment}");
        let one = format!("/{segment}/{{name}}");
        routes.push(
            route(
                Get,
                &list,
                format!("List {segment} servers"),
                format!("{object}List"),
            )
            .query(Query::List),
        );
        routes.push(route(Get, &one, format!("Get a {segment} server"), object));
        routes.push(route(
            Delete,
            &one,
            format!("Remove a {segment} server"),
            object,
        ));
        routes.push(
            route(
                Put,
                &one,
                format!("Register a {segment} server (201 when new)"),
                object,
            )
            .body(In::Json("MemberReport")),
        );
        routes.push(
            route(
                Put,
                format!("/{segment}/{{name}}/status"),
                format!("Report a {segment} server's status"),
                "Ack",
            )
            .body(In::Json("MemberReport")),
        );
        if let Some(manifest) = spec {
            routes.push(
                route(
                    Get,
                    format!("/{segment}/{{name}}/spec"),
                    format!("A {segment} server's desired state, long-polled"),
                    manifest,
                )
                .query(Query::Spec),
            );
        }
    }
    routes
}

fn schema_ref(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

fn json_content(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(schema_ref(schema)))
        .build()
}

fn query_param(name: &str, schema: Value, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema_of(schema)))
        .build()
}

fn schema_of(value: Value) -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    serde_json::from_value(value).expect("the hand-written schemas are valid")
}

fn operation(route: &Route) -> utoipa::openapi::path::Operation {
    let mut operation = OperationBuilder::new()
        .summary(Some(route.summary.as_str()))
        .operation_id(Some(operation_id(route)))
        .tag(route.path.split('/').nth(1).unwrap_or_default());
    for segment in route.path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(schema_of(json!({"type": "string", "minLength": 1})))),
            );
        }
    }
    let revision = json!({"type": "integer", "minimum": 0});
    let flag = json!({"type": "boolean"});
    match route.query {
        Query::None => {}
        Query::List => {
            operation = operation
                .description(Some(
                    "With `?watch=true` the answer is a stream of `WatchEvent` lines \
                     (`application/x-ndjson`) of the changes after `revision`; a compacted \
                     revision ends it with an error line of code 410.",
                ))
                .parameter(query_param(
                    "revision",
                    revision,
                    "With `watch=true`: stream changes after this revision.",
                ));
        }
        Query::Spec => {
            operation = operation
                .parameter(query_param(
                    "revision",
                    revision,
                    "The revision the agent has; answers at once when the state is newer.",
                ))
                .parameter(query_param(
                    "timeout",
                    json!({"type": "integer", "minimum": 0, "maximum": MAX_SPEC_TIMEOUT}),
                    "Seconds to wait for a newer state (default 30).",
                ));
        }
        Query::Apply => {
            operation = operation
                .parameter(query_param(
                    "dry_run",
                    flag.clone(),
                    "Report, write nothing.",
                ))
                .parameter(query_param(
                    "redeploy",
                    flag,
                    "Roll out every service applied, changed or not.",
                ));
        }
        Query::Redeploy => {
            operation = operation.parameter(query_param(
                "redeploy",
                flag,
                "Roll out a new deployment even if the template is the same.",
            ));
        }
        Query::Logs => {
            operation = operation
                .parameter(query_param(
                    "tail",
                    json!({"type": "integer", "minimum": 0}),
                    "Last lines.",
                ))
                .parameter(query_param("follow", flag, "Keep streaming."));
        }
    }
    if route.if_match {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("Fail with 409 unless the object is at this revision."))
                .schema(Some(schema_of(json!({"type": "integer", "minimum": 0})))),
        );
    }
    match route.body {
        In::Nothing => {}
        In::Json(schema) => {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", json_content(schema))
                    .build(),
            ));
        }
        In::Manifests => {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .description(Some(
                        "One or more manifests: YAML documents, a JSON object or a JSON array.",
                    ))
                    .content("application/json", json_content("Manifests"))
                    .content(
                        "application/yaml",
                        ContentBuilder::new()
                            .schema(Some(schema_of(json!({"type": "string"}))))
                            .build(),
                    )
                    .build(),
            ));
        }
    }
    let ok = if route.answer == "Logs" {
        ResponseBuilder::new().description("Log lines").content(
            "text/plain",
            ContentBuilder::new()
                .schema(Some(schema_of(json!({"type": "string"}))))
                .build(),
        )
    } else {
        ResponseBuilder::new()
            .description("Success")
            .content("application/json", json_content(&route.answer))
    };
    operation = operation.response(route.status.to_string(), ok.build());
    if route.path.starts_with("/cluster/node/{node}") && route.method == HttpMethod::Put {
        if route.path == "/cluster/node/{node}" {
            operation = operation.response(
                "201",
                ResponseBuilder::new()
                    .description("Registered")
                    .content("application/json", json_content(&route.answer))
                    .build(),
            );
        }
    } else if route.body == In::Json("MemberReport") && route.answer != "Ack" {
        operation = operation.response(
            "201",
            ResponseBuilder::new()
                .description("Registered")
                .content("application/json", json_content(&route.answer))
                .build(),
        );
    }
    operation
        .response(
            "default",
            ResponseBuilder::new()
                .description(
                    "An error: 400 invalid input (`errors` lists the field paths), \
                     401, 403, 404, 405, 409, 413, 503",
                )
                .content("application/json", json_content("ErrorBody"))
                .build(),
        )
        .build()
}

impl PartialEq for In {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (In::Nothing, In::Nothing) | (In::Manifests, In::Manifests) => true,
            (In::Json(a), In::Json(b)) => a == b,
            _ => false,
        }
    }
}

fn operation_id(route: &Route) -> String {
    let method = match route.method {
        HttpMethod::Get => "get",
        HttpMethod::Post => "post",
        HttpMethod::Put => "put",
        HttpMethod::Delete => "delete",
        _ => "other",
    };
    let path: Vec<_> = route
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_matches(|c| c == '{' || c == '}'))
        .collect();
    format!("{method}_{}", path.join("_"))
}

/// The component schemas of the core types.
fn schemas() -> Vec<(String, Value)> {
    let meta = json!({
        "type": "object",
        "description": "An object's identity.",
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "self_link": {"type": "string"},
            "description": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "created": {"type": "string"},
            "updated": {"type": "string"},
            "revision": {"type": "integer", "minimum": 0}
        }
    });
    let object = |description: &str| {
        json!({
            "type": "object",
            "description": description,
            "properties": {
                "meta": {"$ref": "#/components/schemas/Meta"},
                "spec": {"type": "object"},
                "status": {"type": "object"}
            }
        })
    };
    let manifest = |kind: &str| {
        json!({
            "type": "object",
            "description": format!("A `kind: {kind}` manifest; `kind` and `version` may be left out."),
            "properties": {
                "kind": {"type": "string", "enum": [kind]},
                "version": {"type": "string", "enum": ["v1"]},
                "meta": {"$ref": "#/components/schemas/ManifestMeta"},
                "spec": {"type": "object"}
            },
            "required": ["meta"]
        })
    };
    let mut schemas: Vec<(String, Value)> = [
        ("Meta", meta),
        (
            "ManifestMeta",
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                },
                "required": ["name"]
            }),
        ),
        (
            "ErrorBody",
            json!({
                "type": "object",
                "properties": {
                    "code": {"type": "integer"},
                    "status": {"type": "string"},
                    "message": {"type": "string"},
                    "errors": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "document": {"type": "integer"},
                            "path": {"type": "string"},
                            "reason": {"type": "string"}
                        },
                        "required": ["path", "reason"]
                    }}
                },
                "required": ["code", "status", "message"]
            }),
        ),
        (
            "Ack",
            json!({
                "type": "object",
                "properties": {"revision": {"type": "integer", "minimum": 0}},
                "required": ["revision"]
            }),
        ),
        (
            "ApplyReport",
            json!({
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "kind": {"type": "string"},
                            "name": {"type": "string"},
                            "action": {"type": "string", "enum": ["created", "updated", "unchanged"]}
                        },
                        "required": ["kind", "name", "action"]
                    }},
                    "revision": {"type": "integer", "minimum": 0},
                    "dry_run": {"type": "boolean"}
                },
                "required": ["items", "revision"]
            }),
        ),
        (
            "Manifests",
            json!({
                "oneOf": [
                    {"type": "object"},
                    {"type": "array", "items": {"type": "object"}}
                ]
            }),
        ),
        ("NodeRegistration", json!({"type": "object", "description": "A node agent joins: info, labels, capacity, drivers."})),
        ("NodeStatusReport", json!({"type": "object", "description": "A node agent's full status: resources, drivers, pods, volumes."})),
        ("MemberReport", json!({"type": "object", "description": "An ingress, discovery or exporter server's presence and addresses."})),
        ("NodeManifest", json!({"type": "object", "description": "A node's desired state."})),
        ("IngressManifest", json!({"type": "object", "description": "An ingress server's desired state."})),
        ("DiscoveryManifest", json!({"type": "object", "description": "A discovery server's desired state."})),
    ]
    .into_iter()
    .map(|(name, schema)| (name.to_owned(), schema))
    .collect();
    for kind in [
        "Cluster",
        "Node",
        "Namespace",
        "Service",
        "Secret",
        "Config",
        "Route",
        "Volume",
        "Deployment",
        "Pod",
        "Ingress",
        "Discovery",
        "Exporter",
    ] {
        schemas.push((kind.to_owned(), object(&format!("A {kind} object."))));
    }
    for kind in [
        "Node",
        "Namespace",
        "Service",
        "Secret",
        "Config",
        "Route",
        "Volume",
        "Deployment",
        "Pod",
        "Ingress",
        "Discovery",
        "Exporter",
    ] {
        schemas.push((
            format!("{kind}List"),
            json!({
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{kind}")}},
                    "revision": {"type": "integer", "minimum": 0}
                },
                "required": ["items", "revision"]
            }),
        ));
    }
    for kind in [
        "Namespace",
        "Service",
        "Secret",
        "Config",
        "Route",
        "Volume",
    ] {
        schemas.push((format!("{kind}Manifest"), manifest(kind)));
    }
    schemas
}

/// The OpenAPI document of the API.
pub fn openapi() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in table() {
        paths = paths.path(
            route.path.clone(),
            PathItem::new(route.method.clone(), operation(&route)),
        );
    }
    let mut components = ComponentsBuilder::new()
        .schema_from::<super::routes::NodeMeta>()
        .schema_from::<super::routes::ScaleBody>()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
        .security_scheme(
            "token_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new(TOKEN_QUERY))),
        );
    for (name, schema) in schemas() {
        components = components.schema(name, schema_of(schema));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Last.Backend REST API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The lastbackend-rs cluster API. `GET /events` is a websocket of \
                     `{\"event\":\"<kind>:<create|update|delete>\",\"payload\":<object>}` \
                     messages.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .security(Some([
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("token_query", Vec::<String>::new()),
        ]))
        .build()
}

pub(crate) async fn serve_document() -> impl IntoResponse {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        openapi()
            .to_json()
            .expect("the OpenAPI document serializes")
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
