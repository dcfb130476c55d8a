use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Labels, Meta, Status, Template};
use crate::units::PortMapping;

/// A user's app: containers, replicas, ports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Service {
    /// Identity (`<namespace>:<name>`).
    pub meta: Meta,
    /// Desired state.
    pub spec: ServiceSpec,
    /// Observed state.
    pub status: ServiceStatus,
}

/// What a service should be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ServiceSpec {
    /// How many pods.
    pub replicas: u32,
    /// Lifecycle requests.
    pub state: SpecState,
    /// Ports exposed on the service's VIP.
    pub network: ServiceNetwork,
    /// How a new deployment replaces the old one.
    pub strategy: Strategy,
    /// Which nodes may run the pods.
    pub selector: Selector,
    /// What the pods run.
    pub template: Template,
    /// Bumped whenever the template or selector changes (or a redeploy is
    /// asked): the controller makes a new deployment for each generation.
    pub generation: u64,
}

/// Lifecycle requests on a spec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SpecState {
    /// Tear the object down.
    pub destroy: bool,
    /// Keep it but do not touch it.
    pub maintenance: bool,
}

/// A service's network: its VIP ports map to container ports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ServiceNetwork {
    /// A requested VIP (IPAM picks one otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::IpAddress>))]
    pub ip: Option<IpAddr>,
    /// `service port → container port` mappings; none: no endpoint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
}

/// Node selection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Selector {
    /// Only this node (hostname).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Only nodes carrying all these labels.
    #[serde(skip_serializing_if = "Labels::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub labels: Labels,
}

/// How a new deployment takes over from the old one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Strategy {
    /// Blue/green or rolling.
    #[serde(rename = "type")]
    pub kind: StrategyKind,
    /// Rolling: pods above `replicas` during the rollout.
    pub max_surge: Scale,
    /// Rolling: pods below `replicas` during the rollout.
    pub max_unavailable: Scale,
}

/// The rollout strategies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// The new deployment takes traffic once all its pods are ready; then
    /// the old one is destroyed.
    #[default]
    BlueGreen,
    /// Pods are replaced a few at a time.
    Rolling,
}

/// A pod count, absolute or a percentage of replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// So many pods.
    Count(u32),
    /// This percentage of replicas (0–100).
    Percent(u8),
}

impl Default for Scale {
    fn default() -> Self {
        Scale::Percent(25)
    }
}

impl Scale {
    /// The pod count for `replicas`; percentages round up, as Kubernetes'
    /// surge does.
    pub fn of(self, replicas: u32) -> u32 {
        match self {
            Scale::Count(n) => n,
            Scale::Percent(p) => (u64::from(replicas) * u64::from(p)).div_ceil(100) as u32,
        }
    }
}

/// A service's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ServiceStatus {
    /// Mirrors the deployment being rolled out, else the active one.
    #[serde(flatten)]
    pub status: Status,
    /// Its DNS name, `<service>.<namespace>.<zone>`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// Its VIP, once the endpoint has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::IpAddress>))]
    pub ip: Option<IpAddr>,
    /// The deployment serving traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
}
