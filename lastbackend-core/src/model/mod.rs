//! The entity model: every kind of object the cluster stores, with its
//! `meta` (identity), `spec` (what the user or controller wants) and `status`
//! (what the agents observe), as in the original (see the crate README).
//!
//! Objects are stored as JSON under [`Object::key`]; [`Object`] ties a type to
//! its [`Kind`] and selflink.

mod agent;
mod cluster;
mod deployment;
mod endpoint;
mod kind;
mod meta;
mod namespace;
mod node;
mod pod;
mod route;
mod secret;
mod selflink;
mod service;
mod state;
mod subnet;
mod template;
mod volume;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use agent::{Discovery, DiscoveryStatus, Exporter, ExporterStatus, Ingress, Presence};
pub use cluster::{Cluster, ClusterStatus, MemberCount};
pub use deployment::{Dependencies, DependencyState, Deployment, DeploymentSpec, DeploymentStatus};
pub use endpoint::{Endpoint, EndpointSpec};
pub use kind::{Kind, UnknownKind};
pub use meta::{Labels, Meta};
pub use namespace::{
    Namespace, NamespaceDomain, NamespaceResources, NamespaceSpec, NamespaceStatus,
};
pub use node::{DriverState, Node, NodeDrivers, NodeInfo, NodeResources, NodeSpec, NodeStatus};
pub use pod::{ContainerStatus, Pod, PodNetwork, PodSpec, PodStatus};
pub use route::{Route, RouteRule, RouteSelector, RouteSpec, RouteTls};
pub use secret::{Config, ConfigSpec, ConfigType, Secret, SecretSpec, SecretType};
pub use selflink::{SelfLink, SelfLinkError};
pub use service::{
    Scale, Selector, Service, ServiceNetwork, ServiceSpec, ServiceStatus, SpecState, Strategy,
    StrategyKind,
};
pub use state::{State, Status};
pub use subnet::{NetworkInterface, Subnet, SubnetSpec};
pub use template::{
    Container, ContainerResources, Dns, EnvSource, EnvVar, Exec, FilesRef, Image, KeyRef, Probe,
    ProbeAction, Probes, Resources, Restart, RestartPolicy, Security, Template, TemplateVolume,
    VolumeMount, VolumeRef, VolumeSource,
};
pub use volume::{AccessMode, Volume, VolumeSpec, VolumeStatus, VolumeType};

/// A stored kind: its [`Kind`], its [`Meta`], and from them its selflink and
/// storage key.
pub trait Object: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The kind.
    const KIND: Kind;

    /// Identity.
    fn meta(&self) -> &Meta;

    /// Identity, to change.
    fn meta_mut(&mut self) -> &mut Meta;

    /// The typed selflink, parsed from `meta.self_link`.
    fn self_link(&self) -> Result<SelfLink, SelfLinkError> {
        SelfLink::parse(Self::KIND, &self.meta().self_link)
    }

    /// The storage key: `<collection>/<selflink>`.
    fn key(&self) -> String {
        crate::storage::key(Self::KIND.collection(), &self.meta().self_link)
    }
}

macro_rules! objects {
    ($($ty:ident),* $(,)?) => {$(
        impl Object for $ty {
            const KIND: Kind = Kind::$ty;

            fn meta(&self) -> &Meta {
                &self.meta
            }

            fn meta_mut(&mut self) -> &mut Meta {
                &mut self.meta
            }
        }
    )*};
}

objects!(
    Namespace, Service, Deployment, Pod, Endpoint, Volume, Secret, Config, Route, Node, Ingress,
    Discovery, Exporter, Cluster, Subnet,
);

#[cfg(test)]
mod tests;
