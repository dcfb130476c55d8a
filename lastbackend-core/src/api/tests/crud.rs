use super::*;
use crate::api::UpdateOptions;
use crate::manifest::RouteTlsManifest;
use crate::model::{
    Deployment, Kind, Meta, Node, Object, Pod, RouteTls, SecretType, SelfLink, State, VolumeSource,
};

#[tokio::test]
async fn namespaces() {
    let api = with_demo().await;
    let demo = api.namespace("demo").await.unwrap();
    assert_eq!(
        (demo.meta.name.as_str(), demo.meta.self_link.as_str()),
        ("demo", "demo")
    );
    let err = api.namespace("test").await.unwrap_err();
    assert_eq!(
        (err.code(), err.to_string()),
        (404, "Namespace not found".into())
    );

    let err = api
        .create_namespace(namespace_m("demo", ""))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string()),
        (409, "Name is already in use".into())
    );
    let err = api
        .create_namespace(namespace_m("__test", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400);
    assert_eq!(err.body().errors[0].path, "meta.name");
    let err = api
        .create_namespace(namespace_m("test", "resources: {limits: {cpu: \"1\"}}"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string()),
        (400, "resources ram limit is required".into())
    );

    let test = api
        .create_namespace(namespace_m("test", "resources: {request: {ram: 1GB}}"))
        .await
        .unwrap();
    assert_eq!(
        test.spec.resources.request.ram.unwrap().bytes(),
        1_000_000_000
    );
    let names: Vec<_> = api
        .namespaces()
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.meta.name)
        .collect();
    assert_eq!(names, ["demo", "test"]);

    let err = api
        .update_namespace("empty", namespace_m("test", ""), None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Namespace not found");
    let updated = api
        .update_namespace(
            "test",
            namespace_m("x", "resources: {request: {ram: 512MB}}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(updated.meta.name, "test");
    assert_eq!(
        updated.spec.resources.request.ram.unwrap().bytes(),
        512_000_000
    );
    assert!(updated.meta.revision > test.meta.revision);
    let stale = api
        .update_namespace("test", namespace_m("test", ""), Some(test.meta.revision))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), 409);

    let gone = api.remove_namespace("test").await.unwrap();
    assert_eq!(gone.status.status.state, State::Destroy);
    let err = api
        .create_service("test", service_m("web", 1, None, None))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 403);
    assert_eq!(api.remove_namespace("nope").await.unwrap_err().code(), 404);
}

#[tokio::test]
async fn services() {
    let api = with_demo().await;
    let demo = api
        .create_service("demo", service_m("demo", 1, None, None))
        .await
        .unwrap();
    assert_eq!(demo.meta.self_link, "demo:demo");
    assert_eq!(demo.meta.namespace.as_deref(), Some("demo"));
    assert_eq!(demo.spec.generation, 1);
    assert_eq!(demo.status.endpoint, "demo.demo.lb.local");

    let err = api
        .create_service("demo", service_m("demo", 1, None, None))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string()),
        (409, "Name is already in use".into())
    );
    let err = api
        .create_service("test", service_m("test", 1, None, None))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Namespace not found");
    let err = api
        .create_service("demo", service_m("_____test", 1, None, None))
        .await
        .unwrap_err();
    assert!(err.is_invalid());
    assert_eq!(err.body().errors[0].path, "meta.name");
    assert_eq!(
        api.service("demo", "test").await.unwrap_err().to_string(),
        "Service not found"
    );
    assert_eq!(
        api.service("test", "demo").await.unwrap_err().to_string(),
        "Namespace not found"
    );
    assert_eq!(api.services("test").await.unwrap_err().code(), 404);
    api.create_service("demo", service_m("success", 1, None, None))
        .await
        .unwrap();
    assert_eq!(api.services("demo").await.unwrap().items.len(), 2);

    // Description and replicas: the same generation (a scale in place).
    let mut m = service_m("demo", 3, None, None);
    m.meta.description = Some("demo description".into());
    let updated = api
        .update_service("demo", "demo", m, UpdateOptions::default())
        .await
        .unwrap();
    assert_eq!(updated.meta.description, "demo description");
    assert_eq!((updated.spec.replicas, updated.spec.generation), (3, 1));
    // A template change: a new generation.
    let mut m = service_m("demo", 3, None, None);
    m.spec.template.containers[0].image.name = "redis:7".into();
    let updated = api
        .update_service("demo", "demo", m.clone(), UpdateOptions::default())
        .await
        .unwrap();
    assert_eq!(updated.spec.generation, 2);
    // The same manifest again: nothing written.
    let same = api
        .update_service("demo", "demo", m.clone(), UpdateOptions::default())
        .await
        .unwrap();
    assert_eq!(same.meta.revision, updated.meta.revision);
    // Redeploy: a new generation of the same template.
    let opts = UpdateOptions {
        redeploy: true,
        expected: Some(updated.meta.revision),
    };
    let redeployed = api
        .update_service("demo", "demo", m.clone(), opts)
        .await
        .unwrap();
    assert_eq!(redeployed.spec.generation, 3);
    let stale = api
        .update_service("demo", "demo", m.clone(), opts)
        .await
        .unwrap_err();
    assert_eq!(stale.code(), 409);
    assert!(stale.is_conflict());
    assert_eq!(
        api.update_service("demo", "test", m.clone(), UpdateOptions::default())
            .await
            .unwrap_err()
            .to_string(),
        "Service not found"
    );
    assert_eq!(
        api.update_service("test", "demo", m, UpdateOptions::default())
            .await
            .unwrap_err()
            .to_string(),
        "Namespace not found"
    );

    let scaled = api.scale_service("demo", "demo", 5).await.unwrap();
    assert_eq!((scaled.spec.replicas, scaled.spec.generation), (5, 3));
    assert!(
        api.scale_service("demo", "demo", 1_000_000)
            .await
            .unwrap_err()
            .is_invalid()
    );

    let removed = api.remove_service("demo", "demo").await.unwrap();
    assert!(removed.spec.state.destroy);
    assert!(
        api.service("demo", "demo")
            .await
            .unwrap()
            .spec
            .state
            .destroy
    );
    assert_eq!(
        api.remove_service("demo", "test").await.unwrap_err().code(),
        404
    );
}

#[tokio::test]
async fn deployments_and_pods_are_read_only_views() {
    let api = with_demo().await;
    api.create_service("demo", service_m("web", 1, None, None))
        .await
        .unwrap();
    for (dep, pods) in [
        ("v1", ["aaaaaaa", "bbbbbbb"]),
        ("v2", ["ccccccc", "ddddddd"]),
    ] {
        let link = SelfLink::deployment("demo", "web", dep);
        api.store()
            .create(&Deployment {
                meta: Meta::new(dep, &link),
                ..Deployment::default()
            })
            .await
            .unwrap();
        for pod in pods {
            let link = SelfLink::pod("demo", "web", dep, pod);
            api.store()
                .create(&Pod {
                    meta: Meta::new(pod, &link),
                    ..Pod::default()
                })
                .await
                .unwrap();
        }
    }
    assert_eq!(api.deployments("demo", "web").await.unwrap().items.len(), 2);
    assert_eq!(
        api.deployment("demo", "web", "v2").await.unwrap().meta.name,
        "v2"
    );
    assert_eq!(
        api.deployment("demo", "web", "v3")
            .await
            .unwrap_err()
            .to_string(),
        "Deployment not found"
    );
    assert_eq!(api.pods("demo", "web", None).await.unwrap().items.len(), 4);
    let v1: Vec<_> = api
        .pods("demo", "web", Some("v1"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.meta.name)
        .collect();
    assert_eq!(v1, ["aaaaaaa", "bbbbbbb"]);
    assert_eq!(
        api.pods("demo", "nope", None)
            .await
            .unwrap_err()
            .to_string(),
        "Service not found"
    );
}

#[tokio::test]
async fn secrets() {
    let api = with_demo().await;
    let s = api
        .create_secret("demo", secret_m("demo", "type: opaque, data: {demo: demo}"))
        .await
        .unwrap();
    assert_eq!(
        (s.meta.self_link.as_str(), s.spec.kind),
        ("demo:demo", SecretType::Opaque)
    );
    assert_eq!(s.spec.data["demo"], "demo");
    let err = api
        .create_secret("demo", secret_m("demo", "data: {a: b}"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Name is already in use");
    let err = api
        .create_secret("demo", secret_m("auth", "type: auth, data: {username: u}"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(err.to_string().contains("password"), "{err}");
    assert_eq!(
        api.create_secret("test", secret_m("x", ""))
            .await
            .unwrap_err()
            .to_string(),
        "Namespace not found"
    );

    let updated = api
        .update_secret("demo", "demo", secret_m("test", "data: {test: test}"), None)
        .await
        .unwrap();
    assert_eq!(updated.meta.name, "demo");
    assert_eq!(updated.spec.data.len(), 1);
    assert_eq!(updated.spec.data["test"], "test");
    assert_eq!(api.secrets("demo").await.unwrap().items.len(), 1);

    assert_eq!(
        api.remove_secret("demo", "test")
            .await
            .unwrap_err()
            .to_string(),
        "Secret not found"
    );
    let removed = api.remove_secret("demo", "demo").await.unwrap();
    assert_eq!(removed.spec.data["test"], "test");
    assert_eq!(api.secret("demo", "demo").await.unwrap_err().code(), 404);
}

#[tokio::test]
async fn configs() {
    let api = with_demo().await;
    let c = api
        .create_config("demo", config_m("demo", "data: {test.txt: test1}"))
        .await
        .unwrap();
    assert_eq!(c.spec.data.len(), 1);
    let c = api
        .update_config(
            "demo",
            "demo",
            config_m("demo", "data: {test.txt: test2, test.cfg: cfg}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(c.spec.data.len(), 2);
    assert_eq!(api.configs("demo").await.unwrap().items.len(), 1);
    assert_eq!(
        api.remove_config("demo", "test")
            .await
            .unwrap_err()
            .to_string(),
        "Config not found"
    );
    api.remove_config("demo", "demo").await.unwrap();
    assert!(api.configs("demo").await.unwrap().items.is_empty());
}

#[tokio::test]
async fn routes() {
    let api = with_demo().await;
    api.create_service("demo", service_m("demo", 1, None, None))
        .await
        .unwrap();
    api.create_service("demo", service_m("test1", 1, None, None))
        .await
        .unwrap();
    api.create_route(
        "demo",
        route_m("route-0", 1080, "lastbackend.com", &["demo"]),
    )
    .await
    .unwrap();
    api.create_route(
        "demo",
        route_m("initial-1", 1000, "lastbackend.com", &["demo"]),
    )
    .await
    .unwrap();

    let err = api
        .create_route("demo", route_m("route-2", 2000, "a.com", &["not-found"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(err.to_string().starts_with("Bad rules parameter"), "{err}");
    let err = api
        .create_route("demo", route_m("route-0", 3000, "a.com", &["demo"]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string()),
        (409, "Name is already in use".into())
    );
    let err = api
        .create_route("demo", route_m("route-3", 1080, "a.com", &["demo"]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("Port is already in use"),
        "{err}"
    );
    assert_eq!(
        api.create_route("test", route_m("r", 80, "a.com", &["demo"]))
            .await
            .unwrap_err()
            .to_string(),
        "Namespace not found"
    );
    let r5 = api
        .create_route("demo", route_m("route-5", 2080, "lstbknd.net", &["demo"]))
        .await
        .unwrap();
    assert_eq!(r5.meta.self_link, "demo:route-5");
    // 80 and 443 are shared.
    api.create_route("demo", route_m("web-a", 80, "a.com", &["demo"]))
        .await
        .unwrap();
    api.create_route("demo", route_m("web-b", 80, "b.com", &["demo"]))
        .await
        .unwrap();

    // Namespace first, then the route, then the checks.
    assert_eq!(
        api.update_route(
            "test",
            "initial-1",
            route_m("x", 1080, "a.com", &["nope"]),
            None
        )
        .await
        .unwrap_err()
        .to_string(),
        "Namespace not found"
    );
    assert_eq!(
        api.update_route(
            "demo",
            "demo",
            route_m("demo", 80, "a.com", &["demo"]),
            None
        )
        .await
        .unwrap_err()
        .to_string(),
        "Route not found"
    );
    assert!(
        api.update_route(
            "demo",
            "initial-1",
            route_m("x", 1080, "a.com", &["demo"]),
            None
        )
        .await
        .unwrap_err()
        .is_bad_request()
    );
    // Its own port is not "in use".
    let r = api
        .update_route(
            "demo",
            "initial-1",
            route_m("x", 1000, "lbdp.io", &["test1"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (r.spec.endpoint.as_str(), r.spec.rules.len()),
        ("lbdp.io", 1)
    );
    assert_eq!(r.spec.rules[0].service, "test1");

    // Without an endpoint: <route>.<ns>.<zone>.
    let mut m = route_m("plain", 80, "x.com", &["demo"]);
    m.spec.endpoint = None;
    assert_eq!(
        api.create_route("demo", m).await.unwrap().spec.endpoint,
        "plain.demo.lb.local"
    );

    assert_eq!(
        api.remove_route("demo", "test")
            .await
            .unwrap_err()
            .to_string(),
        "Route not found"
    );
    api.remove_route("demo", "route-0").await.unwrap();
    // Its port is free again.
    api.create_route("demo", route_m("route-3", 1080, "a.com", &["demo"]))
        .await
        .unwrap();
}

#[tokio::test]
async fn routes_with_tls_and_tcp() {
    let api = with_demo().await;
    api.create_service("demo", service_m("web", 1, None, None))
        .await
        .unwrap();
    // The secret does not exist yet, and need not: the ingress watches for
    // it and reports the route `error`, naming the secret, until it does.
    let mut m = route_m("www", 443, "www.example.com", &["web"]);
    m.spec.tls = Some(RouteTlsManifest {
        secret: Some("www-tls".into()),
        passthrough: false,
    });
    let created = api.create_route("demo", m.clone()).await.unwrap();
    let read = api.route("demo", "www").await.unwrap();
    assert_eq!(read, created);
    assert_eq!(
        read.spec.tls,
        Some(RouteTls {
            secret: Some("www-tls".into()),
            passthrough: false,
        })
    );
    assert!(!read.spec.tcp);

    // An update replaces them with what the manifest says.
    m.spec.tls = Some(RouteTlsManifest {
        secret: None,
        passthrough: true,
    });
    let r = api
        .update_route("demo", "www", m.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        r.spec.tls.map(|t| (t.secret, t.passthrough)),
        Some((None, true))
    );
    m.spec.tls = None;
    let r = api.update_route("demo", "www", m, None).await.unwrap();
    assert_eq!(api.route("demo", "www").await.unwrap().spec.tls, None);
    assert_eq!(r.spec.tls, None);

    let mut db = route_m("db", 5432, "db.example.com", &["web"]);
    db.spec.tcp = true;
    api.create_route("demo", db).await.unwrap();
    assert!(api.route("demo", "db").await.unwrap().spec.tcp);

    // What the ingress would refuse is refused here, with the field.
    let mut bad = route_m("bad", 8443, "a.com", &["web"]);
    bad.spec.tcp = true;
    bad.spec.tls = Some(RouteTlsManifest {
        secret: Some("www-tls".into()),
        passthrough: false,
    });
    let err = api.create_route("demo", bad).await.unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(
        err.to_string()
            .contains("spec.tcp: not with spec.tls: a route is plain TCP or TLS, not both"),
        "{err}"
    );
    assert!(api.route("demo", "bad").await.is_err());
}

#[tokio::test]
async fn volumes() {
    let api = with_demo().await;
    let v = api
        .create_volume(
            "demo",
            volume_m(
                "demo",
                "type: dir, selector: {node: node}, capacity: {storage: 128MB}",
            ),
        )
        .await
        .unwrap();
    assert_eq!(v.spec.selector.node.as_deref(), Some("node"));
    // The controller places it.
    let mut placed = v.clone();
    placed.spec.node = Some("node".into());
    api.store().update(&placed).await.unwrap();
    let v = api
        .update_volume(
            "demo",
            "demo",
            volume_m(
                "test1",
                "selector: {node: node}, capacity: {storage: 256MiB}",
            ),
            None,
        )
        .await
        .unwrap();
    assert_eq!(v.meta.self_link, "demo:demo");
    assert_eq!(v.spec.node.as_deref(), Some("node"));
    assert_eq!(v.spec.capacity.unwrap().bytes(), 256 << 20);
    assert_eq!(
        api.volume("demo", "test").await.unwrap_err().to_string(),
        "Volume not found"
    );
    assert_eq!(
        api.volume("test", "demo").await.unwrap_err().to_string(),
        "Namespace not found"
    );
    let bad = api
        .update_volume(
            "demo",
            "demo",
            volume_m("demo", "capacity: {storage: 256MBi}"),
            None,
        )
        .await;
    assert!(bad.is_err());
    let removed = api.remove_volume("demo", "demo").await.unwrap();
    assert!(removed.spec.state.destroy);
    assert!(api.volume("demo", "demo").await.unwrap().spec.state.destroy);
    assert_eq!(api.volumes("demo").await.unwrap().items.len(), 1);

    // A template volume source converts to the model's.
    let svc = doc(
        "kind: Service\nmeta: {name: s}\nspec:\n  template:\n    containers: [{name: c, image: {name: i}, volumes: [{name: d, path: /d}]}]\n    volumes: [{name: d, volume: {name: demo}}]\n",
    );
    let Manifest::Service(svc) = svc else {
        unreachable!()
    };
    let svc = api.create_service("demo", svc).await.unwrap();
    assert!(
        matches!(&svc.spec.template.volumes[0].source, VolumeSource::Volume(r) if r.name == "demo")
    );
}

#[tokio::test]
async fn cluster_counts_members_and_sums_resources() {
    let api = api();
    for (name, online) in [("n1", true), ("n2", false)] {
        let link = SelfLink::host(Kind::Node, name);
        let mut node = Node {
            meta: Meta::new(name, &link),
            ..Node::default()
        };
        node.status.online = online;
        node.status.capacity.pods = 10;
        node.status.capacity.ram = "1gib".parse().unwrap();
        node.status.allocated.pods = 2;
        api.store().create(&node).await.unwrap();
    }
    let cluster = api.cluster().await.unwrap();
    assert_eq!(cluster.meta.name, "lastbackend");
    assert_eq!(
        (
            cluster.status.nodes.total,
            cluster.status.nodes.online,
            cluster.status.nodes.offline
        ),
        (2, 1, 1)
    );
    assert_eq!(cluster.status.capacity.pods, 20);
    assert_eq!(cluster.status.capacity.ram.bytes(), 2 << 30);
    assert_eq!(cluster.status.allocated.pods, 4);
    assert_eq!(cluster.status.ingress.total, 0);
    let _ = Node::KIND;
}
