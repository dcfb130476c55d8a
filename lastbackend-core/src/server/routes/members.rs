//! Cluster members other than nodes: `/ingress`, `/discovery`, `/exporter`.

use crate::api::Member;
use crate::api::types::{Ack, MemberReport};
use crate::model::{Discovery, Exporter, Ingress, Object};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};

use super::{ListQuery, SpecQuery};
use crate::server::ApiState;
use crate::server::error::HttpResult;
use crate::server::extract::{JsonBody, QueryParams};
use crate::server::watch::list_or_watch;

/// The member as its own object, as the typed routes answer it.
fn json(member: Member) -> Response {
    match member {
        Member::Ingress(ingress) => Json(ingress).into_response(),
        Member::Discovery(discovery) => Json(discovery).into_response(),
        Member::Exporter(exporter) => Json(exporter).into_response(),
    }
}

/// Handlers for one member kind; `$spec` adds the manifest long-poll.
macro_rules! member {
    ($module:ident, $ty:ty, $list:ident, $get:ident $(, $spec:ident)?) => {
        pub(crate) mod $module {
            use super::*;

            pub(crate) async fn list(
                State(state): State<ApiState>,
                QueryParams(query): QueryParams<ListQuery>,
            ) -> HttpResult<Response> {
                list_or_watch::<$ty, _>(&state, query, String::new(), async {
                    state.api().$list().await
                })
                .await
            }

            pub(crate) async fn get(
                State(state): State<ApiState>,
                Path(name): Path<String>,
            ) -> HttpResult<Json<$ty>> {
                Ok(Json(state.api().$get(&name).await?))
            }

            pub(crate) async fn remove(
                State(state): State<ApiState>,
                Path(name): Path<String>,
            ) -> HttpResult<Response> {
                let kind = <$ty as Object>::KIND;
                Ok(json(state.api().remove_member(kind, &name).await?))
            }

            pub(crate) async fn register(
                State(state): State<ApiState>,
                Path(name): Path<String>,
                JsonBody(report): JsonBody<MemberReport>,
            ) -> HttpResult<Response> {
                let kind = <$ty as Object>::KIND;
                let (member, created) = state.api().register_member(kind, &name, report).await?;
                let status = if created { StatusCode::CREATED } else { StatusCode::OK };
                Ok((status, json(member)).into_response())
            }

            pub(crate) async fn status(
                State(state): State<ApiState>,
                Path(name): Path<String>,
                JsonBody(report): JsonBody<MemberReport>,
            ) -> HttpResult<Json<Ack>> {
                let kind = <$ty as Object>::KIND;
                Ok(Json(state.api().member_status(kind, &name, report).await?))
            }

            $(
                pub(crate) async fn spec(
                    State(state): State<ApiState>,
                    Path(name): Path<String>,
                    QueryParams(query): QueryParams<SpecQuery>,
                ) -> HttpResult<Response> {
                    let manifest = state
                        .api()
                        .$spec(&name, query.revision, query.wait())
                        .await?;
                    Ok(Json(manifest).into_response())
                }
            )?
        }
    };
}

member!(ingress, Ingress, ingresses, ingress, ingress_manifest);
member!(
    discovery,
    Discovery,
    discoveries,
    discovery,
    discovery_manifest
);
member!(exporter, Exporter, exporters, exporter);

/// The member routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/ingress", get(ingress::list))
        .route(
            "/ingress/{name}",
            get(ingress::get)
                .put(ingress::register)
                .delete(ingress::remove),
        )
        .route("/ingress/{name}/status", put(ingress::status))
        .route("/ingress/{name}/spec", get(ingress::spec))
        .route("/discovery", get(discovery::list))
        .route(
            "/discovery/{name}",
            get(discovery::get)
                .put(discovery::register)
                .delete(discovery::remove),
        )
        .route("/discovery/{name}/status", put(discovery::status))
        .route("/discovery/{name}/spec", get(discovery::spec))
        .route("/exporter", get(exporter::list))
        .route(
            "/exporter/{name}",
            get(exporter::get)
                .put(exporter::register)
                .delete(exporter::remove),
        )
        .route("/exporter/{name}/status", put(exporter::status))
}
