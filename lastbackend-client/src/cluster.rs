//! The cluster and its nodes.

use lastbackend_core::api::types::List;
use lastbackend_core::model::{Cluster, Node};
use lastbackend_core::storage::Revision;

use crate::client::{Client, segment};
use crate::error::Result;
use crate::watch::{WatchStream, watch};

/// The cluster: its summary and its nodes.
pub struct ClusterHandle {
    client: Client,
}

impl ClusterHandle {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Name, description and the node, ingress and discovery counts.
    pub async fn get(&self) -> Result<Cluster> {
        self.client.get("/cluster").await
    }

    /// Every node.
    pub fn nodes(&self) -> Nodes {
        Nodes {
            client: self.client.clone(),
        }
    }

    /// One node, by hostname.
    pub fn node(&self, name: &str) -> NodeHandle {
        NodeHandle {
            client: self.client.clone(),
            path: format!("/cluster/node/{}", segment(name)),
        }
    }
}

/// Every node of the cluster.
pub struct Nodes {
    client: Client,
}

impl Nodes {
    /// Every node, with the revision to watch after.
    pub async fn list(&self) -> Result<List<Node>> {
        self.client.get("/cluster/node").await
    }

    /// The changes after `from` (from now when `None`).
    pub fn watch(&self, from: Option<Revision>) -> WatchStream<Node> {
        watch(self.client.clone(), "/cluster/node".to_owned(), from)
    }
}

/// One node.
pub struct NodeHandle {
    client: Client,
    path: String,
}

impl NodeHandle {
    /// The node: info, drivers, capacity and what is allocated.
    pub async fn get(&self) -> Result<Node> {
        self.client.get(&self.path).await
    }
}
