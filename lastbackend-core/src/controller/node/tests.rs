use std::time::Duration;

use super::*;
use crate::api::types::{MemberReport, NodeRegistration, NodeStatusReport};
use crate::api::{Api, Settings};
use crate::controller::fixtures::{Running, eventually, leading};
use crate::model::Kind;
use crate::store::Store;

async fn online<T: Member>(store: &Store, name: &str) -> bool {
    store
        .get::<T>(&SelfLink::host(T::KIND, name))
        .await
        .unwrap()
        .online()
}

#[tokio::test(start_paused = true)]
async fn a_node_goes_offline_when_its_heartbeat_ends_and_back_when_it_returns() {
    let (store, _leadership, context) = leading().await;
    let api = Api::new(store.clone(), Settings::default());
    api.register_node("n1", NodeRegistration::default())
        .await
        .unwrap();
    api.register_node("n2", NodeRegistration::default())
        .await
        .unwrap();
    let running = Running::start(build::<Node>(&context), 2);

    // n2 keeps pushing, n1 falls silent: after the TTL only n1 is offline.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        api.node_status("n2", NodeStatusReport::default())
            .await
            .unwrap();
    }
    eventually("n1 offline", Duration::from_secs(5), || async {
        !online::<Node>(&store, "n1").await
    })
    .await;
    assert!(online::<Node>(&store, "n2").await);

    // n1 pushes again: the API sets online and restarts the heartbeat; the
    // controller keeps it so.
    api.node_status("n1", NodeStatusReport::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(online::<Node>(&store, "n1").await);
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_node_marked_online_without_a_heartbeat_is_corrected_at_start() {
    let (store, _leadership, context) = leading().await;
    let mut node = Node {
        meta: crate::model::Meta::new("ghost", &SelfLink::host(Kind::Node, "ghost")),
        ..Node::default()
    };
    node.status.online = true;
    store.create(&node).await.unwrap();
    let running = Running::start(build::<Node>(&context), 1);
    eventually("ghost offline", Duration::from_secs(1), || async {
        !online::<Node>(&store, "ghost").await
    })
    .await;

    // The key comes back (written directly, as another API server would).
    store
        .storage()
        .put(&lease_key(Kind::Node, "ghost"), "{}".into(), None)
        .await
        .unwrap();
    eventually("ghost online", Duration::from_secs(1), || async {
        online::<Node>(&store, "ghost").await
    })
    .await;
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn ingress_discovery_and_exporter_presence_follows_their_heartbeats() {
    let (store, _leadership, context) = leading().await;
    let api = Api::new(store.clone(), Settings::default());
    let report = MemberReport::default();
    api.register_ingress("i1", report.clone()).await.unwrap();
    api.register_discovery("d1", report.clone()).await.unwrap();
    api.register_exporter("e1", report.clone()).await.unwrap();
    let running = [
        Running::start(build::<Ingress>(&context), 1),
        Running::start(build::<Discovery>(&context), 1),
        Running::start(build::<Exporter>(&context), 1),
    ];

    // Only the discovery server keeps reporting.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        api.member_status(Kind::Discovery, "d1", report.clone())
            .await
            .unwrap();
    }
    eventually(
        "ingress and exporter offline",
        Duration::from_secs(5),
        || async {
            !online::<Ingress>(&store, "i1").await && !online::<Exporter>(&store, "e1").await
        },
    )
    .await;
    assert!(online::<Discovery>(&store, "d1").await);

    api.member_status(Kind::Ingress, "i1", report)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(online::<Ingress>(&store, "i1").await);
    for running in running {
        running.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_deposed_controller_writes_nothing() {
    let (store, leadership, context) = leading().await;
    let mut node = Node {
        meta: crate::model::Meta::new("n1", &SelfLink::host(Kind::Node, "n1")),
        ..Node::default()
    };
    node.status.online = true;
    store.create(&node).await.unwrap();
    let reconciler = build::<Node>(&context).reconciler;
    leadership.resign().await.unwrap();
    assert!(reconciler.reconcile("n1").await.is_err());
    assert!(online::<Node>(&store, "n1").await, "not written");
}
