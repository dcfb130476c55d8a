//! The deployment reconciler: keeps a deployment's pods at its replicas,
//! placed by the scheduler, and derives its status from them.
//!
//! - A secret, config or volume the template names that is missing (a
//!   volume: or not yet `ready`) makes the deployment `waiting` (the names
//!   in the message); nothing starts.
//! - Missing pods are created (names: 7 random hex characters, create-only)
//!   and placed at once with the [`Policy`](crate::scheduler::Policy) over
//!   a [`Snapshot`] of the nodes and pods. An unschedulable pod is kept in
//!   state `error` with the scheduler's reason, and the deployment is
//!   retried with the controller's backoff. A pod follows its persistent
//!   volumes' node; volumes on different nodes make it unschedulable,
//!   saying which.
//! - Extra pods are removed in the contract's victim order: error first,
//!   then not ready, then ready, newest first in each group.
//! - A pod on an offline (or vanished) node is deleted at once, nobody will
//!   confirm its removal, and replaced.
//! - A pod on a node in maintenance (`spec.maintenance`) is replaced on
//!   another node and removed once the deployment is ready without it.
//! - A pod in maintenance (`spec.state.maintenance`) is left alone: never a
//!   scale-down victim, never moved off a node in maintenance (it still
//!   goes with its deployment, or with its node when that goes offline).
//! - Removal: a placed pod is marked `spec.state.destroy`; its agent removes
//!   it and reports `destroyed`; then the pod is deleted.
//! - Destroy: every pod is removed; with none left the deployment becomes
//!   `destroyed`, then it is deleted.
//!
//! Everything is read from the store (not the watch caches), so the counts
//! are never stale and a repeated or restarted reconcile never duplicates a
//! pod.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::manager::{BuiltController, Context, ReconcileError};
use super::runtime::{Action, Cache, Reconciler};
use crate::model::{
    Config, Dependencies, DependencyState, Deployment, Kind, Meta, Node, NodeSpec, Pod, PodSpec,
    Secret, SelfLink, State, Status, Volume,
};
use crate::scheduler::{PodRequest, Snapshot};
use crate::storage::BoxError;
use crate::store::{Store, Writes};

/// Builds the deployment controller: a deployment is reconciled when it,
/// one of its pods, a node its pods are on, or a secret, config or volume of its namespace
/// changes.
pub fn build(context: &Context) -> BuiltController {
    let mut controller = context.controller();
    let deployments = controller.watch::<Deployment>("", |d| vec![d.meta.self_link.clone()]);
    let pods = controller.watch::<Pod>("", |p| parent(&p.meta.self_link, Kind::Pod));
    let nodes = controller.watch::<Node>("", move |n| {
        on_node(&pods, &n.meta.name, |p| parent(p, Kind::Pod))
    });
    let in_namespace = |cache: &Arc<Cache<Deployment>>| {
        let cache = Arc::clone(cache);
        move |ns: Option<&String>| match ns {
            Some(ns) => cache
                .list_prefix(&format!("{ns}:"))
                .into_iter()
                .map(|d| d.meta.self_link)
                .collect(),
            None => Vec::new(),
        }
    };
    let waiting = in_namespace(&deployments);
    controller.watch::<Secret>("", move |s| waiting(s.meta.namespace.as_ref()));
    let waiting = in_namespace(&deployments);
    controller.watch::<Config>("", move |c| waiting(c.meta.namespace.as_ref()));
    let waiting = in_namespace(&deployments);
    controller.watch::<Volume>("", move |v| waiting(v.meta.namespace.as_ref()));
    BuiltController {
        controller,
        reconciler: Arc::new(DeploymentReconciler::new(context.clone()).node_cache(nodes)),
    }
}

/// The owner's selflink of an object of `kind` (a pod's deployment).
pub(super) fn parent(self_link: &str, kind: Kind) -> Vec<String> {
    SelfLink::parse(kind, self_link)
        .ok()
        .and_then(|l| l.parent())
        .map(|p| p.to_string())
        .into_iter()
        .collect()
}

/// The keys `key_of` gives the selflinks of the pods placed on `node`: a
/// node's change concerns only the owners of its pods (pods waiting for a
/// node are retried by their deployment's backoff).
pub(super) fn on_node(
    pods: &Cache<Pod>,
    node: &str,
    key_of: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut keys: Vec<String> = pods
        .scan(|p| (p.spec.node.as_deref() == Some(node)).then(|| key_of(&p.meta.self_link)))
        .into_iter()
        .flatten()
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The store prefix of a deployment's pods: `<ns>:<svc>:d_<name>:`.
pub(super) fn pods_prefix(deployment: &SelfLink) -> Option<String> {
    match deployment {
        SelfLink::Deployment {
            namespace,
            service,
            name,
        } => Some(format!("{namespace}:{service}:d_{name}:")),
        _ => None,
    }
}

/// Whether a node of this name exists and is online.
pub(super) fn online(nodes: &BTreeMap<String, bool>, node: Option<&str>) -> bool {
    node.and_then(|n| nodes.get(n)).copied().unwrap_or(false)
}

/// What the reconcilers read of a node; the rest of it (info, capacity,
/// drivers) is skipped, not decoded, as this runs on every reconcile.
#[derive(Default, Deserialize)]
struct NodeFlags {
    #[serde(default)]
    spec: NodeSpec,
    #[serde(default)]
    status: Online,
}

#[derive(Default, Deserialize)]
struct Online {
    #[serde(default)]
    online: bool,
}

/// Node names to their online flag, and the nodes in maintenance.
pub(super) type NodeStates = (BTreeMap<String, bool>, BTreeSet<String>);

/// [`NodeStates`] from the reconciler's node watch cache when it has one
/// (that watch queues its reconciles, and caches a change before queueing
/// it, so a reconcile never sees an older node than its trigger), else
/// read from the store.
pub(super) async fn node_states(
    store: &Store,
    cache: Option<&Cache<Node>>,
) -> Result<NodeStates, crate::storage::Error> {
    if let Some(cache) = cache {
        let mut draining = BTreeSet::new();
        let online = cache
            .scan(|n| {
                if n.spec.maintenance {
                    draining.insert(n.meta.name.clone());
                }
                Some((n.meta.name.clone(), n.status.online))
            })
            .into_iter()
            .collect();
        return Ok((online, draining));
    }
    let prefix = format!("{}/", Kind::Node.collection());
    let list = store.storage().list(&prefix).await?;
    let mut online = BTreeMap::new();
    let mut draining = BTreeSet::new();
    for kv in list.items {
        let Some(name) = kv.key.strip_prefix(&prefix) else {
            continue;
        };
        let flags: NodeFlags =
            serde_json::from_slice(&kv.value).map_err(|e| crate::storage::Error::Corrupt {
                key: kv.key.clone(),
                reason: e.to_string(),
            })?;
        if flags.spec.maintenance {
            draining.insert(name.to_owned());
        }
        online.insert(name.to_owned(), flags.status.online);
    }
    Ok((online, draining))
}

/// A pod's place in the scale-down order: lower goes first.
fn victim_rank(pod: &Pod) -> u8 {
    if pod.status.status.state == State::Error {
        0
    } else if !pod.status.ready {
        1
    } else {
        2
    }
}

/// The pods to remove to get from `live` down to `replicas`: error first,
/// then not ready, then ready, newest first within each.
pub fn scale_down_victims(live: &[Pod], replicas: u32) -> Vec<Pod> {
    let excess = live.len().saturating_sub(replicas as usize);
    let mut ordered: Vec<&Pod> = live.iter().collect();
    ordered.sort_by_key(|p| (victim_rank(p), Reverse(p.meta.created), p.meta.name.clone()));
    ordered.into_iter().take(excess).cloned().collect()
}

/// A deployment's status from its live pods (those not being removed):
/// all wanted pods ready → ready; some error and none running → error (the
/// first error's message); any being placed or started → provision;
/// otherwise degradation.
pub fn derive_status(replicas: u32, live: &[Pod]) -> (Status, u32) {
    let ready = live.iter().filter(|p| p.status.ready).count();
    let ready_u32 = u32::try_from(ready).unwrap_or(u32::MAX);
    if live.len() == replicas as usize && ready == live.len() {
        return (Status::new(State::Ready), ready_u32);
    }
    let error = live.iter().find(|p| p.status.status.state == State::Error);
    let running = live.iter().any(|p| p.status.running);
    if let (Some(error), false) = (error, running) {
        return (
            Status::with_message(State::Error, error.status.status.message.clone()),
            ready_u32,
        );
    }
    let provisioning = live.len() < replicas as usize
        || live
            .iter()
            .any(|p| matches!(p.status.status.state, State::Created | State::Provision));
    if provisioning {
        return (Status::new(State::Provision), ready_u32);
    }
    (Status::new(State::Degradation), ready_u32)
}

/// A fresh pod name: 7 random hex characters.
fn pod_name() -> String {
    let mut name = uuid::Uuid::new_v4().simple().to_string();
    name.truncate(7);
    name
}

/// Keeps deployments' pods at their replicas.
#[derive(Debug)]
pub struct DeploymentReconciler {
    context: Context,
    /// Held from the snapshot to the commit of a placement, so two workers
    /// never place on a node the room only one of them saw.
    placing: tokio::sync::Mutex<()>,
    /// Nodes from the watch that queues reconciles; else read each time.
    nodes: Option<Arc<Cache<Node>>>,
}

impl DeploymentReconciler {
    /// A reconciler reading and writing through `context`.
    pub fn new(context: Context) -> Self {
        Self {
            context,
            placing: tokio::sync::Mutex::new(()),
            nodes: None,
        }
    }

    /// Reads nodes' states from this watch cache, which must queue the
    /// reconciles of pods' deployments on node changes (as [`build`]'s).
    pub fn node_cache(mut self, nodes: Arc<Cache<Node>>) -> Self {
        self.nodes = Some(nodes);
        self
    }

    /// Reconciles the deployment with this selflink.
    pub async fn reconcile_deployment(&self, key: &str) -> Result<Action, ReconcileError> {
        let Ok(link) = SelfLink::parse(Kind::Deployment, key) else {
            return Ok(Action::Done);
        };
        let store = &self.context.store;
        let Some(deployment) = store.find::<Deployment>(&link).await? else {
            return Ok(Action::Done);
        };
        let prefix = pods_prefix(&link).unwrap_or_default();
        let (pods, _) = store.list::<Pod>(&prefix).await?;
        let (states, draining) = node_states(store, self.nodes.as_deref()).await?;
        if deployment.spec.state.destroy {
            return self.destroy(deployment, pods, &states).await;
        }
        let waiting = self.dependencies(&link, deployment.clone()).await?;

        let mut writes = Writes::new();
        let mut live = Vec::new();
        for pod in pods {
            let placed = pod.spec.node.is_some();
            let lost = placed && !online(&states, pod.spec.node.as_deref());
            let removed = pod.status.status.state == State::Destroyed
                || lost
                || (pod.spec.state.destroy && !placed);
            if removed {
                writes = writes.delete(&pod);
            } else if !pod.spec.state.destroy {
                live.push(pod);
            }
        }

        // Nothing starts while a dependency is missing; the pods gone are
        // cleaned up all the same.
        if let Some(waiting) = waiting {
            if waiting != deployment {
                writes = writes.update(&waiting)?;
            }
            if !writes.is_empty() {
                self.context.writer.commit(writes).await?;
            }
            return Ok(Action::Done);
        }

        // Pods to write, by selflink, with whether they are new.
        let mut changed: BTreeMap<String, (Pod, bool)> = BTreeMap::new();
        let replicas = deployment.spec.replicas;
        // Pods on a node in maintenance move: they are replaced now and go
        // once the deployment is ready without them (a pod in maintenance
        // itself stays).
        let (leaving, mut live): (Vec<Pod>, Vec<Pod>) = live.into_iter().partition(|p| {
            !p.spec.state.maintenance && p.spec.node.as_ref().is_some_and(|n| draining.contains(n))
        });
        if live.len() > replicas as usize {
            // Pods in maintenance are kept; they count towards replicas.
            let (kept, candidates): (Vec<Pod>, Vec<Pod>) =
                live.iter().cloned().partition(|p| p.spec.state.maintenance);
            let room = replicas.saturating_sub(u32::try_from(kept.len()).unwrap_or(u32::MAX));
            for mut victim in scale_down_victims(&candidates, room) {
                live.retain(|p| p.meta.self_link != victim.meta.self_link);
                if victim.spec.node.is_none() {
                    writes = writes.delete(&victim);
                } else {
                    victim.spec.state.destroy = true;
                    changed.insert(victim.meta.self_link.clone(), (victim, false));
                }
            }
        }
        while live.len() < replicas as usize {
            let pod = new_pod(&link, &deployment);
            changed.insert(pod.meta.self_link.clone(), (pod.clone(), true));
            live.push(pod);
        }
        let replaced = live.iter().filter(|p| p.status.ready).count() >= replicas as usize;
        for mut pod in leaving {
            if replaced {
                pod.spec.state.destroy = true;
                changed.insert(pod.meta.self_link.clone(), (pod, false));
            }
        }

        let _placing = if live.iter().any(|p| p.spec.node.is_none()) {
            Some(self.placing.lock().await)
        } else {
            None
        };
        let unschedulable = self.place(&mut live, &mut changed).await?;

        for (pod, new) in changed.values() {
            writes = if *new {
                writes.create(pod)?
            } else {
                writes.update(pod)?
            };
        }
        let (status, ready) = derive_status(replicas, &live);
        let mut updated = deployment.clone();
        updated.status.status = status;
        updated.status.ready = ready;
        updated.status.dependencies = ready_dependencies(&deployment);
        if updated != deployment {
            writes = writes.update(&updated)?;
        }
        if !writes.is_empty() {
            self.context.writer.commit(writes).await?;
            let created = changed.values().filter(|(_, new)| *new).count();
            tracing::debug!(
                deployment = key,
                created,
                changed = changed.len() - created,
                "pods written"
            );
        }
        match unschedulable {
            Some((pods, message)) => Err(ReconcileError::Unschedulable {
                deployment: key.to_owned(),
                pods,
                message,
            }),
            None => Ok(Action::Done),
        }
    }

    /// Places every unplaced pod of `live`; returns how many could not be
    /// placed and why.
    async fn place(
        &self,
        live: &mut [Pod],
        changed: &mut BTreeMap<String, (Pod, bool)>,
    ) -> Result<Option<(usize, String)>, ReconcileError> {
        if live.iter().all(|p| p.spec.node.is_some()) {
            return Ok(None);
        }
        let store = &self.context.store;
        let (nodes, _) = store.list::<Node>("").await?;
        let (all_pods, _) = store.list::<Pod>("").await?;
        let mut snapshot = Snapshot::new(&nodes, &all_pods);
        let policy = &self.context.settings.policy;
        let mut failed = 0;
        let mut reason = String::new();
        for pod in live.iter_mut().filter(|p| p.spec.node.is_none()) {
            let before = pod.clone();
            let mut request = PodRequest::from_pod(pod);
            let placed = match self.volume_node(pod).await? {
                Ok(node) => {
                    if let Some(node) = node {
                        request = request.on_volume_node(node);
                    }
                    policy
                        .place(&snapshot, &request)
                        .map_err(|why| why.to_string())
                }
                Err(why) => Err(why),
            };
            match placed {
                Ok(placement) => {
                    // The node came from the snapshot: it is known.
                    let _ = snapshot.assume(&placement.node, &request);
                    pod.spec.node = Some(placement.node);
                    pod.status.status = Status::new(State::Provision);
                }
                Err(why) => {
                    failed += 1;
                    reason = why;
                    pod.status.status = Status::with_message(State::Error, reason.clone());
                }
            }
            match changed.get_mut(&pod.meta.self_link) {
                Some(entry) => entry.0 = pod.clone(),
                None if *pod != before => {
                    changed.insert(pod.meta.self_link.clone(), (pod.clone(), false));
                }
                None => {}
            }
        }
        Ok((failed > 0).then_some((failed, reason)))
    }

    /// The node the pod's persistent volumes are on, if they are placed;
    /// `Err` saying which when they are on different nodes (a pod mounts
    /// them all on its own node).
    async fn volume_node(
        &self,
        pod: &Pod,
    ) -> Result<Result<Option<String>, String>, ReconcileError> {
        let Some(ns) = pod.meta.namespace.as_deref() else {
            return Ok(Ok(None));
        };
        let mut first: Option<(&str, String)> = None;
        for name in pod.spec.template.persistent_volumes() {
            let link = SelfLink::namespaced(Kind::Volume, ns, name);
            let volume = self.context.store.find::<Volume>(&link).await?;
            let Some(node) = volume.and_then(|v| v.spec.node) else {
                continue;
            };
            match &first {
                None => first = Some((name, node)),
                Some((other, there)) if *there != node => {
                    return Ok(Err(format!(
                        "volume {other} is on node {there} and volume {name} on node {node}: \
                         a pod needs all its volumes on one node"
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(Ok(first.map(|(_, node)| node)))
    }

    /// `Some(deployment in waiting)` when a dependency is missing.
    async fn dependencies(
        &self,
        link: &SelfLink,
        mut deployment: Deployment,
    ) -> Result<Option<Deployment>, ReconcileError> {
        let ns = link.namespace_name().unwrap_or_default();
        let store = &self.context.store;
        let template = &deployment.spec.template;
        let mut deps = Dependencies::default();
        let mut missing = Vec::new();
        for name in template.secrets() {
            let link = SelfLink::namespaced(Kind::Secret, ns, name);
            let there = store.find::<Secret>(&link).await?.is_some();
            deps.secrets.insert(name.to_owned(), state_of(there));
            if !there {
                missing.push(format!("secret {name}"));
            }
        }
        for name in template.configs() {
            let link = SelfLink::namespaced(Kind::Config, ns, name);
            let there = store.find::<Config>(&link).await?.is_some();
            deps.configs.insert(name.to_owned(), state_of(there));
            if !there {
                missing.push(format!("config {name}"));
            }
        }
        for name in template.persistent_volumes() {
            let link = SelfLink::namespaced(Kind::Volume, ns, name);
            let volume = store
                .find::<Volume>(&link)
                .await?
                .filter(|v| !v.spec.state.destroy);
            // Pods start once their volumes are made on their node, not
            // merely asked for.
            let ready = volume.as_ref().is_some_and(|v| v.status.ready);
            deps.volumes.insert(name.to_owned(), state_of(ready));
            match volume {
                None => missing.push(format!("volume {name}")),
                Some(_) if !ready => missing.push(format!("volume {name} to be ready")),
                Some(_) => {}
            }
        }
        if missing.is_empty() {
            return Ok(None);
        }
        deployment.status.status = Status::with_message(
            State::Waiting,
            format!("waiting for {}", missing.join(", ")),
        );
        deployment.status.dependencies = deps;
        Ok(Some(deployment))
    }

    async fn destroy(
        &self,
        deployment: Deployment,
        pods: Vec<Pod>,
        nodes: &BTreeMap<String, bool>,
    ) -> Result<Action, ReconcileError> {
        let mut writes = Writes::new();
        let mut remaining = 0;
        for mut pod in pods {
            let gone = pod.status.status.state == State::Destroyed
                || !online(nodes, pod.spec.node.as_deref());
            if gone {
                writes = writes.delete(&pod);
                continue;
            }
            remaining += 1;
            if !pod.spec.state.destroy {
                pod.spec.state.destroy = true;
                writes = writes.update(&pod)?;
            }
        }
        if remaining == 0 && deployment.status.status.state == State::Destroyed {
            writes = writes.delete(&deployment);
        } else {
            let mut updated = deployment.clone();
            let state = if remaining > 0 {
                State::Destroy
            } else {
                State::Destroyed
            };
            updated.status.status = Status::new(state);
            updated.status.ready = 0;
            if updated != deployment {
                writes = writes.update(&updated)?;
            }
        }
        if !writes.is_empty() {
            self.context.writer.commit(writes).await?;
        }
        Ok(Action::Done)
    }
}

fn state_of(there: bool) -> DependencyState {
    if there {
        DependencyState::Ready
    } else {
        DependencyState::Waiting
    }
}

/// Every dependency of the template, all there.
fn ready_dependencies(deployment: &Deployment) -> Dependencies {
    let template = &deployment.spec.template;
    let ready = |names: Vec<&str>| {
        names
            .into_iter()
            .map(|n| (n.to_owned(), DependencyState::Ready))
            .collect()
    };
    Dependencies {
        volumes: ready(template.persistent_volumes()),
        secrets: ready(template.secrets()),
        configs: ready(template.configs()),
    }
}

fn new_pod(deployment_link: &SelfLink, deployment: &Deployment) -> Pod {
    let (ns, svc) = match deployment_link {
        SelfLink::Deployment {
            namespace, service, ..
        } => (namespace.as_str(), service.as_str()),
        _ => ("", ""),
    };
    let name = pod_name();
    let link = SelfLink::pod(ns, svc, deployment.meta.name.clone(), &name);
    Pod {
        meta: Meta::new(name, &link),
        spec: PodSpec {
            selector: deployment.spec.selector.clone(),
            template: deployment.spec.template.clone(),
            ..PodSpec::default()
        },
        ..Pod::default()
    }
}

#[async_trait]
impl Reconciler for DeploymentReconciler {
    async fn reconcile(&self, key: &str) -> Result<Action, BoxError> {
        Ok(self.reconcile_deployment(key).await?)
    }
}
