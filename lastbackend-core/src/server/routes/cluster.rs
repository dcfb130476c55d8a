//! `/cluster` and the node agents' routes under `/cluster/node`.

use crate::api::types::{Ack, NodeRegistration, NodeStatusReport};
use crate::manifest::internal::NodeManifest;
use crate::model::{Cluster, Labels, Node};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ListQuery, SpecQuery};
use crate::server::ApiState;
use crate::server::error::HttpResult;
use crate::server::extract::{JsonBody, QueryParams};
use crate::server::watch::list_or_watch;

pub(crate) async fn cluster(State(state): State<ApiState>) -> HttpResult<Json<Cluster>> {
    Ok(Json(state.api().cluster().await?))
}

pub(crate) async fn nodes(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> HttpResult<Response> {
    list_or_watch::<Node, _>(&state, query, String::new(), async {
        state.api().nodes().await
    })
    .await
}

pub(crate) async fn node(
    State(state): State<ApiState>,
    Path(node): Path<String>,
) -> HttpResult<Json<Node>> {
    Ok(Json(state.api().node(&node).await?))
}

/// A node agent joins (201) or rejoins (200).
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

pub(crate) async fn remove(
    State(state): State<ApiState>,
    Path(node): Path<String>,
) -> HttpResult<Json<Node>> {
    Ok(Json(state.api().remove_node(&node).await?))
}

/// `PUT /cluster/node/{node}/meta`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct NodeMeta {
    #[schema(value_type = std::collections::HashMap<String, String>)]
    labels: Labels,
    description: String,
}

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

pub(crate) async fn status(
    State(state): State<ApiState>,
    Path(node): Path<String>,
    JsonBody(report): JsonBody<NodeStatusReport>,
) -> HttpResult<Json<Ack>> {
    Ok(Json(state.api().node_status(&node, report).await?))
}

/// The node's desired state, long-polled: at once when newer than
/// `revision`, else when it changes or `timeout` passes.
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
