//! Embed a whole cluster in memory and watch a service come up on it.
//!
//! Run: `cargo run -p examples --example cluster_hollow`
//!
//! The API operations, the `ControllerManager` (its reconcilers place pods,
//! allocate the VIP, fill the endpoint) and three hollow nodes (simulated
//! agents that report every pod they are given as running) share one
//! in-memory store. Applying the docs' 2048 service starts its two pods;
//! each is printed as its node reports it ready, then the endpoint.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lastbackend_core::api::{Api, Settings};
use lastbackend_core::controller::hollow::{HollowConfig, HollowNode};
use lastbackend_core::controller::manager::{self, ControllerManager, Writer};
use lastbackend_core::manifest::{self, Manifest};
use lastbackend_core::model::{Endpoint, Kind, NodeResources, Pod, SelfLink};
use lastbackend_core::storage::memory::MemoryStorage;
use lastbackend_core::store::Store;

/// The docs' "Create new service" manifest (section 6.1.2).
const SERVICE_2048: &str = r#"
kind: Service
version: v1
meta:
  name: 2048
  labels:
    type: proxy
    demo: test
spec:
  selector:
    node:
    labels:
      type: "example"
  replicas: 2
  network:
    ports: ["80:80/tcp"]
  template:
    containers:
      - name: nginx
        image:
          name: evilroot/docker-2048
"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let api = Api::new(store.clone(), Settings::default());

    // Alone in this process, the controller needs no leader election.
    let controller = ControllerManager::new(store.clone(), manager::Settings::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        controller.run_with(Writer::unfenced(store), shutdown).await
    });

    // The service selects nodes labelled `type: example`.
    let capacity = NodeResources {
        pods: 10,
        ..NodeResources::default()
    };
    let nodes: Vec<HollowNode> = (1..=3)
        .map(|i| {
            let config = HollowConfig::new(format!("node-{i}"), capacity).label("type", "example");
            HollowNode::with_config(api.clone(), config)
        })
        .collect();

    let Manifest::Namespace(demo) =
        manifest::parse("kind: Namespace\nversion: v1\nmeta: {name: demo}\n")?.remove(0)
    else {
        unreachable!("a namespace manifest");
    };
    api.create_namespace(demo).await?;
    api.apply("demo", manifest::parse(SERVICE_2048)?, Default::default())
        .await?;
    println!("applied service demo:2048 (2 replicas)");

    let endpoint_link = SelfLink::namespaced(Kind::Endpoint, "demo", "2048");
    let mut ready = BTreeSet::new();
    let endpoint = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (pods, _) = api.store().list::<Pod>("demo:2048:").await?;
            for pod in pods.iter().filter(|p| p.status.ready) {
                if ready.insert(pod.meta.self_link.clone()) {
                    println!(
                        "pod {} ready on {} at {}",
                        pod.meta.self_link,
                        pod.spec.node.as_deref().unwrap_or("?"),
                        pod.status
                            .network
                            .pod_ip
                            .map_or_else(|| "?".to_owned(), |ip| ip.to_string()),
                    );
                }
            }
            let endpoint = api.store().find::<Endpoint>(&endpoint_link).await?;
            if let Some(endpoint) = endpoint.filter(|e| e.spec.upstreams.len() == 2) {
                return anyhow::Ok(endpoint);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .context("the service did not come up in 30s")??;
    println!(
        "endpoint {} at {} -> {:?}",
        endpoint.spec.domain,
        endpoint
            .spec
            .ip
            .map_or_else(|| "?".to_owned(), |ip| ip.to_string()),
        endpoint.spec.upstreams
    );

    let _ = stop.send(());
    controller.await??;
    for node in nodes {
        node.stop().await;
    }
    Ok(())
}
