//! The nodes as the scheduler sees them, precomputed for a fast pass per
//! placement.

use std::collections::HashMap;

use super::{Filter, HostPort, PodRequest, Unschedulable};
use crate::model::{Labels, Node, NodeResources, Pod, State};
use crate::units::{Cpu, Protocol, Ram};

/// The cluster's nodes with what their pods hold, built once and then kept up
/// to date with [`Snapshot::assume`] while a caller places pods in a row.
///
/// Nodes are kept sorted by name, so nothing depends on the order they were
/// given in.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    nodes: Vec<SnapshotNode>,
    /// What every filter and score reads, packed apart from the rest so one
    /// pass over thousands of nodes stays in cache.
    hot: Vec<Hot>,
    by_name: HashMap<String, usize>,
    /// Interned `key → value → id`; a node's labels are a sorted id list.
    label_ids: HashMap<String, HashMap<String, u32>>,
    labels_interned: u32,
    /// Per service selflink: `(node index, pods of it there)`, sorted by node
    /// index, so scoring walks it alongside the nodes instead of hashing per
    /// node.
    services: HashMap<String, Vec<(usize, u32)>>,
}

/// One node as the scheduler sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotNode {
    name: String,
    labels: Labels,
    label_ids: Vec<u32>,
    online: bool,
    unschedulable: bool,
    capacity: NodeResources,
    allocated: NodeResources,
    /// Host ports in use, encoded by [`port_keys`], sorted.
    ports: Vec<u32>,
}

impl SnapshotNode {
    /// Its name (the hostname).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Its heartbeat lease is alive.
    pub fn online(&self) -> bool {
        self.online
    }

    /// Cordoned: no new pods.
    pub fn unschedulable(&self) -> bool {
        self.unschedulable
    }

    /// What it has.
    pub fn capacity(&self) -> &NodeResources {
        &self.capacity
    }

    /// What its pods hold, including the ones [`Snapshot::assume`]d.
    pub fn allocated(&self) -> &NodeResources {
        &self.allocated
    }

    /// `port` is taken for `protocol` (for [`Protocol::Both`]: for either).
    pub fn port_in_use(&self, port: u16, protocol: Protocol) -> bool {
        port_keys(HostPort { port, protocol }).any(|key| self.ports.binary_search(&key).is_ok())
    }

    fn has_labels(&self, wanted: &[u32]) -> bool {
        // Both sorted: one merge walk.
        let mut have = self.label_ids.iter();
        wanted.iter().all(|w| have.any(|h| h == w))
    }

    fn ports_clash(&self, wanted: &[u32]) -> bool {
        wanted
            .iter()
            .any(|key| self.ports.binary_search(key).is_ok())
    }
}

/// The figures a pass reads for every node.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Hot {
    pub(super) free_ram: u64,
    pub(super) free_cpu: u64,
    /// `1 / capacity`, or 0 without capacity (the free fraction is then 0).
    pub(super) ram_scale: f64,
    pub(super) cpu_scale: f64,
    pub(super) free_pods: u32,
    pub(super) online: bool,
    pub(super) unschedulable: bool,
}

impl Hot {
    pub(super) fn of(node: &SnapshotNode) -> Self {
        let scale = |capacity: u64| {
            if capacity == 0 {
                0.0
            } else {
                1.0 / capacity as f64
            }
        };
        let (capacity, allocated) = (&node.capacity, &node.allocated);
        Self {
            free_ram: capacity.ram.bytes().saturating_sub(allocated.ram.bytes()),
            free_cpu: capacity.cpu.millis().saturating_sub(allocated.cpu.millis()),
            ram_scale: scale(capacity.ram.bytes()),
            cpu_scale: scale(capacity.cpu.millis()),
            free_pods: capacity.pods.saturating_sub(allocated.pods),
            online: node.online,
            unschedulable: node.unschedulable,
        }
    }
}

/// A request with its names turned into the snapshot's indexes and ids, once
/// per placement.
#[derive(Debug)]
pub(super) struct Resolved<'a> {
    pub(super) ram: u64,
    pub(super) cpu: u64,
    hostname: Pin,
    /// Sorted label ids; `None` when a wanted label is on no node at all.
    labels: Option<Vec<u32>>,
    ports: Vec<u32>,
    volume: Pin,
    /// The service's pods per node, sorted by node index.
    pub(super) spread: &'a [(usize, u32)],
}

/// A constraint to one node by name.
#[derive(Clone, Copy, Debug)]
enum Pin {
    Any,
    Node(usize),
    /// The name is not in the snapshot: no node admits it.
    Missing,
}

impl Pin {
    fn admits(self, index: usize) -> bool {
        match self {
            Pin::Any => true,
            Pin::Node(pinned) => pinned == index,
            Pin::Missing => false,
        }
    }
}

impl Snapshot {
    /// The snapshot of `nodes` with `pods` accounted on the nodes they are
    /// placed on (`spec.node`; pods already torn down do not count).
    ///
    /// A node's allocation is what the pods placed on it request, including
    /// pods still being torn down (they hold their resources until they are
    /// gone from the store). The agent's `status.allocated` is not read: it
    /// lags behind placements, and the store already knows every pod it could
    /// count. So a snapshot rebuilt after placements equals one kept up to
    /// date with [`Snapshot::assume`]. Node names are unique in a store;
    /// should two nodes share one, the first in name order after a stable
    /// sort wins.
    pub fn new(nodes: &[Node], pods: &[Pod]) -> Self {
        let mut sorted: Vec<&Node> = nodes.iter().collect();
        sorted.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        sorted.dedup_by(|b, a| a.meta.name == b.meta.name);

        let mut snapshot = Snapshot::default();
        for node in &sorted {
            let mut label_ids: Vec<u32> = node
                .meta
                .labels
                .iter()
                .map(|(key, value)| snapshot.intern(key, value))
                .collect();
            label_ids.sort_unstable();
            snapshot
                .by_name
                .insert(node.meta.name.clone(), snapshot.nodes.len());
            snapshot.nodes.push(SnapshotNode {
                name: node.meta.name.clone(),
                labels: node.meta.labels.clone(),
                label_ids,
                online: node.status.online,
                unschedulable: node.spec.unschedulable || node.spec.maintenance,
                capacity: node.status.capacity,
                allocated: NodeResources::default(),
                ports: Vec::new(),
            });
        }

        for pod in pods {
            if pod.status.status.state == State::Destroyed {
                continue;
            }
            let Some(&index) = pod.spec.node.as_ref().and_then(|n| snapshot.by_name.get(n)) else {
                continue;
            };
            snapshot.account(index, &PodRequest::from_pod(pod));
        }

        snapshot.hot = snapshot.nodes.iter().map(Hot::of).collect();
        snapshot
    }

    /// The nodes, sorted by name.
    pub fn nodes(&self) -> &[SnapshotNode] {
        &self.nodes
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&SnapshotNode> {
        self.by_name.get(name).map(|&index| &self.nodes[index])
    }

    /// How many pods of `service` (its selflink, `<namespace>:<service>`)
    /// the node named `node` runs.
    pub fn service_pods(&self, node: &str, service: &str) -> u32 {
        let (Some(&index), Some(counts)) = (self.by_name.get(node), self.services.get(service))
        else {
            return 0;
        };
        counts
            .binary_search_by_key(&index, |&(i, _)| i)
            .map_or(0, |at| counts[at].1)
    }

    /// Accounts `request` as placed on `node`: its resources, one pod, its
    /// host ports and its service, so the next placement sees them. Filters
    /// are not checked; a caller may overcommit on purpose.
    pub fn assume(&mut self, node: &str, request: &PodRequest) -> Result<(), UnknownNode> {
        let index = *self
            .by_name
            .get(node)
            .ok_or_else(|| UnknownNode(node.to_owned()))?;
        self.account(index, request);
        self.hot[index] = Hot::of(&self.nodes[index]);
        Ok(())
    }

    /// Runs every filter over every node in name order, calls `feasible` for
    /// each node that passes them all, and returns the count of nodes each
    /// filter excluded (the error a policy returns when none passed).
    pub fn filter(
        &self,
        request: &PodRequest,
        mut feasible: impl FnMut(&SnapshotNode),
    ) -> Unschedulable {
        let resolved = self.resolve(request);
        self.scan(&resolved, |index, _| feasible(&self.nodes[index]))
    }

    /// One pass: the first failing filter of each node is counted; `feasible`
    /// sees the index and figures of each node that passes.
    pub(super) fn scan(
        &self,
        request: &Resolved<'_>,
        mut feasible: impl FnMut(usize, &Hot),
    ) -> Unschedulable {
        let mut why = Unschedulable::new(self.nodes.len());
        for (index, hot) in self.hot.iter().enumerate() {
            match self.first_failing(index, hot, request) {
                Some(filter) => why.exclude(filter),
                None => feasible(index, hot),
            }
        }
        why
    }

    /// The filters in [`Filter::ALL`] order; cold data (labels, ports) is
    /// read only when the request asks for it.
    #[inline]
    fn first_failing(&self, index: usize, hot: &Hot, request: &Resolved<'_>) -> Option<Filter> {
        if !hot.online {
            return Some(Filter::Offline);
        }
        if hot.unschedulable {
            return Some(Filter::Unschedulable);
        }
        let labels_match = match &request.labels {
            None => false,
            Some(wanted) => wanted.is_empty() || self.nodes[index].has_labels(wanted),
        };
        if !request.hostname.admits(index) || !labels_match {
            return Some(Filter::NodeSelector);
        }
        if hot.free_ram < request.ram {
            return Some(Filter::Ram);
        }
        if hot.free_cpu < request.cpu {
            return Some(Filter::Cpu);
        }
        if !request.ports.is_empty() && self.nodes[index].ports_clash(&request.ports) {
            return Some(Filter::HostPorts);
        }
        if hot.free_pods == 0 {
            return Some(Filter::Pods);
        }
        if !request.volume.admits(index) {
            return Some(Filter::VolumeAffinity);
        }
        None
    }

    pub(super) fn node_at(&self, index: usize) -> &SnapshotNode {
        &self.nodes[index]
    }

    pub(super) fn resolve<'a>(&'a self, request: &PodRequest) -> Resolved<'a> {
        let pin = |name: &Option<String>| match name {
            None => Pin::Any,
            Some(name) => self
                .by_name
                .get(name)
                .map_or(Pin::Missing, |&i| Pin::Node(i)),
        };
        let labels = request
            .labels
            .iter()
            .map(|(key, value)| self.label_ids.get(key)?.get(value).copied())
            .collect::<Option<Vec<u32>>>()
            .map(|mut ids| {
                ids.sort_unstable();
                ids
            });
        let mut ports: Vec<u32> = request
            .host_ports
            .iter()
            .flat_map(|&p| port_keys(p))
            .collect();
        ports.sort_unstable();
        Resolved {
            ram: request.ram.bytes(),
            cpu: request.cpu.millis(),
            hostname: pin(&request.node),
            labels,
            ports,
            volume: pin(&request.required_node),
            spread: request
                .service
                .as_ref()
                .and_then(|service| self.services.get(service))
                .map_or(&[], Vec::as_slice),
        }
    }

    fn intern(&mut self, key: &str, value: &str) -> u32 {
        let next = &mut self.labels_interned;
        *self
            .label_ids
            .entry(key.to_owned())
            .or_default()
            .entry(value.to_owned())
            .or_insert_with(|| {
                *next += 1;
                *next
            })
    }

    fn account(&mut self, index: usize, request: &PodRequest) {
        let node = &mut self.nodes[index];
        let allocated = &mut node.allocated;
        allocated.pods += 1;
        allocated.containers += request.containers;
        allocated.ram = Ram::from_bytes(allocated.ram.bytes() + request.ram.bytes());
        allocated.cpu = Cpu::from_millis(allocated.cpu.millis() + request.cpu.millis());
        if !request.host_ports.is_empty() {
            node.ports
                .extend(request.host_ports.iter().flat_map(|&p| port_keys(p)));
            node.ports.sort_unstable();
        }
        if let Some(service) = &request.service {
            let counts = self.services.entry(service.clone()).or_default();
            match counts.binary_search_by_key(&index, |&(i, _)| i) {
                Ok(at) => counts[at].1 += 1,
                Err(at) => counts.insert(at, (index, 1)),
            }
        }
    }
}

/// A host port as sorted-set keys: one per protocol it takes.
fn port_keys(port: HostPort) -> impl Iterator<Item = u32> {
    let key = |udp: bool| (u32::from(port.port) << 1) | u32::from(udp);
    let (tcp, udp) = match port.protocol {
        Protocol::Tcp => (true, false),
        Protocol::Udp => (false, true),
        Protocol::Both => (true, true),
    };
    tcp.then(|| key(false))
        .into_iter()
        .chain(udp.then(|| key(true)))
}

/// [`Snapshot::assume`] was given a node the snapshot does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("node {0:?} is not in the scheduler's snapshot")]
pub struct UnknownNode(pub String);
