//! The manager: reconcilers join with one line, run only while leading, and
//! write only behind the fence.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::controller::leader::{self, LeaderConfig};
use crate::controller::manager::{BuiltController, ControllerManager};
use crate::controller::runtime::{Action, Reconciler};
use crate::storage::BoxError;
use crate::store::Writes;

/// Puts somebody else's lead in the lead key (after deleting ours).
async fn usurp(storage: &Arc<dyn Storage>) {
    storage.del(leader::LEAD_KEY, None).await.unwrap();
    let lead = leader::Lead {
        holder: "usurper".into(),
        since: chrono::Utc::now(),
    };
    let value = serde_json::to_vec(&lead).unwrap();
    storage
        .put(leader::LEAD_KEY, value.into(), None)
        .await
        .unwrap();
}

struct Seen(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Reconciler for Seen {
    async fn reconcile(&self, key: &str) -> Result<Action, BoxError> {
        self.0.lock().unwrap().push(key.to_owned());
        Ok(Action::Done)
    }
}

#[tokio::test]
async fn an_added_reconciler_runs_only_while_leading() {
    tokio::time::pause();
    let memory = MemoryStorage::new();
    let storage: Arc<dyn Storage> = Arc::new(memory.clone());
    let cluster = Cluster::over(storage.clone());
    cluster.add_node("a").await;

    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut manager = ControllerManager::new(Store::new(storage.clone()), Settings::default());
    let log = Arc::clone(&seen);
    manager.add("nodes", move |context| {
        let mut controller = context.controller();
        controller.watch::<Node>("", |n| vec![n.meta.name.clone()]);
        BuiltController {
            controller,
            reconciler: Arc::new(Seen(Arc::clone(&log))),
        }
    });
    assert_eq!(
        manager.names(),
        [
            "service",
            "deployment",
            "namespace",
            "node",
            "subnet",
            "ingress",
            "discovery",
            "exporter",
            "volume",
            "route",
            "nodes"
        ]
    );

    let leadership = leader::campaign(storage.clone(), LeaderConfig::new("me"));
    let mut watch = leadership.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        manager
            .run(leadership, async move {
                let _ = stopped.await;
            })
            .await
    });
    watch.wait_until_leader().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Once or twice: the subnet reconciler writes `a`'s subnet, which the
    // added reconciler sees too.
    let mut once = seen.lock().unwrap().clone();
    once.dedup();
    assert_eq!(once, ["a"]);

    // The term ends when somebody else leads: nothing runs until the lead
    // is won back.
    usurp(&storage).await;
    watch.wait_until_follower().await;
    cluster.add_node("b").await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!seen.lock().unwrap().contains(&"b".to_owned()));
    storage.del(leader::LEAD_KEY, None).await.unwrap();
    watch.wait_until_leader().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(seen.lock().unwrap().contains(&"b".to_owned()));

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_deposed_writer_cannot_write() {
    tokio::time::pause();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let store = Store::new(storage.clone());
    let mut leadership = leader::campaign(storage.clone(), LeaderConfig::new("me"));
    leadership.wait_until_leader().await;
    let writer = Writer::fenced(store.clone(), leadership.clone());
    let node = |name: &str| Node {
        meta: Meta::new(name, &SelfLink::host(Kind::Node, name)),
        ..Node::default()
    };
    writer
        .commit(Writes::new().create(&node("a")).unwrap())
        .await
        .unwrap();

    // Somebody else takes the lead key while this writer may still think
    // it leads.
    usurp(&storage).await;
    let error = writer
        .commit(Writes::new().create(&node("b")).unwrap())
        .await
        .unwrap_err();
    assert!(error.is_conflict() || error.is_not_leader(), "{error}");
    assert!(
        store
            .find::<Node>(&SelfLink::host(Kind::Node, "b"))
            .await
            .unwrap()
            .is_none()
    );
}

/// Waits (in paused time) until `done`, playing the agents meanwhile.
async fn eventually(cluster: &Cluster, what: &str, done: impl AsyncFn(&Cluster) -> bool) {
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if done(cluster).await {
            return;
        }
        cluster.agents().await;
    }
    panic!("never: {what}");
}

/// The watches alone drive the reconcilers: a secret that appears, a node
/// that goes offline.
#[tokio::test]
async fn watches_drive_the_reconcilers() {
    tokio::time::pause();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let cluster = Cluster::over(storage.clone());
    cluster.add_node("a").await;
    let manager = ControllerManager::new(Store::new(storage.clone()), Settings::default());
    let writer = Writer::unfenced(Store::new(storage.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        manager
            .run_with(writer, async move {
                let _ = stopped.await;
            })
            .await
    });

    let service = cluster.add_service("web", 2, &["80/tcp"]).await;
    cluster
        .update_service("web", |s| {
            s.spec.template.containers[0].image.secret = Some(crate::model::KeyRef {
                name: "registry".into(),
                key: "auth".into(),
            });
        })
        .await;
    eventually(&cluster, "waiting", async |c| {
        c.service("web")
            .await
            .is_some_and(|s| s.status.status.state == State::Waiting)
    })
    .await;
    let link = SelfLink::namespaced(Kind::Secret, NS, "registry");
    let secret = crate::model::Secret {
        meta: Meta::new("registry", &link),
        ..Default::default()
    };
    cluster.store.create(&secret).await.unwrap();
    eventually(&cluster, "ready", async |c| {
        c.service("web")
            .await
            .is_some_and(|s| s.status.status.state == State::Ready)
    })
    .await;
    assert_eq!(
        cluster.endpoint("web").await.unwrap().spec.upstreams.len(),
        2
    );

    cluster.add_node("b").await;
    cluster.set_online("a", false).await;
    eventually(&cluster, "moved to b", async |c| {
        let pods = c.all_pods().await;
        let upstreams = c.endpoint("web").await.unwrap().spec.upstreams;
        pods.len() == 2
            && pods
                .iter()
                .all(|p| p.spec.node.as_deref() == Some("b") && p.status.ready)
            && upstreams == pod_ips(&pods)
    })
    .await;
    assert_eq!(names(&cluster.deployments("web").await), ["v1"]);
    assert_eq!(service.spec.generation, 1);

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

/// Concurrent workers placing against the watch caches never give a node
/// more pods than it has room for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_placements_fill_nodes_exactly() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let cluster = Cluster::over(storage.clone());
    for node in ["a", "b", "c"] {
        cluster.add_node(node).await;
    }
    let settings = Settings::default().workers(8);
    let manager = ControllerManager::new(Store::new(storage.clone()), settings);
    let writer = Writer::unfenced(Store::new(storage.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        manager
            .run_with(writer, async move {
                let _ = stopped.await;
            })
            .await
    });
    // 3 nodes × 10 pods of room, 15 services × 2 replicas.
    for i in 0..15 {
        cluster.add_service(&format!("s{i:02}"), 2, &[]).await;
    }
    eventually(&cluster, "all placed", async |c| {
        let pods = c.all_pods().await;
        pods.len() == 30 && pods.iter().all(|p| p.spec.node.is_some())
    })
    .await;
    cluster.add_service("extra", 1, &[]).await;
    eventually(&cluster, "the extra pod refused", async |c| {
        c.pods("extra", "v1")
            .await
            .first()
            .is_some_and(|p| p.status.status.state == State::Error)
    })
    .await;
    let pods = cluster.all_pods().await;
    for node in ["a", "b", "c"] {
        let here = pods
            .iter()
            .filter(|p| p.spec.node.as_deref() == Some(node))
            .count();
        assert_eq!(here, 10, "node {node}");
    }
    let extra = cluster.pods("extra", "v1").await;
    assert_eq!(extra[0].spec.node, None);
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

/// A panic outside any reconcile (here in a watch's key mapping) kills the
/// reconciler's task: the manager does not lead on half working, it stops
/// every reconciler and returns the failure with the reconciler's name.
#[tokio::test]
async fn a_reconciler_task_that_dies_ends_the_term_with_its_name() {
    tokio::time::pause();
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let cluster = Cluster::over(storage.clone());
    let mut manager = ControllerManager::empty(Store::new(storage.clone()), Settings::default());
    manager.add("fragile", |context| {
        let mut controller = context.controller();
        controller.watch::<Node>("", |n| {
            assert_ne!(n.meta.name, "boom", "a node its mapping cannot take");
            vec![n.meta.name.clone()]
        });
        BuiltController {
            controller,
            reconciler: Arc::new(Seen(Arc::default())),
        }
    });
    let writer = Writer::unfenced(Store::new(storage.clone()));
    let running =
        tokio::spawn(async move { manager.run_with(writer, std::future::pending::<()>()).await });
    cluster.add_node("fine").await;
    cluster.add_node("boom").await;
    let error = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("run_with returns once a reconciler died")
        .unwrap()
        .unwrap_err();
    assert!(
        error.to_string().starts_with("reconciler fragile ended"),
        "{error}"
    );
}
