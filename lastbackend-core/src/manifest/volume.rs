//! `kind: Volume`: node-local storage that service templates mount.

use serde::{Deserialize, Serialize};

use super::service::SelectorManifest;
use super::{ManifestMeta, is_default, scalar};

/// A `kind: Volume` document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeManifest {
    /// Manifest format version, `v1`.
    pub version: String,
    /// Name, description and labels.
    pub meta: ManifestMeta,
    /// Type, placement and size.
    pub spec: VolumeSpecManifest,
}

/// `spec` of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VolumeSpecManifest {
    /// Storage driver; `dir` (a host directory) when absent.
    #[serde(rename = "type")]
    pub kind: VolumeType,
    /// Which node holds the volume.
    #[serde(skip_serializing_if = "is_default")]
    pub selector: SelectorManifest,
    /// Size.
    #[serde(skip_serializing_if = "is_default")]
    pub capacity: VolumeCapacityManifest,
    /// Who may mount it at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<AccessMode>,
}

/// Storage driver of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    /// A directory on the node.
    #[default]
    Dir,
}

/// `spec.capacity` of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VolumeCapacityManifest {
    /// A size written like RAM, e.g. `"1gib"`.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::RamText>))]
    pub storage: Option<String>,
}

/// How many pods may mount a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    /// Read-write by pods of one node.
    Rwo,
    /// Read-write by many.
    Rwx,
}
