//! `serviceObserve` and `serviceStatusState` (original-tests.md §1.1, §1.2),
//! with the intended rule: a template or selector change (a new
//! generation) makes a new deployment, replicas scale in place, the network
//! touches only the endpoint.

use std::net::IpAddr;

use super::*;

/// `(case, ports before, ports after)`: the endpoint follows the ports and
/// keeps its VIP; no ports, no endpoint (and no VIP).
#[tokio::test]
async fn endpoint_follows_the_ports() {
    let cases: [(&str, &[&str], &[&str]); 5] = [
        ("without endpoint create", &[], &[]),
        ("with endpoint create", &["80/tcp"], &["80/tcp"]),
        (
            "with endpoint update",
            &["80/tcp", "9000/udp"],
            &["80/tcp", "8080/tcp"],
        ),
        ("with endpoint port change", &["80/tcp"], &["80:8000/tcp"]),
        ("with endpoint remove", &["80/tcp"], &[]),
    ];
    for (case, before, after) in cases {
        let cluster = Cluster::new();
        cluster.add_service("service", 1, before).await;
        cluster.converge().await;
        let first = cluster.endpoint("service").await;
        assert_eq!(first.is_some(), !before.is_empty(), "{case}");
        let after_ports: Vec<PortMapping> = after.iter().map(|p| port(p)).collect();
        cluster
            .update_service("service", |s| s.spec.network.ports = after_ports.clone())
            .await;
        cluster.converge().await;

        let endpoint = cluster.endpoint("service").await;
        let owner = format!("{NS}:service");
        let vip = cluster.context.ipam.lookup(&owner).await.unwrap();
        if after.is_empty() {
            assert!(endpoint.is_none(), "{case}");
            assert_eq!(vip, None, "{case}: the VIP is released");
        } else {
            let endpoint = endpoint.unwrap();
            assert_eq!(endpoint.spec.ports, after_ports, "{case}");
            assert_eq!(endpoint.spec.domain, "service.test.lb.local", "{case}");
            assert_eq!(endpoint.spec.ip, vip.map(IpAddr::V4), "{case}");
            assert_eq!(endpoint.spec.ip, first.unwrap().spec.ip, "{case}: same VIP");
            let service = cluster.service("service").await.unwrap();
            assert_eq!(service.status.ip, endpoint.spec.ip, "{case}");
        }
        let deployments = cluster.deployments("service").await;
        assert_eq!(
            names(&deployments),
            ["v1"],
            "{case}: the network makes no deployment"
        );
        assert_eq!(deployments[0].spec.generation, 1, "{case}");
    }
}

/// The rows of `serviceObserve` about deployments, each from a state built
/// by earlier steps: `(case, expected deployments after, expected active)`.
#[tokio::test]
async fn created_makes_the_first_deployment_active() {
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("service", 1, &[]).await;
    cluster.converge().await;
    let deployments = cluster.deployments("service").await;
    assert_eq!(names(&deployments), ["v1"]);
    assert_eq!(deployments[0].spec.replicas, 1);
    let service = cluster.service("service").await.unwrap();
    assert_eq!(service.status.active.as_deref(), Some("v1"));
    assert_eq!(service.status.status.state, State::Provision);
}

#[tokio::test]
async fn a_template_change_replaces_a_deployment_that_never_served() {
    // "Created: deployment provision update" and "Provision: new deployment
    // without provision": v1 never got a pod ready (provision, then error).
    for failing in [false, true] {
        let cluster = Cluster::new();
        cluster.add_node("node").await;
        cluster.add_service("service", 1, &[]).await;
        cluster.converge().await;
        if failing {
            cluster.report(|_| true, State::Error, false).await;
            cluster.converge().await;
        }
        cluster.change_template("service").await;
        cluster.converge().await;
        let deployments = cluster.deployments("service").await;
        let v2 = cluster.deployment("service", "v2").await.unwrap();
        assert_eq!(v2.spec.generation, 2);
        assert_eq!(v2.spec.template.containers[0].image.name, "busybox:new");
        let v1 = deployments.iter().find(|d| d.meta.name == "v1");
        assert!(v1.is_none_or(|d| d.spec.state.destroy), "failing={failing}");
        let service = cluster.service("service").await.unwrap();
        assert_eq!(service.status.active.as_deref(), Some("v2"));
    }
}

#[tokio::test]
async fn replicas_scale_the_current_deployment_in_place() {
    // "Created/Provision: active deployment scale".
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("service", 1, &[]).await;
    cluster.settle().await;
    assert_eq!(
        cluster
            .deployment("service", "v1")
            .await
            .unwrap()
            .status
            .status
            .state,
        State::Ready
    );
    cluster
        .update_service("service", |s| s.spec.replicas = 2)
        .await;
    cluster.converge().await;
    let deployments = cluster.deployments("service").await;
    assert_eq!(names(&deployments), ["v1"], "no new deployment");
    assert_eq!(deployments[0].spec.replicas, 2);
    assert_eq!(deployments[0].status.status.state, State::Provision);
    assert_eq!(cluster.pods("service", "v1").await.len(), 2);
    let service = cluster.service("service").await.unwrap();
    assert_eq!(service.status.status.state, State::Provision);
}

#[tokio::test]
async fn a_new_generation_during_a_failed_rollout_replaces_the_failed_one() {
    // "Provision: new deployment with provision": v1 ready and active, v2 in
    // error; a new template makes v3, v2 is destroyed, v1 keeps serving.
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("service", 1, &[]).await;
    cluster.settle().await;
    cluster.change_template("service").await;
    cluster.converge().await;
    cluster
        .report(|p| p.meta.self_link.contains(":d_v2:"), State::Error, false)
        .await;
    cluster.converge().await;
    let service = cluster.service("service").await.unwrap();
    assert_eq!(service.status.active.as_deref(), Some("v1"));
    // serviceStatusState H2: a ready active and a failed rollout: ready.
    assert_eq!(service.status.status.state, State::Ready);
    assert!(
        service
            .status
            .status
            .message
            .starts_with("deployment v2 error"),
        "{:?}",
        service.status.status
    );

    cluster.change_template("service").await;
    cluster.converge().await;
    let v2 = cluster.deployment("service", "v2").await;
    assert!(v2.is_none_or(|d| d.spec.state.destroy));
    let v3 = cluster.deployment("service", "v3").await.unwrap();
    assert_eq!(v3.spec.generation, 3);
    let v1 = cluster.deployment("service", "v1").await.unwrap();
    assert!(!v1.spec.state.destroy);
    let service = cluster.service("service").await.unwrap();
    assert_eq!(service.status.active.as_deref(), Some("v1"));
    assert_eq!(service.status.status.state, State::Provision, "mirrors v3");
}

#[tokio::test]
async fn ready_error_and_degradation_stay_when_nothing_changes() {
    for (state, ready) in [
        (State::Ready, true),
        (State::Error, false),
        (State::Degradation, false),
    ] {
        let cluster = Cluster::new();
        cluster.add_node("node").await;
        cluster.add_service("service", 1, &[]).await;
        cluster.converge().await;
        cluster.report(|_| true, state, ready).await;
        cluster.converge().await;
        let before = cluster.store.storage().revision().await.unwrap();
        cluster.converge().await;
        assert_eq!(cluster.store.storage().revision().await.unwrap(), before);
        let service = cluster.service("service").await.unwrap();
        assert_eq!(service.status.status.state, state);
        assert_eq!(names(&cluster.deployments("service").await), ["v1"]);
    }
}

#[tokio::test]
async fn destroy_cascades_endpoint_deployments_pods_then_the_service() {
    // "Destroy" and "Destroyed" rows, with and without deployments and
    // endpoint.
    for (with_deployments, ports) in [
        (false, &[][..]),
        (false, &["80/tcp"][..]),
        (true, &[][..]),
        (true, &["80/tcp"][..]),
    ] {
        let cluster = Cluster::new();
        cluster.add_node("node").await;
        cluster.add_service("service", 2, ports).await;
        if with_deployments {
            cluster.settle().await;
            cluster.change_template("service").await;
            cluster.converge().await;
        } else {
            // The endpoint alone, as if the service never got a deployment.
            for _ in 0..2 {
                cluster
                    .services
                    .reconcile_service(&format!("{NS}:service"))
                    .await
                    .unwrap();
            }
            for d in cluster.deployments("service").await {
                cluster.store.delete(&d).await.unwrap();
            }
        }
        cluster
            .update_service("service", |s| s.spec.state.destroy = true)
            .await;
        cluster.converge().await;

        let owner = format!("{NS}:service");
        assert!(cluster.endpoint("service").await.is_none());
        assert_eq!(cluster.context.ipam.lookup(&owner).await.unwrap(), None);
        if with_deployments {
            // The pods wait for their node.
            let service = cluster.service("service").await.unwrap();
            assert_eq!(service.status.status.state, State::Destroy);
            let deployments = cluster.deployments("service").await;
            assert_eq!(names(&deployments), ["v1", "v2"]);
            assert!(deployments.iter().all(|d| d.spec.state.destroy));
            let pods = cluster.all_pods().await;
            assert!(!pods.is_empty());
            assert!(pods.iter().all(|p| p.spec.state.destroy));
            cluster.agents().await;
            cluster.converge().await;
        }
        assert!(cluster.all_pods().await.is_empty());
        assert!(cluster.deployments("service").await.is_empty());
        assert!(cluster.service("service").await.is_none());
    }
}

#[tokio::test]
async fn a_selector_change_makes_a_new_deployment_even_without_a_new_generation() {
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("service", 1, &[]).await;
    cluster.settle().await;
    cluster
        .update_service("service", |s| s.spec.selector.node = Some("node".into()))
        .await;
    cluster.converge().await;
    let v2 = cluster.deployment("service", "v2").await.unwrap();
    assert_eq!(v2.spec.selector.node.as_deref(), Some("node"));
    assert_eq!(cluster.pods("service", "v2").await.len(), 1);
    cluster.settle().await;
    assert_eq!(names(&cluster.deployments("service").await), ["v2"]);
}

#[tokio::test]
async fn the_domain_follows_the_namespaces_internal_zone() {
    let cluster = Cluster::new();
    let mut namespace = crate::model::Namespace {
        meta: Meta::new(NS, &SelfLink::namespace(NS)),
        ..Default::default()
    };
    namespace.spec.domain.internal = "corp.internal".into();
    cluster.store.create(&namespace).await.unwrap();
    cluster.add_service("service", 0, &["80/tcp"]).await;
    cluster.converge().await;
    let endpoint = cluster.endpoint("service").await.unwrap();
    assert_eq!(endpoint.spec.domain, "service.test.corp.internal");
    let service = cluster.service("service").await.unwrap();
    assert_eq!(service.status.endpoint, endpoint.spec.domain);
    assert_eq!(
        service.status.status.state,
        State::Ready,
        "no replicas: ready"
    );
}

#[tokio::test]
async fn a_requested_vip_is_reserved_and_a_taken_one_is_an_error() {
    let cluster = Cluster::new();
    let wanted: IpAddr = "10.96.0.50".parse().unwrap();
    cluster.add_service("service", 0, &["80/tcp"]).await;
    cluster
        .update_service("service", |s| s.spec.network.ip = Some(wanted))
        .await;
    cluster.converge().await;
    assert_eq!(
        cluster.endpoint("service").await.unwrap().spec.ip,
        Some(wanted)
    );

    cluster.add_service("other", 0, &["80/tcp"]).await;
    cluster
        .update_service("other", |s| s.spec.network.ip = Some(wanted))
        .await;
    cluster.converge().await;
    assert!(cluster.endpoint("other").await.is_none());
    let other = cluster.service("other").await.unwrap();
    assert_eq!(other.status.status.state, State::Error);
    assert!(
        other.status.status.message.contains("10.96.0.50"),
        "{}",
        other.status.status.message
    );
}

#[tokio::test]
async fn a_service_deleted_outright_takes_its_deployments_along() {
    let cluster = Cluster::new();
    cluster.add_node("node").await;
    cluster.add_service("service", 1, &["80/tcp"]).await;
    cluster.settle().await;
    let service = cluster.service("service").await.unwrap();
    cluster.store.delete(&service).await.unwrap();
    cluster
        .services
        .reconcile_service(&service.meta.self_link)
        .await
        .unwrap();
    assert!(cluster.endpoint("service").await.is_none());
    assert!(
        cluster
            .deployments("service")
            .await
            .iter()
            .all(|d| d.spec.state.destroy)
    );
    for _ in 0..3 {
        cluster.pass().await;
        cluster.agents().await;
    }
    cluster.pass().await;
    cluster.pass().await;
    assert!(cluster.deployments("service").await.is_empty());
    assert!(cluster.all_pods().await.is_empty());
    let owner = format!("{NS}:service");
    assert_eq!(cluster.context.ipam.lookup(&owner).await.unwrap(), None);
}
