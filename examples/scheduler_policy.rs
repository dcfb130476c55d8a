//! Plug a scheduling policy of your own into the controller.
//!
//! Run: `cargo run -p examples --example scheduler_policy`
//!
//! `BinPack` keeps every filter of the default scheduler (online, cordoned,
//! selectors, RAM, CPU, ports, pod count, volume affinity) through
//! `Snapshot::filter`, but scores the other way round: the fullest node that
//! still fits wins, so small clusters keep whole nodes free. The controller
//! takes it as an `Arc<dyn Policy>`; three hollow nodes run what it places,
//! and the program prints where the six replicas of a service landed (all
//! on one node while it has room, where the default policy spreads them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lastbackend_core::api::{Api, Settings};
use lastbackend_core::controller::hollow::{HollowConfig, HollowNode};
use lastbackend_core::controller::manager::{self, ControllerManager, Writer};
use lastbackend_core::manifest::{self, Manifest};
use lastbackend_core::model::{NodeResources, Pod};
use lastbackend_core::scheduler::{
    Placement, PodRequest, Policy, Snapshot, Unschedulable, least_allocated,
};
use lastbackend_core::storage::memory::MemoryStorage;
use lastbackend_core::store::Store;
use lastbackend_core::units::{Cpu, Ram};

/// Most-allocated first: the opposite of the default's least-allocated.
struct BinPack;

impl Policy for BinPack {
    fn place(&self, snapshot: &Snapshot, request: &PodRequest) -> Result<Placement, Unschedulable> {
        let mut best: Option<(f64, String)> = None;
        let why = snapshot.filter(request, |node| {
            let fullness = 1.0 - least_allocated(node, request);
            // Strictly greater: ties go to the first node by name, so the
            // policy stays deterministic.
            if best.as_ref().is_none_or(|(top, _)| fullness > *top) {
                best = Some((fullness, node.name().to_owned()));
            }
        });
        match best {
            Some((score, node)) => {
                let mut placement = Placement::new(node);
                placement.score = score;
                Ok(placement)
            }
            None => Err(why),
        }
    }
}

const SERVICE: &str = r#"
kind: Service
version: v1
meta:
  name: web
spec:
  replicas: 6
  template:
    containers:
      - name: web
        image:
          name: busybox
        resources:
          request:
            ram: 128mib
            cpu: 100m
"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let api = Api::new(store.clone(), Settings::default());

    let settings = manager::Settings::default().policy(Arc::new(BinPack));
    let controller = ControllerManager::new(store.clone(), settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        controller.run_with(Writer::unfenced(store), shutdown).await
    });

    // Each node has room for eight such pods.
    let capacity = NodeResources {
        pods: 8,
        ram: Ram::from_bytes(1 << 30),
        cpu: Cpu::from_millis(1000),
        ..NodeResources::default()
    };
    let nodes: Vec<HollowNode> = ["node-a", "node-b", "node-c"]
        .into_iter()
        .map(|name| HollowNode::with_config(api.clone(), HollowConfig::new(name, capacity)))
        .collect();

    let Manifest::Namespace(demo) =
        manifest::parse("kind: Namespace\nversion: v1\nmeta: {name: demo}\n")?.remove(0)
    else {
        unreachable!("a namespace manifest");
    };
    api.create_namespace(demo).await?;
    api.apply("demo", manifest::parse(SERVICE)?, Default::default())
        .await?;

    let placed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (pods, _) = api.store().list::<Pod>("demo:web:").await?;
            let running: Vec<&Pod> = pods.iter().filter(|p| p.status.running).collect();
            if running.len() == 6 {
                let mut by_node = BTreeMap::<String, usize>::new();
                for pod in running {
                    *by_node
                        .entry(pod.spec.node.clone().unwrap_or_default())
                        .or_default() += 1;
                }
                return anyhow::Ok(by_node);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .context("the six replicas were not running within 30s")??;
    for (node, pods) in &placed {
        println!("{node}: {pods} pods");
    }

    let _ = stop.send(());
    controller.await??;
    for node in nodes {
        node.stop().await;
    }
    Ok(())
}
