//! Internal manifests: the whole desired state of one agent, as the API hands
//! it out. Unlike the original's per-process deltas, an agent always gets
//! everything it should run, stamped with the storage revision it reflects;
//! it keeps the newest it has seen ([`Manifest revision`](NodeManifest::revision))
//! and reconciles towards it.
//!
//! Maps are keyed by selflink and sorted, so equal states serialize equally.
//! The JSON shape is stable: agents and servers of neighbouring versions read
//! each other's manifests (see the golden test).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::model::{
    ConfigSpec, EndpointSpec, PodSpec, RouteSpec, SecretSpec, SubnetSpec, VolumeSpec,
};
use crate::storage::Revision;

/// Implemented by every internal manifest: lets an agent tell newer from
/// older.
pub trait Revisioned {
    /// The storage revision the manifest reflects.
    fn revision(&self) -> Revision;

    /// Whether `self` reflects a later state than `other`.
    fn is_newer_than(&self, other: &Self) -> bool {
        self.revision() > other.revision()
    }
}

/// Everything one node should run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NodeManifest {
    /// The storage revision this manifest reflects.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub revision: Revision,
    /// Where pods resolve cluster names (the discovery servers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::SocketAddress>))]
    pub resolvers: Vec<SocketAddr>,
    /// Where the agent streams container logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::SocketAddress>))]
    pub exporter: Option<SocketAddr>,
    /// Every node's overlay subnet (the agent tunnels to its peers), by
    /// selflink.
    pub subnets: BTreeMap<String, SubnetSpec>,
    /// This node's own pod subnet, a key of `subnets`; `None` until the
    /// controller has allocated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// The pods placed on this node, by selflink; `state.destroy` asks the
    /// agent to remove one.
    pub pods: BTreeMap<String, PodSpec>,
    /// The volumes placed on this node, by selflink.
    pub volumes: BTreeMap<String, VolumeSpec>,
    /// Every service endpoint the node's proxy programs, by selflink.
    pub endpoints: BTreeMap<String, EndpointSpec>,
    /// The secrets this node's pods read, by selflink.
    pub secrets: BTreeMap<String, SecretSpec>,
    /// The configs this node's pods read, by selflink.
    pub configs: BTreeMap<String, ConfigSpec>,
}

/// Everything one ingress server should route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct IngressManifest {
    /// The storage revision this manifest reflects.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub revision: Revision,
    /// Where HAProxy resolves service names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::SocketAddress>))]
    pub resolvers: Vec<SocketAddr>,
    /// The routes assigned to this ingress, by selflink.
    pub routes: BTreeMap<String, RouteSpec>,
    /// The endpoints of the services those routes name, by selflink.
    pub endpoints: BTreeMap<String, EndpointSpec>,
    /// Every node's overlay subnet, by selflink.
    pub subnets: BTreeMap<String, SubnetSpec>,
    /// The secrets those routes terminate TLS with, by selflink.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretSpec>,
}

/// What a discovery server needs besides the endpoints it watches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DiscoveryManifest {
    /// The storage revision this manifest reflects.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub revision: Revision,
    /// Every node's overlay subnet, by selflink.
    pub subnets: BTreeMap<String, SubnetSpec>,
}

macro_rules! revisioned {
    ($($ty:ty),*) => {$(
        impl Revisioned for $ty {
            fn revision(&self) -> Revision {
                self.revision
            }
        }
    )*};
}

revisioned!(NodeManifest, IngressManifest, DiscoveryManifest);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Container, Image, SpecState};

    fn node_manifest() -> NodeManifest {
        let mut m = NodeManifest {
            revision: 42,
            resolvers: vec!["10.0.0.2:53".parse().unwrap()],
            exporter: Some("10.0.0.3:2963".parse().unwrap()),
            ..NodeManifest::default()
        };
        let mut pod = PodSpec {
            node: Some("n1".into()),
            state: SpecState {
                destroy: true,
                maintenance: false,
            },
            ..PodSpec::default()
        };
        pod.template.containers.push(Container {
            name: "web".into(),
            image: Image {
                name: "busybox".into(),
                ..Image::default()
            },
            ..Container::default()
        });
        m.pods.insert("demo:web:d_v1:abc1234".into(), pod);
        m.endpoints.insert(
            "demo:web".into(),
            EndpointSpec {
                ip: Some("10.96.0.7".parse().unwrap()),
                domain: "web.demo.lb.local".into(),
                ports: vec!["80:8080/tcp".parse().unwrap()],
                upstreams: vec!["10.10.1.5".parse().unwrap()],
            },
        );
        m
    }

    /// The wire shape agents depend on. A change here breaks mixed-version
    /// clusters: change it only on purpose.
    #[test]
    fn node_manifest_json_is_stable() {
        let json = serde_json::to_value(node_manifest()).unwrap();
        let golden = serde_json::json!({
            "revision": 42,
            "resolvers": ["10.0.0.2:53"],
            "exporter": "10.0.0.3:2963",
            "subnets": {},
            "pods": {
                "demo:web:d_v1:abc1234": {
                    "state": {"destroy": true, "maintenance": false},
                    "node": "n1",
                    "selector": {},
                    "template": {"containers": [{
                        "name": "web",
                        "image": {"name": "busybox"},
                        "resources": {},
                        "exec": {},
                        "restart": {"policy": "always"},
                        "security": {"privileged": false}
                    }]}
                }
            },
            "volumes": {},
            "endpoints": {
                "demo:web": {
                    "ip": "10.96.0.7",
                    "domain": "web.demo.lb.local",
                    "ports": ["80:8080/tcp"],
                    "upstreams": ["10.10.1.5"]
                }
            },
            "secrets": {},
            "configs": {}
        });
        assert_eq!(json, golden);
        let back: NodeManifest = serde_json::from_value(golden).unwrap();
        assert_eq!(back, node_manifest());
    }

    #[test]
    fn newer_is_by_revision() {
        let old = node_manifest();
        let new = NodeManifest {
            revision: 43,
            ..old.clone()
        };
        assert!(new.is_newer_than(&old));
        assert!(!old.is_newer_than(&new));
        assert!(!old.is_newer_than(&old));
        let ingress = IngressManifest {
            revision: 7,
            ..IngressManifest::default()
        };
        assert!(ingress.is_newer_than(&IngressManifest::default()));
        let discovery = DiscoveryManifest {
            revision: 1,
            ..DiscoveryManifest::default()
        };
        assert!(discovery.is_newer_than(&DiscoveryManifest::default()));
    }

    #[test]
    fn empty_manifests_read_from_empty_objects() {
        let m: NodeManifest = serde_json::from_str("{}").unwrap();
        assert_eq!(m, NodeManifest::default());
        let m: IngressManifest = serde_json::from_str("{}").unwrap();
        assert_eq!(m, IngressManifest::default());
    }
}
