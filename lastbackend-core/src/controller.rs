//! The controller: a reusable reconcile framework ([`runtime`]: work queue,
//! watch-fed caches, the [`runtime::Controller`] runner), single-leader
//! election over a storage lease with fenced writes ([`leader`]), and the
//! platform's reconcilers composed by the [`manager::ControllerManager`]:
//! [`service`] (deployments per generation, rollout, endpoint and VIP,
//! status), [`deployment`] (pods, placement, victims, dependencies, status),
//! the rolling update's arithmetic ([`rollout`]), and the cluster's own:
//! [`namespace`] (removal of a namespace and everything in it), [`node`]
//! (node, ingress, discovery and exporter presence from heartbeat keys),
//! [`subnet`] (each node's pod subnet from the cluster CIDR),
//! [`volume`] (placement on a node, removal) and [`route`] (assignment to an
//! ingress). [`hollow`] simulates node agents, so a whole cluster runs in
//! one process for tests and benchmarks.
//!
//! The reference controller is the manager run while leading:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use lastbackend_core::controller::leader::{self, LeaderConfig};
//! use lastbackend_core::controller::manager::{ControllerManager, Settings};
//! use lastbackend_core::storage::MemoryStorage;
//! use lastbackend_core::store::Store;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::new(Arc::new(MemoryStorage::new()));
//! let leadership = leader::campaign(store.storage().clone(), LeaderConfig::new("host-1"));
//! let manager = ControllerManager::new(store, Settings::default().internal_domain("lb.local"));
//! manager.run(leadership, std::future::pending::<()>()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Below the manager, the framework alone:
//!
//! A controller process campaigns, and runs its reconcilers only while it
//! leads, committing their writes behind the leadership fence:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use lastbackend_core::controller::leader::{self, LeaderConfig};
//! use lastbackend_core::controller::runtime::{Action, Controller, Reconciler};
//! use lastbackend_core::model::Service;
//! use lastbackend_core::storage::{BoxError, MemoryStorage};
//! use lastbackend_core::store::Store;
//!
//! struct Services;
//!
//! #[async_trait::async_trait]
//! impl Reconciler for Services {
//!     async fn reconcile(&self, key: &str) -> Result<Action, BoxError> {
//!         println!("reconcile {key}");
//!         Ok(Action::Done)
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::new(Arc::new(MemoryStorage::new()));
//! let mut leadership = leader::campaign(store.storage().clone(), LeaderConfig::new("host-1"));
//! loop {
//!     leadership.wait_until_leader().await;
//!     let mut controller = Controller::new(store.clone());
//!     let _services = controller.watch::<Service>("", |s| vec![s.meta.self_link.clone()]);
//!     let mut lost = leadership.clone();
//!     controller
//!         .run(Arc::new(Services), 2, async move { lost.wait_until_follower().await })
//!         .await?;
//! }
//! # }
//! ```

pub mod deployment;
#[cfg(test)]
mod fixtures;
pub mod hollow;
pub mod leader;
pub mod manager;
pub mod namespace;
pub mod node;
pub mod rollout;
pub mod route;
pub mod runtime;
pub mod service;
pub mod subnet;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
pub mod volume;
