//! The API's operations over a [`Store`], free of HTTP, and the wire types
//! the server, the client SDK and the agents share.
//!
//! [`Api`] is what the HTTP server calls for every route (see
//! `api-contract.md`): CRUD over namespaces and the objects in them, the
//! transactional [`Api::apply`], watches, and the agents' side (node,
//! ingress, discovery and exporter registration, status pushes and their
//! long-polled manifests). Its only state besides the store is a cache
//! the store feeds (the agents' view, see `view.rs`), so any number of API
//! servers can serve one cluster.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use lastbackend_core::api::{Api, Settings};
//! use lastbackend_core::manifest::{self, Manifest};
//! use lastbackend_core::storage::MemoryStorage;
//! use lastbackend_core::store::Store;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let api = Api::new(Store::new(Arc::new(MemoryStorage::new())), Settings::default());
//! let Manifest::Namespace(ns) = manifest::parse("kind: Namespace\nversion: v1\nmeta: {name: demo}\n")?.remove(0) else {
//!     unreachable!()
//! };
//! api.create_namespace(ns).await?;
//! let text = "kind: Service\nversion: v1\nmeta: {name: web}\nspec:\n  template:\n    containers: [{name: web, image: {name: nginx}}]\n";
//! let report = api.apply("demo", manifest::parse(text)?, Default::default()).await?;
//! assert_eq!(report.items[0].name, "web");
//! # Ok(())
//! # }
//! ```

mod agents;
mod apply;
mod control_plane;
mod convert;
mod error;
mod membership;
mod namespace;
mod objects;
mod quota;
mod service;
mod status;
#[cfg(test)]
mod tests;
pub mod types;
mod view;
mod watch;

use std::time::Duration;

pub use agents::{Member, lease_key};
pub use control_plane::{ControlPlane, ControlPlaneError, ControlPlaneResult};
pub use convert::{
    config_spec, namespace_spec, route_spec, secret_spec, service_spec, volume_spec,
};
pub use error::{ApiError, Result, reason_phrase};
pub use membership::{DEFAULT_REPORT_EVERY, Membership, MembershipTask};

use crate::model::{Kind, Namespace, Object, SelfLink};
use crate::storage::Revision;
use crate::store::Store;

/// How many times an operation re-reads and retries after losing a
/// compare-and-swap to a concurrent writer before answering 409.
const CAS_ATTEMPTS: usize = 5;

/// Cluster-wide settings the operations need.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// The cluster's name, shown by `GET /cluster`.
    pub cluster_name: String,
    /// Its description.
    pub cluster_description: String,
    /// The zone of service names: `<service>.<namespace>.<zone>`.
    pub internal_domain: String,
    /// The zone routes without an endpoint are published under (the
    /// internal one when empty).
    pub external_domain: String,
    /// How long a node or member stays online without a status push.
    pub node_ttl: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cluster_name: "lastbackend".to_owned(),
            cluster_description: String::new(),
            internal_domain: "lb.local".to_owned(),
            external_domain: String::new(),
            node_ttl: Duration::from_secs(15),
        }
    }
}

/// Options of a service update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateOptions {
    /// Roll out a new deployment even if the template is the same.
    pub redeploy: bool,
    /// Fail with 409 unless the object is still at this revision
    /// (`If-Match`).
    pub expected: Option<Revision>,
}

/// Options of [`Api::apply`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Report what would happen, write nothing.
    pub dry_run: bool,
    /// Roll out a new deployment of every service applied, changed or not.
    pub redeploy: bool,
}

/// The API's operations over a store. Cheap to clone; keeps the store, the
/// settings and, once an agent asks for its manifest, one view of the store
/// shared by every clone (stopped when the last clone is dropped).
#[derive(Clone, Debug)]
pub struct Api {
    store: Store,
    settings: std::sync::Arc<Settings>,
    views: std::sync::Arc<view::Views>,
}

impl Api {
    /// Operations over `store`.
    pub fn new(store: Store, settings: Settings) -> Self {
        Self {
            store,
            settings: std::sync::Arc::new(settings),
            views: std::sync::Arc::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Reads an object or answers `NotFound` for its kind.
    async fn get_or_404<T: Object>(&self, link: &SelfLink) -> Result<T> {
        self.store
            .find(link)
            .await?
            .ok_or_else(|| ApiError::not_found(T::KIND, link.name()))
    }

    /// Reads a namespace objects are created in: 404 if missing, 403 if it
    /// is being destroyed.
    async fn live_namespace(&self, ns: &str) -> Result<Namespace> {
        let namespace: Namespace = self.get_or_404(&SelfLink::namespace(ns)).await?;
        if namespace.status.status.state.is_terminating() {
            return Err(ApiError::Forbidden(format!(
                "namespace {ns} is being destroyed"
            )));
        }
        Ok(namespace)
    }

    /// Read, change, compare-and-swap, retried when another writer wins
    /// unless the caller pinned a revision. `change` returns whether it
    /// changed anything; an unchanged object is not written.
    async fn modify<T: Object>(
        &self,
        link: &SelfLink,
        expected: Option<Revision>,
        mut change: impl FnMut(&mut T) -> Result<bool>,
    ) -> Result<T> {
        for _ in 0..CAS_ATTEMPTS {
            let mut obj: T = self.get_or_404(link).await?;
            check_expected(&obj, expected)?;
            if !change(&mut obj)? {
                return Ok(obj);
            }
            obj.meta_mut().updated = chrono::Utc::now();
            match self.store.update(&obj).await {
                Ok(obj) => return Ok(obj),
                Err(e) if e.is_conflict() && expected.is_none() => continue,
                Err(e) if e.is_not_found() => {
                    return Err(ApiError::not_found(T::KIND, link.name()));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_busy(T::KIND, &link.name()))
    }
}

/// 409 unless `obj` is at `expected`.
fn check_expected<T: Object>(obj: &T, expected: Option<Revision>) -> Result<()> {
    match expected {
        Some(rev) if rev != obj.meta().revision => Err(ApiError::Conflict(format!(
            "{} {} changed since revision {rev} (now at {}); read it again",
            T::KIND,
            obj.meta().name,
            obj.meta().revision
        ))),
        _ => Ok(()),
    }
}

/// 409 after losing every compare-and-swap attempt.
fn too_busy(kind: Kind, name: &str) -> ApiError {
    ApiError::Conflict(format!(
        "{kind} {name} is being changed by others; try again"
    ))
}
