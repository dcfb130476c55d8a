//! Cluster members other than nodes: `/ingress`, `/discovery`, `/exporter`.

use crate::api::Member;
use crate::api::types::{Ack, MemberReport};
use crate::manifest::internal::{DiscoveryManifest, IngressManifest};
use crate::model::{Discovery, Exporter, Ingress, Object};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ListQuery, SpecQuery, WATCH};
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

/// Handlers for one member kind under `/$module`; `$spec` adds the
/// manifest long-poll answering `$manifest`.
macro_rules! member {
    ($module:ident, $ty:ty, $list:ident, $get:ident $(, $spec:ident -> $manifest:ty)?) => {
        pub(crate) mod $module {
            use super::*;

            #[utoipa::path(
                get,
                path = concat!("/", stringify!($module)),
                summary = concat!("List ", stringify!($module), " servers"),
                description = WATCH,
                params(ListQuery),
                responses((
                    status = 200,
                    body = ref(concat!("#/components/schemas/", stringify!($ty), "List"))
                ))
            )]
            pub(crate) async fn list(
                State(state): State<ApiState>,
                QueryParams(query): QueryParams<ListQuery>,
            ) -> HttpResult<Response> {
                list_or_watch::<$ty, _>(&state, query, String::new(), async {
                    state.api().$list().await
                })
                .await
            }

            #[utoipa::path(
                get,
                path = concat!("/", stringify!($module), "/{name}"),
                summary = concat!("Get a ", stringify!($module), " server"),
                responses((status = 200, body = $ty))
            )]
            pub(crate) async fn get(
                State(state): State<ApiState>,
                Path(name): Path<String>,
            ) -> HttpResult<Json<$ty>> {
                Ok(Json(state.api().$get(&name).await?))
            }

            #[utoipa::path(
                delete,
                path = concat!("/", stringify!($module), "/{name}"),
                summary = concat!("Remove a ", stringify!($module), " server"),
                responses((status = 200, body = $ty))
            )]
            pub(crate) async fn remove(
                State(state): State<ApiState>,
                Path(name): Path<String>,
            ) -> HttpResult<Response> {
                let kind = <$ty as Object>::KIND;
                Ok(json(state.api().remove_member(kind, &name).await?))
            }

            #[utoipa::path(
                put,
                path = concat!("/", stringify!($module), "/{name}"),
                summary = concat!("Register a ", stringify!($module), " server (201 when new)"),
                request_body = MemberReport,
                responses(
                    (status = 200, description = "Registered again", body = $ty),
                    (status = 201, description = "Registered", body = $ty),
                )
            )]
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

            #[utoipa::path(
                put,
                path = concat!("/", stringify!($module), "/{name}/status"),
                summary = concat!("Report a ", stringify!($module), " server's status"),
                request_body = MemberReport,
                responses((status = 200, body = Ack))
            )]
            pub(crate) async fn status(
                State(state): State<ApiState>,
                Path(name): Path<String>,
                JsonBody(report): JsonBody<MemberReport>,
            ) -> HttpResult<Json<Ack>> {
                let kind = <$ty as Object>::KIND;
                Ok(Json(state.api().member_status(kind, &name, report).await?))
            }

            $(
                #[utoipa::path(
                    get,
                    path = concat!("/", stringify!($module), "/{name}/spec"),
                    summary = concat!("A ", stringify!($module), " server's desired state, long-polled"),
                    params(SpecQuery),
                    responses((status = 200, body = $manifest))
                )]
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

member!(
    ingress,
    Ingress,
    ingresses,
    ingress,
    ingress_manifest -> IngressManifest
);
member!(
    discovery,
    Discovery,
    discoveries,
    discovery,
    discovery_manifest -> DiscoveryManifest
);
member!(exporter, Exporter, exporters, exporter);

/// The member routes.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(ingress::list))
        .routes(routes!(ingress::get, ingress::register, ingress::remove))
        .routes(routes!(ingress::status))
        .routes(routes!(ingress::spec))
        .routes(routes!(discovery::list))
        .routes(routes!(
            discovery::get,
            discovery::register,
            discovery::remove
        ))
        .routes(routes!(discovery::status))
        .routes(routes!(discovery::spec))
        .routes(routes!(exporter::list))
        .routes(routes!(exporter::get, exporter::register, exporter::remove))
        .routes(routes!(exporter::status))
}
