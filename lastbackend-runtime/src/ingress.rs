//! The ingress: routes from outside the cluster to the pods of its
//! services, as a cluster member (feature `ingress`).
//!
//! Three layers, so a library user swaps the proxy and keeps the rest:
//! - [`plan`]: from an [`IngressManifest`] to typed routes (port, kind,
//!   host, path rules, servers) and the set that fits together on their
//!   ports, with the reason for each route that cannot be served. No IO,
//!   no proxy in mind.
//! - [`IngressDriver`]: what the member needs from a proxy: make it route
//!   a whole manifest and say how each route went, and stop. [`haproxy`]
//!   is the reference driver; another proxy is another implementation,
//!   handed over as `Arc<dyn IngressDriver>`.
//! - [`member::run`]: the member loop: long-polls its manifest over a
//!   [`ControlPlane`](lastbackend_core::api::ControlPlane), applies each
//!   new revision with the driver, and reports route states and readiness
//!   through core's [`Membership`](lastbackend_core::api::Membership)
//!   heartbeat.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//!
//! use lastbackend_core::api::ControlPlane;
//! use lastbackend_core::manifest::internal::IngressManifest;
//! use lastbackend_core::model::{State, Status};
//! use lastbackend_runtime::ingress::{self, IngressDriver, member, plan};
//!
//! /// Routes nothing, and says which routes it was given.
//! struct Log;
//!
//! #[async_trait::async_trait]
//! impl IngressDriver for Log {
//!     async fn apply(
//!         &self,
//!         manifest: &IngressManifest,
//!     ) -> Result<BTreeMap<String, Status>, ingress::Error> {
//!         let (routes, rejected) = plan::routes(manifest);
//!         let mut states: BTreeMap<_, _> = rejected
//!             .into_iter()
//!             .map(|(link, why)| (link, Status::with_message(State::Error, why)))
//!             .collect();
//!         for route in routes {
//!             println!("{} -> port {}", route.link, route.port);
//!             states.insert(route.link, Status::new(State::Ready));
//!         }
//!         Ok(states)
//!     }
//! }
//!
//! async fn serve(plane: Arc<dyn ControlPlane>) {
//!     member::run(plane, "edge", Arc::new(Log), std::future::pending()).await;
//! }
//! ```

pub mod haproxy;
pub mod member;
pub mod plan;

use std::collections::BTreeMap;

use async_trait::async_trait;
use lastbackend_core::manifest::internal::IngressManifest;
use lastbackend_core::model::Status;

/// A proxy the ingress member drives. Object-safe: the member takes it as
/// `Arc<dyn IngressDriver>` and never names a driver.
#[async_trait]
pub trait IngressDriver: Send + Sync {
    /// Makes the proxy route `manifest`, the whole desired set (not a
    /// change), and answers every route's status by selflink. A route the
    /// proxy cannot serve is an `error` status with the reason, so one bad
    /// route never takes the others down; `Err` is for a driver that could
    /// do nothing at all, and the member applies the manifest again.
    async fn apply(&self, manifest: &IngressManifest) -> Result<BTreeMap<String, Status>, Error>;

    /// Stops serving and cleans up; the member calls it once, when it
    /// stops. Nothing to do by default, for a driver that owns no process.
    async fn stop(&self) {}
}

/// Why a driver could not apply a manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HAProxy driver failed.
    #[error(transparent)]
    Haproxy(#[from] haproxy::Error),
    /// Another driver failed.
    #[error("ingress driver {driver}: {source}")]
    Driver {
        /// The driver.
        driver: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// A failure of `driver`, for drivers other than HAProxy.
    pub fn driver(
        driver: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Driver {
            driver: driver.into(),
            source: source.into(),
        }
    }
}
