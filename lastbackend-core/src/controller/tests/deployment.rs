//! `deploymentObserve` and `PodObserve` (original-tests.md §1.3, §1.4):
//! pods up to replicas, placement, victims, dependencies, destroy, and the
//! status derived from the pods.

use chrono::{Duration, Utc};

use super::*;
use crate::controller::deployment::{derive_status, scale_down_victims};
use crate::model::{DependencyState, Secret, TemplateVolume, Volume, VolumeRef, VolumeSource};

fn pod(name: &str, state: State, running: bool, ready: bool) -> Pod {
    let mut pod = Pod::default();
    pod.meta.name = name.into();
    pod.meta.self_link = format!("{NS}:service:d_v1:{name}");
    pod.spec.node = Some("node".into());
    pod.status.status = Status::new(state);
    pod.status.running = running;
    pod.status.ready = ready;
    pod
}

/// PodObserve: the deployment's state from its pods.
#[test]
fn status_is_derived_from_the_pods() {
    let ready = || pod("r", State::Ready, true, true);
    let provision = || pod("p", State::Provision, false, false);
    let error = || pod("e", State::Error, false, false);
    let degraded = || pod("d", State::Degradation, true, false);
    let cases: Vec<(&str, u32, Vec<Pod>, State)> = vec![
        ("ready: one ready pod", 1, vec![ready()], State::Ready),
        (
            "ready: two ready pods",
            2,
            vec![ready(), ready()],
            State::Ready,
        ),
        (
            "ready: provision + ready",
            2,
            vec![provision(), ready()],
            State::Provision,
        ),
        ("error: one error", 1, vec![error()], State::Error),
        (
            "error: error + ready",
            2,
            vec![error(), ready()],
            State::Degradation,
        ),
        ("error: two errors", 2, vec![error(), error()], State::Error),
        ("degradation: one", 1, vec![degraded()], State::Degradation),
        (
            "degradation: + ready",
            2,
            vec![degraded(), ready()],
            State::Degradation,
        ),
        (
            "degradation: two",
            2,
            vec![degraded(), degraded()],
            State::Degradation,
        ),
        ("missing pods", 2, vec![ready()], State::Provision),
        ("no replicas", 0, vec![], State::Ready),
    ];
    for (case, replicas, pods, want) in cases {
        let (status, _) = derive_status(replicas, &pods);
        assert_eq!(status.state, want, "{case}");
    }
    let mut failed = error();
    failed.status.status.message = "image not found".into();
    let (status, ready) = derive_status(1, &[failed]);
    assert_eq!(status.message, "image not found");
    assert_eq!(ready, 0);
}

#[test]
fn scale_down_takes_error_then_unready_then_the_newest_ready() {
    let now = Utc::now();
    let mut pods = vec![
        pod("ready-old", State::Ready, true, true),
        pod("ready-mid", State::Ready, true, true),
        pod("ready-new", State::Ready, true, true),
        pod("provision", State::Provision, false, false),
        pod("error", State::Error, false, false),
    ];
    for (age, pod) in pods.iter_mut().enumerate() {
        pod.meta.created = now + Duration::seconds(age as i64);
    }
    let victims = |replicas| -> Vec<String> {
        scale_down_victims(&pods, replicas)
            .into_iter()
            .map(|p| p.meta.name)
            .collect()
    };
    assert_eq!(victims(5), Vec::<String>::new());
    assert_eq!(victims(4), ["error"]);
    assert_eq!(victims(3), ["error", "provision"]);
    assert_eq!(victims(1), ["error", "provision", "ready-new", "ready-mid"]);
}

#[tokio::test]
async fn pods_are_created_up_to_replicas_and_placed() {
    // "no pods", "scale up", "with pods should create new".
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("service", 1, &[]).await;
    cluster.converge().await;
    let pods = cluster.pods("service", "v1").await;
    assert_eq!(pods.len(), 1);
    let name = &pods[0].meta.name;
    assert_eq!(name.len(), 7);
    assert!(name.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    assert_eq!(pods[0].spec.node.as_deref(), Some("node"));
    assert_eq!(pods[0].status.status.state, State::Provision);
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert_eq!(v1.status.status.state, State::Provision);

    cluster
        .update_service("service", |s| s.spec.replicas = 2)
        .await;
    cluster.converge().await;
    assert_eq!(cluster.pods("service", "v1").await.len(), 2);

    // A pod being removed is replaced at once.
    let mut going = cluster.pods("service", "v1").await.remove(0);
    going.spec.state.destroy = true;
    cluster.store.update(&going).await.unwrap();
    cluster.converge().await;
    let pods = cluster.pods("service", "v1").await;
    assert_eq!(pods.len(), 3);
    assert_eq!(pods.iter().filter(|p| !p.spec.state.destroy).count(), 2);
}

#[tokio::test]
async fn scale_down_removes_the_error_pod_first() {
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("service", 2, &[]).await;
    cluster.converge().await;
    let pods = cluster.pods("service", "v1").await;
    let broken = pods[1].meta.self_link.clone();
    cluster
        .report(|p| p.meta.self_link == broken, State::Error, false)
        .await;
    cluster
        .update_service("service", |s| s.spec.replicas = 1)
        .await;
    cluster.converge().await;
    let pods = cluster.pods("service", "v1").await;
    let marked: Vec<&str> = pods
        .iter()
        .filter(|p| p.spec.state.destroy)
        .map(|p| p.meta.self_link.as_str())
        .collect();
    assert_eq!(marked, [broken.as_str()]);
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert_eq!(v1.spec.replicas, 1);
    cluster.agents().await;
    cluster.converge().await;
    assert_eq!(cluster.pods("service", "v1").await.len(), 1);
}

#[tokio::test]
async fn an_unschedulable_pod_carries_the_schedulers_reason_and_is_retried() {
    let cluster = Cluster::new();
    cluster.add_service("service", 1, &[]).await;
    let errors = cluster.converge().await;
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, ReconcileError::Unschedulable { pods: 1, .. })),
        "{errors:?}"
    );
    let pods = cluster.pods("service", "v1").await;
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].spec.node, None);
    assert_eq!(pods[0].status.status.state, State::Error);
    assert_eq!(
        pods[0].status.status.message,
        "0/0 nodes available: the cluster has no nodes"
    );
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert_eq!(v1.status.status.state, State::Error);
    assert_eq!(v1.status.status.message, pods[0].status.status.message);

    cluster.add_node("node").await;
    assert!(cluster.converge().await.is_empty());
    let pods = cluster.pods("service", "v1").await;
    assert_eq!(pods.len(), 1, "the same pod, placed");
    assert_eq!(pods[0].spec.node.as_deref(), Some("node"));
    assert_eq!(pods[0].status.status.state, State::Provision);
}

#[tokio::test]
async fn a_missing_secret_makes_the_deployment_wait_until_it_appears() {
    // "Created: waiting without volumes", with a secret.
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("service", 1, &[]).await;
    cluster
        .update_service("service", |s| {
            s.spec.template.containers[0].image.secret = Some(crate::model::KeyRef {
                name: "registry".into(),
                key: "auth".into(),
            });
        })
        .await;
    cluster.converge().await;
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert_eq!(v1.status.status.state, State::Waiting);
    assert!(
        v1.status.status.message.contains("secret registry"),
        "{}",
        v1.status.status.message
    );
    assert_eq!(
        v1.status.dependencies.secrets.get("registry"),
        Some(&DependencyState::Waiting)
    );
    assert!(cluster.pods("service", "v1").await.is_empty());
    let service = cluster.service("service").await.unwrap();
    assert_eq!(service.status.status.state, State::Waiting);

    let link = SelfLink::namespaced(Kind::Secret, NS, "registry");
    let secret = Secret {
        meta: Meta::new("registry", &link),
        ..Secret::default()
    };
    cluster.store.create(&secret).await.unwrap();
    cluster.converge().await;
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert_eq!(v1.status.status.state, State::Provision);
    assert_eq!(
        v1.status.dependencies.secrets.get("registry"),
        Some(&DependencyState::Ready)
    );
    assert_eq!(cluster.pods("service", "v1").await.len(), 1);
}

#[tokio::test]
async fn pods_on_an_offline_node_are_deleted_and_replaced() {
    let cluster = Cluster::new();
    cluster.add_node("a").await;
    cluster.add_service("service", 2, &["80/tcp"]).await;
    cluster.settle().await;
    let before = cluster.endpoint("service").await.unwrap().spec.upstreams;
    assert_eq!(before.len(), 2);

    cluster.add_node("b").await;
    cluster.set_online("a", false).await;
    cluster.converge().await;
    let pods = cluster.pods("service", "v1").await;
    assert_eq!(pods.len(), 2);
    assert!(pods.iter().all(|p| p.spec.node.as_deref() == Some("b")));
    assert!(
        cluster
            .endpoint("service")
            .await
            .unwrap()
            .spec
            .upstreams
            .is_empty(),
        "no upstream on a dead node"
    );
    cluster.settle().await;
    let upstreams = cluster.endpoint("service").await.unwrap().spec.upstreams;
    assert_eq!(upstreams, pod_ips(&cluster.pods("service", "v1").await));
}

#[tokio::test]
async fn destroy_marks_placed_pods_and_deletes_unplaced_ones() {
    // "Destroy: A, one pod without a node", then "Destroyed".
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("service", 2, &[]).await;
    cluster.converge().await;
    let mut unplaced = cluster.pods("service", "v1").await.remove(0);
    unplaced.spec.node = None;
    cluster.store.update(&unplaced).await.unwrap();
    let mut v1 = cluster.deployment("service", "v1").await.unwrap();
    v1.spec.state.destroy = true;
    cluster.store.update(&v1).await.unwrap();
    cluster
        .deployments
        .reconcile_deployment(&v1.meta.self_link)
        .await
        .unwrap();
    let pods = cluster.pods("service", "v1").await;
    assert_eq!(pods.len(), 1, "the unplaced pod is gone");
    assert!(pods[0].spec.state.destroy);
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert_eq!(v1.status.status.state, State::Destroy);

    cluster.agents().await;
    let key = v1.meta.self_link.clone();
    cluster
        .deployments
        .reconcile_deployment(&key)
        .await
        .unwrap();
    assert!(cluster.pods("service", "v1").await.is_empty());
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert_eq!(v1.status.status.state, State::Destroyed);
    cluster
        .deployments
        .reconcile_deployment(&key)
        .await
        .unwrap();
    assert!(cluster.deployment("service", "v1").await.is_none());
}

/// A stored volume `name` of the test namespace, on `node`, `ready` or not.
async fn put_volume(cluster: &Cluster, name: &str, node: Option<&str>, ready: bool) {
    let link = SelfLink::namespaced(Kind::Volume, NS, name);
    let mut volume = match cluster.store.find::<Volume>(&link).await.unwrap() {
        Some(v) => v,
        None => {
            let v = Volume {
                meta: Meta::new(name, &link),
                ..Volume::default()
            };
            cluster.store.create(&v).await.unwrap()
        }
    };
    volume.spec.node = node.map(str::to_owned);
    volume.status.ready = ready;
    cluster.store.update(&volume).await.unwrap();
}

#[tokio::test]
async fn pods_wait_for_ready_volumes_and_need_them_on_one_node() {
    let cluster = Cluster::new();
    cluster.add_node("a").await;
    cluster.add_node("b").await;
    cluster.add_service("service", 1, &[]).await;
    cluster
        .update_service("service", |s| {
            for name in ["data", "logs"] {
                s.spec.template.volumes.push(TemplateVolume {
                    name: name.into(),
                    source: VolumeSource::Volume(VolumeRef {
                        name: name.into(),
                        ..VolumeRef::default()
                    }),
                });
            }
        })
        .await;
    // Placed but not made yet: waiting, no pod.
    put_volume(&cluster, "data", Some("a"), false).await;
    put_volume(&cluster, "logs", Some("b"), false).await;
    cluster.converge().await;
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert_eq!(v1.status.status.state, State::Waiting);
    let message = &v1.status.status.message;
    assert!(message.contains("volume data to be ready"), "{message}");
    assert!(message.contains("volume logs to be ready"), "{message}");
    assert_eq!(
        v1.status.dependencies.volumes.get("data"),
        Some(&DependencyState::Waiting)
    );
    assert!(cluster.pods("service", "v1").await.is_empty());

    // Ready, but on different nodes: unschedulable, saying which.
    put_volume(&cluster, "data", Some("a"), true).await;
    put_volume(&cluster, "logs", Some("b"), true).await;
    let errors = cluster.converge().await;
    assert!(!errors.is_empty());
    let pods = cluster.pods("service", "v1").await;
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].spec.node, None);
    assert_eq!(pods[0].status.status.state, State::Error);
    assert_eq!(
        pods[0].status.status.message,
        "volume data is on node a and volume logs on node b: a pod needs all its volumes on one node"
    );

    // Both on b: the pod follows them there.
    put_volume(&cluster, "data", Some("b"), true).await;
    assert!(cluster.converge().await.is_empty());
    let pods = cluster.pods("service", "v1").await;
    assert_eq!(pods[0].spec.node.as_deref(), Some("b"));
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert_eq!(
        v1.status.dependencies.volumes.get("logs"),
        Some(&DependencyState::Ready)
    );
}

async fn set_maintenance(cluster: &Cluster, node: &str, on: bool) {
    let link = SelfLink::host(Kind::Node, node);
    let mut node: Node = cluster.store.get(&link).await.unwrap();
    node.spec.maintenance = on;
    cluster.store.update(&node).await.unwrap();
}

fn on(pods: &[Pod], node: &str) -> usize {
    pods.iter()
        .filter(|p| p.spec.node.as_deref() == Some(node))
        .count()
}

#[tokio::test]
async fn a_node_in_maintenance_gets_no_pods_and_its_pods_move_without_a_gap() {
    let cluster = Cluster::new();
    cluster.add_node("a").await;
    cluster.add_node("b").await;
    cluster.add_service("service", 2, &["80/tcp"]).await;
    cluster.settle().await;
    let pods = cluster.pods("service", "v1").await;
    assert_eq!((on(&pods, "a"), on(&pods, "b")), (1, 1), "spread");
    let on_a = pods
        .iter()
        .find(|p| p.spec.node.as_deref() == Some("a"))
        .unwrap()
        .meta
        .self_link
        .clone();

    set_maintenance(&cluster, "a", true).await;
    cluster.converge().await;
    let pods = cluster.pods("service", "v1").await;
    assert_eq!(pods.len(), 3, "a replacement first");
    assert_eq!(on(&pods, "b"), 2, "placed off the node in maintenance");
    let old = pods.iter().find(|p| p.meta.self_link == on_a).unwrap();
    assert!(
        !old.spec.state.destroy,
        "kept until its replacement is ready"
    );
    let ready = cluster.endpoint("service").await.unwrap().spec.upstreams;
    assert_eq!(ready.len(), 2, "still serving from a");

    cluster.settle().await;
    let pods = cluster.pods("service", "v1").await;
    assert_eq!((on(&pods, "a"), on(&pods, "b")), (0, 2), "moved");
    assert!(pods.iter().all(|p| p.status.ready));
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert_eq!(v1.status.status.state, State::Ready);
    assert_eq!(
        cluster.endpoint("service").await.unwrap().spec.upstreams,
        pod_ips(&pods)
    );

    // Back from maintenance: nothing moves back by itself, new pods may go there.
    set_maintenance(&cluster, "a", false).await;
    cluster
        .update_service("service", |s| s.spec.replicas = 4)
        .await;
    cluster.settle().await;
    let pods = cluster.pods("service", "v1").await;
    assert_eq!((on(&pods, "a"), on(&pods, "b")), (2, 2));
}

#[tokio::test]
async fn a_pod_in_maintenance_is_left_alone() {
    let cluster = Cluster::new();
    cluster.add_node("a").await;
    cluster.add_node("b").await;
    cluster.add_service("service", 3, &[]).await;
    cluster.settle().await;
    // The newest ready pod would go first on a scale down; in maintenance
    // it stays, and stays on its node when that goes into maintenance.
    let mut pods = cluster.pods("service", "v1").await;
    pods.sort_by_key(|p| p.meta.created);
    let mut kept = pods.pop().unwrap();
    kept.spec.state.maintenance = true;
    cluster.store.update(&kept).await.unwrap();
    let node = kept.spec.node.clone().unwrap();
    set_maintenance(&cluster, &node, true).await;
    cluster
        .update_service("service", |s| s.spec.replicas = 1)
        .await;
    cluster.settle().await;
    let pods = cluster.pods("service", "v1").await;
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(pods[0].meta.self_link, kept.meta.self_link);
    assert_eq!(pods[0].spec.node.as_deref(), Some(node.as_str()));
    assert!(!pods[0].spec.state.destroy);
}
