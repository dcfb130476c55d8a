//! `kind: Namespace`: domains and resource quotas of a namespace.

use serde::{Deserialize, Serialize};

use super::{ManifestMeta, is_default, scalar};

/// A `kind: Namespace` document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NamespaceManifest {
    /// Manifest format version, `v1`.
    pub version: String,
    /// Name, description and labels.
    pub meta: ManifestMeta,
    /// Domains and quotas.
    pub spec: NamespaceSpecManifest,
}

/// `spec` of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NamespaceSpecManifest {
    /// Domains the namespace's services are reachable under.
    #[serde(skip_serializing_if = "is_default")]
    pub domain: NamespaceDomainManifest,
    /// Quotas for everything in the namespace.
    #[serde(skip_serializing_if = "is_default")]
    pub resources: NamespaceResourcesManifest,
}

/// `spec.domain` of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NamespaceDomainManifest {
    /// Cluster-internal domain; `<namespace>.lb.local` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Hostname>))]
    pub internal: Option<String>,
    /// Public domain routes are published under.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Hostname>))]
    pub external: Option<String>,
}

/// `spec.resources` of a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NamespaceResourcesManifest {
    /// Guaranteed to the namespace.
    #[serde(skip_serializing_if = "is_default")]
    pub request: QuotaManifest,
    /// Never exceeded by the namespace.
    #[serde(skip_serializing_if = "is_default")]
    pub limits: QuotaManifest,
}

/// RAM, CPU and storage as written; validation parses them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct QuotaManifest {
    /// Memory, e.g. `"4gib"`.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::RamText>))]
    pub ram: Option<String>,
    /// CPU, e.g. `"2"` or `"1500m"`.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::CpuText>))]
    pub cpu: Option<String>,
    /// Volume storage, a size like RAM, e.g. `"10gib"`.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::RamText>))]
    pub storage: Option<String>,
}
