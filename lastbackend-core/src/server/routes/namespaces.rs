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

use super::ListQuery;
use crate::server::ApiState;
use crate::server::error::HttpResult;
use crate::server::extract::{IfMatch, ManifestBody, ManifestsBody, QueryParams};
use crate::server::watch::list_or_watch;

pub(crate) async fn list(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> HttpResult<Response> {
    list_or_watch::<Namespace, _>(&state, query, String::new(), async {
        state.api().namespaces().await
    })
    .await
}

pub(crate) async fn create(
    State(state): State<ApiState>,
    ManifestBody(manifest): ManifestBody<NamespaceManifest>,
) -> HttpResult<(StatusCode, Json<Namespace>)> {
    let namespace = state.api().create_namespace(manifest).await?;
    Ok((StatusCode::CREATED, Json(namespace)))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    Path(ns): Path<String>,
) -> HttpResult<Json<Namespace>> {
    Ok(Json(state.api().namespace(&ns).await?))
}

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

pub(crate) async fn remove(
    State(state): State<ApiState>,
    Path(ns): Path<String>,
) -> HttpResult<Json<Namespace>> {
    Ok(Json(state.api().remove_namespace(&ns).await?))
}

/// `?dry_run=true&redeploy=true` of apply.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ApplyQuery {
    dry_run: bool,
    redeploy: bool,
}

/// Applies every manifest of the body in one transaction, or none.
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
