//! Node operations: registration, status pushes (the heartbeat), labels,
//! removal and the long-polled node manifest from the shared view.

use std::time::Duration;

use super::lease_key;
use crate::api::types::{Ack, List, NodeRegistration, NodeStatusReport};
use crate::api::{Api, ApiError, CAS_ATTEMPTS, Result, too_busy};
use crate::manifest::internal::NodeManifest;
use crate::manifest::{FieldError, ManifestError, Validator};
use crate::model::{Kind, Labels, Meta, Node, Pod, SelfLink, Subnet, SubnetSpec, Volume};
use crate::storage::Revision;

impl Api {
    /// `GET /cluster/node`.
    pub async fn nodes(&self) -> Result<List<Node>> {
        let (items, revision) = self.store.list("").await?;
        Ok(List { items, revision })
    }

    /// `GET /cluster/node/{name}`: `"Node not found"`.
    pub async fn node(&self, name: &str) -> Result<Node> {
        self.get_or_404(&SelfLink::host(Kind::Node, name)).await
    }

    /// `PUT /cluster/node/{name}`: a node agent joins (`true`: the node is
    /// new) or rejoins. Info, capacity and drivers are replaced, labels
    /// merged; the node is online and its heartbeat lease starts.
    pub async fn register_node(&self, name: &str, reg: NodeRegistration) -> Result<(Node, bool)> {
        let link = SelfLink::host(Kind::Node, name);
        // Heartbeat first: the controller marks a node online only while its
        // heartbeat key exists, so an online node without one would flicker.
        self.heartbeat(&lease_key(Kind::Node, name)).await?;
        let mut result = None;
        for _ in 0..CAS_ATTEMPTS {
            match self.store.find::<Node>(&link).await? {
                None => {
                    let mut node = Node {
                        meta: Meta::new(name, &link),
                        info: reg.info.clone(),
                        ..Node::default()
                    };
                    node.meta.labels = reg.labels.clone();
                    node.status.online = true;
                    node.status.capacity = reg.capacity;
                    node.status.state = reg.drivers.clone();
                    match self.store.create(&node).await {
                        Ok(node) => {
                            result = Some((node, true));
                            break;
                        }
                        Err(e) if e.is_exists() => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(mut node) => {
                    let subnet = node.info.subnet.take();
                    node.info = reg.info.clone();
                    if node.info.subnet.is_none() {
                        node.info.subnet = subnet;
                    }
                    node.meta.labels.extend(reg.labels.clone());
                    node.meta.updated = chrono::Utc::now();
                    node.status.online = true;
                    node.status.capacity = reg.capacity;
                    node.status.state = reg.drivers.clone();
                    match self.store.update(&node).await {
                        Ok(node) => {
                            result = Some((node, false));
                            break;
                        }
                        Err(e) if e.is_conflict() || e.is_not_found() => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        result.ok_or_else(|| too_busy(Kind::Node, name))
    }

    /// `PUT /cluster/node/{name}/status`: the agent's whole observed state.
    /// Replaces the node's status (online), each reported pod's status when
    /// that pod is placed on this node, each reported volume's likewise
    /// (others are ignored), and renews the heartbeat. Idempotent.
    pub async fn node_status(&self, name: &str, report: NodeStatusReport) -> Result<Ack> {
        let link = SelfLink::host(Kind::Node, name);
        // Heartbeat before `online = true`, as in registration; but only for
        // a node that exists, so a stray push leaves no heartbeat key behind
        // (read raw: `modify` below decodes it).
        match self.store.storage().get(&link.key()).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Err(ApiError::not_found(Kind::Node, name)),
            Err(e) => return Err(e.into()),
        }
        self.heartbeat(&lease_key(Kind::Node, name)).await?;
        let node = self
            .modify(&link, None, |node: &mut Node| {
                let before = node.status.clone();
                node.status.online = true;
                node.status.capacity = report.capacity;
                node.status.allocated = report.allocated;
                node.status.state = report.drivers.clone();
                Ok(node.status != before)
            })
            .await?;
        if let (Some(spec), Some(subnet)) = (&report.subnet, &node.info.subnet) {
            self.report_subnet(name, subnet, spec).await?;
        }
        self.write_statuses::<Pod>(name, &report.pods).await?;
        self.write_statuses::<Volume>(name, &report.volumes).await?;
        Ok(Ack {
            revision: self.store.storage().revision().await?,
        })
    }

    /// Copies what the agent's overlay driver reports of its own subnet
    /// into the `Subnet` object the controller allocated (not yet there, or
    /// another node's: ignored, the next push repeats it).
    async fn report_subnet(&self, node: &str, subnet: &str, spec: &SubnetSpec) -> Result<()> {
        let Ok(link) = SelfLink::parse(Kind::Subnet, subnet) else {
            return Ok(());
        };
        let written = self
            .modify(&link, None, |s: &mut Subnet| {
                let mut wanted = spec.clone();
                wanted.cidr = s.spec.cidr.clone();
                wanted.addr = wanted.addr.or(s.spec.addr);
                if s.node != node || s.spec == wanted {
                    return Ok(false);
                }
                s.spec = wanted;
                Ok(true)
            })
            .await;
        match written {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }

    /// `PUT /cluster/node/{name}/meta`: replaces the node's labels and
    /// description. The labels follow a manifest's rules, as node selectors
    /// match them.
    pub async fn update_node_meta(
        &self,
        name: &str,
        labels: Labels,
        description: String,
    ) -> Result<Node> {
        let mut validator = Validator::new();
        validator.labels("labels", &labels);
        let errors: Vec<_> = validator
            .into_errors()
            .into_iter()
            .map(|(path, reason)| FieldError::new(1, path, reason))
            .collect();
        if !errors.is_empty() {
            return Err(ManifestError::new(errors).into());
        }
        self.modify(
            &SelfLink::host(Kind::Node, name),
            None,
            |node: &mut Node| {
                let changed = node.meta.labels != labels || node.meta.description != description;
                node.meta.labels = labels.clone();
                node.meta.description = description.clone();
                Ok(changed)
            },
        )
        .await
    }

    /// `DELETE /cluster/node/{name}`: deletes the node, its heartbeat and
    /// its subnet.
    pub async fn remove_node(&self, name: &str) -> Result<Node> {
        let node = self.node(name).await?;
        match self.store.delete(&node).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Err(ApiError::not_found(Kind::Node, name)),
            Err(e) => return Err(e.into()),
        }
        self.drop_heartbeat(&lease_key(Kind::Node, name)).await?;
        let (subnets, _) = self.store.list::<Subnet>("").await?;
        for subnet in subnets.iter().filter(|s| s.node == name) {
            match self.store.delete(subnet).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() || e.is_conflict() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(node)
    }

    /// `GET /cluster/node/{name}/spec`: everything the node should run (see
    /// [`NodeManifest`]). With `after`, when nothing the node cares about
    /// changed after that revision, waits up to `wait` for such a change
    /// and answers then (or with the same content when `wait` ends).
    ///
    /// Served from the view every clone of this `Api` shares (started by
    /// the first call), caught up with the store before each answer.
    pub async fn node_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> Result<NodeManifest> {
        self.node(name).await?;
        let storage = self.store.storage();
        let view = self.views.agents(storage);
        let now = view.catch_up(storage.as_ref()).await?;
        let mut changes = view.subscribe(name);
        match after {
            // A revision from another store (the cluster was rebuilt), or
            // from before the view began: what changed since is unknown.
            Some(after) if after <= now && after >= view.base() => {
                changes.changed_after(after, wait).await;
                view.catch_up(storage.as_ref()).await?;
            }
            _ => {}
        }
        Ok(view.node_manifest(name))
    }
}
