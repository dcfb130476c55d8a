use std::time::Duration;

use super::*;
use crate::api::types::{MemberReport, NodeRegistration, NodeStatusReport};
use crate::api::{Member, lease_key};
use crate::model::{
    Container, Endpoint, EnvSource, EnvVar, Image, Kind, Meta, Pod, PodStatus, Presence, Route,
    SelfLink, State, Status, Subnet, Volume, VolumeStatus,
};

fn registration(hostname: &str) -> NodeRegistration {
    let mut reg = NodeRegistration::default();
    reg.info.hostname = hostname.into();
    reg.info.architecture = "mac".into();
    reg.capacity.pods = 20;
    reg.labels.insert("zone".into(), "a".into());
    reg
}

/// A pod of `demo:web:v1`, placed on `node`, reading secret `db`.
fn pod(name: &str, node: Option<&str>) -> Pod {
    let link = SelfLink::pod("demo", "web", "v1", name);
    let mut pod = Pod {
        meta: Meta::new(name, &link),
        ..Pod::default()
    };
    pod.spec.node = node.map(str::to_owned);
    pod.spec.template.containers.push(Container {
        name: "web".into(),
        image: Image {
            name: "nginx".into(),
            ..Image::default()
        },
        env: vec![EnvVar {
            name: "P".into(),
            source: EnvSource::Secret(crate::model::KeyRef {
                name: "db".into(),
                key: "password".into(),
            }),
        }],
        ..Container::default()
    });
    pod
}

#[tokio::test(start_paused = true)]
async fn register_starts_a_heartbeat_that_ends_without_pushes() {
    let api = api();
    let (node, created) = api.register_node("n1", registration("n1")).await.unwrap();
    assert!(created);
    assert!(node.status.online);
    assert_eq!(
        (node.info.architecture.as_str(), node.status.capacity.pods),
        ("mac", 20)
    );
    let key = lease_key(Kind::Node, "n1");
    assert_eq!(key, "node/lease/n1");
    let kv = api.store().storage().get(&key).await.unwrap();
    let value: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
    assert_eq!(value["lease"].as_i64(), kv.lease);

    // Again: not new, labels merged, the same lease kept alive.
    let mut reg = registration("n1-renamed");
    reg.labels = [("ssd".to_owned(), "true".to_owned())].into();
    let (node, created) = api.register_node("n1", reg).await.unwrap();
    assert!(!created);
    assert_eq!(node.info.hostname, "n1-renamed");
    assert_eq!(node.meta.labels.len(), 2);
    assert_eq!(
        api.store().storage().get(&key).await.unwrap().lease,
        kv.lease
    );

    // Status pushes keep it; silence ends it.
    tokio::time::sleep(Duration::from_secs(10)).await;
    api.node_status("n1", NodeStatusReport::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(api.store().storage().get(&key).await.is_ok());
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        api.store()
            .storage()
            .get(&key)
            .await
            .unwrap_err()
            .is_not_found()
    );

    // The node comes back: a new lease, the key again.
    api.node_status("n1", NodeStatusReport::default())
        .await
        .unwrap();
    let back = api.store().storage().get(&key).await.unwrap();
    assert_ne!(back.lease, kv.lease);

    let err = api
        .node_status("n2", NodeStatusReport::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string()),
        (404, "Node not found".to_owned())
    );
}

#[tokio::test]
async fn status_reports_land_on_this_nodes_pods_and_volumes_only() {
    let api = api();
    api.register_node("n1", registration("n1")).await.unwrap();
    let mine = api
        .store()
        .create(&pod("aaaaaaa", Some("n1")))
        .await
        .unwrap();
    let theirs = api
        .store()
        .create(&pod("bbbbbbb", Some("n2")))
        .await
        .unwrap();
    let vlink = SelfLink::namespaced(Kind::Volume, "demo", "data");
    let mut volume = Volume {
        meta: Meta::new("data", &vlink),
        ..Volume::default()
    };
    volume.spec.node = Some("n1".into());
    api.store().create(&volume).await.unwrap();

    let running = PodStatus {
        status: Status::new(State::Ready),
        running: true,
        ..PodStatus::default()
    };
    let mut report = NodeStatusReport::default();
    report.capacity.pods = 30;
    report.allocated.pods = 1;
    for link in [
        &mine.meta.self_link,
        &theirs.meta.self_link,
        &"demo:web:d_v1:zzzzzzz".to_owned(),
        &"garbage".to_owned(),
    ] {
        report.pods.insert(link.clone(), running.clone());
    }
    report.volumes.insert(
        "demo:data".into(),
        VolumeStatus {
            ready: true,
            path: "/v".into(),
            ..VolumeStatus::default()
        },
    );
    let ack = api.node_status("n1", report.clone()).await.unwrap();
    assert!(ack.revision > 0);

    let node = api.node("n1").await.unwrap();
    assert_eq!(
        (node.status.capacity.pods, node.status.allocated.pods),
        (30, 1)
    );
    let mine: Pod = api.store().get(&mine.self_link_checked()).await.unwrap();
    assert_eq!(mine.status, running);
    assert_eq!(mine.spec.node.as_deref(), Some("n1"), "spec untouched");
    let theirs: Pod = api.store().get(&theirs.self_link_checked()).await.unwrap();
    assert_eq!(theirs.status, PodStatus::default());
    let volume: Volume = api.store().get(&vlink).await.unwrap();
    assert!(volume.status.ready);

    // The same report again writes no pod.
    let before = api.store().storage().revision().await.unwrap();
    api.node_status("n1", report).await.unwrap();
    let after: Pod = api.store().get(&mine.self_link_checked()).await.unwrap();
    assert!(after.meta.revision <= before);
}

trait Linked {
    fn self_link_checked(&self) -> SelfLink;
}

impl Linked for Pod {
    fn self_link_checked(&self) -> SelfLink {
        crate::model::Object::self_link(self).unwrap()
    }
}

#[tokio::test]
async fn node_meta_and_removal() {
    let api = api();
    assert_eq!(
        api.node("n1").await.unwrap_err().to_string(),
        "Node not found"
    );
    api.register_node("n1", registration("n1")).await.unwrap();
    let subnet_link = SelfLink::parse(Kind::Subnet, "10.0.1.0:24").unwrap();
    let subnet = Subnet {
        meta: Meta::new("10.0.1.0:24", &subnet_link),
        node: "n1".into(),
        ..Subnet::default()
    };
    api.store().create(&subnet).await.unwrap();

    let node = api
        .update_node_meta(
            "n1",
            [("a".to_owned(), "b".to_owned())].into(),
            "rack 4".into(),
        )
        .await
        .unwrap();
    assert_eq!(
        (node.meta.labels.len(), node.meta.description.as_str()),
        (1, "rack 4")
    );
    assert_eq!(api.nodes().await.unwrap().items.len(), 1);
    assert_eq!(
        api.update_node_meta("n2", Default::default(), String::new())
            .await
            .unwrap_err()
            .code(),
        404
    );

    let removed = api.remove_node("n1").await.unwrap();
    assert_eq!(removed.meta.name, "n1");
    assert!(api.node("n1").await.unwrap_err().is_not_found());
    assert!(
        api.store()
            .storage()
            .get("node/lease/n1")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        api.store()
            .find::<Subnet>(&subnet_link)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        api.remove_node("n1").await.unwrap_err().to_string(),
        "Node not found"
    );
}

async fn seeded() -> Api {
    let api = with_demo().await;
    api.register_node("n1", registration("n1")).await.unwrap();
    api.register_node("n2", registration("n2")).await.unwrap();
    api.create_secret("demo", secret_m("db", "data: {password: p}"))
        .await
        .unwrap();
    api.create_secret("demo", secret_m("unused", "data: {x: y}"))
        .await
        .unwrap();
    let mut destroying = pod("ddddddd", Some("n1"));
    destroying.spec.state.destroy = true;
    api.store().create(&destroying).await.unwrap();
    let elink = SelfLink::namespaced(Kind::Endpoint, "demo", "web");
    let mut endpoint = Endpoint {
        meta: Meta::new("web", &elink),
        ..Endpoint::default()
    };
    endpoint.spec.domain = "web.demo.lb.local".into();
    api.store().create(&endpoint).await.unwrap();
    let mut report = MemberReport {
        presence: Presence {
            ready: true,
            online: true,
        },
        ..MemberReport::default()
    };
    report.address = Some("10.0.0.2:53".parse().unwrap());
    api.register_discovery("dns1", report.clone())
        .await
        .unwrap();
    report.listener = Some("10.0.0.3:2963".parse().unwrap());
    api.register_exporter("exp1", report).await.unwrap();
    api
}

#[tokio::test]
async fn the_node_manifest_holds_what_the_node_runs() {
    let api = seeded().await;
    let m = api.node_manifest("n1", None, Duration::ZERO).await.unwrap();
    assert!(m.revision > 0);
    assert_eq!(m.pods.keys().collect::<Vec<_>>(), ["demo:web:d_v1:ddddddd"]);
    assert!(m.pods["demo:web:d_v1:ddddddd"].state.destroy);
    assert_eq!(m.secrets.keys().collect::<Vec<_>>(), ["demo:db"]);
    assert_eq!(m.endpoints["demo:web"].domain, "web.demo.lb.local");
    assert_eq!(m.resolvers, ["10.0.0.2:53".parse().unwrap()]);
    assert_eq!(m.exporter, Some("10.0.0.3:2963".parse().unwrap()));
    assert!(
        api.node_manifest("n3", None, Duration::ZERO)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test(start_paused = true)]
async fn the_node_manifest_long_polls_for_relevant_changes() {
    let api = seeded().await;
    let first = api.node_manifest("n1", None, Duration::ZERO).await.unwrap();

    let poll = {
        let api = api.clone();
        tokio::spawn(async move {
            api.node_manifest("n1", Some(first.revision), Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!poll.is_finished());

    // Unrelated writes do not wake it: another node's pod, a status push,
    // a secret no pod of n1 reads.
    api.store()
        .create(&pod("bbbbbbb", Some("n2")))
        .await
        .unwrap();
    api.node_status("n1", NodeStatusReport::default())
        .await
        .unwrap();
    api.update_secret("demo", "unused", secret_m("unused", "data: {x: z}"), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!poll.is_finished());

    // A pod placed on n1 does.
    let placed = api
        .store()
        .create(&pod("aaaaaaa", Some("n1")))
        .await
        .unwrap();
    let m = poll.await.unwrap().unwrap();
    assert!(m.revision > first.revision);
    assert!(m.pods.contains_key(&placed.meta.self_link));

    // Nothing relevant: it answers after `wait`, with the same content.
    let start = tokio::time::Instant::now();
    let again = api
        .node_manifest("n1", Some(m.revision), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_secs(5));
    assert_eq!(again.pods, m.pods);
    assert_eq!(again.secrets, m.secrets);

    // A change since `after` that it has not seen: at once.
    api.update_secret("demo", "db", secret_m("db", "data: {password: q}"), None)
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let m2 = api
        .node_manifest("n1", Some(m.revision), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(m2.secrets["demo:db"].data["password"], "q");
}

#[tokio::test(start_paused = true)]
async fn a_revision_from_before_the_view_answers_at_once() {
    // What changed after a revision the view has not followed (another
    // API server's, before this one started; the history since compacted)
    // is unknown: answer at once, as a compacted watch did.
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::with_history(2));
    let api = api_over(storage.clone());
    api.register_node("n1", registration("n1")).await.unwrap();
    let first = api.node_manifest("n1", None, Duration::ZERO).await.unwrap();
    for name in ["a", "b", "c", "d"] {
        api.create_namespace(namespace_m(name, "")).await.unwrap();
    }
    let other = api_over(storage);
    let start = tokio::time::Instant::now();
    other
        .node_manifest("n1", Some(first.revision), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    // The first server followed everything since: nothing for n1, so it
    // waits.
    let start = tokio::time::Instant::now();
    api.node_manifest("n1", Some(first.revision), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn members_register_report_and_get_their_manifests() {
    let api = seeded().await;
    let mut report = MemberReport::default();
    report.presence.ready = true;
    let (ingress, created) = api.register_ingress("in1", report.clone()).await.unwrap();
    assert!(created && ingress.status.online);
    assert!(!api.register_ingress("in1", report.clone()).await.unwrap().1);
    assert!(api.store().storage().get("ingress/lease/in1").await.is_ok());
    let (member, created) = api
        .register_member(Kind::Ingress, "in2", report.clone())
        .await
        .unwrap();
    assert!(created);
    assert_eq!(member.kind(), Kind::Ingress);
    assert_eq!(member.meta().name, "in2");
    assert_eq!(api.members(Kind::Ingress).await.unwrap().items.len(), 2);
    assert!(
        api.register_member(Kind::Node, "x", report.clone())
            .await
            .unwrap_err()
            .is_bad_request()
    );
    assert_eq!(
        api.ingress("nope").await.unwrap_err().to_string(),
        "Ingress not found"
    );
    assert_eq!(api.discoveries().await.unwrap().items.len(), 1);
    assert_eq!(
        api.exporters().await.unwrap().items[0]
            .status
            .listener
            .unwrap()
            .port(),
        2963
    );

    // A route assigned to in1 (by the controller).
    api.create_service("demo", service_m("web", 1, None, None))
        .await
        .unwrap();
    let route = api
        .create_route("demo", route_m("www", 80, "www.example.com", &["web"]))
        .await
        .unwrap();
    let mut assigned = route.clone();
    assigned.spec.ingress = Some("in1".into());
    api.store().update(&assigned).await.unwrap();
    let m = api
        .ingress_manifest("in1", None, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(m.routes.keys().collect::<Vec<_>>(), ["demo:www"]);
    assert_eq!(m.endpoints.keys().collect::<Vec<_>>(), ["demo:web"]);
    assert_eq!(m.resolvers.len(), 1);
    assert!(
        api.ingress_manifest("in2", None, Duration::ZERO)
            .await
            .unwrap()
            .routes
            .is_empty()
    );

    // Route states come back into the route.
    report
        .routes
        .insert("demo:www".into(), Status::new(State::Ready));
    api.member_status(Kind::Ingress, "in1", report.clone())
        .await
        .unwrap();
    let route: Route = api.route("demo", "www").await.unwrap();
    assert_eq!(route.status.state, State::Ready);
    // Not from an ingress it is not assigned to.
    report
        .routes
        .insert("demo:www".into(), Status::new(State::Error));
    api.member_status(Kind::Ingress, "in2", report.clone())
        .await
        .unwrap();
    assert_eq!(
        api.route("demo", "www").await.unwrap().status.state,
        State::Ready
    );

    // The ingress long-poll wakes for its routes only.
    let poll = {
        let api = api.clone();
        let after = m.revision;
        tokio::spawn(async move {
            api.ingress_manifest("in1", Some(after), Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !poll.is_finished(),
        "the route status write is not a spec change"
    );
    api.update_route(
        "demo",
        "www",
        route_m("www", 80, "www2.example.com", &["web"]),
        None,
    )
    .await
    .unwrap();
    let m = poll.await.unwrap().unwrap();
    assert_eq!(m.routes["demo:www"].endpoint, "www2.example.com");

    let dm = api
        .discovery_manifest("dns1", None, Duration::ZERO)
        .await
        .unwrap();
    assert!(dm.subnets.is_empty());
    assert_eq!(
        api.member_status(Kind::Discovery, "nope", report.clone())
            .await
            .unwrap_err()
            .code(),
        404
    );

    let removed = api.remove_member(Kind::Ingress, "in1").await.unwrap();
    assert!(matches!(&removed, Member::Ingress(i) if i.meta.name == "in1"));
    assert!(
        api.store()
            .storage()
            .get("ingress/lease/in1")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        api.member(Kind::Ingress, "in1")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test(start_paused = true)]
async fn ingress_manifests_carry_the_secrets_routes_terminate_tls_with() {
    let api = seeded().await;
    api.register_ingress("in1", MemberReport::default())
        .await
        .unwrap();
    api.create_service("demo", service_m("web", 1, None, None))
        .await
        .unwrap();
    let mut www = route_m("www", 443, "www.example.com", &["web"]);
    www.spec.tls = Some(crate::manifest::RouteTlsManifest {
        secret: Some("cert".into()),
        passthrough: false,
    });
    let route = api.create_route("demo", www).await.unwrap();
    let secret = crate::model::Secret {
        meta: Meta::new("cert", &SelfLink::namespaced(Kind::Secret, "demo", "cert")),
        spec: crate::model::SecretSpec {
            data: [("tls.crt".to_owned(), "C".to_owned())].into(),
            ..Default::default()
        },
    };
    let mut secret = api.store().create(&secret).await.unwrap();
    let mut assigned = route.clone();
    assigned.spec.ingress = Some("in1".into());
    api.store().update(&assigned).await.unwrap();
    let m = api
        .ingress_manifest("in1", None, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(m.secrets["demo:cert"].data["tls.crt"], "C");

    // A new certificate wakes the long-poll.
    let poll = {
        let api = api.clone();
        tokio::spawn(async move {
            api.ingress_manifest("in1", Some(m.revision), Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!poll.is_finished());
    secret.spec.data.insert("tls.crt".into(), "C2".into());
    api.store().update(&secret).await.unwrap();
    let m = poll.await.unwrap().unwrap();
    assert_eq!(m.secrets["demo:cert"].data["tls.crt"], "C2");
}
