use serde::{Deserialize, Serialize};

use super::{Meta, Selector, SpecState, Status};
use crate::units::Ram;

/// Persistent storage placed on one node; pods that mount it follow it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Volume {
    /// Identity (`<namespace>:<name>`).
    pub meta: Meta,
    /// Desired state.
    pub spec: VolumeSpec,
    /// What the node reports.
    pub status: VolumeStatus,
}

/// What a volume should be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VolumeSpec {
    /// The driver; `dir` (a host directory) is the one there is.
    #[serde(rename = "type")]
    pub kind: VolumeType,
    /// Which nodes may hold it.
    pub selector: Selector,
    /// Its size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Ram>,
    /// Who may mount it at once.
    pub access_mode: AccessMode,
    /// Lifecycle requests.
    pub state: SpecState,
    /// The node it is placed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Volume drivers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    /// A directory under the node's container storage root.
    #[default]
    Dir,
}

/// Volume sharing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    /// One pod at a time.
    #[default]
    Rwo,
    /// Many pods (on its node).
    Rwx,
}

/// A volume's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VolumeStatus {
    /// Lifecycle.
    #[serde(flatten)]
    pub status: Status,
    /// Its path on the node.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Usable.
    pub ready: bool,
}
