//! The objects inside a namespace: services (with their deployments, pods
//! and logs), secrets, configs, routes and volumes.

use crate::api::UpdateOptions;
use crate::manifest::{
    ConfigManifest, RouteManifest, SecretManifest, ServiceManifest, VolumeManifest,
};
use crate::model::{Config, Deployment, Kind, Pod, Route, Secret, SelfLink, Service, Volume};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{ListQuery, WATCH};
use crate::server::ApiState;
use crate::server::error::HttpResult;
use crate::server::extract::{IfMatch, JsonBody, ManifestBody, QueryParams};
use crate::server::watch::list_or_watch;

/// The watch prefix of the objects under the selflink `parent`: `demo:` for
/// the services of `demo`.
fn children(parent: &str) -> String {
    format!("{parent}:")
}

/// List, create, get and remove of one namespaced kind under
/// `/namespace/{ns}/$segment`; `$update` is the body of the update handler,
/// given `state`, `ns`, `name`, `manifest`, `expected` and the query.
macro_rules! namespaced {
    ($module:ident, $segment:literal, $ty:ty, $manifest:ty, $list:ident, $get:ident, $create:ident,
     $remove:ident,
     |$state:ident, $ns:ident, $name:ident, $m:ident, $expected:ident, $query:ident: $q:ty| $update:expr) => {
        pub(crate) mod $module {
            use super::*;

            #[utoipa::path(
                        get,
                        path = concat!("/namespace/{ns}/", $segment),
                        summary = concat!("List ", $segment, "s"),
                        description = WATCH,
                        params(ListQuery),
                        responses((
                            status = 200,
                            body = ref(concat!("#/components/schemas/", stringify!($ty), "List"))
                        ))
                    )]
            pub(crate) async fn list(
                State(state): State<ApiState>,
                Path(ns): Path<String>,
                QueryParams(query): QueryParams<ListQuery>,
            ) -> HttpResult<Response> {
                let prefix = children(&ns);
                list_or_watch::<$ty, _>(&state, query, prefix, async {
                    state.api().$list(&ns).await
                })
                .await
            }

            #[utoipa::path(
                        post,
                        path = concat!("/namespace/{ns}/", $segment),
                        summary = concat!("Create a ", $segment),
                        request_body = $manifest,
                        responses((status = 201, description = "Created", body = $ty))
                    )]
            pub(crate) async fn create(
                State(state): State<ApiState>,
                Path(ns): Path<String>,
                ManifestBody(manifest): ManifestBody<$manifest>,
            ) -> HttpResult<(StatusCode, Json<$ty>)> {
                let object = state.api().$create(&ns, manifest).await?;
                Ok((StatusCode::CREATED, Json(object)))
            }

            #[utoipa::path(
                        get,
                        path = concat!("/namespace/{ns}/", $segment, "/{name}"),
                        summary = concat!("Get a ", $segment),
                        responses((status = 200, body = $ty))
                    )]
            pub(crate) async fn get(
                State(state): State<ApiState>,
                Path((ns, name)): Path<(String, String)>,
            ) -> HttpResult<Json<$ty>> {
                Ok(Json(state.api().$get(&ns, &name).await?))
            }

            #[utoipa::path(
                        put,
                        path = concat!("/namespace/{ns}/", $segment, "/{name}"),
                        summary = concat!("Update a ", $segment),
                        params(IfMatch, $q),
                        request_body = $manifest,
                        responses((status = 200, body = $ty))
                    )]
            pub(crate) async fn update(
                State($state): State<ApiState>,
                Path(($ns, $name)): Path<(String, String)>,
                IfMatch($expected): IfMatch,
                QueryParams($query): QueryParams<$q>,
                ManifestBody($m): ManifestBody<$manifest>,
            ) -> HttpResult<Json<$ty>> {
                Ok(Json($update.await?))
            }

            #[utoipa::path(
                        delete,
                        path = concat!("/namespace/{ns}/", $segment, "/{name}"),
                        summary = concat!("Remove a ", $segment),
                        responses((status = 200, body = $ty))
                    )]
            pub(crate) async fn remove(
                State(state): State<ApiState>,
                Path((ns, name)): Path<(String, String)>,
            ) -> HttpResult<Json<$ty>> {
                Ok(Json(state.api().$remove(&ns, &name).await?))
            }
        }
    };
}

/// `?redeploy=true` of a service update.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub(crate) struct RedeployQuery {
    /// Roll out a new deployment even if the template is the same.
    redeploy: bool,
}

/// Update routes of kinds without query options.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub(crate) struct NoQuery {}

namespaced!(
    services,
    "service",
    Service,
    ServiceManifest,
    services,
    service,
    create_service,
    remove_service,
    |state, ns, name, manifest, expected, query: RedeployQuery| {
        let options = UpdateOptions {
            redeploy: query.redeploy,
            expected,
        };
        state.api().update_service(&ns, &name, manifest, options)
    }
);
namespaced!(
    secrets,
    "secret",
    Secret,
    SecretManifest,
    secrets,
    secret,
    create_secret,
    remove_secret,
    |state, ns, name, manifest, expected, _query: NoQuery| {
        state.api().update_secret(&ns, &name, manifest, expected)
    }
);
namespaced!(
    configs,
    "config",
    Config,
    ConfigManifest,
    configs,
    config,
    create_config,
    remove_config,
    |state, ns, name, manifest, expected, _query: NoQuery| {
        state.api().update_config(&ns, &name, manifest, expected)
    }
);
namespaced!(
    routes,
    "route",
    Route,
    RouteManifest,
    routes,
    route,
    create_route,
    remove_route,
    |state, ns, name, manifest, expected, _query: NoQuery| {
        state.api().update_route(&ns, &name, manifest, expected)
    }
);
namespaced!(
    volumes,
    "volume",
    Volume,
    VolumeManifest,
    volumes,
    volume,
    create_volume,
    remove_volume,
    |state, ns, name, manifest, expected, _query: NoQuery| {
        state.api().update_volume(&ns, &name, manifest, expected)
    }
);

/// `PUT /namespace/{ns}/service/{name}/scale`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScaleBody {
    #[schema(maximum = 10_000)]
    replicas: u32,
}

/// Scale a service
#[utoipa::path(
    put,
    path = "/namespace/{ns}/service/{name}/scale",
    request_body = ScaleBody,
    responses((status = 200, body = Service))
)]
pub(crate) async fn scale(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> HttpResult<Json<Service>> {
    let service = state.api().scale_service(&ns, &name, body.replicas).await?;
    Ok(Json(service))
}

/// List a service's deployments
#[utoipa::path(
    get,
    path = "/namespace/{ns}/service/{name}/deployment",
    description = WATCH,
    params(ListQuery),
    responses((status = 200, body = ref("#/components/schemas/DeploymentList")))
)]
pub(crate) async fn deployments(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    QueryParams(query): QueryParams<ListQuery>,
) -> HttpResult<Response> {
    let service = SelfLink::namespaced(Kind::Service, &ns, &name).to_string();
    let prefix = children(&service);
    list_or_watch::<Deployment, _>(&state, query, prefix, async {
        state.api().deployments(&ns, &name).await
    })
    .await
}

/// Get a deployment
#[utoipa::path(
    get,
    path = "/namespace/{ns}/service/{name}/deployment/{deployment}",
    responses((status = 200, body = Deployment))
)]
pub(crate) async fn deployment(
    State(state): State<ApiState>,
    Path((ns, name, deployment)): Path<(String, String, String)>,
) -> HttpResult<Json<Deployment>> {
    Ok(Json(state.api().deployment(&ns, &name, &deployment).await?))
}

/// List a service's pods
#[utoipa::path(
    get,
    path = "/namespace/{ns}/service/{name}/pod",
    description = WATCH,
    params(ListQuery),
    responses((status = 200, body = ref("#/components/schemas/PodList")))
)]
pub(crate) async fn pods(
    State(state): State<ApiState>,
    Path((ns, name)): Path<(String, String)>,
    QueryParams(query): QueryParams<ListQuery>,
) -> HttpResult<Response> {
    let service = SelfLink::namespaced(Kind::Service, &ns, &name).to_string();
    let prefix = children(&service);
    list_or_watch::<Pod, _>(&state, query, prefix, async {
        state.api().pods(&ns, &name, None).await
    })
    .await
}

/// List a deployment's pods
#[utoipa::path(
    get,
    path = "/namespace/{ns}/service/{name}/deployment/{deployment}/pod",
    description = WATCH,
    params(ListQuery),
    responses((status = 200, body = ref("#/components/schemas/PodList")))
)]
pub(crate) async fn deployment_pods(
    State(state): State<ApiState>,
    Path((ns, name, deployment)): Path<(String, String, String)>,
    QueryParams(query): QueryParams<ListQuery>,
) -> HttpResult<Response> {
    // A pod's selflink names its deployment with the original's `d_` mark.
    let prefix = children(&format!("{ns}:{name}:d_{deployment}"));
    list_or_watch::<Pod, _>(&state, query, prefix, async {
        state.api().pods(&ns, &name, Some(&deployment)).await
    })
    .await
}
