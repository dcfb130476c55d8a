//! The node agent: joins the cluster through a [`ControlPlane`], follows the
//! node's manifest, and makes the container runtime run exactly its pods,
//! level-triggered: every pass compares the wanted pods with the containers
//! that carry this node's label, whatever happened in between (an agent
//! restart, a killed container, a missed event).
//!
//! ```no_run
//! use std::sync::Arc;
//! use lastbackend_runtime::agent::{Agent, AgentSettings};
//! use lastbackend_runtime::fake::{FakeCii, FakeCri, FakeCsi};
//! # async fn run(api: Arc<dyn lastbackend_core::api::ControlPlane>) {
//! let agent = Agent::new(
//!     api,
//!     Arc::new(FakeCri::new()),
//!     Arc::new(FakeCii::new()),
//!     Arc::new(FakeCsi::new()),
//!     AgentSettings::new("node-1"),
//! );
//! agent.run(std::future::pending()).await;
//! # }
//! ```
//!
//! Pods are containers sharing the first one's network namespace, named
//! `lb-<namespace>-<service>-<pod>-<container>` and labelled with
//! [`LABEL_NODE`], [`LABEL_POD`], [`LABEL_CONTAINER`] and [`LABEL_HASH`]
//! (the hash of the pod's template and resolved environment: a different
//! hash means the pod changed and its containers are replaced).

mod logs;
mod network;
mod plan;
mod probe;
mod reconcile;
mod report;
mod run;
mod settings;
mod static_pods;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use lastbackend_core::api::ControlPlane;

pub use settings::AgentSettings;
pub use static_pods::{STATIC_PREFIX, StaticPodError};

use crate::{Cii, Cni, Cpi, Cri, Csi};

/// Label: the node that runs the container.
pub const LABEL_NODE: &str = "io.lastbackend.node";
/// Label: the selflink of the container's pod.
pub const LABEL_POD: &str = "io.lastbackend.pod";
/// Label: the container's name in its pod's template.
pub const LABEL_CONTAINER: &str = "io.lastbackend.container";
/// Label: the hash of the pod's spec the container was made from.
pub const LABEL_HASH: &str = "io.lastbackend.spec-hash";
/// Label: set on containers of static pods (from the manifest directory).
pub const LABEL_STATIC: &str = "io.lastbackend.static";

/// The drivers the agent drives.
#[derive(Clone)]
pub(crate) struct Drivers {
    pub(crate) cri: Arc<dyn Cri>,
    pub(crate) cii: Arc<dyn Cii>,
    pub(crate) csi: Arc<dyn Csi>,
    pub(crate) cni: Option<Arc<dyn Cni>>,
    pub(crate) cpi: Option<Arc<dyn Cpi>>,
}

/// A node agent, ready to [`run`](Agent::run).
pub struct Agent {
    control: Arc<dyn ControlPlane>,
    drivers: Drivers,
    settings: AgentSettings,
}

impl Agent {
    /// An agent joining through `control`, running pods on `cri` from images
    /// of `cii` with volumes of `csi`.
    pub fn new(
        control: Arc<dyn ControlPlane>,
        cri: Arc<dyn Cri>,
        cii: Arc<dyn Cii>,
        csi: Arc<dyn Csi>,
        settings: AgentSettings,
    ) -> Self {
        Self {
            control,
            drivers: Drivers {
                cri,
                cii,
                csi,
                cni: None,
                cpi: None,
            },
            settings,
        }
    }

    /// Joins the node to the overlay: the agent sets up its subnet, tunnels
    /// to the other nodes' and puts pods on a runtime network in its subnet.
    #[must_use]
    pub fn with_cni(mut self, cni: Arc<dyn Cni>) -> Self {
        self.drivers.cni = Some(cni);
        self
    }

    /// Programs the service proxy from each manifest's endpoints.
    #[must_use]
    pub fn with_cpi(mut self, cpi: Arc<dyn Cpi>) -> Self {
        self.drivers.cpi = Some(cpi);
        self
    }
}
