//! Control-plane throughput: N services × M replicas applied onto K hollow
//! nodes, timed from the apply to every pod reported running by its node,
//! through the real API, `ControllerManager` (service, deployment and
//! cluster reconcilers, scheduler, IPAM) and storage.
//!
//! `cargo bench -p lastbackend-core --bench control_plane`
//! (`--features embedded,etcd` adds the redb store and a real etcd on
//! loopback, at a smaller size: `LB_BENCH_ETCD_*`)
//!
//! Sizes come from `LB_BENCH_SERVICES` (default 100), `LB_BENCH_REPLICAS`
//! (10) and `LB_BENCH_NODES` (500), scaled for a small machine; the issue's
//! full size is 1,000 × 100 onto 5,000. The baseline, in the same run, is
//! the storage floor: as many pod objects written straight to a fresh store
//! of the same kind in batches of 100. The figure is
//! `RESULT control_plane.pods_per_s_<store>=<pods/s> baseline=<floor pods/s> ratio=<figure/floor>`;
//! the target on memory is 3,750 pods/s (Nomad's C1M rate).

#[path = "../tests/support/sim.rs"]
mod sim;

#[cfg(feature = "etcd")]
#[path = "../tests/support/etcd.rs"]
mod etcd_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lastbackend_core::model::{Meta, Pod, PodSpec, SelfLink};
use lastbackend_core::storage::{MemoryStorage, Storage};
use lastbackend_core::store::{Store, Writes};
use sim::{Sim, check, desired, services_yaml};

/// Node heartbeats are every third of this: long enough not to load the
/// store during a run, as in a real cluster.
const NODE_TTL: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(1800);
const BATCH: usize = 100;

struct Size {
    services: usize,
    replicas: u32,
    nodes: usize,
}

impl Size {
    fn from_env() -> Self {
        let var = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            services: var("LB_BENCH_SERVICES", 100),
            replicas: u32::try_from(var("LB_BENCH_REPLICAS", 10)).unwrap_or(u32::MAX),
            nodes: var("LB_BENCH_NODES", 500).max(1),
        }
    }

    /// The etcd section's size: `LB_BENCH_ETCD_SERVICES` (default 20),
    /// `LB_BENCH_ETCD_REPLICAS` (10), `LB_BENCH_ETCD_NODES` (50), kept
    /// small as every reconcile reads from etcd.
    #[cfg(feature = "etcd")]
    fn etcd_from_env() -> Self {
        let var = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            services: var("LB_BENCH_ETCD_SERVICES", 20),
            replicas: u32::try_from(var("LB_BENCH_ETCD_REPLICAS", 10)).unwrap_or(u32::MAX),
            nodes: var("LB_BENCH_ETCD_NODES", 50).max(1),
        }
    }

    fn pods(&self) -> usize {
        self.services * self.replicas as usize
    }
}

/// Pods per second from apply to all running, on `storage`.
async fn control_plane(storage: Arc<dyn Storage>, size: &Size) -> f64 {
    let room = u32::try_from(size.pods().div_ceil(size.nodes) * 2 + 10).unwrap_or(u32::MAX);
    let mut sim = Sim::new(storage, size.nodes, room, NODE_TTL).workers(8);
    // Every node registered and online before the clock starts.
    loop {
        let nodes = sim.api.nodes().await.unwrap().items;
        if nodes.iter().filter(|n| n.status.online).count() == size.nodes {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.start_controller();
    // Let it take the lead and warm its caches on an empty cluster.
    sim.apply("bench-warmup", &services_yaml(1, 1, "nginx"))
        .await;
    sim.converge(&desired("bench-warmup", 1, 1), TIMEOUT).await;

    let want = size.pods() + 1;
    let yaml = services_yaml(size.services, size.replicas, "nginx");
    let start = Instant::now();
    sim.apply("bench", &yaml).await;
    // When every pod is created and placed: the controller's share of the
    // time, the rest is the agents' (manifest, report).
    let (mut created, mut placed) = (None, None);
    loop {
        let (pods, _) = sim.api.store().list::<Pod>("").await.unwrap();
        if created.is_none() && pods.len() >= want {
            created = Some(start.elapsed());
        }
        if placed.is_none() && pods.iter().filter(|p| p.spec.node.is_some()).count() >= want {
            placed = Some(start.elapsed());
        }
        let running = pods.iter().filter(|p| p.status.running).count();
        if running >= want {
            break;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "{running} of {want} pods running after {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    // Not timed: the result is right (no duplicate, endpoints filled).
    let mut all = desired("bench", size.services, size.replicas);
    all.extend(desired("bench-warmup", 1, 1));
    sim.converge(&all, TIMEOUT).await;
    if let Err(e) = check(sim.api.store(), &all).await {
        panic!("wrong result: {e:?}");
    }
    sim.stop_controller().await;
    for node in sim.nodes.drain(..) {
        node.stop().await;
    }
    println!(
        "  {} pods ({} services x {}) onto {} nodes: all created after {:.2?}, placed after {:.2?}, running after {:.2?}",
        size.pods(),
        size.services,
        size.replicas,
        size.nodes,
        created.unwrap_or(elapsed),
        placed.unwrap_or(elapsed),
        elapsed
    );
    size.pods() as f64 / elapsed.as_secs_f64()
}

/// Pods per second written straight to `storage`, `BATCH` per transaction.
async fn storage_floor(storage: Arc<dyn Storage>, size: &Size) -> f64 {
    let store = Store::new(storage);
    let template = services_template();
    let start = Instant::now();
    let mut writes = Writes::new();
    let mut pending = 0;
    for i in 0..size.pods() {
        let svc = format!("svc-{:04}", i / size.replicas.max(1) as usize);
        let name = format!("{i:07x}");
        let link = SelfLink::pod("floor", svc, "v1", &name);
        let pod = Pod {
            meta: Meta::new(name, &link),
            spec: PodSpec {
                node: Some(format!("hollow-{:05}", i % size.nodes)),
                template: template.clone(),
                ..PodSpec::default()
            },
            ..Pod::default()
        };
        writes = writes.create(&pod).unwrap();
        pending += 1;
        if pending == BATCH {
            store.commit(std::mem::take(&mut writes)).await.unwrap();
            pending = 0;
        }
    }
    if pending > 0 {
        store.commit(writes).await.unwrap();
    }
    size.pods() as f64 / start.elapsed().as_secs_f64()
}

/// The pod template the services of the run have.
fn services_template() -> lastbackend_core::model::Template {
    let yaml = services_yaml(1, 1, "nginx");
    let manifest = lastbackend_core::manifest::parse(&yaml).unwrap().remove(0);
    let lastbackend_core::manifest::Manifest::Service(service) = manifest else {
        unreachable!()
    };
    lastbackend_core::api::service_spec(&service)
        .unwrap()
        .template
}

fn report(store: &str, figure: f64, floor: f64) {
    println!(
        "RESULT control_plane.pods_per_s_{store}={figure:.1} baseline={floor:.1} ratio={:.4}",
        figure / floor
    );
}

async fn run(size: Size) {
    println!(
        "control_plane: {} services x {} replicas onto {} hollow nodes",
        size.services, size.replicas, size.nodes
    );
    println!("memory:");
    let floor = storage_floor(Arc::new(MemoryStorage::new()), &size).await;
    let figure = control_plane(Arc::new(MemoryStorage::new()), &size).await;
    report("memory", figure, floor);

    #[cfg(feature = "embedded")]
    {
        use lastbackend_core::storage::EmbeddedStorage;
        println!("embedded:");
        let dir = tempfile::tempdir().unwrap();
        let floor_store = EmbeddedStorage::open(dir.path().join("floor.redb")).unwrap();
        let floor = storage_floor(Arc::new(floor_store), &size).await;
        let store = EmbeddedStorage::open(dir.path().join("cluster.redb")).unwrap();
        let figure = control_plane(Arc::new(store), &size).await;
        report("embedded", figure, floor);
    }
    #[cfg(not(feature = "embedded"))]
    println!("embedded: skipped (build with --features embedded)");
    #[cfg(feature = "etcd")]
    etcd().await;
    #[cfg(not(feature = "etcd"))]
    println!("etcd: skipped (build with --features etcd)");
}

/// The etcd section: a real etcd on loopback (skipped, saying so, when
/// etcd is not installed).
#[cfg(feature = "etcd")]
async fn etcd() {
    use lastbackend_core::storage::{EtcdConfig, EtcdStorage};

    let Some(server) = etcd_server::EtcdServer::start() else {
        println!("etcd: skipped (no etcd)");
        return;
    };
    let size = Size::etcd_from_env();
    println!(
        "etcd: {} services x {} replicas onto {} hollow nodes",
        size.services, size.replicas, size.nodes
    );
    let connect = |prefix: &'static str| {
        let endpoint = server.endpoint();
        async move {
            let config = EtcdConfig::new([endpoint]).with_prefix(prefix);
            Arc::new(EtcdStorage::connect(config).await.unwrap())
        }
    };
    let floor = storage_floor(connect("floor").await, &size).await;
    let figure = control_plane(connect("cluster").await, &size).await;
    report("etcd", figure, floor);
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(Size::from_env()));
}
