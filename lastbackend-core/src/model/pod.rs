use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Meta, Selector, SpecState, State, Status, Template};

/// One placed replica: a group of containers sharing a network namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Pod {
    /// Identity (`<namespace>:<service>:d_<deployment>:<name>`; names are
    /// 7 random hex characters).
    pub meta: Meta,
    /// Desired state.
    pub spec: PodSpec,
    /// What the node agent reports.
    pub status: PodStatus,
}

/// What a pod runs and where.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PodSpec {
    /// Lifecycle requests; `destroy` tells the agent to remove it.
    pub state: SpecState,
    /// The node it is placed on (set by the scheduler).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Which nodes may run it.
    pub selector: Selector,
    /// What it runs.
    pub template: Template,
}

/// A pod's observed state, as its node reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PodStatus {
    /// Lifecycle.
    #[serde(flatten)]
    pub status: Status,
    /// All containers are running.
    pub running: bool,
    /// All containers are running and pass their readiness probes.
    pub ready: bool,
    /// Its addresses.
    pub network: PodNetwork,
    /// Containers by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub containers: BTreeMap<String, ContainerStatus>,
}

/// Where a pod can be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct PodNetwork {
    /// The node's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::IpAddress>))]
    pub host_ip: Option<IpAddr>,
    /// The pod's overlay address.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::IpAddress>))]
    pub pod_ip: Option<IpAddr>,
}

/// One container's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ContainerStatus {
    /// The runtime's container id.
    pub id: String,
    /// The image it runs.
    pub image: String,
    /// `provision` (being created), `ready` (running), `error`, `destroyed`
    /// (exited).
    pub state: State,
    /// Why, on failure.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The last exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// How many times it was restarted.
    pub restarts: u32,
    /// Passes its readiness probe.
    pub ready: bool,
    /// When it last started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<DateTime<Utc>>,
}
