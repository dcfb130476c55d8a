//! The agents' side: nodes, ingress, discovery and exporter servers
//! register, push their full status (which renews a heartbeat lease) and
//! long-poll their whole desired state.
//!
//! Everything lives in storage, nothing in the process, so any API server
//! can answer any agent: a node's heartbeat is a key `node/lease/<name>`
//! attached to a storage lease of `Settings::node_ttl`; when pushes stop the
//! lease ends, the key is deleted and the controller sees the node go.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::types::{Ack, List, MemberReport, NodeRegistration, NodeStatusReport};
use super::{Api, ApiError, CAS_ATTEMPTS, Result, too_busy};
use crate::manifest::internal::{DiscoveryManifest, IngressManifest, NodeManifest, Revisioned};
use crate::model::{
    Discovery, Endpoint, Exporter, Ingress, Kind, Labels, Meta, Node, Object, Pod, Presence, Route,
    Secret, SelfLink, Subnet, SubnetSpec, Volume,
};
use crate::storage::{Event, EventKind, KeyValue, Revision};

/// The heartbeat key of a node or member: `<kind>/lease/<name>`.
pub fn lease_key(kind: Kind, name: &str) -> String {
    format!("{kind}/lease/{name}")
}

/// A cluster member other than a node.
trait Member: Object + Default + PartialEq {
    /// Takes a report into the object; `online` is set by the caller.
    fn report(&mut self, report: &MemberReport);
    /// Liveness.
    fn presence_mut(&mut self) -> &mut Presence;
}

impl Member for Ingress {
    fn report(&mut self, report: &MemberReport) {
        self.status = report.presence;
    }
    fn presence_mut(&mut self) -> &mut Presence {
        &mut self.status
    }
}

impl Member for Discovery {
    fn report(&mut self, report: &MemberReport) {
        self.status.presence = report.presence;
        self.status.address = report.address;
    }
    fn presence_mut(&mut self) -> &mut Presence {
        &mut self.status.presence
    }
}

impl Member for Exporter {
    fn report(&mut self, report: &MemberReport) {
        self.status.presence = report.presence;
        self.status.http = report.http;
        self.status.listener = report.listener;
    }
    fn presence_mut(&mut self) -> &mut Presence {
        &mut self.status.presence
    }
}

/// Decodes a watched value, `None` for a deletion's empty value or junk.
fn value_of<T: DeserializeOwned>(kv: Option<&KeyValue>) -> Option<T> {
    kv.filter(|kv| !kv.value.is_empty())
        .and_then(|kv| serde_json::from_slice(&kv.value).ok())
}

/// The object after and before an event.
fn both<T: DeserializeOwned>(event: &Event) -> (Option<T>, Option<T>) {
    let new = match event.kind {
        EventKind::Deleted => None,
        _ => value_of(Some(&event.kv)),
    };
    (new, value_of(event.prev.as_ref()))
}

/// Whether the part `f` picks of an object changed in an event.
fn changed<T: DeserializeOwned, V: PartialEq>(event: &Event, f: impl Fn(&T) -> V) -> bool {
    let (new, old) = both::<T>(event);
    new.as_ref().map(&f) != old.as_ref().map(&f)
}

/// The selflink of a watched key (`pod/demo:web:d_v1:abc` → `demo:web:d_v1:abc`).
fn link_of(event: &Event, collection: &str) -> String {
    event
        .kv
        .key
        .strip_prefix(collection)
        .and_then(|k| k.strip_prefix('/'))
        .unwrap_or_default()
        .to_owned()
}

/// Where pods and proxies resolve names: ready discovery servers.
fn resolvers(discoveries: &[Discovery]) -> Vec<SocketAddr> {
    discoveries.iter().filter_map(resolver).collect()
}

pub(super) fn resolver(d: &Discovery) -> Option<SocketAddr> {
    let p = d.status.presence;
    (p.ready && p.online).then_some(d.status.address).flatten()
}

pub(super) fn exporter_listener(e: &Exporter) -> Option<SocketAddr> {
    let p = e.status.presence;
    (p.ready && p.online).then_some(e.status.listener).flatten()
}

impl Api {
    /// Keeps the heartbeat key `key` alive, or grants a new lease and makes
    /// the key again when its lease has ended (the member came back).
    async fn heartbeat(&self, key: &str) -> Result<()> {
        let storage = self.store.storage();
        for _ in 0..CAS_ATTEMPTS {
            match storage.get(key).await {
                Ok(kv) => {
                    if let Some(lease) = kv.lease {
                        match storage.lease_keep_alive(lease).await {
                            Ok(_) => return Ok(()),
                            Err(e) if e.is_not_found() => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    // The lease ended but its key is still there: it is
                    // being deleted; replace it.
                    match storage.del(key, Some(kv.mod_revision)).await {
                        Ok(_) => {}
                        Err(e) if e.is_not_found() || e.is_conflict() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            let lease = storage.lease_grant(self.settings.node_ttl).await?;
            let value = serde_json::json!({ "lease": lease }).to_string();
            match storage.put(key, value.into(), Some(lease)).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_exists() => {
                    // Another API server made it first: keep theirs.
                    let _ = storage.lease_revoke(lease).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Conflict(format!(
            "heartbeat {key} keeps changing"
        )))
    }

    /// Deletes a heartbeat key and ends its lease, if any.
    async fn drop_heartbeat(&self, key: &str) -> Result<()> {
        let storage = self.store.storage();
        match storage.get(key).await {
            Ok(kv) => {
                if let Some(lease) = kv.lease {
                    match storage.lease_revoke(lease).await {
                        Ok(()) => return Ok(()),
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                match storage.del(key, None).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    // Nodes.

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
    /// description.
    pub async fn update_node_meta(
        &self,
        name: &str,
        labels: Labels,
        description: String,
    ) -> Result<Node> {
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

    /// Answers `compute()` at once, or, when `after` is given, once a
    /// relevant change after it shows on a watch of `prefixes` (or the
    /// history is compacted, or `wait` ends).
    async fn long_poll<M, F, Fut>(
        &self,
        after: Option<Revision>,
        wait: Duration,
        prefixes: &[&str],
        compute: F,
        relevant: impl Fn(&Event, &M) -> bool,
    ) -> Result<M>
    where
        M: Revisioned,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<M>>,
    {
        let current = compute().await?;
        let Some(after) = after else {
            return Ok(current);
        };
        let storage = self.store.storage();
        if after > storage.revision().await? {
            // A revision from another store (the cluster was rebuilt).
            return Ok(current);
        }
        let mut watches = Vec::with_capacity(prefixes.len());
        for prefix in prefixes {
            match storage.watch(prefix, Some(after)).await {
                Ok(w) => watches.push(w),
                Err(e) if e.is_compacted() => return Ok(current),
                Err(e) => return Err(e.into()),
            }
        }
        let mut events = futures::stream::select_all(watches);
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return compute().await,
                event = events.next() => match event {
                    Some(Ok(event)) if relevant(&event, &current) => return compute().await,
                    Some(Ok(_)) => {}
                    Some(Err(e)) if e.is_compacted() => return compute().await,
                    Some(Err(e)) => return Err(e.into()),
                    None => return compute().await,
                },
            }
        }
    }

    // Ingress, discovery and exporter servers.

    async fn register<T: Member>(&self, name: &str, report: &MemberReport) -> Result<(T, bool)> {
        let link = SelfLink::host(T::KIND, name);
        self.heartbeat(&lease_key(T::KIND, name)).await?;
        let mut result = None;
        for _ in 0..CAS_ATTEMPTS {
            let (mut obj, created) = match self.store.find::<T>(&link).await? {
                Some(obj) => (obj, false),
                None => {
                    let mut obj = T::default();
                    *obj.meta_mut() = Meta::new(name, &link);
                    (obj, true)
                }
            };
            obj.report(report);
            obj.presence_mut().online = true;
            let written = if created {
                self.store.create(&obj).await
            } else {
                obj.meta_mut().updated = chrono::Utc::now();
                self.store.update(&obj).await
            };
            match written {
                Ok(obj) => {
                    result = Some((obj, created));
                    break;
                }
                Err(e) if e.is_exists() || e.is_conflict() || e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        result.ok_or_else(|| too_busy(T::KIND, name))
    }

    async fn status<T: Member>(&self, name: &str, report: &MemberReport) -> Result<Ack> {
        let link = SelfLink::host(T::KIND, name);
        if self.store.find::<T>(&link).await?.is_none() {
            return Err(ApiError::NotFound {
                kind: T::KIND,
                name: name.to_owned(),
            });
        }
        self.heartbeat(&lease_key(T::KIND, name)).await?;
        self.modify(&link, None, |obj: &mut T| {
            let before = obj.clone();
            obj.report(report);
            obj.presence_mut().online = true;
            Ok(*obj != before)
        })
        .await?;
        if T::KIND == Kind::Ingress {
            for (route, status) in &report.routes {
                let Ok(link) = SelfLink::parse(Kind::Route, route) else {
                    continue;
                };
                let written = self
                    .modify(&link, None, |r: &mut Route| {
                        if r.spec.ingress.as_deref() != Some(name) || r.status == *status {
                            return Ok(false);
                        }
                        r.status = status.clone();
                        Ok(true)
                    })
                    .await;
                match written {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Ack {
            revision: self.store.storage().revision().await?,
        })
    }

    async fn list_members<T: Member>(&self) -> Result<List<T>> {
        let (items, revision) = self.store.list("").await?;
        Ok(List { items, revision })
    }

    async fn remove_member_of<T: Member>(&self, name: &str) -> Result<T> {
        let obj: T = self.get_or_404(&SelfLink::host(T::KIND, name)).await?;
        match self.store.delete(&obj).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Err(ApiError::not_found(T::KIND, name)),
            Err(e) => return Err(e.into()),
        }
        self.drop_heartbeat(&lease_key(T::KIND, name)).await?;
        Ok(obj)
    }

    /// `PUT /ingress/{name}`: registers an ingress server (`true`: new).
    pub async fn register_ingress(
        &self,
        name: &str,
        report: MemberReport,
    ) -> Result<(Ingress, bool)> {
        self.register(name, &report).await
    }

    /// `PUT /discovery/{name}`: registers a discovery server (`true`: new).
    pub async fn register_discovery(
        &self,
        name: &str,
        report: MemberReport,
    ) -> Result<(Discovery, bool)> {
        self.register(name, &report).await
    }

    /// `PUT /exporter/{name}`: registers an exporter (`true`: new).
    pub async fn register_exporter(
        &self,
        name: &str,
        report: MemberReport,
    ) -> Result<(Exporter, bool)> {
        self.register(name, &report).await
    }

    /// `PUT /{ingress,discovery,exporter}/{name}`, by kind, answering the
    /// object as JSON; 400 for another kind.
    pub async fn register_member(
        &self,
        kind: Kind,
        name: &str,
        report: MemberReport,
    ) -> Result<(serde_json::Value, bool)> {
        fn json<T: Object>((obj, created): (T, bool)) -> Result<(serde_json::Value, bool)> {
            Ok((to_json(&obj)?, created))
        }
        match kind {
            Kind::Ingress => json(self.register_ingress(name, report).await?),
            Kind::Discovery => json(self.register_discovery(name, report).await?),
            Kind::Exporter => json(self.register_exporter(name, report).await?),
            other => Err(not_a_member(other)),
        }
    }

    /// `PUT /{ingress,discovery,exporter}/{name}/status`: presence and
    /// addresses; an ingress's route states go into those routes' status.
    /// Renews the heartbeat.
    pub async fn member_status(&self, kind: Kind, name: &str, report: MemberReport) -> Result<Ack> {
        match kind {
            Kind::Ingress => self.status::<Ingress>(name, &report).await,
            Kind::Discovery => self.status::<Discovery>(name, &report).await,
            Kind::Exporter => self.status::<Exporter>(name, &report).await,
            other => Err(not_a_member(other)),
        }
    }

    /// `GET /{ingress,discovery,exporter}`, by kind, as JSON.
    pub async fn members(&self, kind: Kind) -> Result<List<serde_json::Value>> {
        fn json<T: Object>(list: List<T>) -> Result<List<serde_json::Value>> {
            Ok(List {
                items: list.items.iter().map(to_json).collect::<Result<_>>()?,
                revision: list.revision,
            })
        }
        match kind {
            Kind::Ingress => json(self.ingresses().await?),
            Kind::Discovery => json(self.discoveries().await?),
            Kind::Exporter => json(self.exporters().await?),
            other => Err(not_a_member(other)),
        }
    }

    /// `GET /{ingress,discovery,exporter}/{name}`, by kind, as JSON.
    pub async fn member(&self, kind: Kind, name: &str) -> Result<serde_json::Value> {
        match kind {
            Kind::Ingress => to_json(&self.ingress(name).await?),
            Kind::Discovery => to_json(&self.discovery(name).await?),
            Kind::Exporter => to_json(&self.exporter(name).await?),
            other => Err(not_a_member(other)),
        }
    }

    /// `DELETE /{ingress,discovery,exporter}/{name}`, by kind: deletes it and
    /// its heartbeat, answering it as it was.
    pub async fn remove_member(&self, kind: Kind, name: &str) -> Result<serde_json::Value> {
        match kind {
            Kind::Ingress => to_json(&self.remove_member_of::<Ingress>(name).await?),
            Kind::Discovery => to_json(&self.remove_member_of::<Discovery>(name).await?),
            Kind::Exporter => to_json(&self.remove_member_of::<Exporter>(name).await?),
            other => Err(not_a_member(other)),
        }
    }

    /// `GET /ingress`.
    pub async fn ingresses(&self) -> Result<List<Ingress>> {
        self.list_members().await
    }

    /// `GET /discovery`.
    pub async fn discoveries(&self) -> Result<List<Discovery>> {
        self.list_members().await
    }

    /// `GET /exporter`.
    pub async fn exporters(&self) -> Result<List<Exporter>> {
        self.list_members().await
    }

    /// `GET /ingress/{name}`: `"Ingress not found"`.
    pub async fn ingress(&self, name: &str) -> Result<Ingress> {
        self.get_or_404(&SelfLink::host(Kind::Ingress, name)).await
    }

    /// `GET /discovery/{name}`.
    pub async fn discovery(&self, name: &str) -> Result<Discovery> {
        self.get_or_404(&SelfLink::host(Kind::Discovery, name))
            .await
    }

    /// `GET /exporter/{name}`.
    pub async fn exporter(&self, name: &str) -> Result<Exporter> {
        self.get_or_404(&SelfLink::host(Kind::Exporter, name)).await
    }

    /// `GET /ingress/{name}/spec`: the routes assigned to this ingress, the
    /// endpoints of the services they name, every subnet and the resolvers;
    /// long-polls as [`Api::node_manifest`].
    pub async fn ingress_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> Result<IngressManifest> {
        self.ingress(name).await?;
        let mine = |ingress: Option<&str>| ingress == Some(name);
        self.long_poll(
            after,
            wait,
            &[
                "route/",
                "endpoint/",
                "subnet/",
                "discovery/info/",
                "secret/",
            ],
            || self.compute_ingress_manifest(name),
            |event, current| match event.kv.key.split('/').next().unwrap_or_default() {
                "route" => {
                    let (new, old) = both::<Route>(event);
                    let here = new
                        .iter()
                        .chain(&old)
                        .any(|r| mine(r.spec.ingress.as_deref()));
                    here && new.map(|r| r.spec) != old.map(|r| r.spec)
                }
                "endpoint" => {
                    route_endpoints(&current.routes).contains(&link_of(event, "endpoint"))
                        && changed(event, |e: &Endpoint| e.spec.clone())
                }
                "subnet" => changed(event, |s: &Subnet| s.spec.clone()),
                "discovery" => changed(event, resolver),
                "secret" => {
                    route_secrets(&current.routes).contains(&link_of(event, "secret"))
                        && changed(event, |s: &Secret| s.spec.clone())
                }
                _ => false,
            },
        )
        .await
    }

    async fn compute_ingress_manifest(&self, name: &str) -> Result<IngressManifest> {
        let (routes, r1) = self.store.list::<Route>("").await?;
        let (subnets, r2) = self.store.list::<Subnet>("").await?;
        let (discoveries, r3) = self.store.list::<Discovery>("").await?;
        let mut m = IngressManifest {
            revision: r1.min(r2).min(r3),
            resolvers: resolvers(&discoveries),
            routes: routes
                .into_iter()
                .filter(|r| r.spec.ingress.as_deref() == Some(name))
                .map(|r| (r.meta.self_link, r.spec))
                .collect(),
            subnets: subnets
                .into_iter()
                .map(|s| (s.meta.self_link, s.spec))
                .collect(),
            ..IngressManifest::default()
        };
        for link in route_endpoints(&m.routes) {
            if let Ok(link) = SelfLink::parse(Kind::Endpoint, &link)
                && let Some(endpoint) = self.store.find::<Endpoint>(&link).await?
            {
                m.endpoints.insert(endpoint.meta.self_link, endpoint.spec);
            }
        }
        for link in route_secrets(&m.routes) {
            if let Ok(link) = SelfLink::parse(Kind::Secret, &link)
                && let Some(secret) = self.store.find::<Secret>(&link).await?
            {
                m.secrets.insert(secret.meta.self_link, secret.spec);
            }
        }
        Ok(m)
    }

    /// `GET /discovery/{name}/spec`: every subnet; long-polls as
    /// [`Api::node_manifest`].
    pub async fn discovery_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> Result<DiscoveryManifest> {
        self.discovery(name).await?;
        self.long_poll(
            after,
            wait,
            &["subnet/"],
            || async {
                let (subnets, revision) = self.store.list::<Subnet>("").await?;
                Ok(DiscoveryManifest {
                    revision,
                    subnets: subnets
                        .into_iter()
                        .map(|s| (s.meta.self_link, s.spec))
                        .collect(),
                })
            },
            |event, _| changed(event, |s: &Subnet| s.spec.clone()),
        )
        .await
    }
}

/// `ns:service` links of the endpoints routes send traffic to.
fn route_endpoints(routes: &BTreeMap<String, crate::model::RouteSpec>) -> BTreeSet<String> {
    routes
        .iter()
        .flat_map(|(link, route)| {
            let ns = link.split(':').next().unwrap_or_default();
            route
                .rules
                .iter()
                .map(move |rule| format!("{ns}:{}", rule.service))
        })
        .collect()
}

/// `ns:secret` links of the secrets routes terminate TLS with.
fn route_secrets(routes: &BTreeMap<String, crate::model::RouteSpec>) -> BTreeSet<String> {
    routes
        .iter()
        .filter_map(|(link, route)| {
            let ns = link.split(':').next().unwrap_or_default();
            let secret = route.tls.as_ref()?.secret.as_deref()?;
            Some(format!("{ns}:{secret}"))
        })
        .collect()
}

fn to_json<T: Object>(obj: &T) -> Result<serde_json::Value> {
    serde_json::to_value(obj).map_err(|e| {
        ApiError::Storage(crate::storage::Error::Invalid(format!(
            "cannot encode {}: {e}",
            obj.key()
        )))
    })
}

fn not_a_member(kind: Kind) -> ApiError {
    ApiError::BadRequest(format!(
        "{kind} is not a cluster member kind; expected ingress, discovery or exporter"
    ))
}
