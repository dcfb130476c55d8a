//! The node agent on the real Docker Engine: the API's router on
//! 127.0.0.1 over a memory store, the controller, and the agent talking to
//! the API over HTTP with the Docker driver and the `dir` volume driver.
//! Containers are checked with `docker inspect`, `docker exec` and
//! `docker kill`. Skips with a reason when Docker or busybox-static is
//! missing, and fails under `CI=true`.
//!
//! Each test uses its own node name (so its containers carry their own
//! label) and removes every container with that label when it ends, even on
//! failure.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lastbackend::api::{ApiState, router, serve};
use lastbackend::exporter::{Exporter, StoreConfig, keep_registered};
use lastbackend_client::Client;
use lastbackend_core::api::types::MemberReport;
use lastbackend_core::api::{Api, Settings};
use lastbackend_core::controller::leader::{self, LeaderConfig};
use lastbackend_core::controller::manager::{self, ControllerManager};
use lastbackend_core::manifest::{self, Manifest};
use lastbackend_core::model::{Pod, State};
use lastbackend_core::storage::MemoryStorage;
use lastbackend_core::store::Store;
use lastbackend_runtime::agent::{Agent, AgentSettings, LABEL_CONTAINER, LABEL_NODE, LABEL_POD};
use lastbackend_runtime::csi::dir::DirCsi;
use lastbackend_runtime::docker::{DockerRuntime, offline};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[path = "support/e2e.rs"]
mod e2e;

use e2e::{node_containers, remove_containers};

const TOKEN: &str = "node-docker-test";
const TIMEOUT: Duration = Duration::from_secs(120);

/// Skips (or, under `CI=true`, fails) with `reason`.
fn skip(reason: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the Docker node tests need the engine and busybox-static: {reason}"
    );
    eprintln!("skipped: {reason}");
}

/// Removes every container of the test's node, even when the test failed.
struct Sweep(String);

impl Drop for Sweep {
    fn drop(&mut self) {
        remove_containers(&node_containers(&self.0, true));
    }
}

fn inspect(id: &str) -> Value {
    let out = Command::new("docker")
        .args(["inspect", id])
        .output()
        .expect("docker inspect");
    let all: Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
    all[0].clone()
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The node's running containers: id → inspect.
fn running(node: &str) -> BTreeMap<String, Value> {
    node_containers(node, true)
        .into_iter()
        .map(|id| (id.clone(), inspect(&id)))
        .filter(|(_, c)| c["State"]["Running"] == Value::Bool(true))
        .collect()
}

/// Polls `check` every 250 ms until it holds or [`TIMEOUT`] passes.
async fn until<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An API with its router on 127.0.0.1, a leading controller, and the
/// agent(s) of one node.
struct Cluster {
    api: Api,
    endpoint: String,
    node: String,
    ns: String,
    storage: tempfile::TempDir,
    docker: DockerRuntime,
    agent: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    _sweep: Sweep,
}

impl Cluster {
    /// `None` when the test is skipped.
    async fn start(test: &str) -> Option<Self> {
        let docker = match DockerRuntime::connect().await {
            Ok(docker) => docker,
            Err(e) => {
                skip(&e.to_string());
                return None;
            }
        };
        if let Err(e) = offline::import_busybox(&docker, offline::BUSYBOX).await {
            skip(&e.to_string());
            return None;
        }
        let suffix = format!("{}{:x}", std::process::id(), rand_u16());
        let node = format!("lbt-{test}-{suffix}");
        let sweep = Sweep(node.clone());
        let mut settings = Settings::default();
        settings.node_ttl = Duration::from_secs(15);
        let api = Api::new(Store::new(Arc::new(MemoryStorage::new())), settings);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = router(ApiState::new(api.clone(), Some(TOKEN.to_owned())));
        tokio::spawn(serve(listener, app, None, std::future::pending()));
        let store = api.store().clone();
        tokio::spawn(async move {
            let config = LeaderConfig::new("test-controller").ttl(Duration::from_secs(5));
            let leadership = leader::campaign(store.storage().clone(), config);
            let manager = ControllerManager::new(store, manager::Settings::default());
            let _ = manager.run(leadership, std::future::pending()).await;
        });
        let mut cluster = Self {
            api,
            endpoint,
            node,
            ns: format!("t{suffix}"),
            storage: tempfile::tempdir().unwrap(),
            docker,
            agent: None,
            _sweep: sweep,
        };
        cluster.start_agent();
        Some(cluster)
    }

    fn start_agent(&mut self) {
        let client = Client::builder()
            .endpoint(&self.endpoint)
            .token(TOKEN)
            .build()
            .unwrap();
        let settings = AgentSettings::new(self.node.clone())
            .status_interval(Duration::from_secs(2))
            .stop_timeout(Duration::from_secs(2))
            .restart_backoff(Duration::from_millis(500));
        let agent = Agent::new(
            Arc::new(client),
            Arc::new(self.docker.clone()),
            Arc::new(self.docker.clone()),
            Arc::new(DirCsi::new(self.storage.path())),
            settings,
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(agent.run(async {
            let _ = stopped.await;
        }));
        self.agent = Some((stop, task));
    }

    async fn stop_agent(&mut self) {
        if let Some((stop, task)) = self.agent.take() {
            let _ = stop.send(());
            task.await.unwrap();
        }
    }

    async fn apply(&self, yaml: &str) {
        if self.api.namespace(&self.ns).await.is_err() {
            let text = format!(
                "kind: Namespace\nversion: v1\nmeta: {{name: {}}}\n",
                self.ns
            );
            let Manifest::Namespace(m) = manifest::parse(&text).unwrap().remove(0) else {
                unreachable!()
            };
            self.api.create_namespace(m).await.unwrap();
        }
        let manifests = manifest::parse(yaml).unwrap();
        self.api
            .apply(&self.ns, manifests, Default::default())
            .await
            .unwrap();
    }

    async fn pods(&self, service: &str) -> Vec<Pod> {
        self.api.pods(&self.ns, service, None).await.unwrap().items
    }
}

fn rand_u16() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos >> 8) as u16
}

fn service(command: &str, replicas: u32) -> String {
    format!(
        "kind: Secret
version: v1
meta:
  name: creds
spec:
  data:
    token: first
    user: alice
---
kind: Service
version: v1
meta:
  name: web
spec:
  replicas: {replicas}
  template:
    containers:
      - name: httpd
        image:
          name: {image}
        command: {command}
        env:
          - name: GREETING
            value: hello
          - name: USER_NAME
            secret:
              name: creds
              key: user
        resources:
          limits:
            ram: 64Mi
        volumes:
          - name: creds
            path: /etc/creds
    volumes:
      - name: creds
        secret:
          name: creds
          files: [token]
",
        image = offline::BUSYBOX,
    )
}

fn env_of(c: &Value) -> Vec<String> {
    c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_runs_scales_rolls_out_and_goes_away_on_docker() {
    let Some(cluster) = Cluster::start("svc").await else {
        return;
    };
    let node = cluster.node.clone();
    cluster.apply(&service("httpd -f -p 8080", 2)).await;
    let first = until("2 containers run", || async {
        Some(running(&node)).filter(|r| r.len() == 2)
    })
    .await;
    for c in first.values() {
        let labels = &c["Config"]["Labels"];
        assert_eq!(labels[LABEL_NODE], node.as_str());
        assert_eq!(labels[LABEL_CONTAINER], "httpd");
        assert!(
            labels[LABEL_POD]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}:web:", cluster.ns))
        );
        let env = env_of(c);
        assert!(env.contains(&"GREETING=hello".to_owned()), "{env:?}");
        assert!(env.contains(&"USER_NAME=alice".to_owned()), "{env:?}");
        assert_eq!(c["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(
            c["Config"]["Cmd"],
            serde_json::json!(["httpd", "-f", "-p", "8080"])
        );
        let mounts = c["Mounts"].as_array().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m["Destination"] == "/etc/creds" && m["RW"] == false),
            "{mounts:?}"
        );
        let id = c["Id"].as_str().unwrap();
        assert_eq!(docker(&["exec", id, "cat", "/etc/creds/token"]), "first");
    }
    until(
        "both pods are reported ready with their addresses",
        || async {
            let pods = cluster.pods("web").await;
            let ready = pods
                .iter()
                .filter(|p| p.status.ready && p.status.network.pod_ip.is_some())
                .count();
            (ready == 2).then_some(())
        },
    )
    .await;

    cluster
        .api
        .scale_service(&cluster.ns, "web", 3)
        .await
        .unwrap();
    until("3 containers run", || async {
        Some(running(&node)).filter(|r| r.len() == 3)
    })
    .await;
    cluster
        .api
        .scale_service(&cluster.ns, "web", 1)
        .await
        .unwrap();
    let one = until("1 container runs", || async {
        Some(running(&node)).filter(|r| r.len() == 1 && node_containers(&node, true).len() == 1)
    })
    .await;
    let (id, _) = one.into_iter().next().unwrap();

    // A change of a secret key read only as a file reaches the running
    // container in place (a key read into env would need a new container).
    cluster
        .apply(&service("httpd -f -p 8080", 1).replace("token: first", "token: second"))
        .await;
    until("the secret file is updated", || async {
        let out = Command::new("docker")
            .args(["exec", &id, "cat", "/etc/creds/token"])
            .output()
            .ok()?;
        (out.stdout == b"second").then_some(())
    })
    .await;
    assert!(
        running(&node).contains_key(&id),
        "the container was not replaced by a file change"
    );

    // A new command is a new deployment: the container is replaced.
    cluster
        .apply(&service("httpd -f -p 8081", 1).replace("token: first", "token: second"))
        .await;
    let replaced = until("the new container replaces the old one", || async {
        let now = running(&node);
        (now.len() == 1 && !now.contains_key(&id) && node_containers(&node, true).len() == 1)
            .then_some(now)
    })
    .await;
    let c = replaced.values().next().unwrap();
    assert_eq!(
        c["Config"]["Cmd"],
        serde_json::json!(["httpd", "-f", "-p", "8081"])
    );
    assert!(env_of(c).contains(&"USER_NAME=alice".to_owned()));

    cluster
        .api
        .remove_service(&cluster.ns, "web")
        .await
        .unwrap();
    until("no container is left", || async {
        node_containers(&node, true).is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_containers_restart_and_a_restarted_agent_adopts_its_own_on_docker() {
    let Some(mut cluster) = Cluster::start("adopt").await else {
        return;
    };
    let node = cluster.node.clone();
    cluster.apply(&service("httpd -f -p 8080", 2)).await;
    let before = until("2 containers run", || async {
        Some(running(&node)).filter(|r| r.len() == 2)
    })
    .await;

    let victim = before.keys().next().unwrap().clone();
    docker(&["kill", &victim]);
    until("the killed container runs again", || async {
        let c = inspect(&victim);
        (c["State"]["Running"] == true && c["State"]["Restarting"] == false).then_some(())
    })
    .await;
    until("the restart is reported", || async {
        let pods = cluster.pods("web").await;
        pods.iter()
            .any(|p| {
                p.status
                    .containers
                    .get("httpd")
                    .is_some_and(|c| c.id == victim && c.restarts >= 1 && c.state == State::Ready)
            })
            .then_some(())
    })
    .await;

    cluster.stop_agent().await;
    cluster.start_agent();
    // Give the new agent several passes, then nothing may have changed.
    until("the new agent reports both pods ready", || async {
        let pods = cluster.pods("web").await;
        (pods.iter().filter(|p| p.status.ready).count() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = running(&node);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "the restarted agent must adopt, not duplicate"
    );
    assert_eq!(node_containers(&node, true).len(), 2);

    cluster
        .api
        .remove_service(&cluster.ns, "web")
        .await
        .unwrap();
    until("no container is left", || async {
        node_containers(&node, true).is_empty().then_some(())
    })
    .await;
}

/// A container's output reaches the exporter through the agent's log
/// shipper, and the API's service-logs route serves it, each line prefixed
/// by its pod, in the order the container wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_logs_reach_the_exporter_and_the_service_logs_route() {
    let Some(cluster) = Cluster::start("logs").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::open(StoreConfig::new(dir.path(), 1 << 20, 2)).unwrap();
    let logs = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = logs.local_addr().unwrap();
    tokio::spawn(exporter.clone().serve_logs(logs));
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_address = http.local_addr().unwrap();
    let app = exporter.router(Some(TOKEN.to_owned()));
    tokio::spawn(serve(http, app, None, std::future::pending()));
    let report = MemberReport {
        http: Some(http_address),
        listener: Some(listener),
        ..MemberReport::default()
    };
    let registration = tokio::spawn(keep_registered(
        Arc::new(cluster.api.clone()),
        format!("{}-exporter", cluster.node),
        report,
        Duration::from_millis(500),
    ));

    let script = "[sh, -c, 'for i in 1 2 3 4 5; do echo line $i; done; exec sleep 3600']";
    cluster.apply(&service(script, 1)).await;
    let client = Client::builder()
        .endpoint(&cluster.endpoint)
        .token(TOKEN)
        .build()
        .unwrap();
    let service = client.namespace(&cluster.ns).service("web");
    let lines = until("the container's lines through the API", || async {
        let mut stream = service.logs(None, false).await.ok()?;
        let mut lines = Vec::new();
        while let Some(line) = stream.next().await {
            lines.push(line.ok()?);
        }
        (lines.iter().filter(|l| l.contains("line ")).count() == 5).then_some(lines)
    })
    .await;
    let pod = &cluster.pods("web").await[0].meta.name;
    let ours: Vec<&String> = lines.iter().filter(|l| l.contains("line ")).collect();
    for (i, line) in ours.iter().enumerate() {
        assert!(
            line.starts_with(pod.as_str()),
            "{line:?} names its pod {pod}"
        );
        assert!(
            line.ends_with(&format!("line {}", i + 1)),
            "{line:?} in order"
        );
    }
    registration.abort();
}
