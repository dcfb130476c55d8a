//! A controller that dies at any point leaves nothing a new one cannot
//! finish: no duplicate deployment, no extra pod, no leaked VIP.

use std::time::Duration;

use super::*;
use crate::controller::leader::{self, LeaderConfig};
use crate::controller::manager::ControllerManager;
use crate::controller::testing::Gate;

async fn check_converged(cluster: &Cluster, replicas: usize) {
    let deployments = cluster.deployments("web").await;
    assert_eq!(names(&deployments), ["v2"]);
    let pods = cluster.all_pods().await;
    assert_eq!(pods.len(), replicas, "{pods:#?}");
    assert!(pods.iter().all(|p| p.meta.self_link.contains(":d_v2:")));
    assert!(pods.iter().all(|p| p.status.ready && !p.spec.state.destroy));
    let endpoint = cluster.endpoint("web").await.unwrap();
    assert_eq!(endpoint.spec.upstreams, pod_ips(&pods));
    let allocations = cluster.context.ipam.allocations().await.unwrap();
    assert_eq!(allocations.len(), 1);
    let service = cluster.service("web").await.unwrap();
    assert_eq!(service.status.active.as_deref(), Some("v2"));
    assert_eq!(service.status.status.state, State::Ready);
}

/// What the doomed controller is in the middle of.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// A blue/green rollout to a new template.
    Rollout,
    /// A rolling update to a new template.
    Rolling,
    /// Destroying the service.
    Destroy,
}

impl Scenario {
    async fn start(self, cluster: &Cluster) {
        match self {
            Scenario::Rollout => cluster.change_template("web").await,
            Scenario::Rolling => {
                cluster
                    .update_service("web", |s| {
                        s.spec.strategy.kind = crate::model::StrategyKind::Rolling;
                    })
                    .await;
                cluster.change_template("web").await;
            }
            Scenario::Destroy => {
                cluster
                    .update_service("web", |s| s.spec.state.destroy = true)
                    .await;
            }
        }
    }

    async fn is_done(self, cluster: &Cluster) -> bool {
        match self {
            Scenario::Rollout | Scenario::Rolling => cluster.deployments("web").await.len() == 1,
            Scenario::Destroy => cluster.service("web").await.is_none(),
        }
    }

    async fn check(self, cluster: &Cluster) {
        match self {
            Scenario::Rollout | Scenario::Rolling => check_converged(cluster, 3).await,
            Scenario::Destroy => {
                assert!(cluster.service("web").await.is_none());
                assert!(cluster.endpoint("web").await.is_none());
                assert!(cluster.deployments("web").await.is_empty());
                assert!(cluster.all_pods().await.is_empty());
                let allocations = cluster.context.ipam.allocations().await.unwrap();
                assert!(allocations.is_empty(), "{allocations:?}");
            }
        }
    }
}

/// Crashes the controller at its first write, then at its second, and so
/// on until it finishes the scenario uncrashed; after each crash a fresh
/// controller over the same store must converge.
async fn crash_everywhere(scenario: Scenario) {
    let mut budget = 0;
    loop {
        let memory = MemoryStorage::new();
        let gate = Gate::new(&memory);
        let doomed = Cluster::over(gate.clone());
        doomed.add_node("node").await;
        doomed.add_service("web", 3, &["80/tcp"]).await;
        doomed.settle().await;
        scenario.start(&doomed).await;

        gate.crash_after(budget);
        let mut finished = false;
        for _ in 0..10 {
            let errors = doomed.pass().await;
            doomed.agents().await;
            let crashed = errors.iter().any(|e| e.to_string().contains("crashed"));
            if !crashed && doomed.pass().await.is_empty() && scenario.is_done(&doomed).await {
                finished = true;
                break;
            }
        }
        drop(doomed);

        let fresh = Cluster::over(Arc::new(memory));
        fresh.settle().await;
        scenario.check(&fresh).await;
        if finished {
            assert!(budget > 3, "{scenario:?} took only {budget} writes");
            break;
        }
        budget += 1;
        assert!(budget < 200, "{scenario:?} never finishes");
    }
}

#[tokio::test]
async fn a_crash_at_any_write_of_a_rollout_converges_without_duplicates() {
    crash_everywhere(Scenario::Rollout).await;
}

#[tokio::test]
async fn a_crash_at_any_write_of_a_rolling_update_converges_without_duplicates() {
    crash_everywhere(Scenario::Rolling).await;
}

#[tokio::test]
async fn a_crash_at_any_write_of_a_destroy_leaks_nothing() {
    crash_everywhere(Scenario::Destroy).await;
}

/// The manager's own loop: a first manager is dropped mid-rollout, a second
/// one (a new leader) finishes it.
#[tokio::test]
async fn a_new_manager_finishes_what_a_dropped_one_started() {
    tokio::time::pause();
    let memory = MemoryStorage::new();
    let cluster = Cluster::over(Arc::new(memory.clone()));
    cluster.add_node("node").await;
    cluster.add_service("web", 3, &["80/tcp"]).await;

    let start = |holder: &str| {
        let storage: Arc<dyn Storage> = Arc::new(memory.clone());
        let leadership = leader::campaign(
            storage.clone(),
            LeaderConfig::new(holder).ttl(Duration::from_secs(3)),
        );
        let manager = ControllerManager::new(Store::new(storage), Settings::default());
        tokio::spawn(async move {
            manager
                .run(leadership, std::future::pending::<()>())
                .await
                .unwrap();
        })
    };

    let first = start("first");
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cluster.agents().await;
        if cluster
            .service("web")
            .await
            .is_some_and(|s| s.status.status.state == State::Ready)
        {
            break;
        }
    }
    assert_eq!(
        cluster.service("web").await.unwrap().status.status.state,
        State::Ready
    );
    cluster.change_template("web").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    first.abort();
    let _ = first.await;

    let second = start("second");
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cluster.agents().await;
        let done = cluster.deployments("web").await.len() == 1
            && cluster.all_pods().await.len() == 3
            && cluster
                .service("web")
                .await
                .is_some_and(|s| s.status.active.as_deref() == Some("v2"));
        if done {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    check_converged(&cluster, 3).await;
    second.abort();
}
