//! `/cluster` and the node agents' routes under `/cluster/node`.

use crate::api::types::{Ack, NodeRegistration, NodeStatusReport};
use crate::manifest::internal::NodeManifest;
use crate::model::{Cluster, Labels, Node};
use crate::openapi::patterns;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{ListQuery, SpecQuery, WATCH};
use crate::server::ApiState;
use crate::server::error::HttpResult;
use crate::server::extract::{JsonBody, QueryParams};
use crate::server::watch::list_or_watch;

/// Cluster information
#[utoipa::path(get, path = "/cluster", responses((status = 200, body = Cluster)))]
pub(crate) async fn cluster(State(state): State<ApiState>) -> HttpResult<Json<Cluster>> {
    Ok(Json(state.api().cluster().await?))
}

/// List nodes
#[utoipa::path(
    get,
    path = "/cluster/node",
    description = WATCH,
    params(ListQuery),
    responses((status = 200, body = ref("#/components/schemas/NodeList")))
)]
pub(crate) async fn nodes(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> HttpResult<Response> {
    list_or_watch::<Node, _>(&state, query, String::new(), async {
        state.api().nodes().await
    })
    .await
}

/// Get a node
#[utoipa::path(get, path = "/cluster/node/{node}", responses((status = 200, body = Node)))]
pub(crate) async fn node(
    State(state): State<ApiState>,
    Path(node): Path<String>,
) -> HttpResult<Json<Node>> {
    Ok(Json(state.api().node(&node).await?))
}

/// Register a node agent (201 when new)
///
/// A node agent joins (201) or rejoins (200).
#[utoipa::path(
    put,
    path = "/cluster/node/{node}",
    request_body = NodeRegistration,
    responses(
        (status = 200, description = "Registered again", body = Node),
        (status = 201, description = "Registered", body = Node),
    )
)]
pub(crate) async fn register(
    State(state): State<ApiState>,
    Path(node): Path<String>,
    JsonBody(registration): JsonBody<NodeRegistration>,
) -> HttpResult<Response> {
    let (node, created) = state.api().register_node(&node, registration).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(node)).into_response())
}

/// Remove a node
#[utoipa::path(delete, path = "/cluster/node/{node}", responses((status = 200, body = Node)))]
pub(crate) async fn remove(
    State(state): State<ApiState>,
    Path(node): Path<String>,
) -> HttpResult<Json<Node>> {
    Ok(Json(state.api().remove_node(&node).await?))
}

/// `PUT /cluster/node/{node}/meta`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct NodeMeta {
    #[schema(schema_with = labels)]
    labels: Labels,
    description: String,
}

/// Label keys and values as the validator takes them; a JSON body has no
/// scalars read as text, so values are strings.
fn labels() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    let schema = serde_json::json!({
        "type": "object",
        "propertyNames": {"type": "string", "pattern": patterns::LABEL_KEY, "maxLength": patterns::KEY_MAX},
        "additionalProperties": {
            "type": "string", "pattern": patterns::LABEL_VALUE, "maxLength": patterns::KEY_MAX
        }
    });
    serde_json::from_value(schema).expect("a valid schema")
}

/// Set a node's labels and description
#[utoipa::path(
    put,
    path = "/cluster/node/{node}/meta",
    request_body = NodeMeta,
    responses((status = 200, body = Node))
)]
pub(crate) async fn meta(
    State(state): State<ApiState>,
    Path(node): Path<String>,
    JsonBody(meta): JsonBody<NodeMeta>,
) -> HttpResult<Json<Node>> {
    let node = state
        .api()
        .update_node_meta(&node, meta.labels, meta.description)
        .await?;
    Ok(Json(node))
}

/// Report a node's full status
#[utoipa::path(
    put,
    path = "/cluster/node/{node}/status",
    request_body = NodeStatusReport,
    responses((status = 200, body = Ack))
)]
pub(crate) async fn status(
    State(state): State<ApiState>,
    Path(node): Path<String>,
    JsonBody(report): JsonBody<NodeStatusReport>,
) -> HttpResult<Json<Ack>> {
    Ok(Json(state.api().node_status(&node, report).await?))
}

/// A node's desired state, long-polled
///
/// At once when newer than `revision`, else when it changes or `timeout`
/// passes.
#[utoipa::path(
    get,
    path = "/cluster/node/{node}/spec",
    params(SpecQuery),
    responses((status = 200, body = NodeManifest))
)]
pub(crate) async fn spec(
    State(state): State<ApiState>,
    Path(node): Path<String>,
    QueryParams(query): QueryParams<SpecQuery>,
) -> HttpResult<Json<NodeManifest>> {
    let manifest = state
        .api()
        .node_manifest(&node, query.revision, query.wait())
        .await?;
    Ok(Json(manifest))
}
