//! The scheduler: a pure function from a [`Snapshot`] of the nodes and a
//! [`PodRequest`] to a [`Placement`], or to the reason it is
//! [`Unschedulable`].
//!
//! A [`Policy`] decides; [`DefaultPolicy`] applies every [`Filter`] (online,
//! not cordoned, node selector by hostname and labels, RAM, CPU, host ports,
//! pod count, volume affinity) and scores the nodes left: least allocated
//! plus a spread of one service's replicas across nodes, ties broken by node
//! name, so the same input always gives the same node. Unlike the original,
//! labels really filter, offline nodes, CPU and ports count, and a node
//! without room is never chosen.
//!
//! The caller owns the snapshot and tells it about each placement with
//! [`Snapshot::assume`], so placing many pods in a row needs no rebuild:
//!
//! ```
//! use lastbackend_core::model::{Meta, Node, Pod};
//! use lastbackend_core::scheduler::{DefaultPolicy, PodRequest, Policy, Snapshot};
//! use lastbackend_core::units::{Cpu, Ram};
//!
//! let node = |name: &str| {
//!     let mut node = Node::default();
//!     node.meta.name = name.into();
//!     node.status.online = true;
//!     node.status.capacity.pods = 10;
//!     node.status.capacity.ram = Ram::from_bytes(1 << 30);
//!     node.status.capacity.cpu = Cpu::from_millis(1000);
//!     node
//! };
//! let mut snapshot = Snapshot::new(&[node("a"), node("b")], &[]);
//!
//! let mut request = PodRequest::default();
//! request.ram = Ram::from_bytes(256 << 20);
//! request.service = Some("demo:web".into());
//! let mut placed = Vec::new();
//! for _ in 0..4 {
//!     let placement = DefaultPolicy.place(&snapshot, &request)?;
//!     snapshot.assume(&placement.node, &request)?;
//!     placed.push(placement.node);
//! }
//! assert_eq!(placed, ["a", "b", "a", "b"]);
//!
//! request.ram = Ram::from_bytes(1 << 30);
//! let why = DefaultPolicy.place(&snapshot, &request).unwrap_err();
//! assert_eq!(why.to_string(), "0/2 nodes available: 2 insufficient ram");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod filter;
mod score;
mod snapshot;

pub use filter::{Filter, Unschedulable};
pub use score::{DefaultPolicy, least_allocated, spread};
pub use snapshot::{Snapshot, SnapshotNode, UnknownNode};

use crate::model::{Kind, Labels, Pod, PodSpec, SelfLink};
use crate::units::{Cpu, Protocol, Ram};

/// A placement strategy. Object safe, so a library user can hand the
/// controller an `Arc<dyn Policy>` of their own; [`Snapshot::filter`] and
/// the scores in this module are there to build one from.
pub trait Policy: Send + Sync {
    /// The node to run `request` on, or why there is none. Pure: the same
    /// snapshot and request give the same answer.
    fn place(&self, snapshot: &Snapshot, request: &PodRequest) -> Result<Placement, Unschedulable>;
}

/// Where a pod goes.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Placement {
    /// The node's name.
    pub node: String,
    /// The policy's score for it (higher is better); only comparable within
    /// one policy.
    pub score: f64,
}

impl Placement {
    /// On `node`, with a score of 0.
    pub fn new(node: impl Into<String>) -> Self {
        Self {
            node: node.into(),
            score: 0.0,
        }
    }
}

/// A host port a pod publishes: taken on its node for its protocol(s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// The port on the node.
    pub port: u16,
    /// TCP, UDP or both.
    pub protocol: Protocol,
}

/// What placing a pod needs, read from its spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PodRequest {
    /// RAM to reserve ([`crate::model::Template::requests`]).
    pub ram: Ram,
    /// CPU to reserve.
    pub cpu: Cpu,
    /// How many containers (accounted, not filtered on).
    pub containers: u32,
    /// Host ports the pod publishes.
    pub host_ports: Vec<HostPort>,
    /// Only this node (`selector.node`, a hostname).
    pub node: Option<String>,
    /// Only nodes carrying all these labels (`selector.labels`).
    pub labels: Labels,
    /// The node holding a persistent volume the pod mounts; the controller
    /// looks the volumes up and sets it with [`PodRequest::on_volume_node`].
    pub required_node: Option<String>,
    /// The selflink of the service the pod belongs to
    /// (`<namespace>:<service>`); its replicas are spread across nodes.
    pub service: Option<String>,
}

impl PodRequest {
    /// The request of a pod of `service` (its selflink) with `spec`.
    pub fn new(spec: &PodSpec, service: Option<String>) -> Self {
        let template = &spec.template;
        let requests = template.requests();
        Self {
            ram: requests.ram.unwrap_or_default(),
            cpu: requests.cpu.unwrap_or_default(),
            containers: u32::try_from(template.containers.len()).unwrap_or(u32::MAX),
            host_ports: template
                .containers
                .iter()
                .flat_map(|c| &c.ports)
                .filter_map(|p| {
                    p.host_port.map(|port| HostPort {
                        port,
                        protocol: p.protocol,
                    })
                })
                .collect(),
            node: spec.selector.node.clone(),
            labels: spec.selector.labels.clone(),
            required_node: None,
            service,
        }
    }

    /// The request of `pod`, its service read from its selflink.
    pub fn from_pod(pod: &Pod) -> Self {
        Self::new(&pod.spec, service_of(pod))
    }

    /// The same request, pinned to `node` because it holds a persistent
    /// volume the pod mounts.
    pub fn on_volume_node(mut self, node: impl Into<String>) -> Self {
        self.required_node = Some(node.into());
        self
    }
}

/// `<namespace>:<service>` of a pod, from its selflink.
fn service_of(pod: &Pod) -> Option<String> {
    let link = SelfLink::parse(Kind::Pod, &pod.meta.self_link).ok()?;
    Some(format!("{}:{}", link.namespace_name()?, link.service()?))
}

#[cfg(test)]
mod tests;
