//! Hollow nodes against the API alone (no controller): pods are placed by
//! hand. Time is paused: leases end on tokio's clock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use super::{HollowConfig, HollowNode};
use crate::api::{Api, Settings, lease_key};
use crate::model::{Container, Image, Kind, Meta, NodeResources, Pod, PodSpec, SelfLink, State};
use crate::storage::MemoryStorage;
use crate::store::Store;

const TTL: Duration = Duration::from_secs(3);

fn api() -> Api {
    let settings = Settings {
        node_ttl: TTL,
        ..Settings::default()
    };
    Api::new(Store::new(Arc::new(MemoryStorage::new())), settings)
}

fn capacity() -> NodeResources {
    NodeResources {
        pods: 10,
        ..NodeResources::default()
    }
}

fn pod_link(name: &str) -> SelfLink {
    SelfLink::pod("demo", "web", "d_v1", name)
}

async fn place(api: &Api, name: &str, node: &str) -> Pod {
    let link = pod_link(name);
    let mut pod = Pod {
        meta: Meta::new(name, &link),
        spec: PodSpec {
            node: Some(node.to_owned()),
            ..PodSpec::default()
        },
        ..Pod::default()
    };
    pod.spec.template.containers.push(Container {
        name: "web".into(),
        image: Image {
            name: "nginx".into(),
            ..Image::default()
        },
        ..Container::default()
    });
    api.store().create(&pod).await.unwrap()
}

async fn pod(api: &Api, name: &str) -> Option<Pod> {
    api.store().find(&pod_link(name)).await.unwrap()
}

async fn online(api: &Api, node: &str) -> bool {
    api.store()
        .storage()
        .get(&lease_key(Kind::Node, node))
        .await
        .is_ok()
}

/// Polls `check` every 10ms of (paused) time for up to a minute.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..6000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

async fn state_of(api: &Api, name: &str) -> Option<State> {
    pod(api, name).await.map(|p| p.status.status.state)
}

#[tokio::test(start_paused = true)]
async fn registers_with_its_labels_and_stays_online_on_heartbeats() {
    let api = api();
    let config = HollowConfig::new("h1", capacity()).label("zone", "a");
    let node = HollowNode::with_config(api.clone(), config.clone());
    eventually("registered", || async { api.node("h1").await.is_ok() }).await;
    let registered = api.node("h1").await.unwrap();
    assert!(registered.status.online);
    assert_eq!(registered.meta.labels["zone"], "a");
    assert_eq!(registered.status.capacity.pods, 10);
    assert_eq!(
        registered.info.internal_ip,
        Some(IpAddr::V4(config.host_ip))
    );
    // Several TTLs later the lease still lives: reports come every TTL/3.
    tokio::time::sleep(TTL * 4).await;
    assert!(online(&api, "h1").await);
    let reports = node.reports();
    assert!(reports >= 10, "{reports} reports in 4 TTLs");
    node.stop().await;
}

#[tokio::test(start_paused = true)]
async fn runs_placed_pods_with_addresses_from_its_subnet() {
    let api = api();
    let config = HollowConfig::new("h1", capacity()).subnet(Ipv4Addr::new(10, 200, 7, 0));
    let node = HollowNode::with_config(api.clone(), config);
    eventually("registered", || async { api.node("h1").await.is_ok() }).await;
    for name in ["a000001", "a000002", "a000003"] {
        place(&api, name, "h1").await;
    }
    // One for another node, which this one must not touch.
    place(&api, "b000001", "elsewhere").await;
    let mut ips = Vec::new();
    for name in ["a000001", "a000002", "a000003"] {
        eventually("ready", || async {
            state_of(&api, name).await == Some(State::Ready)
        })
        .await;
        let p = pod(&api, name).await.unwrap();
        assert!(p.status.running && p.status.ready);
        assert!(p.status.containers["web"].ready);
        assert_eq!(p.status.containers["web"].image, "nginx");
        let Some(IpAddr::V4(ip)) = p.status.network.pod_ip else {
            panic!("no pod ip: {p:?}");
        };
        assert_eq!(ip.octets()[..3], [10, 200, 7]);
        ips.push(ip);
    }
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "addresses are unique");
    assert_eq!(state_of(&api, "b000001").await, Some(State::Created));
    assert_eq!(node.pods().len(), 3);
    let node_status = api.node("h1").await.unwrap().status;
    assert_eq!(node_status.allocated.pods, 3);
    assert_eq!(node_status.allocated.containers, 3);
    node.stop().await;
}

#[tokio::test(start_paused = true)]
async fn reports_destroyed_pods_and_forgets_deleted_ones() {
    let api = api();
    let node = HollowNode::new(api.clone(), "h1", capacity());
    place(&api, "a000001", "h1").await;
    eventually("ready", || async {
        state_of(&api, "a000001").await == Some(State::Ready)
    })
    .await;
    let mut p = pod(&api, "a000001").await.unwrap();
    p.spec.state.destroy = true;
    api.store().update(&p).await.unwrap();
    eventually("destroyed", || async {
        state_of(&api, "a000001").await == Some(State::Destroyed)
    })
    .await;
    let p = pod(&api, "a000001").await.unwrap();
    assert!(!p.status.running && p.status.network.pod_ip.is_none());
    api.store().delete(&p).await.unwrap();
    eventually("forgotten", || {
        let held = node.pods();
        async move { held.is_empty() }
    })
    .await;
    node.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_paused_node_goes_offline_and_comes_back_on_resume() {
    let api = api();
    let node = HollowNode::new(api.clone(), "h1", capacity());
    eventually("online", || online(&api, "h1")).await;
    node.pause();
    assert!(node.is_paused());
    let reports = node.reports();
    tokio::time::sleep(TTL * 2).await;
    assert!(!online(&api, "h1").await, "the lease ended");
    assert_eq!(node.reports(), reports, "no report while paused");
    // A pod placed while it is away runs once it is back.
    place(&api, "a000001", "h1").await;
    node.resume();
    eventually("online again", || online(&api, "h1")).await;
    eventually("ready", || async {
        state_of(&api, "a000001").await == Some(State::Ready)
    })
    .await;
    node.stop().await;
}

#[tokio::test(start_paused = true)]
async fn failing_pods_report_errors_until_healed() {
    let api = api();
    let node = HollowNode::new(api.clone(), "h1", capacity());
    node.fail_pods(|link| link.ends_with(":bad0001"));
    place(&api, "bad0001", "h1").await;
    place(&api, "good001", "h1").await;
    eventually("error", || async {
        state_of(&api, "bad0001").await == Some(State::Error)
    })
    .await;
    eventually("ready", || async {
        state_of(&api, "good001").await == Some(State::Ready)
    })
    .await;
    let bad = pod(&api, "bad0001").await.unwrap();
    assert!(!bad.status.running && !bad.status.ready);
    assert_eq!(bad.status.containers["web"].state, State::Error);
    node.heal_pods();
    eventually("healed", || async {
        state_of(&api, "bad0001").await == Some(State::Ready)
    })
    .await;
    node.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_node_reports_late_but_reports() {
    let api = api();
    let node = HollowNode::new(api.clone(), "h1", capacity());
    eventually("online", || online(&api, "h1")).await;
    node.slow(Duration::from_millis(500));
    let placed = tokio::time::Instant::now();
    place(&api, "a000001", "h1").await;
    eventually("ready", || async {
        state_of(&api, "a000001").await == Some(State::Ready)
    })
    .await;
    assert!(placed.elapsed() >= Duration::from_millis(500));
    // Still well within the TTL: it stays online.
    tokio::time::sleep(TTL * 2).await;
    assert!(online(&api, "h1").await);
    node.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_stopped_node_goes_offline_and_a_removed_one_joins_again() {
    let api = api();
    let node = HollowNode::new(api.clone(), "h1", capacity());
    eventually("online", || online(&api, "h1")).await;
    api.remove_node("h1").await.unwrap();
    eventually("joined again", || async { api.node("h1").await.is_ok() }).await;
    eventually("online", || online(&api, "h1")).await;
    node.stop().await;
    tokio::time::sleep(TTL * 2).await;
    assert!(!online(&api, "h1").await);
}

#[tokio::test(start_paused = true)]
async fn nodes_get_distinct_subnets_and_host_addresses() {
    let a = HollowConfig::new("a", capacity());
    let b = HollowConfig::new("b", capacity());
    assert_ne!(a.subnet, b.subnet);
    assert_ne!(a.host_ip, b.host_ip);
    assert_eq!(a.subnet.octets()[3], 0);
}
