//! Volume placement and removal.
//!
//! A volume lives on one node: [`VolumeReconciler`] places a new one
//! (`spec.node`) on the node its selector names, else on the online,
//! schedulable node matching its labels with the most free storage, and the
//! node agent creates it and reports it ready. A volume marked `destroy` is
//! in the node's manifest with the mark; the node removes the data and
//! reports the volume `destroyed`, and then the volume is deleted. A volume
//! never placed, or on a node that is offline or gone (nobody would
//! confirm), is deleted at once.

use std::sync::Arc;

use async_trait::async_trait;

use super::manager::{BuiltController, Context};
use super::runtime::{Action, Cache, Reconciler};
use crate::model::{Node, Object, SelfLink, State, Status, Volume};
use crate::storage::BoxError;
use crate::store::Writes;

/// Why a volume has no node.
pub const NO_NODE: &str = "no online node matches the volume's selector";

/// Places and removes volumes. Keys are volume selflinks.
#[derive(Debug)]
pub struct VolumeReconciler {
    context: Context,
    nodes: Arc<Cache<Node>>,
}

/// The [`VolumeReconciler`] with a controller fed by volumes and by nodes
/// (a node change looks again at its volumes and at the unplaced ones).
pub fn build(context: &Context) -> BuiltController {
    let mut controller = context.controller();
    let volumes = controller.watch::<Volume>("", |v| vec![v.meta.self_link.clone()]);
    let nodes = controller.watch::<Node>("", move |node| {
        volumes
            .list()
            .into_iter()
            .filter(|v| v.spec.node.as_ref().is_none_or(|n| *n == node.meta.name))
            .map(|v| v.meta.self_link)
            .collect()
    });
    BuiltController {
        controller,
        reconciler: Arc::new(VolumeReconciler {
            context: context.clone(),
            nodes,
        }),
    }
}

impl VolumeReconciler {
    async fn commit(&self, writes: Writes) -> Result<(), BoxError> {
        self.context.writer.commit(writes).await?;
        Ok(())
    }
}

/// Where a volume goes: the node its selector names, if online; else the
/// online, schedulable node carrying the selector's labels with the most
/// free storage (capacity less allocated), the first by name on a tie.
pub fn choose_node<'a>(volume: &Volume, nodes: &'a [Node]) -> Option<&'a Node> {
    let selector = &volume.spec.selector;
    nodes
        .iter()
        .filter(|n| n.status.online && !n.spec.unschedulable)
        .filter(|n| {
            selector
                .node
                .as_ref()
                .is_none_or(|name| *name == n.meta.name)
        })
        .filter(|n| {
            selector
                .labels
                .iter()
                .all(|(k, v)| n.meta.labels.get(k) == Some(v))
        })
        .min_by_key(|n| {
            let free = n
                .status
                .capacity
                .storage
                .bytes()
                .saturating_sub(n.status.allocated.storage.bytes());
            (std::cmp::Reverse(free), n.meta.name.clone())
        })
}

#[async_trait]
impl Reconciler for VolumeReconciler {
    async fn reconcile(&self, key: &str) -> Result<Action, BoxError> {
        let link = SelfLink::parse(Volume::KIND, key)?;
        let Some(mut volume) = self.context.store.find::<Volume>(&link).await? else {
            return Ok(Action::Done);
        };
        // A node's selflink is its name.
        let node = volume
            .spec
            .node
            .as_ref()
            .and_then(|name| self.nodes.get(name));
        if volume.spec.state.destroy {
            let confirmed = volume.status.status.state == State::Destroyed;
            let nobody_to_confirm = node.is_none_or(|n| !n.status.online);
            if confirmed || nobody_to_confirm {
                self.commit(Writes::new().delete(&volume)).await?;
                tracing::info!(volume = key, "volume removed");
            }
            return Ok(Action::Done);
        }
        if volume.spec.node.is_some() {
            return Ok(Action::Done);
        }
        let nodes = self.nodes.list();
        match choose_node(&volume, &nodes) {
            Some(node) => {
                tracing::info!(volume = key, node = node.meta.name, "volume placed");
                volume.spec.node = Some(node.meta.name.clone());
                volume.status.status = Status::new(State::Provision);
            }
            None => {
                let error = Status::with_message(State::Error, NO_NODE);
                if volume.status.status == error {
                    return Ok(Action::Done);
                }
                volume.status.status = error;
            }
        }
        self.commit(Writes::new().update(&volume)?).await?;
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests;
