//! Node loss end to end: the API's heartbeat lease ends, the presence
//! reconciler marks the node offline, the deployment reconciler replaces its
//! pods and the endpoint drops them; all through the manager's watches.

use std::time::Duration;

use super::*;
use crate::api::types::{NodeRegistration, NodeStatusReport};
use crate::api::{self, Api};
use crate::controller::leader::{self, LeaderConfig};
use crate::controller::manager::ControllerManager;

fn registration() -> NodeRegistration {
    let mut reg = NodeRegistration::default();
    reg.capacity.pods = 10;
    reg.capacity.containers = 10;
    reg.capacity.ram = Ram::from_bytes(1 << 30);
    reg.capacity.cpu = Cpu::from_millis(1000);
    reg
}

#[tokio::test]
async fn a_node_whose_heartbeat_ends_loses_its_pods_to_the_others() {
    tokio::time::pause();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let cluster = Cluster::over(storage.clone());
    let api = Api::new(Store::new(storage.clone()), api::Settings::default());
    api.register_node("a", registration()).await.unwrap();
    let manager = ControllerManager::new(Store::new(storage.clone()), Settings::default());
    let leadership = leader::campaign(storage.clone(), LeaderConfig::new("me"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        manager
            .run(leadership, async move {
                let _ = stopped.await;
            })
            .await
    });

    cluster.add_service("web", 2, &["80/tcp"]).await;
    let mut rounds = 0;
    let mut round = async |pushing: &[&str]| {
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
        // The agents still alive push their status every 5 s.
        if rounds % 20 == 0 {
            for node in pushing {
                let report = NodeStatusReport {
                    capacity: registration().capacity,
                    ..NodeStatusReport::default()
                };
                api.node_status(node, report).await.unwrap();
            }
        }
        cluster.agents().await;
        if rounds >= 400 {
            let nodes: Vec<(String, bool)> = cluster
                .store
                .list::<Node>("")
                .await
                .unwrap()
                .0
                .into_iter()
                .map(|n| (n.meta.name, n.status.online))
                .collect();
            let pods: Vec<_> = cluster
                .all_pods()
                .await
                .into_iter()
                .map(|p| (p.meta.self_link, p.spec.node, p.status))
                .collect();
            panic!(
                "no convergence: nodes {nodes:?}, pods {pods:?}, service {:?}",
                cluster.service("web").await.map(|s| s.status)
            );
        }
    };
    while cluster
        .service("web")
        .await
        .is_none_or(|s| s.status.status.state != State::Ready)
    {
        round(&["a"]).await;
    }
    assert!(
        cluster
            .all_pods()
            .await
            .iter()
            .all(|p| p.spec.node.as_deref() == Some("a"))
    );

    // b joins; a falls silent.
    api.register_node("b", registration()).await.unwrap();
    loop {
        let pods = cluster.all_pods().await;
        let upstreams = cluster.endpoint("web").await.unwrap().spec.upstreams;
        let a: Node = cluster
            .store
            .get(&SelfLink::host(Kind::Node, "a"))
            .await
            .unwrap();
        if !a.status.online
            && pods.len() == 2
            && pods
                .iter()
                .all(|p| p.spec.node.as_deref() == Some("b") && p.status.ready)
            && upstreams == pod_ips(&pods)
        {
            break;
        }
        round(&["b"]).await;
    }

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
