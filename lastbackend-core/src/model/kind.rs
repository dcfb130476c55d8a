use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every kind of object the platform stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A virtual cluster: quotas and a name scope.
    Namespace,
    /// A user's app: the desired containers and replicas.
    Service,
    /// One version of a service's template, owned by the controller.
    Deployment,
    /// One placed replica of a deployment.
    Pod,
    /// A service's VIP, ports and upstream pods.
    Endpoint,
    /// Persistent storage placed on a node.
    Volume,
    /// Sensitive key/values.
    Secret,
    /// Configuration key/values.
    Config,
    /// An ingress rule from outside to services.
    Route,
    /// A machine running the node agent.
    Node,
    /// An ingress server.
    Ingress,
    /// A discovery (DNS) server.
    Discovery,
    /// A log exporter.
    Exporter,
    /// The cluster summary.
    Cluster,
    /// A node's overlay subnet.
    Subnet,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 15] = [
        Kind::Namespace,
        Kind::Service,
        Kind::Deployment,
        Kind::Pod,
        Kind::Endpoint,
        Kind::Volume,
        Kind::Secret,
        Kind::Config,
        Kind::Route,
        Kind::Node,
        Kind::Ingress,
        Kind::Discovery,
        Kind::Exporter,
        Kind::Cluster,
        Kind::Subnet,
    ];

    /// The lowercase name (`"service"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Service => "service",
            Kind::Deployment => "deployment",
            Kind::Pod => "pod",
            Kind::Endpoint => "endpoint",
            Kind::Volume => "volume",
            Kind::Secret => "secret",
            Kind::Config => "config",
            Kind::Route => "route",
            Kind::Node => "node",
            Kind::Ingress => "ingress",
            Kind::Discovery => "discovery",
            Kind::Exporter => "exporter",
            Kind::Cluster => "cluster",
            Kind::Subnet => "subnet",
        }
    }

    /// The capitalised name used in manifests (`"Service"`).
    pub fn title(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Service => "Service",
            Kind::Deployment => "Deployment",
            Kind::Pod => "Pod",
            Kind::Endpoint => "Endpoint",
            Kind::Volume => "Volume",
            Kind::Secret => "Secret",
            Kind::Config => "Config",
            Kind::Route => "Route",
            Kind::Node => "Node",
            Kind::Ingress => "Ingress",
            Kind::Discovery => "Discovery",
            Kind::Exporter => "Exporter",
            Kind::Cluster => "Cluster",
            Kind::Subnet => "Subnet",
        }
    }

    /// The storage collection, as the original's etcd key tree:
    /// `/lastbackend/<collection>/<selflink>`.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Node => "node/info",
            Kind::Ingress => "ingress/info",
            Kind::Discovery => "discovery/info",
            Kind::Exporter => "exporter/info",
            other => other.as_str(),
        }
    }

    /// Whether objects of this kind live inside a namespace.
    pub fn is_namespaced(self) -> bool {
        matches!(
            self,
            Kind::Service
                | Kind::Deployment
                | Kind::Pod
                | Kind::Endpoint
                | Kind::Volume
                | Kind::Secret
                | Kind::Config
                | Kind::Route
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a known kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown kind {0:?}; known kinds: namespace, service, deployment, pod, endpoint, volume, secret, config, route, node, ingress, discovery, exporter, cluster, subnet"
)]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    /// Case-insensitive: `service`, `Service` and `SERVICE` are one kind.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}
