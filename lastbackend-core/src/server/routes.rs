//! The route table: each path with its handlers, thin over `Api`.

mod cluster;
mod logs;
mod members;
mod namespaces;
mod objects;

pub(crate) use cluster::NodeMeta;
pub(crate) use objects::ScaleBody;

use axum::Router;
use axum::routing::{get, put};
use serde::Deserialize;

use super::ApiState;
use crate::storage::Revision;

/// `?watch=true&revision=N` of the list routes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ListQuery {
    /// Stream changes instead of answering a list.
    pub(crate) watch: bool,
    /// Changes after this revision; from now on without it.
    pub(crate) revision: Option<Revision>,
}

/// `?revision=N&timeout=S` of the agents' manifest long-poll.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SpecQuery {
    /// The revision the agent has.
    pub(crate) revision: Option<Revision>,
    /// How long to wait for a newer one, in seconds (default 30, at most
    /// [`MAX_SPEC_TIMEOUT`]).
    pub(crate) timeout: Option<u64>,
}

/// The longest long-poll, in seconds: proxies and clients give up on
/// requests much older than this.
pub(crate) const MAX_SPEC_TIMEOUT: u64 = 300;

impl SpecQuery {
    pub(crate) fn wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout.unwrap_or(30).min(MAX_SPEC_TIMEOUT))
    }
}

/// Every API route (without `/events` and `/openapi.json`).
pub(crate) fn routes() -> Router<ApiState> {
    use objects::{configs, routes as routes_, secrets, services, volumes};

    Router::new()
        .route("/cluster", get(cluster::cluster))
        .route("/cluster/node", get(cluster::nodes))
        .route(
            "/cluster/node/{node}",
            get(cluster::node)
                .put(cluster::register)
                .delete(cluster::remove),
        )
        .route("/cluster/node/{node}/meta", put(cluster::meta))
        .route("/cluster/node/{node}/status", put(cluster::status))
        .route("/cluster/node/{node}/spec", get(cluster::spec))
        .merge(members::routes())
        .route("/namespace", get(namespaces::list).post(namespaces::create))
        .route(
            "/namespace/{ns}",
            get(namespaces::get)
                .put(namespaces::update)
                .delete(namespaces::remove),
        )
        .route("/namespace/{ns}/apply", put(namespaces::apply))
        .route(
            "/namespace/{ns}/service",
            get(services::list).post(services::create),
        )
        .route(
            "/namespace/{ns}/service/{name}",
            get(services::get)
                .put(services::update)
                .delete(services::remove),
        )
        .route("/namespace/{ns}/service/{name}/scale", put(objects::scale))
        .route(
            "/namespace/{ns}/service/{name}/deployment",
            get(objects::deployments),
        )
        .route(
            "/namespace/{ns}/service/{name}/deployment/{deployment}",
            get(objects::deployment),
        )
        .route(
            "/namespace/{ns}/service/{name}/deployment/{deployment}/pod",
            get(objects::deployment_pods),
        )
        .route("/namespace/{ns}/service/{name}/pod", get(objects::pods))
        .route(
            "/namespace/{ns}/service/{name}/logs",
            get(logs::service_logs),
        )
        .route(
            "/namespace/{ns}/secret",
            get(secrets::list).post(secrets::create),
        )
        .route(
            "/namespace/{ns}/secret/{name}",
            get(secrets::get)
                .put(secrets::update)
                .delete(secrets::remove),
        )
        .route(
            "/namespace/{ns}/config",
            get(configs::list).post(configs::create),
        )
        .route(
            "/namespace/{ns}/config/{name}",
            get(configs::get)
                .put(configs::update)
                .delete(configs::remove),
        )
        .route(
            "/namespace/{ns}/route",
            get(routes_::list).post(routes_::create),
        )
        .route(
            "/namespace/{ns}/route/{name}",
            get(routes_::get)
                .put(routes_::update)
                .delete(routes_::remove),
        )
        .route(
            "/namespace/{ns}/volume",
            get(volumes::list).post(volumes::create),
        )
        .route(
            "/namespace/{ns}/volume/{name}",
            get(volumes::get)
                .put(volumes::update)
                .delete(volumes::remove),
        )
}
