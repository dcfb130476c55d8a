//! Rollouts end to end: blue/green switches traffic when the new
//! deployment is ready, a failing one never takes the old one down, rolling
//! keeps the surge and unavailability bounds at every step.

use super::*;
use crate::model::{Scale, StrategyKind};

fn serving(pods: &[Pod]) -> Vec<Pod> {
    pods.iter()
        .filter(|p| p.status.ready && !p.spec.state.destroy)
        .cloned()
        .collect()
}

#[tokio::test]
async fn blue_green_switches_when_the_new_deployment_is_ready() {
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("web", 2, &["80/tcp"]).await;
    cluster.settle().await;
    let v1_ips = pod_ips(&cluster.pods("web", "v1").await);
    assert_eq!(
        cluster.endpoint("web").await.unwrap().spec.upstreams,
        v1_ips
    );

    cluster.change_template("web").await;
    cluster.converge().await;
    assert_eq!(cluster.pods("web", "v2").await.len(), 2);
    let service = cluster.service("web").await.unwrap();
    assert_eq!(service.status.active.as_deref(), Some("v1"));
    assert_eq!(service.status.status.state, State::Provision);
    assert_eq!(
        cluster.endpoint("web").await.unwrap().spec.upstreams,
        v1_ips
    );

    // One of two ready: not yet.
    let first = cluster.pods("web", "v2").await[0].meta.self_link.clone();
    cluster
        .report(|p| p.meta.self_link == first, State::Ready, true)
        .await;
    cluster.converge().await;
    assert_eq!(
        cluster.endpoint("web").await.unwrap().spec.upstreams,
        v1_ips
    );

    cluster
        .report(|p| p.meta.self_link.contains(":d_v2:"), State::Ready, true)
        .await;
    cluster.converge().await;
    let v2_ips = pod_ips(&cluster.pods("web", "v2").await);
    assert_eq!(
        cluster.endpoint("web").await.unwrap().spec.upstreams,
        v2_ips
    );
    let service = cluster.service("web").await.unwrap();
    assert_eq!(service.status.active.as_deref(), Some("v2"));
    assert_eq!(service.status.status.state, State::Ready);
    let v1 = cluster.deployment("web", "v1").await.unwrap();
    assert!(v1.spec.state.destroy);

    cluster.settle().await;
    assert_eq!(names(&cluster.deployments("web").await), ["v2"]);
    assert!(cluster.pods("web", "v1").await.is_empty());
}

#[tokio::test]
async fn a_failing_new_deployment_keeps_the_old_one_active() {
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("web", 2, &["80/tcp"]).await;
    cluster.settle().await;
    let v1_ips = pod_ips(&cluster.pods("web", "v1").await);

    cluster.change_template("web").await;
    cluster.converge().await;
    cluster
        .report(|p| p.meta.self_link.contains(":d_v2:"), State::Error, false)
        .await;
    for _ in 0..3 {
        cluster.converge().await;
    }
    let service = cluster.service("web").await.unwrap();
    assert_eq!(service.status.active.as_deref(), Some("v1"));
    assert_eq!(service.status.status.state, State::Ready);
    assert_eq!(
        cluster.endpoint("web").await.unwrap().spec.upstreams,
        v1_ips
    );
    let v1 = cluster.deployment("web", "v1").await.unwrap();
    assert!(!v1.spec.state.destroy);
    assert_eq!(serving(&cluster.pods("web", "v1").await).len(), 2);
    let v2 = cluster.deployment("web", "v2").await.unwrap();
    assert_eq!(v2.status.status.state, State::Error);
}

#[tokio::test]
async fn rolling_respects_surge_and_unavailable_at_every_step() {
    for (surge, unavailable) in [(1, 1), (1, 0), (0, 1), (2, 0)] {
        let replicas = 4;
        let cluster = Cluster::new();
        cluster.add_node("a").await;
        cluster.add_node("b").await;
        cluster.add_service("web", replicas, &["80/tcp"]).await;
        cluster
            .update_service("web", |s| {
                s.spec.strategy.kind = StrategyKind::Rolling;
                s.spec.strategy.max_surge = Scale::Count(surge);
                s.spec.strategy.max_unavailable = Scale::Count(unavailable);
            })
            .await;
        cluster.settle().await;
        cluster.change_template("web").await;

        let case = format!("surge {surge}, unavailable {unavailable}");
        let mut steps = 0;
        loop {
            cluster.converge().await;
            let pods = cluster.all_pods().await;
            assert!(
                pods.len() as u32 <= replicas + surge,
                "{case}: {} pods after step {steps}",
                pods.len()
            );
            let ready = serving(&pods).len() as u32;
            assert!(
                ready >= replicas - unavailable,
                "{case}: {ready} ready after step {steps}"
            );
            let upstreams = cluster.endpoint("web").await.unwrap().spec.upstreams;
            assert_eq!(upstreams, pod_ips(&serving(&pods)), "{case}");
            if cluster.deployments("web").await.len() == 1
                && cluster.deployment("web", "v2").await.is_some()
                && pods.len() as u32 == replicas
                && ready == replicas
            {
                break;
            }
            // One agent round: removals confirmed, new pods ready.
            cluster.agents().await;
            steps += 1;
            assert!(steps < 30, "{case}: the rollout does not finish");
        }
        let service = cluster.service("web").await.unwrap();
        assert_eq!(service.status.active.as_deref(), Some("v2"), "{case}");
        assert_eq!(service.status.status.state, State::Ready, "{case}");
        assert!(steps > 1, "{case}: it went in steps");
    }
}

#[tokio::test]
async fn a_failing_rolling_update_never_goes_below_the_minimum() {
    let replicas = 4;
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("web", replicas, &["80/tcp"]).await;
    cluster
        .update_service("web", |s| {
            s.spec.strategy.kind = StrategyKind::Rolling;
            s.spec.strategy.max_surge = Scale::Count(1);
            s.spec.strategy.max_unavailable = Scale::Count(1);
        })
        .await;
    cluster.settle().await;
    cluster.change_template("web").await;
    for _ in 0..8 {
        cluster.converge().await;
        // The new pods fail; removals are confirmed.
        cluster
            .report(|p| p.spec.state.destroy, State::Destroyed, false)
            .await;
        cluster
            .report(|p| p.meta.self_link.contains(":d_v2:"), State::Error, false)
            .await;
        cluster.converge().await;
        let pods = cluster.all_pods().await;
        assert!(pods.len() as u32 <= replicas + 1);
        assert!(serving(&pods).len() as u32 >= replicas - 1);
    }
    let service = cluster.service("web").await.unwrap();
    assert_eq!(service.status.active.as_deref(), Some("v1"));
    assert_eq!(service.status.status.state, State::Ready);
    assert!(service.status.status.message.starts_with("deployment v2"));
    let v1 = cluster.deployment("web", "v1").await.unwrap();
    assert!(!v1.spec.state.destroy);
}
