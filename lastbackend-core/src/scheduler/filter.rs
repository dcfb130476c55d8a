//! The filters a node must pass to run a pod, and the account of the nodes
//! they excluded.

use std::fmt;

/// One reason a node cannot run a pod. A node is counted under the first
/// filter it fails, in the order of [`Filter::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Filter {
    /// The node's heartbeat lease has expired.
    Offline,
    /// The node is cordoned (`spec.unschedulable`) or in maintenance
    /// (`spec.maintenance`).
    Unschedulable,
    /// The pod asks for another hostname, or for labels the node lacks.
    NodeSelector,
    /// Less free RAM than the pod requests (a pod requesting none fits
    /// even an overcommitted node).
    Ram,
    /// Less free CPU than the pod requests (likewise).
    Cpu,
    /// A host port the pod publishes is taken on the node for an
    /// overlapping protocol.
    HostPorts,
    /// The node runs as many pods as its capacity allows.
    Pods,
    /// The pod mounts a persistent volume held by another node.
    VolumeAffinity,
}

impl Filter {
    /// Every filter, in the order they are applied and reported.
    pub const ALL: [Filter; 8] = [
        Filter::Offline,
        Filter::Unschedulable,
        Filter::NodeSelector,
        Filter::Ram,
        Filter::Cpu,
        Filter::HostPorts,
        Filter::Pods,
        Filter::VolumeAffinity,
    ];

    /// How an exclusion reads in a status message, after its count.
    pub const fn as_str(self) -> &'static str {
        match self {
            Filter::Offline => "offline",
            Filter::Unschedulable => "unschedulable",
            Filter::NodeSelector => "node selector mismatch",
            Filter::Ram => "insufficient ram",
            Filter::Cpu => "insufficient cpu",
            Filter::HostPorts => "host port in use",
            Filter::Pods => "too many pods",
            Filter::VolumeAffinity => "volume on another node",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a pod cannot be placed: how many nodes each filter excluded. Its
/// display is the pod's status message:
///
/// ```
/// use lastbackend_core::scheduler::{Filter, Unschedulable};
///
/// let mut why = Unschedulable::new(5);
/// why.exclude(Filter::Offline);
/// why.exclude(Filter::Ram);
/// why.exclude(Filter::NodeSelector);
/// why.exclude(Filter::Ram);
/// why.exclude(Filter::Offline);
/// assert_eq!(
///     why.to_string(),
///     "0/5 nodes available: 2 offline, 1 node selector mismatch, 2 insufficient ram",
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct Unschedulable {
    nodes: usize,
    excluded: [usize; Filter::ALL.len()],
}

impl Unschedulable {
    /// No exclusions yet among `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes,
            excluded: [0; Filter::ALL.len()],
        }
    }

    /// Counts one more node excluded by `filter`.
    pub fn exclude(&mut self, filter: Filter) {
        self.excluded[filter.index()] += 1;
    }

    /// The nodes considered.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The nodes `filter` excluded (each node counts under its first failing
    /// filter only).
    pub fn excluded(&self, filter: Filter) -> usize {
        self.excluded[filter.index()]
    }

    /// The nodes no filter excluded.
    pub fn available(&self) -> usize {
        self.nodes - self.excluded.iter().sum::<usize>()
    }
}

impl fmt::Display for Unschedulable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} nodes available", self.available(), self.nodes)?;
        if self.nodes == 0 {
            return f.write_str(": the cluster has no nodes");
        }
        let mut separator = ": ";
        for filter in Filter::ALL {
            let count = self.excluded(filter);
            if count > 0 {
                write!(f, "{separator}{count} {filter}")?;
                separator = ", ";
            }
        }
        Ok(())
    }
}
