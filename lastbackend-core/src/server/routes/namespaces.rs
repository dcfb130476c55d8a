//! `/namespace`, `/namespace/{ns}` and the transactional apply.

use crate::api::ApplyOptions;
use crate::api::types::ApplyReport;
use crate::manifest::NamespaceManifest;
use crate::model::Namespace;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ListQuery, WATCH};
use crate::server::ApiState;
use crate::server::error::HttpResult;
use crate::server::extract::{IfMatch, ManifestBody, ManifestsBody, QueryParams};
use crate::server::watch::list_or_watch;

/// List namespaces
#[utoipa::path(
    get,
    path = "/namespace",
    description = WATCH,
    params(ListQuery),
    responses((status = 200, body = ref("#/components/schemas/NamespaceList")))
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> HttpResult<Response> {
    list_or_watch::<Namespace, _>(&state, query, String::new(), async {
        state.api().namespaces().await
    })
    .await
}

/// Create a namespace
#[utoipa::path(
    post,
    path = "/namespace",
    request_body = NamespaceManifest,
    responses((status = 201, description = "Created", body = Namespace))
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    ManifestBody(manifest): ManifestBody<NamespaceManifest>,
) -> HttpResult<(StatusCode, Json<Namespace>)> {
    let namespace = state.api().create_namespace(manifest).await?;
    Ok((StatusCode::CREATED, Json(namespace)))
}

/// Get a namespace
#[utoipa::path(get, path = "/namespace/{ns}", responses((status = 200, body = Namespace)))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Path(ns): Path<String>,
) -> HttpResult<Json<Namespace>> {
    Ok(Json(state.api().namespace(&ns).await?))
}

/// Update a namespace
#[utoipa::path(
    put,
    path = "/namespace/{ns}",
    params(IfMatch),
    request_body = NamespaceManifest,
    responses((status = 200, body = Namespace))
)]
pub(crate) async fn update(
    State(state): State<ApiState>,
    Path(ns): Path<String>,
    IfMatch(expected): IfMatch,
    ManifestBody(manifest): ManifestBody<NamespaceManifest>,
) -> HttpResult<Json<Namespace>> {
    let namespace = state
        .api()
        .update_namespace(&ns, manifest, expected)
        .await?;
    Ok(Json(namespace))
}

/// Remove a namespace (marked destroy)
#[utoipa::path(delete, path = "/namespace/{ns}", responses((status = 200, body = Namespace)))]
pub(crate) async fn remove(
    State(state): State<ApiState>,
    Path(ns): Path<String>,
) -> HttpResult<Json<Namespace>> {
    Ok(Json(state.api().remove_namespace(&ns).await?))
}

/// `?dry_run=true&redeploy=true` of apply.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub(crate) struct ApplyQuery {
    /// Report, write nothing.
    dry_run: bool,
    /// Roll out every service applied, changed or not.
    redeploy: bool,
}

/// Apply manifests all or nothing
///
/// Applies every manifest of the body in one transaction, or none.
#[utoipa::path(
    put,
    path = "/namespace/{ns}/apply",
    params(ApplyQuery),
    request_body(
        description = "One or more manifests: YAML documents, a JSON object or a JSON array.",
        content(
            (ManifestsBody = "application/json"),
            (ManifestsBody = "application/yaml"),
        )
    ),
    responses((status = 200, body = ApplyReport))
)]
pub(crate) async fn apply(
    State(state): State<ApiState>,
    Path(ns): Path<String>,
    QueryParams(query): QueryParams<ApplyQuery>,
    ManifestsBody(manifests): ManifestsBody,
) -> HttpResult<Json<ApplyReport>> {
    let options = ApplyOptions {
        dry_run: query.dry_run,
        redeploy: query.redeploy,
    };
    Ok(Json(state.api().apply(&ns, manifests, options).await?))
}
