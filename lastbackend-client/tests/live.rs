//! The SDK and the `lb` binary against the real API server: the daemons'
//! router over the core's operations on a memory store, served on
//! 127.0.0.1 with an ephemeral port.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use futures::StreamExt;
use lastbackend_client::core::api::types::{ApplyAction, WatchEvent};
use lastbackend_client::core::api::{Api, Settings};
use lastbackend_client::core::manifest::{
    ManifestMeta, NamespaceManifest, SecretManifest, SecretSpecManifest, SecretType,
};
use lastbackend_client::core::storage::memory::MemoryStorage;
use lastbackend_client::core::store::Store;
use lastbackend_client::{ApplyOptions, Client};
use lastbackend_core::server::{ApiState, router, serve};

const TOKEN: &str = "live-test-token";

/// Starts the API and answers its endpoint; the server stops with the
/// test's runtime.
fn start_server() -> String {
    let api = Api::new(
        Store::new(Arc::new(MemoryStorage::new())),
        Settings::default(),
    );
    let app = router(ApiState::new(api, Some(TOKEN.to_owned())));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app, None, std::future::pending()));
    format!("http://{address}")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lastbackend-core/tests/fixtures/manifests")
        .join(name)
}

fn namespace(name: &str, description: &str) -> NamespaceManifest {
    NamespaceManifest {
        meta: ManifestMeta {
            name: name.to_owned(),
            description: Some(description.to_owned()).filter(|d| !d.is_empty()),
            ..ManifestMeta::default()
        },
        version: "v1".to_owned(),
        ..NamespaceManifest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_drives_the_real_server() {
    let endpoint = start_server();
    let client = Client::builder()
        .endpoint(&endpoint)
        .token(TOKEN)
        .build()
        .unwrap();

    let wrong = Client::builder()
        .endpoint(&endpoint)
        .token("wrong")
        .build()
        .unwrap();
    assert!(
        wrong
            .namespaces()
            .list()
            .await
            .unwrap_err()
            .is_unauthorized()
    );

    let created = client
        .namespaces()
        .create(&namespace("demo", "demo projects"))
        .await
        .unwrap();
    assert_eq!(created.meta.name, "demo");
    let err = client
        .namespaces()
        .create(&namespace("demo", ""))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        client
            .namespace("ghost")
            .get()
            .await
            .unwrap_err()
            .is_not_found()
    );

    let demo = client.namespace("demo");
    let updated = demo.update(&namespace("demo", "renamed")).await.unwrap();
    assert_eq!(updated.meta.description, "renamed");
    let list = client.namespaces().list().await.unwrap();
    assert_eq!(list.items.len(), 1);

    // Watch from the list's revision, then apply the docs' service.
    let services = demo.services().list().await.unwrap();
    assert!(services.items.is_empty());
    let mut watch = demo.services().watch(Some(services.revision));
    let text = std::fs::read_to_string(fixture("service-2048.yaml")).unwrap();
    let dry = demo
        .apply(
            text.as_str(),
            ApplyOptions {
                dry_run: true,
                ..ApplyOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(dry.dry_run);
    assert!(demo.services().list().await.unwrap().items.is_empty());
    let report = demo.apply(text, ApplyOptions::default()).await.unwrap();
    assert_eq!(report.items.len(), 1);
    assert_eq!(report.items[0].action, ApplyAction::Created);
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), watch.next())
        .await
        .expect("a watch event")
        .unwrap()
        .unwrap();
    let WatchEvent::Created { object, .. } = event else {
        panic!("expected created, got {event:?}")
    };
    assert_eq!(object.meta.name, "2048");

    let service = demo.service("2048");
    assert_eq!(service.get().await.unwrap().spec.replicas, 2);
    assert_eq!(service.scale(3).await.unwrap().spec.replicas, 3);
    service.deployments().await.unwrap();
    service.pods().await.unwrap();

    let invalid = demo
        .apply("kind: Service\nmeta:\n  name: x\n", ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(invalid.is_invalid(), "{invalid}");
    assert!(!invalid.body().unwrap().errors.is_empty());

    let secret = SecretManifest {
        meta: ManifestMeta {
            name: "registry".into(),
            ..ManifestMeta::default()
        },
        spec: SecretSpecManifest {
            kind: SecretType::Auth,
            data: [("username", "admin"), ("password", "hunter2")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
        },
        version: "v1".to_owned(),
    };
    demo.secrets().create(&secret).await.unwrap();
    assert_eq!(demo.secrets().list().await.unwrap().items.len(), 1);
    demo.secret("registry").remove().await.unwrap();
    assert!(
        demo.secret("registry")
            .get()
            .await
            .unwrap_err()
            .is_not_found()
    );

    let removed = service.remove().await.unwrap();
    assert!(removed.spec.state.destroy);
    client.cluster().get().await.unwrap();
    client.cluster().nodes().list().await.unwrap();
}

/// Runs `lb` against the server; answers (status ok, stdout, stderr).
async fn lb(endpoint: &str, home: &Path, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lb"));
    command
        .args(args)
        .args(["--api-uri", endpoint, "--token", TOKEN])
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("LB_API_URI")
        .env_remove("LB_ACCESS_TOKEN")
        .env_remove("LB_CONFIG");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn collapse(text: &str) -> String {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_prints_the_docs_layouts() {
    let endpoint = start_server();
    let home = tempfile::tempdir().unwrap();
    let run = |args: &'static [&'static str]| lb(&endpoint, home.path(), args);

    let (ok, out, err) = run(&["namespace", "create", "test"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        collapse(&out),
        "Namespace `test` is created\nNAME test\nDESCRIPTION\nENDPOINT test.lb.local"
    );

    let (ok, out, err) = run(&["namespace", "ls"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "NAME  DESCRIPTION  ENDPOINT\n\
         ----  -----------  --------\n\
         test               test.lb.local\n"
    );

    let service = fixture("service-2048.yaml");
    let (ok, out, err) = lb(
        &endpoint,
        home.path(),
        &[
            "namespace",
            "apply",
            "test",
            "-f",
            service.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "Service `2048` is created\n");

    let (ok, out, err) = run(&["service", "ls", "test"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(collapse(lines[0]), "NAME ENDPOINT STATUS REPLICAS");
    assert_eq!(collapse(lines[1]), "---- -------- ------ --------");
    let row: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        (row[0], row[1], row[3]),
        ("2048", "2048.test.lb.local", "2")
    );
    assert_eq!(lines.len(), 3);

    // A config's `file:` is read relative to its manifest.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("contrib")).unwrap();
    std::fs::write(dir.path().join("contrib/config.yml"), "level: debug\n").unwrap();
    let manifest = dir.path().join("config.yaml");
    std::fs::copy(fixture("config-file.yaml"), &manifest).unwrap();
    let (ok, out, err) = lb(
        &endpoint,
        home.path(),
        &[
            "namespace",
            "apply",
            "test",
            "-f",
            manifest.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "Config `lastbackend` is created\n");
    let (ok, out, err) = run(&["config", "inspect", "test", "lastbackend", "-o", "json"]).await;
    assert!(ok, "{err}");
    let config: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(config["spec"]["data"]["config.yml"], "level: debug\n");

    let (ok, out, err) = run(&["route", "create", "test", "web", "-p", "443", "2048:80"]).await;
    assert!(ok, "{err}");
    let out = collapse(&out);
    assert!(
        out.starts_with("NAME web\nNAMESPACE test\nDOMAIN "),
        "{out}"
    );
    assert!(
        out.ends_with(
            "PORT 443\nSTATUS initialized\n\
             PATH SERVICE ENDPOINT PORT\n---- ------- -------- ----\n/ 2048 2048.test.lb.local 80"
        ),
        "{out}"
    );
    let (ok, out, err) = run(&[
        "route",
        "create",
        "test",
        "secure",
        "-p",
        "8443",
        "--tls-secret",
        "secure-tls",
        "2048:80",
    ])
    .await;
    assert!(ok, "{err}");
    assert!(
        collapse(&out).contains("\nPORT 8443\nTLS terminated with secret secure-tls\nSTATUS "),
        "{out}"
    );
    let (ok, out, err) = run(&["route", "inspect", "test", "secure", "-o", "json"]).await;
    assert!(ok, "{err}");
    let secure: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(secure["spec"]["tls"]["secret"], "secure-tls");
    let (ok, out, err) = run(&["route", "ls", "test"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        collapse(out.lines().next().unwrap()),
        "NAMESPACE NAME DOMAIN HTTPS STATUS"
    );

    let (ok, out, err) = run(&["service", "inspect", "test", "2048"]).await;
    assert!(ok, "{err}");
    let out = collapse(&out);
    assert!(out.starts_with("Name: test/2048\nState: "), "{out}");
    assert!(
        out.contains("\nEndpoint: 2048.test.lb.local\nCreated: "),
        "{out}"
    );
    assert!(
        out.contains("\nLabels: demo=test type=proxy\nActive deployments:"),
        "{out}"
    );

    // No controller runs here, so the service never gets ready.
    let (ok, out, err) = run(&[
        "service",
        "scale",
        "test",
        "2048",
        "1",
        "--wait",
        "--timeout",
        "1s",
    ])
    .await;
    assert!(!ok);
    assert!(
        out.starts_with("Service `2048` is scaled to 1 replicas\n2048: "),
        "{out}"
    );
    assert!(out.contains(", 0/1 pods ready\n"), "{out}");
    assert!(
        err.starts_with("timed out after 1s waiting for: 2048: "),
        "{err}"
    );

    let (ok, _, err) = run(&["namespace", "inspect", "ghost"]).await;
    assert!(!ok);
    assert!(err.contains("not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_the_control_plane_of_agents_over_http() {
    use std::time::{Duration, Instant};

    use lastbackend_client::core::api::types::{MemberReport, NodeRegistration, NodeStatusReport};
    use lastbackend_client::core::api::{ControlPlane, ControlPlaneError};
    use lastbackend_client::core::model::Kind;

    let endpoint = start_server();
    let client = Client::builder()
        .endpoint(&endpoint)
        .token(TOKEN)
        .build()
        .unwrap();
    let plane: Arc<dyn ControlPlane> = Arc::new(client.clone());

    let node = plane
        .register_node("node-a", NodeRegistration::default())
        .await
        .unwrap();
    assert_eq!(node.meta.name, "node-a");
    let manifest = plane
        .node_manifest("node-a", None, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(manifest.pods.is_empty());
    // A long-poll with the current revision waits for its timeout.
    let started = Instant::now();
    let again = plane
        .node_manifest("node-a", Some(manifest.revision), Duration::from_secs(1))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(again.revision, manifest.revision);
    let ack = plane
        .node_status("node-a", NodeStatusReport::default())
        .await
        .unwrap();
    assert!(ack.revision > 0);
    assert!(
        client
            .cluster()
            .node("node-a")
            .get()
            .await
            .unwrap()
            .status
            .online
    );

    let missing = plane
        .node_status("nobody", NodeStatusReport::default())
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert!(matches!(
        missing,
        ControlPlaneError::Rejected { code: 404, .. }
    ));

    plane
        .register_member(Kind::Ingress, "edge-1", MemberReport::default())
        .await
        .unwrap();
    plane
        .member_status(Kind::Ingress, "edge-1", MemberReport::default())
        .await
        .unwrap();
    let ingress = plane
        .ingress_manifest("edge-1", None, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(ingress.routes.is_empty());
    plane
        .register_member(Kind::Discovery, "dns-1", MemberReport::default())
        .await
        .unwrap();
    plane
        .discovery_manifest("dns-1", None, Duration::from_secs(1))
        .await
        .unwrap();

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable: Arc<dyn ControlPlane> =
        Arc::new(Client::builder().endpoint(&dead).build().unwrap());
    let err = unreachable
        .register_node("node-a", NodeRegistration::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ControlPlaneError::Unreachable(_)), "{err}");
    assert!(err.is_transient());
}
