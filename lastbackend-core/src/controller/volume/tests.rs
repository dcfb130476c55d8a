use std::time::Duration;

use super::*;
use crate::controller::fixtures::{Running, eventually, leading};
use crate::model::{Kind, Meta};
use crate::store::Store;
use crate::units::Ram;

const GIB: u64 = 1 << 30;

fn node(name: &str, online: bool, free_gib: u64) -> Node {
    let mut node = Node {
        meta: Meta::new(name, &SelfLink::host(Kind::Node, name)),
        ..Node::default()
    };
    node.status.online = online;
    node.status.capacity.storage = Ram::from_bytes(100 * GIB);
    node.status.allocated.storage = Ram::from_bytes((100 - free_gib) * GIB);
    node
}

fn volume(name: &str) -> Volume {
    Volume {
        meta: Meta::new(name, &SelfLink::namespaced(Kind::Volume, "demo", name)),
        ..Volume::default()
    }
}

async fn stored(store: &Store, name: &str) -> Option<Volume> {
    store
        .find(&SelfLink::namespaced(Kind::Volume, "demo", name))
        .await
        .unwrap()
}

#[test]
fn the_node_with_the_most_free_storage_wins_among_the_matching_online_ones() {
    let mut ssd = node("c-ssd", true, 10);
    ssd.meta.labels.insert("disk".into(), "ssd".into());
    let mut cordoned = node("e-cordoned", true, 90);
    cordoned.spec.unschedulable = true;
    let nodes = [
        node("a-offline", false, 99),
        node("b-roomy", true, 50),
        ssd,
        node("d-tie", true, 50),
        cordoned,
    ];
    let name = |v: &Volume| choose_node(v, &nodes).map(|n| n.meta.name.clone());

    let mut v = volume("data");
    assert_eq!(
        name(&v).as_deref(),
        Some("b-roomy"),
        "most free, first on a tie"
    );
    v.spec.selector.labels.insert("disk".into(), "ssd".into());
    assert_eq!(name(&v).as_deref(), Some("c-ssd"), "labels filter");
    v.spec.selector.labels.clear();
    v.spec.selector.node = Some("d-tie".into());
    assert_eq!(name(&v).as_deref(), Some("d-tie"), "the named node");
    v.spec.selector.node = Some("a-offline".into());
    assert_eq!(name(&v), None, "the named node is offline");
}

#[tokio::test(start_paused = true)]
async fn volumes_are_placed_wait_for_a_node_and_are_removed_after_the_node_confirms() {
    let (store, _leadership, context) = leading().await;
    store.create(&node("n1", true, 10)).await.unwrap();
    store.create(&node("n2", true, 60)).await.unwrap();
    store.create(&volume("data")).await.unwrap();
    let mut pinned = volume("pinned");
    pinned.spec.selector.node = Some("n3".into());
    store.create(&pinned).await.unwrap();
    let running = Running::start(crate::controller::volume::build(&context), 2);

    eventually("placement", Duration::from_secs(1), || async {
        stored(&store, "data").await.unwrap().spec.node.is_some()
    })
    .await;
    let data = stored(&store, "data").await.unwrap();
    assert_eq!(data.spec.node.as_deref(), Some("n2"));
    assert_eq!(data.status.status.state, State::Provision);
    eventually(
        "the pinned one in error",
        Duration::from_secs(1),
        || async { stored(&store, "pinned").await.unwrap().status.status.state == State::Error },
    )
    .await;
    assert_eq!(
        stored(&store, "pinned")
            .await
            .unwrap()
            .status
            .status
            .message,
        NO_NODE
    );

    // Its node joins: placed there.
    store.create(&node("n3", true, 1)).await.unwrap();
    eventually("the pinned one placed", Duration::from_secs(1), || async {
        stored(&store, "pinned").await.unwrap().spec.node.as_deref() == Some("n3")
    })
    .await;

    // Removal waits for the node to report the data gone.
    let mut data = stored(&store, "data").await.unwrap();
    data.spec.state.destroy = true;
    store.update(&data).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut data = stored(&store, "data").await.expect("still there");
    data.status.status = Status::new(State::Destroyed);
    store.update(&data).await.unwrap();
    eventually("the removal", Duration::from_secs(1), || async {
        stored(&store, "data").await.is_none()
    })
    .await;
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_volume_on_an_offline_node_is_removed_at_once() {
    let (store, _leadership, context) = leading().await;
    let mut n1 = store.create(&node("n1", true, 10)).await.unwrap();
    let mut data = volume("data");
    data.spec.node = Some("n1".into());
    store.create(&data).await.unwrap();
    let running = Running::start(crate::controller::volume::build(&context), 1);

    let mut data = stored(&store, "data").await.unwrap();
    data.spec.state.destroy = true;
    store.update(&data).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stored(&store, "data").await.is_some(), "the node is online");

    n1.status.online = false;
    store.update(&n1).await.unwrap();
    eventually("the removal", Duration::from_secs(1), || async {
        stored(&store, "data").await.is_none()
    })
    .await;
    running.stop().await;
}
