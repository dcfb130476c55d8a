//! Hollow nodes: simulated node agents for testing and benchmarking a
//! control plane without Docker, kernels or machines.
//!
//! A [`HollowNode`] goes through the same [`Api`] operations a real agent
//! uses, in the same order: it registers ([`Api::register_node`]), then
//! long-polls its whole desired state ([`Api::node_manifest`] after the last
//! revision it saw), "runs" every pod of the manifest (reports it running
//! and ready, with an address from the node's own fake subnet), reports the
//! pods marked `destroy` as `destroyed`, and pushes its full status
//! ([`Api::node_status`], which renews its heartbeat lease) on every change
//! and at least every third of the node TTL. Nothing but the agent is
//! faked, so a cluster of hollow nodes exercises the real API, storage,
//! scheduler and reconcilers.
//!
//! Faults are injected with knobs: [`pause`](HollowNode::pause) (a node cut
//! off: no heartbeat, no reports, it goes offline when its lease ends),
//! [`slow`](HollowNode::slow) (every report delayed),
//! [`fail_pods`](HollowNode::fail_pods) (chosen pods report an error) and
//! [`stop`](HollowNode::stop).
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use lastbackend_core::api::{Api, Settings};
//! use lastbackend_core::controller::hollow::HollowNode;
//! use lastbackend_core::model::NodeResources;
//! use lastbackend_core::storage::MemoryStorage;
//! use lastbackend_core::store::Store;
//!
//! # async fn run() {
//! let api = Api::new(Store::new(Arc::new(MemoryStorage::new())), Settings::default());
//! let capacity = NodeResources { pods: 110, ..NodeResources::default() };
//! let nodes: Vec<HollowNode> = (0..3)
//!     .map(|i| HollowNode::new(api.clone(), format!("hollow-{i}"), capacity))
//!     .collect();
//! // ... apply services, run a controller, watch pods become ready ...
//! nodes[0].pause();
//! for node in nodes {
//!     node.stop().await;
//! }
//! # }
//! ```

mod agent;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::Api;
use crate::model::{Labels, NodeResources, PodStatus};

/// Decides, by pod selflink, which pods a hollow node reports as failed.
pub type PodMatcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Numbers hollow nodes of this process, so each gets its own subnet and
/// host address by default.
static NEXT_NODE: AtomicU32 = AtomicU32::new(0);

/// What a hollow node is: its identity, resources and addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HollowConfig {
    /// The node's name (its hostname).
    pub name: String,
    /// What it registers as its capacity.
    pub capacity: NodeResources,
    /// Its labels.
    pub labels: Labels,
    /// The /24 its pods get addresses from (`.2` to `.254`).
    pub subnet: Ipv4Addr,
    /// The address it reports as its own.
    pub host_ip: Ipv4Addr,
}

impl HollowConfig {
    /// A node with no labels and a subnet and host address of its own among
    /// this process's hollow nodes (`10.128.0.0/9` and `172.16.0.0/12`).
    pub fn new(name: impl Into<String>, capacity: NodeResources) -> Self {
        let n = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
        let [_, _, hi, lo] = n.to_be_bytes();
        let host = (u32::from(Ipv4Addr::new(172, 16, 0, 0)) + (n % (1 << 20)) + 1).into();
        Self {
            name: name.into(),
            capacity,
            labels: Labels::new(),
            subnet: Ipv4Addr::new(10, 128 | (hi & 0x7f), lo, 0),
            host_ip: host,
        }
    }

    /// With these labels.
    pub fn labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// With one more label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// With pod addresses from this /24 (the last octet is ignored).
    pub fn subnet(mut self, subnet: Ipv4Addr) -> Self {
        let [a, b, c, _] = subnet.octets();
        self.subnet = Ipv4Addr::new(a, b, c, 0);
        self
    }

    /// With this host address.
    pub fn host_ip(mut self, ip: Ipv4Addr) -> Self {
        self.host_ip = ip;
        self
    }
}

/// The fault-injection knobs, shared between the handle and the agent.
#[derive(Clone, Default)]
struct Knobs {
    paused: bool,
    stopped: bool,
    slow: Duration,
    fail: Option<PodMatcher>,
}

impl Knobs {
    fn fails(&self, pod: &str) -> bool {
        self.fail.as_ref().is_some_and(|f| f(pod))
    }
}

/// What the agent shows its handle.
#[derive(Debug, Default)]
struct Observed {
    pods: Mutex<BTreeMap<String, PodStatus>>,
    reports: AtomicU64,
}

/// A simulated node agent running on the tokio runtime (see the [module
/// docs](self)). Dropping the handle ends the agent abruptly, like a
/// crashed process; [`stop`](Self::stop) ends it between two steps.
pub struct HollowNode {
    name: String,
    knobs: watch::Sender<Knobs>,
    observed: Arc<Observed>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for HollowNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HollowNode")
            .field("name", &self.name)
            .field("paused", &self.knobs.borrow().paused)
            .finish_non_exhaustive()
    }
}

impl HollowNode {
    /// Starts an agent for node `name` with `capacity` (see
    /// [`HollowConfig::new`] for its addresses).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(api: Api, name: impl Into<String>, capacity: NodeResources) -> Self {
        Self::with_config(api, HollowConfig::new(name, capacity))
    }

    /// Starts an agent for the node `config` describes.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn with_config(api: Api, config: HollowConfig) -> Self {
        let (knobs, knobs_rx) = watch::channel(Knobs::default());
        let observed = Arc::new(Observed::default());
        let name = config.name.clone();
        let agent = agent::Agent::new(api, config, knobs_rx, observed.clone());
        Self {
            name,
            knobs,
            observed,
            task: Some(tokio::spawn(agent.run())),
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Cuts the node off: no heartbeat, no reports, no manifest polls, until
    /// [`resume`](Self::resume). The node goes offline when its lease ends.
    pub fn pause(&self) {
        self.knobs.send_modify(|k| k.paused = true);
    }

    /// Undoes [`pause`](Self::pause): the agent fetches its whole manifest
    /// again and reports at once, which brings the node back online.
    pub fn resume(&self) {
        self.knobs.send_modify(|k| k.paused = false);
    }

    /// Whether the node is paused.
    pub fn is_paused(&self) -> bool {
        self.knobs.borrow().paused
    }

    /// Delays every status report by `delay` (zero: no delay).
    pub fn slow(&self, delay: Duration) {
        self.knobs.send_modify(|k| k.slow = delay);
    }

    /// Reports every pod whose selflink `matching` accepts as failed
    /// (`error`, not running) instead of running; replaces the previous
    /// matcher. Pods it stops matching run again.
    pub fn fail_pods(&self, matching: impl Fn(&str) -> bool + Send + Sync + 'static) {
        self.knobs
            .send_modify(|k| k.fail = Some(Arc::new(matching)));
    }

    /// Stops failing pods: every pod runs.
    pub fn heal_pods(&self) {
        self.knobs.send_modify(|k| k.fail = None);
    }

    /// What the node last reported for each pod it holds, by selflink.
    pub fn pods(&self) -> BTreeMap<String, PodStatus> {
        self.observed
            .pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many status reports the API has taken from this node.
    pub fn reports(&self) -> u64 {
        self.observed.reports.load(Ordering::Relaxed)
    }

    /// Ends the agent and waits for it. The node is not removed: like a
    /// stopped real agent, it goes offline when its lease ends.
    pub async fn stop(mut self) {
        self.knobs.send_modify(|k| k.stopped = true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for HollowNode {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
