//! A simulated cluster for tests and benchmarks: the API over a store, a
//! `ControllerManager` campaigning for the lead, and hollow nodes.
//!
//! `Sim::check` reads the whole store and says how far it is from the
//! desired state (`Err` with the first difference found), and whether an
//! invariant broke on the way (duplicate or orphaned objects).
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use lastbackend_core::api::{Api, Settings};
use lastbackend_core::controller::hollow::{HollowConfig, HollowNode};
use lastbackend_core::controller::leader::{self, LeaderConfig};
use lastbackend_core::controller::manager::{self, ControllerManager};
use lastbackend_core::manifest::{self, Manifest};
use lastbackend_core::model::{
    Deployment, Endpoint, Kind, Node, NodeResources, Pod, SelfLink, Service, State,
};
use lastbackend_core::storage::Storage;
use lastbackend_core::store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running controller process: its task and how to stop it gently.
struct ControllerProcess {
    task: JoinHandle<Result<(), String>>,
    stop: oneshot::Sender<()>,
}

/// Panics with what ended a controller task, unless `crashed` and it was
/// cancelled by that crash: an error or a panic fails the simulation.
fn check_ended(ended: Result<Result<(), String>, tokio::task::JoinError>, crashed: bool) {
    match ended {
        Ok(Ok(())) if !crashed => {}
        Ok(Ok(())) => panic!("a controller ended on its own before it was crashed"),
        Ok(Err(e)) => panic!("a controller ended with an error: {e}"),
        Err(e) if e.is_cancelled() && crashed => {}
        Err(e) => match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(e) => panic!("a controller task failed: {e}"),
        },
    }
}

/// The cluster.
pub struct Sim {
    pub api: Api,
    pub nodes: Vec<HollowNode>,
    controller: Option<ControllerProcess>,
    /// Crashed controllers' tasks, aborted but not yet seen to end.
    crashed: Vec<JoinHandle<Result<(), String>>>,
    /// Numbers controller processes (each campaigns under its own name).
    incarnation: usize,
    leader_ttl: Duration,
    workers: usize,
}

impl Sim {
    /// `nodes` hollow nodes of `pods` pods each over `storage`, with node
    /// and controller leases of `ttl`; no controller yet.
    pub fn new(storage: Arc<dyn Storage>, nodes: usize, pods: u32, ttl: Duration) -> Self {
        let mut settings = Settings::default();
        settings.node_ttl = ttl;
        let api = Api::new(Store::new(storage), settings);
        let capacity = NodeResources {
            pods,
            ..NodeResources::default()
        };
        let nodes = (0..nodes)
            .map(|i| {
                let config =
                    HollowConfig::new(format!("hollow-{i:05}"), capacity).label("type", "example");
                HollowNode::with_config(api.clone(), config)
            })
            .collect();
        Self {
            api,
            nodes,
            controller: None,
            crashed: Vec::new(),
            incarnation: 0,
            leader_ttl: ttl,
            workers: 4,
        }
    }

    /// Reconcile workers per reconciler of the next controller started.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Starts a controller process (it campaigns; leads once the lead key
    /// is free).
    pub fn start_controller(&mut self) {
        assert!(self.controller.is_none(), "one controller at a time");
        self.check_controllers();
        self.incarnation += 1;
        let store = self.api.store().clone();
        let holder = format!("controller-{}", self.incarnation);
        let config = LeaderConfig::new(holder)
            .ttl(self.leader_ttl)
            .retry(self.leader_ttl / 10);
        // Room for every hollow node's pod subnet (the default /16 holds 256).
        let pod_cidr = lastbackend_core::ipam::PodCidr::new("10.0.0.0/8".parse().unwrap(), 24);
        let settings = manager::Settings::default()
            .workers(self.workers)
            .pod_cidr(pod_cidr.unwrap());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let leadership = leader::campaign(store.storage().clone(), config);
            let manager = ControllerManager::new(store, settings);
            let shutdown = async move {
                // A dropped sender stops it too.
                let _ = stopped.await;
            };
            let ran = manager.run(leadership.clone(), shutdown).await;
            let resigned = leadership.resign().await;
            ran.map_err(|e| format!("the reconcilers: {e}"))?;
            resigned.map_err(|e| format!("resigning: {e}"))
        });
        self.controller = Some(ControllerProcess { task, stop });
    }

    /// Kills the controller process at once, mid-reconcile, without
    /// resigning (its successor waits for its lease to end).
    pub fn crash_controller(&mut self) {
        if let Some(process) = self.controller.take() {
            process.task.abort();
            self.crashed.push(process.task);
        }
    }

    /// Stops the controller gently and waits for it, and for every crashed
    /// one; panics if any ended with an error or a panic.
    pub async fn stop_controller(&mut self) {
        if let Some(process) = self.controller.take() {
            // A send fails only when the task has ended already: its result
            // says why.
            let _ = process.stop.send(());
            check_ended(process.task.await, false);
        }
        for task in std::mem::take(&mut self.crashed) {
            check_ended(task.await, true);
        }
    }

    /// Panics if the running controller has ended (it runs until stopped or
    /// crashed) or a crashed one ended otherwise than by its crash.
    fn check_controllers(&mut self) {
        if let Some(process) = self.controller.take_if(|p| p.task.is_finished()) {
            let ended = process.task.now_or_never().expect("a finished task");
            check_ended(ended, false);
            panic!("the controller ended without being stopped");
        }
        let (ended, running) = std::mem::take(&mut self.crashed)
            .into_iter()
            .partition(JoinHandle::is_finished);
        self.crashed = running;
        for task in ended {
            check_ended(task.now_or_never().expect("a finished task"), true);
        }
    }

    /// Creates namespace `ns` and applies `yaml` in it.
    pub async fn apply(&self, ns: &str, yaml: &str) {
        if self.api.namespace(ns).await.is_err() {
            let text = format!("kind: Namespace\nversion: v1\nmeta: {{name: {ns}}}\n");
            let Manifest::Namespace(m) = manifest::parse(&text).unwrap().remove(0) else {
                unreachable!()
            };
            self.api.create_namespace(m).await.unwrap();
        }
        let manifests = manifest::parse(yaml).unwrap();
        self.api
            .apply(ns, manifests, Default::default())
            .await
            .unwrap();
    }

    /// Waits until the controller marks node `name` offline.
    pub async fn offline(&mut self, name: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.api.node(name).await.unwrap().status.online {
            self.check_controllers();
            if tokio::time::Instant::now() >= deadline {
                panic!("{name} still online after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls [`Self::check`] until it passes; panics with the last
    /// difference after `timeout`. An invariant broken on the way panics at
    /// once.
    pub async fn converge(&mut self, desired: &Desired, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last;
        loop {
            self.check_controllers();
            match check(self.api.store(), desired).await {
                Ok(()) => return,
                Err(Problem::Broken(e)) => panic!("invariant broken: {e}"),
                Err(Problem::NotYet(e)) => last = e,
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("not converged after {timeout:?}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sim {
    /// A simulation that ends without [`Sim::stop_controller`] still fails
    /// on a controller that has ended badly.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.check_controllers();
        }
    }
}

/// Services and their replicas, in one namespace each.
pub type Desired = BTreeMap<(String, String), u32>;

/// The YAML of `count` services `svc-<i>` of `replicas` replicas with one
/// port, running `image`.
pub fn services_yaml(count: usize, replicas: u32, image: &str) -> String {
    (0..count)
        .map(|i| {
            format!(
                "kind: Service\nversion: v1\nmeta: {{name: svc-{i:04}}}\nspec:\n  replicas: {replicas}\n  network:\n    ports: [\"80:80/tcp\"]\n  template:\n    containers:\n      - name: web\n        image: {{name: {image}}}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The desired state `services_yaml(count, replicas, _)` in `ns` asks for.
pub fn desired(ns: &str, count: usize, replicas: u32) -> Desired {
    (0..count)
        .map(|i| ((ns.to_owned(), format!("svc-{i:04}")), replicas))
        .collect()
}

/// Why the cluster is not where it should be.
#[derive(Debug)]
pub enum Problem {
    /// Not yet converged.
    NotYet(String),
    /// Something that must never happen, converged or not.
    Broken(String),
}

macro_rules! not_yet {
    ($($arg:tt)*) => { return Err(Problem::NotYet(format!($($arg)*))) };
}

/// Compares the store with `desired`: every service has one live
/// deployment, the active one, with exactly its replicas as pods, each
/// ready on an online node with a unique address, and its endpoint's
/// upstreams are those addresses; no pod or deployment outlives its
/// owner, no service is there that was not asked for.
pub async fn check(store: &Store, desired: &Desired) -> Result<(), Problem> {
    let read = |e: lastbackend_core::storage::Error| Problem::NotYet(format!("read: {e}"));
    let (services, _) = store.list::<Service>("").await.map_err(read)?;
    let (deployments, _) = store.list::<Deployment>("").await.map_err(read)?;
    let (pods, _) = store.list::<Pod>("").await.map_err(read)?;
    let (endpoints, _) = store.list::<Endpoint>("").await.map_err(read)?;
    let (nodes, _) = store.list::<Node>("").await.map_err(read)?;
    let online: BTreeSet<&str> = nodes
        .iter()
        .filter(|n| n.status.online)
        .map(|n| n.meta.name.as_str())
        .collect();

    // Orphans: a pod without its deployment, a deployment without its
    // service. Objects are deleted owner last, so this holds at any time.
    let deployment_links: BTreeSet<&str> = deployments
        .iter()
        .map(|d| d.meta.self_link.as_str())
        .collect();
    let service_links: BTreeSet<&str> =
        services.iter().map(|s| s.meta.self_link.as_str()).collect();
    for pod in &pods {
        let owner = parent(Kind::Pod, &pod.meta.self_link);
        if !deployment_links.contains(owner.as_str()) {
            return Err(Problem::Broken(format!(
                "pod {} has no deployment {owner}",
                pod.meta.self_link
            )));
        }
    }
    for d in &deployments {
        let owner = parent(Kind::Deployment, &d.meta.self_link);
        if !service_links.contains(owner.as_str()) {
            return Err(Problem::Broken(format!(
                "deployment {} has no service {owner}",
                d.meta.self_link
            )));
        }
    }

    if services.len() != desired.len() {
        not_yet!("{} services, want {}", services.len(), desired.len());
    }
    let mut addresses = BTreeSet::new();
    for ((ns, name), &replicas) in desired {
        let link = format!("{ns}:{name}");
        let Some(service) = services.iter().find(|s| s.meta.self_link == link) else {
            not_yet!("no service {link}");
        };
        let live: Vec<&Deployment> = deployments
            .iter()
            .filter(|d| parent(Kind::Deployment, &d.meta.self_link) == link)
            .collect();
        let [deployment] = live.as_slice() else {
            not_yet!("{link} has {} deployments", live.len());
        };
        if deployment.spec.generation != service.spec.generation {
            not_yet!(
                "{link}: deployment of generation {} is not the newest",
                deployment.spec.generation
            );
        }
        if service.status.active.as_deref() != Some(deployment.meta.name.as_str()) {
            not_yet!(
                "{link}: active {:?}, want {}",
                service.status.active,
                deployment.meta.name
            );
        }
        let owned: Vec<&Pod> = pods
            .iter()
            .filter(|p| parent(Kind::Pod, &p.meta.self_link) == deployment.meta.self_link)
            .collect();
        if owned.len() != replicas as usize {
            not_yet!("{link}: {} pods, want {replicas}", owned.len());
        }
        let mut ips = BTreeSet::new();
        for pod in owned {
            let on = pod.spec.node.as_deref().unwrap_or_default();
            if pod.spec.state.destroy || !pod.status.ready || !online.contains(on) {
                not_yet!(
                    "pod {} on {on:?}: {} ready={} destroy={}",
                    pod.meta.self_link,
                    pod.status.status.state,
                    pod.status.ready,
                    pod.spec.state.destroy
                );
            }
            let Some(ip) = pod.status.network.pod_ip else {
                not_yet!("pod {} has no address", pod.meta.self_link);
            };
            if !addresses.insert(ip) {
                return Err(Problem::Broken(format!(
                    "address {ip} of {} is taken twice",
                    pod.meta.self_link
                )));
            }
            ips.insert(ip);
        }
        let Some(endpoint) = endpoints.iter().find(|e| e.meta.self_link == link) else {
            not_yet!("no endpoint {link}");
        };
        let upstreams: BTreeSet<IpAddr> = endpoint.spec.upstreams.iter().copied().collect();
        if upstreams != ips || upstreams.len() != endpoint.spec.upstreams.len() {
            not_yet!(
                "{link}: upstreams {:?}, pods {ips:?}",
                endpoint.spec.upstreams
            );
        }
        if endpoint.spec.ip.is_none() {
            not_yet!("{link}: endpoint without a VIP");
        }
        if service.status.status.state != State::Ready {
            not_yet!("{link}: service {}", service.status.status.state);
        }
    }
    let extra = pods.len() - addresses.len();
    if extra != 0 {
        not_yet!("{extra} pods more than wanted");
    }
    Ok(())
}

fn parent(kind: Kind, link: &str) -> String {
    SelfLink::parse(kind, link)
        .ok()
        .and_then(|l| l.parent())
        .map(|p| p.to_string())
        .unwrap_or_default()
}
