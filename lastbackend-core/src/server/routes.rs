//! The route table: each path with its handlers, thin over `Api`. Each
//! handler carries its `#[utoipa::path]`, and [`routes`] mounts it by that
//! path, so the OpenAPI document and the router are one list.

mod cluster;
mod logs;
mod members;
mod namespaces;
mod objects;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use crate::storage::Revision;

/// What a list route says of `?watch=true`, which the document leaves out
/// of its parameters: the answer is then an endless stream, not the list.
pub(crate) const WATCH: &str = "With `?watch=true` the answer is a stream of `WatchEvent` lines \
     (`application/x-ndjson`) of the changes after `revision`; a compacted revision ends it \
     with an error line of code 410.";

/// `?watch=true&revision=N` of the list routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Stream changes instead of answering a list.
    #[param(ignore)]
    pub(crate) watch: bool,
    /// With `watch=true`: stream changes after this revision (from now on
    /// without it).
    #[param(value_type = Option<u64>)]
    pub(crate) revision: Option<Revision>,
}

/// `?revision=N&timeout=S` of the agents' manifest long-poll.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub(crate) struct SpecQuery {
    /// The revision the agent has; answers at once when the state is newer.
    #[param(value_type = Option<u64>)]
    pub(crate) revision: Option<Revision>,
    /// Seconds to wait for a newer state (default 30, at most 300:
    /// [`MAX_SPEC_TIMEOUT`]).
    #[param(maximum = 300)]
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

/// Every API route (without `/events` and `/openapi.json`), each with its
/// operation in the document.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    use objects::{configs, routes as routes_, secrets, services, volumes};

    OpenApiRouter::new()
        .routes(routes!(cluster::cluster))
        .routes(routes!(cluster::nodes))
        .routes(routes!(cluster::node, cluster::register, cluster::remove))
        .routes(routes!(cluster::meta))
        .routes(routes!(cluster::status))
        .routes(routes!(cluster::spec))
        .merge(members::routes())
        .routes(routes!(namespaces::list, namespaces::create))
        .routes(routes!(
            namespaces::get,
            namespaces::update,
            namespaces::remove
        ))
        .routes(routes!(namespaces::apply))
        .routes(routes!(services::list, services::create))
        .routes(routes!(services::get, services::update, services::remove))
        .routes(routes!(objects::scale))
        .routes(routes!(objects::deployments))
        .routes(routes!(objects::deployment))
        .routes(routes!(objects::deployment_pods))
        .routes(routes!(objects::pods))
        .routes(routes!(logs::service_logs))
        .routes(routes!(secrets::list, secrets::create))
        .routes(routes!(secrets::get, secrets::update, secrets::remove))
        .routes(routes!(configs::list, configs::create))
        .routes(routes!(configs::get, configs::update, configs::remove))
        .routes(routes!(routes_::list, routes_::create))
        .routes(routes!(routes_::get, routes_::update, routes_::remove))
        .routes(routes!(volumes::list, volumes::create))
        .routes(routes!(volumes::get, volumes::update, volumes::remove))
}
