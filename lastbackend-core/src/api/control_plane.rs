//! [`ControlPlane`]: what the host-side members (node agents, ingress,
//! discovery, exporter) ask of the API, as one object-safe trait. [`Api`]
//! implements it in process (`lastbackend up`); `lastbackend-client`
//! implements it over HTTP. A member is written once against
//! `Arc<dyn ControlPlane>` and runs either way.

use std::time::Duration;

use async_trait::async_trait;

use super::types::{Ack, MemberReport, NodeRegistration, NodeStatusReport};
use super::{Api, ApiError};
use crate::manifest::internal::{DiscoveryManifest, IngressManifest, NodeManifest};
use crate::model::{Kind, Node};
use crate::storage::Revision;

/// Why a control-plane call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlPlaneError {
    /// The API refused the call (in process).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The API answered with an error status (over HTTP).
    #[error("{code}: {message}")]
    Rejected {
        /// The HTTP status code.
        code: u16,
        /// The API's message.
        message: String,
    },
    /// The API could not be reached or answered nonsense; retry later.
    #[error("control plane unreachable: {0}")]
    Unreachable(String),
}

impl ControlPlaneError {
    /// The named member or object does not exist (it was removed; register
    /// again).
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::Api(e) => e.is_not_found(),
            Self::Rejected { code, .. } => *code == 404,
            Self::Unreachable(_) => false,
        }
    }

    /// Worth retrying as is: the API was unreachable or unavailable.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api(e) => e.is_unavailable(),
            Self::Rejected { code, .. } => *code >= 500,
            Self::Unreachable(_) => true,
        }
    }
}

/// Result of a control-plane call.
pub type ControlPlaneResult<T> = std::result::Result<T, ControlPlaneError>;

/// The API as the host-side members see it. Manifest calls long-poll: with
/// `after`, they answer when something newer than that revision concerns the
/// member, or with the same content when `wait` ends.
#[async_trait]
pub trait ControlPlane: Send + Sync {
    /// A node agent joins or rejoins.
    async fn register_node(
        &self,
        name: &str,
        registration: NodeRegistration,
    ) -> ControlPlaneResult<Node>;

    /// A node agent's whole observed state; renews its heartbeat.
    async fn node_status(&self, name: &str, report: NodeStatusReport) -> ControlPlaneResult<Ack>;

    /// Everything the node should run.
    async fn node_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<NodeManifest>;

    /// An ingress, discovery server or exporter joins or rejoins.
    async fn register_member(
        &self,
        kind: Kind,
        name: &str,
        report: MemberReport,
    ) -> ControlPlaneResult<()>;

    /// A member's presence, addresses and (ingress) route states; renews its
    /// heartbeat.
    async fn member_status(
        &self,
        kind: Kind,
        name: &str,
        report: MemberReport,
    ) -> ControlPlaneResult<Ack>;

    /// Everything an ingress should route.
    async fn ingress_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<IngressManifest>;

    /// What a discovery server needs besides the endpoints.
    async fn discovery_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<DiscoveryManifest>;
}

#[async_trait]
impl ControlPlane for Api {
    async fn register_node(
        &self,
        name: &str,
        registration: NodeRegistration,
    ) -> ControlPlaneResult<Node> {
        Ok(Api::register_node(self, name, registration).await?.0)
    }

    async fn node_status(&self, name: &str, report: NodeStatusReport) -> ControlPlaneResult<Ack> {
        Ok(Api::node_status(self, name, report).await?)
    }

    async fn node_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<NodeManifest> {
        Ok(Api::node_manifest(self, name, after, wait).await?)
    }

    async fn register_member(
        &self,
        kind: Kind,
        name: &str,
        report: MemberReport,
    ) -> ControlPlaneResult<()> {
        Api::register_member(self, kind, name, report).await?;
        Ok(())
    }

    async fn member_status(
        &self,
        kind: Kind,
        name: &str,
        report: MemberReport,
    ) -> ControlPlaneResult<Ack> {
        Ok(Api::member_status(self, kind, name, report).await?)
    }

    async fn ingress_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<IngressManifest> {
        Ok(Api::ingress_manifest(self, name, after, wait).await?)
    }

    async fn discovery_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<DiscoveryManifest> {
        Ok(Api::discovery_manifest(self, name, after, wait).await?)
    }
}
