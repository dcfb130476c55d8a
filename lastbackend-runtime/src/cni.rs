//! CNI: the overlay network joining every node's pod subnet.
//!
//! The control plane hands each node a pod subnet; the agent asks its CNI
//! driver to prepare the host for its own subnet, then keeps the set of
//! peers equal to the other nodes' subnets from every manifest it receives.

use std::collections::BTreeMap;

use async_trait::async_trait;
use lastbackend_core::model::SubnetSpec;

use crate::Result;

#[cfg(feature = "vxlan")]
pub mod vxlan;

/// An overlay network driver. Every call is idempotent: re-running it on a
/// configured host changes nothing.
#[async_trait]
pub trait Cni: Send + Sync {
    /// The driver's name (`vxlan`).
    fn name(&self) -> &str;

    /// Prepares the host for its own subnet (`local.cidr`); returns the spec
    /// peers need to reach it (interface, hardware address, tunnel address
    /// filled in).
    async fn setup(&self, local: &SubnetSpec) -> Result<SubnetSpec>;

    /// Makes the programmed peers exactly `peers` (keyed by subnet selflink):
    /// entries of new peers are added, of changed peers replaced, of gone
    /// peers removed.
    async fn sync_peers(&self, peers: &BTreeMap<String, SubnetSpec>) -> Result<()>;

    /// Removes everything [`setup`](Self::setup) and
    /// [`sync_peers`](Self::sync_peers) made.
    async fn teardown(&self) -> Result<()>;
}
