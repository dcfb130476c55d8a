use serde::{Deserialize, Serialize};

use super::{Meta, NodeResources};

/// The cluster summary, as `lb cluster inspect` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Cluster {
    /// Identity (the cluster's name).
    pub meta: Meta,
    /// Counts and totals.
    pub status: ClusterStatus,
}

/// Members and resources of the cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ClusterStatus {
    /// Nodes.
    pub nodes: MemberCount,
    /// Ingress servers.
    pub ingress: MemberCount,
    /// Discovery servers.
    pub discovery: MemberCount,
    /// Summed node capacity.
    pub capacity: NodeResources,
    /// Summed allocations.
    pub allocated: NodeResources,
}

/// How many members, and how many are online.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MemberCount {
    /// All of them.
    pub total: u32,
    /// Online.
    pub online: u32,
    /// Offline.
    pub offline: u32,
}
