//! The reconcilers over a memory store: a harness that runs them to a fixed
//! point and plays the node agents, and the ported tables of the original's
//! controller tests (`original-tests.md` §1) with the flows on top.

mod deployment;
mod flows;
mod manager;
mod presence;
mod restart;
mod service;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::deployment::DeploymentReconciler;
use super::manager::{Context, ReconcileError, Settings, Writer};
use super::service::ServiceReconciler;
use crate::model::{
    Container, Deployment, Endpoint, Image, Kind, Meta, Node, Pod, SelfLink, Service, State, Status,
};
use crate::storage::{MemoryStorage, Storage};
use crate::store::Store;
use crate::units::{Cpu, PortMapping, Ram};

const NS: &str = "test";

/// A cluster in memory: the reconcilers, called by hand until nothing
/// changes, and agents that do what the pods ask when told to.
struct Cluster {
    store: Store,
    context: Context,
    services: ServiceReconciler,
    deployments: DeploymentReconciler,
    next_ip: AtomicU8,
}

impl Cluster {
    fn new() -> Self {
        Self::over(Arc::new(MemoryStorage::new()))
    }

    fn over(storage: Arc<dyn Storage>) -> Self {
        let store = Store::new(storage);
        let context = Context::new(
            store.clone(),
            Arc::new(Settings::default()),
            Writer::unfenced(store.clone()),
        );
        Self {
            services: ServiceReconciler::new(context.clone()),
            deployments: DeploymentReconciler::new(context.clone()),
            store,
            context,
            next_ip: AtomicU8::new(1),
        }
    }

    async fn add_node(&self, name: &str) {
        let mut node = Node {
            meta: Meta::new(name, &SelfLink::host(Kind::Node, name)),
            ..Node::default()
        };
        node.status.online = true;
        node.status.capacity.pods = 10;
        node.status.capacity.containers = 10;
        node.status.capacity.ram = Ram::from_bytes(1 << 30);
        node.status.capacity.cpu = Cpu::from_millis(1000);
        self.store.create(&node).await.unwrap();
        self.heartbeat(name, true).await;
    }

    /// The node's heartbeat key, which the presence reconciler makes
    /// `status.online` follow (no storage lease: it stays until removed).
    async fn heartbeat(&self, name: &str, alive: bool) {
        let key = crate::api::lease_key(Kind::Node, name);
        let storage = self.store.storage();
        // Idempotent: a heartbeat already there (or already gone) is fine,
        // any other failure is the test's.
        if alive {
            match storage.put(&key, "{}".into(), None).await {
                Err(e) if !e.is_exists() => panic!("heartbeat of {name}: {e}"),
                _ => {}
            }
        } else {
            match storage.del(&key, None).await {
                Err(e) if !e.is_not_found() => panic!("heartbeat of {name}: {e}"),
                _ => {}
            }
        }
    }

    async fn set_online(&self, name: &str, online: bool) {
        let mut node: Node = self
            .store
            .get(&SelfLink::host(Kind::Node, name))
            .await
            .unwrap();
        node.status.online = online;
        self.store.update(&node).await.unwrap();
        self.heartbeat(name, online).await;
    }

    /// Service `test:<name>` with one container and these ports.
    async fn add_service(&self, name: &str, replicas: u32, ports: &[&str]) -> Service {
        let link = SelfLink::namespaced(Kind::Service, NS, name);
        let mut service = Service {
            meta: Meta::new(name, &link),
            ..Service::default()
        };
        service.spec.replicas = replicas;
        service.spec.generation = 1;
        service.spec.template.containers.push(Container {
            name: "demo".into(),
            image: Image {
                name: "busybox".into(),
                ..Image::default()
            },
            ..Container::default()
        });
        service.spec.network.ports = ports.iter().map(|p| p.parse().unwrap()).collect();
        self.store.create(&service).await.unwrap()
    }

    async fn service(&self, name: &str) -> Option<Service> {
        let link = SelfLink::namespaced(Kind::Service, NS, name);
        self.store.find(&link).await.unwrap()
    }

    async fn update_service(&self, name: &str, change: impl FnOnce(&mut Service)) {
        let mut service = self.service(name).await.unwrap();
        change(&mut service);
        self.store.update(&service).await.unwrap();
    }

    /// A template change, as the API makes it: a new generation.
    async fn change_template(&self, name: &str) {
        self.update_service(name, |s| {
            s.spec.template.containers[0].image.name.push_str(":new");
            s.spec.generation += 1;
        })
        .await;
    }

    async fn endpoint(&self, name: &str) -> Option<Endpoint> {
        let link = SelfLink::namespaced(Kind::Endpoint, NS, name);
        self.store.find(&link).await.unwrap()
    }

    async fn deployments(&self, service: &str) -> Vec<Deployment> {
        let mut all = self
            .store
            .list::<Deployment>(&format!("{NS}:{service}:"))
            .await
            .unwrap()
            .0;
        all.sort_by_key(|d| d.spec.version);
        all
    }

    async fn deployment(&self, service: &str, name: &str) -> Option<Deployment> {
        self.store
            .find(&SelfLink::deployment(NS, service, name))
            .await
            .unwrap()
    }

    /// The pods of `test:<service>:<deployment>`.
    async fn pods(&self, service: &str, deployment: &str) -> Vec<Pod> {
        self.store
            .list::<Pod>(&format!("{NS}:{service}:d_{deployment}:"))
            .await
            .unwrap()
            .0
    }

    async fn all_pods(&self) -> Vec<Pod> {
        self.store.list::<Pod>("").await.unwrap().0
    }

    /// Runs the reconcilers over every service and deployment until a pass
    /// writes nothing; returns the errors of the last pass.
    async fn converge(&self) -> Vec<ReconcileError> {
        for _ in 0..50 {
            let before = self.store.storage().revision().await.unwrap();
            let errors = self.pass().await;
            if self.store.storage().revision().await.unwrap() == before {
                return errors;
            }
        }
        panic!("the reconcilers do not settle");
    }

    async fn pass(&self) -> Vec<ReconcileError> {
        let mut errors = Vec::new();
        let services = self.store.list::<Service>("").await.unwrap().0;
        for service in &services {
            if let Err(e) = self
                .services
                .reconcile_service(&service.meta.self_link)
                .await
            {
                errors.push(e);
            }
        }
        let deployments = self.store.list::<Deployment>("").await.unwrap().0;
        for deployment in &deployments {
            let key = &deployment.meta.self_link;
            if let Err(e) = self.deployments.reconcile_deployment(key).await {
                errors.push(e);
            }
        }
        errors
    }

    /// Sets the status of every pod `select` picks, as its agent would.
    async fn report(&self, select: impl Fn(&Pod) -> bool, state: State, ready: bool) {
        for mut pod in self.all_pods().await {
            if pod.spec.node.is_none() || !select(&pod) {
                continue;
            }
            pod.status.status = Status::new(state);
            pod.status.running = matches!(state, State::Ready | State::Degradation);
            pod.status.ready = ready;
            if pod.status.network.pod_ip.is_none() && pod.status.running {
                let last = self.next_ip.fetch_add(1, Ordering::Relaxed);
                pod.status.network.pod_ip = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)));
            }
            // A crashed store refuses; the agent tries again next round.
            if self.store.update(&pod).await.is_err() {
                return;
            }
        }
    }

    /// One round of every agent: placed pods start and become ready, pods
    /// asked to go are reported destroyed.
    async fn agents(&self) {
        self.report(|p| p.spec.state.destroy, State::Destroyed, false)
            .await;
        self.report(
            |p| !p.spec.state.destroy && !p.status.ready,
            State::Ready,
            true,
        )
        .await;
    }

    /// Converges with the agents doing their part until nothing changes.
    async fn settle(&self) {
        for _ in 0..20 {
            let before = self.store.storage().revision().await.unwrap();
            self.converge().await;
            self.agents().await;
            self.converge().await;
            if self.store.storage().revision().await.unwrap() == before {
                return;
            }
        }
        panic!("the cluster does not settle");
    }
}

fn names(deployments: &[Deployment]) -> Vec<&str> {
    deployments.iter().map(|d| d.meta.name.as_str()).collect()
}

fn port(s: &str) -> PortMapping {
    s.parse().unwrap()
}

fn pod_ips(pods: &[Pod]) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = pods
        .iter()
        .filter_map(|p| p.status.network.pod_ip)
        .collect();
    ips.sort_unstable();
    ips
}
