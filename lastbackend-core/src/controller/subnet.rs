//! Node pod subnets: every node holds one block of the cluster CIDR
//! ([`PodCidr`](crate::ipam::PodCidr)), recorded three ways: the allocation
//! in the [`SubnetPool`](crate::ipam::SubnetPool) (create-only keys, so no
//! block is ever handed out twice), a [`Subnet`] object (`10.244.1.0:24`,
//! what node manifests carry to every peer) and `Node.info.subnet`.
//!
//! [`SubnetReconciler`] is keyed by node name and level-triggered: each pass
//! reads the node and makes the three agree with it, in that order, each step
//! idempotent, so a crash anywhere is repaired by the next pass. A node gone
//! takes its `Subnet` objects and its allocation with it. Allocations whose
//! node is gone while no controller ran are found through the pool's owner
//! keys, which are watched too.
//!
//! Allocating here rather than at registration keeps the API free of a
//! pool, and makes a controller that starts after nodes registered (or a
//! changed `--cluster-cidr`, for new nodes) catch up by itself.

use std::sync::Arc;

use async_trait::async_trait;

use super::manager::{BuiltController, Context};
use super::runtime::{Action, Cache, Reconciler};
use crate::model::{Kind, Meta, Node, SelfLink, Subnet, SubnetSpec};
use crate::storage::BoxError;
use crate::store::Writes;

/// Gives every node a pod subnet and frees it when the node goes.
#[derive(Debug)]
pub struct SubnetReconciler {
    context: Context,
    nodes: Arc<Cache<Node>>,
    subnets: Arc<Cache<Subnet>>,
}

/// The [`SubnetReconciler`] with a controller fed by nodes, subnets and the
/// pool's owner keys, all mapped to node names.
pub fn build(context: &Context) -> BuiltController {
    let mut controller = context.controller();
    let nodes = controller.watch::<Node>("", |node| vec![node.meta.name.clone()]);
    let subnets = controller.watch::<Subnet>("", |subnet| vec![subnet.node.clone()]);
    let owners = context.subnets.owner_prefix();
    let prefix = owners.clone();
    controller.watch_keys(&owners, move |key| {
        key.strip_prefix(prefix.as_str())
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .into_iter()
            .collect()
    });
    BuiltController {
        controller,
        reconciler: Arc::new(SubnetReconciler {
            context: context.clone(),
            nodes,
            subnets,
        }),
    }
}

/// The selflink of a block: `10.244.1.0:24`.
pub fn subnet_link(cidr: crate::ipam::Ipv4Cidr) -> SelfLink {
    SelfLink::Subnet {
        addr: cidr.network().into(),
        prefix: cidr.prefix(),
    }
}

impl SubnetReconciler {
    /// The subnets the caches say `name` holds.
    fn held_by(&self, name: &str) -> Vec<Subnet> {
        let mut held = self.subnets.list();
        held.retain(|s| s.node == name);
        held
    }

    /// Whether the caches show the node, its one subnet and its tunnel
    /// address all in place: the pass of every status push, without a read.
    fn settled(&self, name: &str) -> bool {
        let Some(node) = self
            .nodes
            .get(&SelfLink::host(Kind::Node, name).to_string())
        else {
            return false;
        };
        let host = node.info.external_ip.or(node.info.internal_ip);
        match self.held_by(name).as_slice() {
            [subnet] => {
                node.info.subnet.as_deref() == Some(subnet.meta.self_link.as_str())
                    && (subnet.spec.addr.is_some() || host.is_none())
            }
            _ => false,
        }
    }

    async fn node_gone(&self, name: &str) -> Result<(), BoxError> {
        for subnet in self.held_by(name) {
            self.context
                .writer
                .commit(Writes::new().delete(&subnet))
                .await?;
            tracing::info!(node = name, subnet = %subnet.meta.self_link, "node gone: subnet removed");
        }
        if let Some(cidr) = self.context.subnets.release(name).await? {
            tracing::info!(node = name, %cidr, "node gone: subnet released");
        }
        Ok(())
    }
}

#[async_trait]
impl Reconciler for SubnetReconciler {
    async fn reconcile(&self, name: &str) -> Result<Action, BoxError> {
        if self.settled(name) {
            return Ok(Action::Done);
        }
        let store = &self.context.store;
        let Some(mut node) = store
            .find::<Node>(&SelfLink::host(Kind::Node, name))
            .await?
        else {
            self.node_gone(name).await?;
            return Ok(Action::Done);
        };
        let cidr = self.context.subnets.allocate(name).await?;
        let link = subnet_link(cidr);
        let key = link.to_string();
        // Until the agent reports its tunnel address, the one it registered.
        let host = node.info.external_ip.or(node.info.internal_ip);
        let mut writes = Writes::new();
        match store.find::<Subnet>(&link).await? {
            None => {
                let subnet = Subnet {
                    meta: Meta::new(key.clone(), &link),
                    node: name.to_owned(),
                    spec: SubnetSpec {
                        cidr: cidr.to_string(),
                        addr: host,
                        ..SubnetSpec::default()
                    },
                };
                writes = writes.create(&subnet)?;
            }
            Some(mut subnet) => {
                let before = subnet.clone();
                // The pool is the truth about who holds the block: an object
                // naming another node is a leftover of a removed one.
                if subnet.node != name {
                    subnet.node = name.to_owned();
                    subnet.spec = SubnetSpec::default();
                }
                subnet.spec.cidr = cidr.to_string();
                if subnet.spec.addr.is_none() {
                    subnet.spec.addr = host;
                }
                if subnet != before {
                    writes = writes.update(&subnet)?;
                }
            }
        }
        // Subnets this node held before (another cluster CIDR): not its own.
        for stale in self
            .held_by(name)
            .iter()
            .filter(|s| s.meta.self_link != key)
        {
            writes = writes.delete(stale);
        }
        if node.info.subnet.as_deref() != Some(key.as_str()) {
            node.info.subnet = Some(key.clone());
            writes = writes.update(&node)?;
        }
        if !writes.is_empty() {
            self.context.writer.commit(writes).await?;
            tracing::info!(node = name, subnet = %key, "pod subnet assigned");
        }
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests;
