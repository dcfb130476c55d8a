use serde::{Deserialize, Serialize};

use super::{Meta, Resources, Status};

/// A virtual cluster: a name scope with quotas.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Namespace {
    /// Identity.
    pub meta: Meta,
    /// Desired settings.
    pub spec: NamespaceSpec,
    /// Observed usage.
    pub status: NamespaceStatus,
}

/// A namespace's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NamespaceSpec {
    /// Domains of the namespace's services and routes.
    pub domain: NamespaceDomain,
    /// Quotas.
    pub resources: NamespaceResources,
}

/// The domains a namespace's names live under.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NamespaceDomain {
    /// Internal zone (default: the cluster's, `lb.local`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub internal: String,
    /// External zone for routes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub external: String,
}

/// A namespace's quotas: the limits cap the sum of its containers' limits
/// times replicas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NamespaceResources {
    /// Reserved for the namespace.
    #[serde(skip_serializing_if = "Resources::is_empty")]
    pub request: Resources,
    /// Hard caps.
    #[serde(skip_serializing_if = "Resources::is_empty")]
    pub limits: Resources,
}

/// A namespace's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NamespaceStatus {
    /// Lifecycle.
    #[serde(flatten)]
    pub status: Status,
    /// What its services hold against the quota.
    pub allocated: Resources,
}

impl Namespace {
    /// The namespace's internal domain: `<name>.<zone>`.
    pub fn endpoint(&self, zone: &str) -> String {
        let zone = if self.spec.domain.internal.is_empty() {
            zone
        } else {
            &self.spec.domain.internal
        };
        format!("{}.{zone}", self.meta.name)
    }
}
