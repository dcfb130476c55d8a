use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Meta;
use crate::units::{Cpu, Ram};

/// A machine running the node agent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Node {
    /// Identity (the hostname); labels select it.
    pub meta: Meta,
    /// What the machine is.
    pub info: NodeInfo,
    /// Scheduling settings.
    pub spec: NodeSpec,
    /// What the agent reports.
    pub status: NodeStatus,
}

/// Facts about a node's machine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NodeInfo {
    /// Its hostname.
    pub hostname: String,
    /// `x86_64`, `aarch64`, …
    pub architecture: String,
    /// `linux`, …
    pub os_type: String,
    /// The distribution and kernel.
    pub os_name: String,
    /// The address other nodes reach it on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::IpAddress>))]
    pub external_ip: Option<IpAddr>,
    /// Its address on the internal network.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::IpAddress>))]
    pub internal_ip: Option<IpAddr>,
    /// Its pod subnet's selflink, once allocated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
}

/// Scheduling settings of a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NodeSpec {
    /// No new pods.
    pub unschedulable: bool,
    /// Drained for maintenance: no new pods, and the controller moves its
    /// pods elsewhere (replacements first; each old pod goes once its
    /// deployment is ready without it).
    pub maintenance: bool,
}

/// A node's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NodeStatus {
    /// Its heartbeat lease is alive.
    pub online: bool,
    /// Its drivers.
    pub state: NodeDrivers,
    /// What it has.
    pub capacity: NodeResources,
    /// What its pods hold.
    pub allocated: NodeResources,
}

/// The runtime drivers a node uses, each with its own health.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NodeDrivers {
    /// Containers.
    pub cri: DriverState,
    /// Overlay network.
    pub cni: DriverState,
    /// Service proxy (`ipvs` or `nftables`).
    pub cpi: DriverState,
    /// Volumes.
    pub csi: DriverState,
}

/// A driver's name, version and health.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DriverState {
    /// The driver (`docker`, `vxlan`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Working.
    pub ready: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Amounts a node has or has handed out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NodeResources {
    /// Pods.
    pub pods: u32,
    /// Containers.
    pub containers: u32,
    /// Memory.
    pub ram: Ram,
    /// CPU.
    pub cpu: Cpu,
    /// Disk.
    pub storage: Ram,
}
