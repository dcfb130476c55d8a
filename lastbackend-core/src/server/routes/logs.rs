//! `GET /namespace/{ns}/service/{svc}/logs?tail=N&follow=true`: proxied to
//! a ready exporter, which merges the service's pods and prefixes each line
//! with its pod's name. The original dialed an empty address when no
//! exporter was ready; here that is a 503 saying so.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::Full;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::server::ApiState;
use crate::server::error::{HttpError, HttpResult};
use crate::server::extract::QueryParams;
use crate::server::http_client;

/// `?tail=N&follow=true`; the token may ride along in the query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogsQuery {
    /// Last lines.
    tail: Option<u64>,
    /// Keep streaming.
    follow: bool,
    /// Described by the document's security schemes.
    #[serde(rename = "x-lastbackend-token")]
    #[param(ignore)]
    _token: Option<String>,
}

/// A service's logs (from an exporter)
///
/// 503 when no exporter is ready to serve them.
#[utoipa::path(
    get,
    path = "/namespace/{ns}/service/{name}/logs",
    params(LogsQuery),
    responses((status = 200, description = "Log lines", body = String, content_type = "text/plain"))
)]
pub(crate) async fn service_logs(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    QueryParams(query): QueryParams<LogsQuery>,
) -> HttpResult<Response> {
    state.api().service(&ns, &name).await?;
    let exporters = state.api().exporters().await?;
    let ready = exporters.items.iter().find_map(|e| {
        let presence = e.status.presence;
        (presence.ready && presence.online)
            .then_some(e.status.http)
            .flatten()
    });
    let Some(address) = ready else {
        return Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no exporter is ready to serve logs: run `lastbackend exporter --api-uri <this API>`",
        ));
    };
    let mut params = vec![("service", format!("{ns}:{name}"))];
    if let Some(tail) = query.tail {
        params.push(("tail", tail.to_string()));
    }
    if query.follow {
        params.push(("follow", "true".to_owned()));
    }
    let query = serde_urlencoded::to_string(&params)
        .map_err(|e| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let uri = format!("/logs?{query}");
    let authority = address.to_string();
    let mut request = hyper::Request::get(uri).header(header::HOST, &authority);
    // The cluster's one token: the exporter checks the API's.
    if let Some(token) = state.token() {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let response = http_client::send(&authority, request).await.map_err(|e| {
        HttpError::new(
            StatusCode::BAD_GATEWAY,
            format!("the exporter at {authority} failed: {e}"),
        )
    })?;
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        return Err(HttpError::new(
            StatusCode::BAD_GATEWAY,
            format!("the exporter at {authority} answered {}", parts.status),
        ));
    }
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::new(body))
        .expect("a valid response"))
}
