//! The service reconciler: a service's deployments, rollout, endpoint and
//! status.
//!
//! - Each new `spec.generation` gets a deployment `v<N+1>` (create-only, so
//!   a repeated reconcile never makes two), and so does a template or
//!   selector that differs from the newest deployment's even without a new
//!   generation (a writer that forgot to bump it); a replicas change scales
//!   the current deployment in place.
//! - Rollout from the active deployment (`status.active`) to the current
//!   one: blue/green scales the new one up and switches traffic to it when
//!   it is ready, then destroys the old one; rolling steps both by
//!   [`rolling_step_many`], keeping on
//!   the old side the superseded deployments of an unfinished rolling
//!   update that still serve. A failing new deployment never takes the old
//!   one down. Other deployments that are neither active nor current are
//!   destroyed.
//! - The endpoint exists iff the service has ports: VIP from IPAM (released
//!   when it goes), domain, ports, and as upstreams the pod IPs of the
//!   ready pods of the active deployment (during a rolling update, of all
//!   its deployments) on online nodes.
//! - Status mirrors the deployment being rolled out, else the active one; a
//!   failed rollout leaves the active one's state with the failure in the
//!   message.
//! - Destroy: the endpoint is removed and its VIP released, every
//!   deployment is destroyed, and with none left the service is deleted.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use async_trait::async_trait;

use super::deployment::{node_states, on_node, online};
use super::manager::{BuiltController, Context, ReconcileError};
use super::rollout::{Side, rolling_step_many};
use super::runtime::{Action, Cache, Reconciler};
use crate::model::{
    Deployment, DeploymentSpec, DeploymentStatus, Endpoint, EndpointSpec, Kind, Meta, Namespace,
    Node, Pod, SelfLink, Service, State, Status, StrategyKind,
};
use crate::storage::BoxError;
use crate::store::Writes;

/// Builds the service controller: a service is reconciled when it, its
/// namespace, its endpoint, one of its deployments or pods, or a node its
/// pods are on changes.
pub fn build(context: &Context) -> BuiltController {
    let mut controller = context.controller();
    let services = controller.watch::<Service>("", |s| vec![s.meta.self_link.clone()]);
    // The namespace's internal zone makes the services' domains.
    controller.watch::<Namespace>("", move |ns| {
        let prefix = format!("{}:", ns.meta.name);
        services
            .list_prefix(&prefix)
            .into_iter()
            .map(|s| s.meta.self_link)
            .collect()
    });
    controller.watch::<Endpoint>("", |e| vec![e.meta.self_link.clone()]);
    controller.watch::<Deployment>("", |d| service_of(&d.meta.self_link, Kind::Deployment));
    let pods = controller.watch::<Pod>("", |p| service_of(&p.meta.self_link, Kind::Pod));
    let nodes = controller.watch::<Node>("", move |n| {
        on_node(&pods, &n.meta.name, |p| service_of(p, Kind::Pod))
    });
    BuiltController {
        controller,
        reconciler: Arc::new(ServiceReconciler::new(context.clone()).node_cache(nodes)),
    }
}

/// `<ns>:<svc>` of a deployment's or pod's selflink.
fn service_of(self_link: &str, kind: Kind) -> Vec<String> {
    SelfLink::parse(kind, self_link)
        .ok()
        .and_then(|l| Some(format!("{}:{}", l.namespace_name()?, l.service()?)))
        .into_iter()
        .collect()
}

/// Keeps services' deployments, endpoints and statuses.
#[derive(Debug)]
pub struct ServiceReconciler {
    context: Context,
    /// Nodes from the watch that queues reconciles; else read each time.
    nodes: Option<Arc<Cache<Node>>>,
}

/// The deployments of one service, by name, as read and as changed.
struct Deployments {
    all: BTreeMap<String, Deployment>,
    changed: BTreeMap<String, Deployment>,
}

impl Deployments {
    fn get(&self, name: &str) -> Option<&Deployment> {
        self.changed.get(name).or_else(|| self.all.get(name))
    }

    fn modify(&mut self, name: &str, change: impl FnOnce(&mut Deployment)) {
        let Some(mut deployment) = self.get(name).cloned() else {
            return;
        };
        change(&mut deployment);
        if self.all.get(name) != Some(&deployment) {
            self.changed.insert(name.to_owned(), deployment);
        }
    }

    fn destroy(&mut self, name: &str) {
        self.modify(name, |d| d.spec.state.destroy = true);
    }

    fn live(&self) -> impl Iterator<Item = &Deployment> {
        self.all
            .keys()
            .filter_map(|n| self.get(n))
            .filter(|d| !d.spec.state.destroy)
    }
}

/// The pod counts of one deployment.
fn side(deployment: &Deployment, pods: &[Pod]) -> Side {
    let mut side = Side {
        target: deployment.spec.replicas,
        ..Side::default()
    };
    for pod in pods_of(deployment, pods) {
        if pod.status.status.state == State::Destroyed {
            continue;
        }
        side.pods += 1;
        if !pod.spec.state.destroy {
            side.live += 1;
            if pod.status.ready {
                side.ready += 1;
            }
        }
    }
    side
}

fn pods_of<'a>(deployment: &'a Deployment, pods: &'a [Pod]) -> impl Iterator<Item = &'a Pod> {
    let prefix = SelfLink::parse(Kind::Deployment, &deployment.meta.self_link)
        .ok()
        .as_ref()
        .and_then(super::deployment::pods_prefix)
        .unwrap_or_else(|| "\0".to_owned());
    pods.iter()
        .filter(move |p| p.meta.self_link.starts_with(&prefix))
}

impl ServiceReconciler {
    /// A reconciler reading and writing through `context`.
    pub fn new(context: Context) -> Self {
        Self {
            context,
            nodes: None,
        }
    }

    /// Reads nodes' states from this watch cache, which must queue the
    /// reconciles of pods' services on node changes (as [`build`]'s).
    pub fn node_cache(mut self, nodes: Arc<Cache<Node>>) -> Self {
        self.nodes = Some(nodes);
        self
    }

    /// Reconciles the service with this selflink.
    pub async fn reconcile_service(&self, key: &str) -> Result<Action, ReconcileError> {
        let Ok(link) = SelfLink::parse(Kind::Service, key) else {
            return Ok(Action::Done);
        };
        let (Some(ns), Some(name)) = (link.namespace_name(), link.service()) else {
            return Ok(Action::Done);
        };
        let store = &self.context.store;
        let endpoint_link = SelfLink::namespaced(Kind::Endpoint, ns, name);
        let endpoint = store.find::<Endpoint>(&endpoint_link).await?;
        let Some(service) = store.find::<Service>(&link).await? else {
            if let Some(endpoint) = endpoint {
                self.remove_endpoint(key, &endpoint).await?;
            }
            self.context.ipam.release(key).await?;
            // Deleted without being destroyed: its deployments go too.
            let (orphans, _) = store.list::<Deployment>(&format!("{key}:")).await?;
            let mut writes = Writes::new();
            for mut orphan in orphans.into_iter().filter(|d| !d.spec.state.destroy) {
                orphan.spec.state.destroy = true;
                writes = writes.update(&orphan)?;
            }
            if !writes.is_empty() {
                self.context.writer.commit(writes).await?;
            }
            return Ok(Action::Done);
        };
        let (deployments, _) = store.list::<Deployment>(&format!("{key}:")).await?;
        let mut deployments = Deployments {
            all: deployments
                .into_iter()
                .map(|d| (d.meta.name.clone(), d))
                .collect(),
            changed: BTreeMap::new(),
        };

        if service.spec.state.destroy {
            return self.destroy(key, service, endpoint, deployments).await;
        }

        let generation = service.spec.generation;
        let current = deployments
            .live()
            .filter(|d| {
                d.spec.generation == generation
                    && d.spec.template == service.spec.template
                    && d.spec.selector == service.spec.selector
            })
            .max_by_key(|d| d.spec.version)
            .map(|d| d.meta.name.clone());
        let Some(current) = current else {
            let version = deployments
                .all
                .values()
                .map(|d| d.spec.version)
                .max()
                .unwrap_or(0)
                + 1;
            let mut deployment = new_deployment(ns, name, &service, version);
            let serving = service
                .status
                .active
                .as_deref()
                .and_then(|a| deployments.get(a))
                .is_some_and(|d| !d.spec.state.destroy && serving(d));
            if serving && service.spec.strategy.kind == StrategyKind::Rolling {
                // Grown step by step by the rollout.
                deployment.spec.replicas = 0;
            }
            self.context
                .writer
                .commit(Writes::new().create(&deployment)?)
                .await?;
            tracing::info!(service = key, deployment = %deployment.meta.name, generation, "new deployment");
            return Ok(Action::Done);
        };

        let (pods, _) = store.list::<Pod>(&format!("{key}:")).await?;
        let active = rollout(&service, &current, &mut deployments, &pods);

        let (nodes, _) = node_states(store, self.nodes.as_deref()).await?;
        let mut writes = Writes::new();
        for deployment in deployments.changed.values() {
            writes = writes.update(deployment)?;
        }

        let zone = self.context.settings.internal_domain.trim_matches('.');
        let domain = match store.find::<Namespace>(&SelfLink::namespace(ns)).await? {
            Some(namespace) => format!("{name}.{}", namespace.endpoint(zone)),
            None => format!("{name}.{ns}.{zone}"),
        };
        let mut release = false;
        let mut ip = None;
        let vip = if service.spec.network.ports.is_empty() {
            None
        } else {
            Some(self.vip(key, &service).await?)
        };
        let mut vip_error = None;
        match vip {
            None => {
                if let Some(endpoint) = &endpoint {
                    writes = writes.delete(endpoint);
                }
                release = true;
            }
            Some(Err(why)) => {
                // The VIP it had is gone with the request for another.
                if let Some(endpoint) = &endpoint {
                    writes = writes.delete(endpoint);
                }
                vip_error = Some(why);
            }
            Some(Ok(vip)) => {
                ip = Some(IpAddr::V4(vip));
                let rolling = service.spec.strategy.kind == StrategyKind::Rolling;
                let serving: Vec<&Deployment> = if rolling && current != active {
                    // Every deployment of the update, old and new, serves.
                    deployments.live().collect()
                } else {
                    deployments.get(&active).into_iter().collect()
                };
                let serving = serving.into_iter();
                let desired = Endpoint {
                    meta: Meta::new(name, &endpoint_link),
                    spec: EndpointSpec {
                        ip,
                        domain: domain.clone(),
                        ports: service.spec.network.ports.clone(),
                        upstreams: upstreams(serving, &pods, &nodes),
                    },
                    status: Status::new(State::Ready),
                };
                writes = match endpoint {
                    Some(mut endpoint) if endpoint.spec != desired.spec => {
                        endpoint.spec = desired.spec;
                        endpoint.status = desired.status;
                        writes.update(&endpoint)?
                    }
                    Some(_) => writes,
                    None => writes.create(&desired)?,
                };
            }
        }

        let mut updated = service.clone();
        updated.status.status = match vip_error {
            Some(why) => Status::with_message(State::Error, why),
            None => service_status(&deployments, &current, &active),
        };
        updated.status.active = Some(active);
        updated.status.ip = ip;
        updated.status.endpoint = domain;
        if updated != service {
            writes = writes.update(&updated)?;
        }
        let switched = service.status.active != updated.status.active;
        if !writes.is_empty() {
            self.context.writer.commit(writes).await?;
        }
        if switched {
            tracing::info!(service = key, active = ?updated.status.active, "traffic switched");
        }
        if release {
            self.context.ipam.release(key).await?;
        }
        Ok(Action::Done)
    }

    /// The service's VIP: the one it asks for, else any; `Err` with the
    /// reason when the one it asks for cannot be had.
    async fn vip(
        &self,
        key: &str,
        service: &Service,
    ) -> Result<Result<Ipv4Addr, String>, ReconcileError> {
        let ipam = &self.context.ipam;
        let Some(IpAddr::V4(wanted)) = service.spec.network.ip else {
            return Ok(Ok(ipam.allocate(key).await?));
        };
        if ipam.lookup(key).await?.is_some_and(|held| held != wanted) {
            ipam.release(key).await?;
        }
        match ipam.reserve(wanted, key).await {
            Ok(()) => Ok(Ok(wanted)),
            Err(e) if e.is_taken() || e.is_out_of_range() => Ok(Err(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_endpoint(&self, key: &str, endpoint: &Endpoint) -> Result<(), ReconcileError> {
        self.context
            .writer
            .commit(Writes::new().delete(endpoint))
            .await?;
        self.context.ipam.release(key).await?;
        Ok(())
    }

    async fn destroy(
        &self,
        key: &str,
        service: Service,
        endpoint: Option<Endpoint>,
        mut deployments: Deployments,
    ) -> Result<Action, ReconcileError> {
        if let Some(endpoint) = endpoint {
            self.remove_endpoint(key, &endpoint).await?;
        }
        let names: Vec<String> = deployments.all.keys().cloned().collect();
        for name in &names {
            deployments.destroy(name);
        }
        let mut writes = Writes::new();
        for deployment in deployments.changed.values() {
            writes = writes.update(deployment)?;
        }
        if deployments.all.is_empty() {
            // Released before the service goes: nothing reconciles it after.
            self.context.ipam.release(key).await?;
            writes = writes.delete(&service);
        } else {
            let mut updated = service.clone();
            updated.status.status = Status::new(State::Destroy);
            updated.status.ip = None;
            if updated != service {
                writes = writes.update(&updated)?;
            }
        }
        if !writes.is_empty() {
            self.context.writer.commit(writes).await?;
        }
        Ok(Action::Done)
    }
}

/// Scales and switches; returns the active deployment's name after.
fn rollout(
    service: &Service,
    current: &str,
    deployments: &mut Deployments,
    pods: &[Pod],
) -> String {
    let replicas = service.spec.replicas;
    // The active deployment keeps its place until the current one takes
    // over, as long as it serves: one that never got a pod ready is
    // replaced at once.
    let active = service
        .status
        .active
        .as_deref()
        .and_then(|a| deployments.get(a))
        .filter(|d| !d.spec.state.destroy && (d.meta.name == current || serving(d)))
        .map(|d| d.meta.name.clone());
    let stale: Vec<String> = deployments
        .live()
        .map(|d| d.meta.name.clone())
        .filter(|n| n != current && Some(n) != active.as_ref())
        .collect();
    // A rolling update started before the last one finished keeps the
    // superseded deployments that still serve on its old side.
    let rolling = service.spec.strategy.kind == StrategyKind::Rolling
        && active.as_deref().is_some_and(|a| a != current);
    let mut superseded = Vec::new();
    for name in &stale {
        if rolling && deployments.get(name).is_some_and(serving) {
            superseded.push(name.clone());
        } else {
            deployments.destroy(name);
        }
    }
    let Some(old) = active.filter(|a| a != current) else {
        deployments.modify(current, |d| d.spec.replicas = replicas);
        return current.to_owned();
    };
    let Some(new) = deployments.get(current).cloned() else {
        return old;
    };
    let strategy = service.spec.strategy;
    match strategy.kind {
        StrategyKind::BlueGreen => {
            deployments.modify(current, |d| d.spec.replicas = replicas);
            let ready = new.spec.replicas == replicas
                && new.status.status.state == State::Ready
                && new.status.ready >= replicas;
            if ready {
                deployments.destroy(&old);
                return current.to_owned();
            }
            old
        }
        StrategyKind::Rolling => {
            // Superseded ones shrink first, by version, then the active one.
            superseded.sort_by_key(|n| deployments.get(n).map(|d| d.spec.version));
            superseded.push(old.clone());
            let olds: Vec<Side> = superseded
                .iter()
                .filter_map(|n| deployments.get(n))
                .map(|d| side(d, pods))
                .collect();
            let new_side = side(&new, pods);
            let min_ready = replicas.saturating_sub(strategy.max_unavailable.of(replicas));
            let finished = new_side.target == replicas
                && new_side.ready >= min_ready
                && olds.iter().all(|o| o.target == 0 && o.pods == 0);
            if finished {
                for name in &superseded {
                    deployments.destroy(name);
                }
                return current.to_owned();
            }
            let (new_target, old_targets) = rolling_step_many(
                replicas,
                strategy.max_surge.of(replicas),
                strategy.max_unavailable.of(replicas),
                new_side,
                &olds,
            );
            deployments.modify(current, |d| d.spec.replicas = new_target);
            for (name, target) in superseded.iter().zip(old_targets) {
                deployments.modify(name, |d| d.spec.replicas = target);
            }
            old
        }
    }
}

/// The pod IPs of the ready pods of `serving` on online nodes, sorted.
fn upstreams<'a>(
    serving: impl Iterator<Item = &'a Deployment>,
    pods: &[Pod],
    nodes: &BTreeMap<String, bool>,
) -> Vec<IpAddr> {
    let mut upstreams: Vec<IpAddr> = serving
        .flat_map(|d| pods_of(d, pods).collect::<Vec<_>>())
        .filter(|p| {
            p.status.ready && !p.spec.state.destroy && online(nodes, p.spec.node.as_deref())
        })
        .filter_map(|p| p.status.network.pod_ip)
        .collect();
    upstreams.sort_unstable();
    upstreams.dedup();
    upstreams
}

/// Whether a deployment takes traffic worth keeping during a rollout.
fn serving(deployment: &Deployment) -> bool {
    deployment.status.ready > 0 || deployment.status.status.state == State::Ready
}

/// The service's status: the deployment being rolled out, else the active
/// one; a rollout that failed leaves the active one's state, with why.
fn service_status(deployments: &Deployments, current: &str, active: &str) -> Status {
    let Some(active_deployment) = deployments.get(active) else {
        return Status::new(State::Created);
    };
    if current == active {
        return active_deployment.status.status.clone();
    }
    let Some(rolling) = deployments.get(current) else {
        return active_deployment.status.status.clone();
    };
    let failed = matches!(
        rolling.status.status.state,
        State::Error | State::Degradation
    );
    if failed {
        let why = &rolling.status.status;
        let mut message = format!("deployment {current} {}", why.state);
        if !why.message.is_empty() {
            message = format!("{message}: {}", why.message);
        }
        return Status::with_message(active_deployment.status.status.state, message);
    }
    rolling.status.status.clone()
}

fn new_deployment(ns: &str, svc: &str, service: &Service, version: u64) -> Deployment {
    let name = format!("v{version}");
    let link = SelfLink::deployment(ns, svc, &name);
    Deployment {
        meta: Meta::new(name, &link),
        spec: DeploymentSpec {
            replicas: service.spec.replicas,
            state: Default::default(),
            selector: service.spec.selector.clone(),
            template: service.spec.template.clone(),
            strategy: service.spec.strategy,
            generation: service.spec.generation,
            version,
        },
        status: DeploymentStatus::default(),
    }
}

#[async_trait]
impl Reconciler for ServiceReconciler {
    async fn reconcile(&self, key: &str) -> Result<Action, BoxError> {
        Ok(self.reconcile_service(key).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(name: &str, state: State, message: &str) -> Deployment {
        let mut deployment = Deployment::default();
        deployment.meta.name = name.into();
        let failed = matches!(state, State::Error | State::Degradation);
        deployment.status.status = Status::with_message(state, if failed { message } else { "" });
        deployment
    }

    /// serviceStatusState (original-tests.md §1.2), as the contract states
    /// it: the deployment being rolled out, else the active one; a failed
    /// rollout keeps the active one's state (H2).
    #[test]
    fn status_mirrors_the_rollout_else_the_active_deployment() {
        use State::*;
        let cases = [
            ("nothing yet", None, None, Created, ""),
            ("first, being placed", Some(Provision), None, Provision, ""),
            ("first, created", Some(Created), None, Created, ""),
            ("first, failed", Some(Error), None, Error, "boom"),
            ("rolling out", Some(Ready), Some(Provision), Provision, ""),
            ("waiting", Some(Ready), Some(Waiting), Waiting, ""),
            (
                "failed rollout",
                Some(Ready),
                Some(Error),
                Ready,
                "deployment v2 error: boom",
            ),
            (
                "both failed",
                Some(Error),
                Some(Error),
                Error,
                "deployment v2 error: boom",
            ),
            (
                "degraded rollout",
                Some(Ready),
                Some(Degradation),
                Ready,
                "deployment v2 degradation: boom",
            ),
        ];
        for (case, active, rolling, state, message) in cases {
            let mut all = BTreeMap::new();
            if let Some(active) = active {
                all.insert("v1".to_owned(), deployment("v1", active, "boom"));
            }
            if let Some(rolling) = rolling {
                all.insert("v2".to_owned(), deployment("v2", rolling, "boom"));
            }
            let deployments = Deployments {
                all,
                changed: BTreeMap::new(),
            };
            let current = if rolling.is_some() { "v2" } else { "v1" };
            let status = service_status(&deployments, current, "v1");
            assert_eq!(status.state, state, "{case}");
            assert_eq!(status.message, message, "{case}");
        }
    }
}
