use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Meta, Selector, SpecState, Status, Strategy, Template};

/// One generation of a service's template, owned by the controller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Deployment {
    /// Identity (`<namespace>:<service>:<name>`, names `v1`, `v2`, …).
    pub meta: Meta,
    /// Desired state.
    pub spec: DeploymentSpec,
    /// Observed state.
    pub status: DeploymentStatus,
}

/// What a deployment runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DeploymentSpec {
    /// How many pods.
    pub replicas: u32,
    /// Lifecycle requests.
    pub state: SpecState,
    /// Which nodes may run the pods.
    pub selector: Selector,
    /// What the pods run.
    pub template: Template,
    /// How it takes over from the previous deployment.
    pub strategy: Strategy,
    /// The service generation it was made for.
    pub generation: u64,
    /// Its ordinal among the service's deployments (`v<version>`).
    pub version: u64,
}

/// A deployment's observed state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DeploymentStatus {
    /// Derived from its pods, or `waiting` on dependencies.
    #[serde(flatten)]
    pub status: Status,
    /// Pods ready now.
    pub ready: u32,
    /// What it needs before pods can start.
    pub dependencies: Dependencies,
}

/// The secrets, configs and volumes a deployment needs, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Dependencies {
    /// Volumes by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, DependencyState>,
    /// Secrets by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, DependencyState>,
    /// Configs by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, DependencyState>,
}

/// Whether a dependency is there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DependencyState {
    /// Present (and ready, for a volume).
    Ready,
    /// Missing or not ready yet.
    #[default]
    Waiting,
}
