//! The node agent on the real Docker Engine: the API's router on
//! 127.0.0.1 over a memory store, the controller, and the agent talking to
//! the API over HTTP with the Docker driver and the `dir` volume driver.
//! Containers are checked with `docker inspect`, `docker exec` and
//! `docker kill`. Skips with a reason when Docker or busybox-static is
//! missing, and fails under `CI=true`.
//!
//! Each test uses its own node name (so its containers carry their own
//! label) and removes every container with that label when it ends, even on
//! failure. A test fails as soon as the API server, the controller or any
//! other task it depends on ends, and when its agent ends before it is
//! stopped.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use futures::{FutureExt, StreamExt};
use lastbackend_client::Client;
use lastbackend_core::api::types::MemberReport;
use lastbackend_core::api::{Api, Membership, Settings};
use lastbackend_core::controller::leader::{self, LeaderConfig};
use lastbackend_core::controller::manager::{self, ControllerManager};
use lastbackend_core::manifest::{self, Manifest};
use lastbackend_core::model::{Endpoint, Kind, Pod, Presence, SelfLink, State};
use lastbackend_core::server::{ApiState, router, serve};
use lastbackend_core::storage::MemoryStorage;
use lastbackend_core::store::Store;
use lastbackend_runtime::agent::{
    Agent, AgentSettings, LABEL_CONTAINER, LABEL_NODE, LABEL_POD, LABEL_STATIC,
};
use lastbackend_runtime::csi::dir::DirCsi;
use lastbackend_runtime::docker::{DockerRuntime, offline};
use lastbackend_runtime::exporter::{Exporter, StoreConfig};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[path = "support/e2e.rs"]
mod e2e;

use e2e::{node_containers, remove_containers, skip};

const TOKEN: &str = "node-docker-test";
const TIMEOUT: Duration = Duration::from_secs(120);

const NEEDS: &str = "the Docker node tests need the engine and busybox-static";

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

/// How the tasks that must outlive the test ended, if any did.
type Ended = Arc<Mutex<Vec<String>>>;

/// Spawns `task`, which must run until the test ends: when it returns, fails
/// or panics, that is recorded in `ended` for [`Cluster::assert_running`].
fn spawn_lasting<E: Display>(
    ended: &Ended,
    name: &'static str,
    task: impl Future<Output = Result<(), E>> + Send + 'static,
) {
    let ended = ended.clone();
    tokio::spawn(async move {
        let how = match AssertUnwindSafe(task).catch_unwind().await {
            Ok(Ok(())) => "returned".to_owned(),
            Ok(Err(error)) => format!("failed: {error}"),
            Err(panic) => format!("panicked: {}", panic_message(&*panic)),
        };
        ended.lock().unwrap().push(format!("the {name} {how}"));
    });
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// An API with its router on 127.0.0.1, a leading controller, and the
/// agent(s) of one node.
struct Cluster {
    api: Api,
    endpoint: String,
    node: String,
    ns: String,
    storage: tempfile::TempDir,
    /// The agent's static pod directory (`--manifest-path`).
    manifests: tempfile::TempDir,
    docker: DockerRuntime,
    agent: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    /// Status reports the API accepted from the node's agents: each one
    /// follows a complete reconcile pass.
    reports: Arc<AtomicUsize>,
    ended: Ended,
    _sweep: Sweep,
}

impl Cluster {
    /// `None` when the test is skipped.
    async fn start(test: &str) -> Option<Self> {
        let docker = match DockerRuntime::connect().await {
            Ok(docker) => docker,
            Err(e) => {
                skip(NEEDS, &e.to_string());
                return None;
            }
        };
        if let Err(e) = offline::import_busybox(&docker, offline::BUSYBOX).await {
            skip(NEEDS, &e.to_string());
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
        let reports = Arc::new(AtomicUsize::new(0));
        let counted = (reports.clone(), format!("/cluster/node/{node}/status"));
        let app = router(ApiState::new(api.clone(), Some(TOKEN.to_owned()))).layer(
            axum::middleware::from_fn(move |request: Request, next: Next| {
                let (reports, path) = counted.clone();
                async move {
                    let report = request.method() == Method::PUT && request.uri().path() == path;
                    let response = next.run(request).await;
                    if report && response.status().is_success() {
                        reports.fetch_add(1, Ordering::SeqCst);
                    }
                    response
                }
            }),
        );
        let ended = Ended::default();
        spawn_lasting(
            &ended,
            "API server",
            serve(listener, app, None, std::future::pending()),
        );
        let store = api.store().clone();
        spawn_lasting(&ended, "controller", async move {
            let config = LeaderConfig::new("test-controller").ttl(Duration::from_secs(5));
            let leadership = leader::campaign(store.storage().clone(), config);
            let manager = ControllerManager::new(store, manager::Settings::default());
            manager.run(leadership, std::future::pending()).await
        });
        let mut cluster = Self {
            api,
            endpoint,
            node,
            ns: format!("t{suffix}"),
            storage: tempfile::tempdir().unwrap(),
            manifests: tempfile::tempdir().unwrap(),
            docker,
            agent: None,
            reports,
            ended,
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
            .restart_backoff(Duration::from_millis(500))
            .manifest_dir(self.manifests.path());
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
        self.assert_running();
        if let Some((stop, task)) = self.agent.take() {
            stop.send(()).expect("the agent waits for its stop");
            if let Err(error) = task.await {
                std::panic::resume_unwind(error.into_panic());
            }
        }
    }

    /// Fails the test when a task it depends on has ended.
    fn assert_running(&self) {
        let ended = self.ended.lock().unwrap();
        assert!(ended.is_empty(), "{}", ended.join("; "));
        if let Some((_, agent)) = &self.agent {
            assert!(
                !agent.is_finished(),
                "the agent ended before it was stopped"
            );
        }
    }

    /// Checks that everything still runs, then stops the agent, failing
    /// with its panic if it had one.
    async fn finish(mut self) {
        self.stop_agent().await;
    }

    /// Polls `check` every 250 ms until it holds or [`TIMEOUT`] passes,
    /// failing at once when a task the test depends on has ended.
    async fn until<T, F: Future<Output = Option<T>>>(
        &self,
        what: &str,
        mut check: impl FnMut() -> F,
    ) -> T {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            self.assert_running();
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

    /// How many status reports the API has accepted from the node.
    fn reports(&self) -> usize {
        self.reports.load(Ordering::SeqCst)
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

    /// The service's endpoint upstreams, once the controller made it.
    async fn upstreams(&self, service: &str) -> Option<Vec<IpAddr>> {
        let link = SelfLink::namespaced(Kind::Endpoint, &self.ns, service);
        let endpoint: Endpoint = self.api.store().find(&link).await.unwrap()?;
        Some(endpoint.spec.upstreams)
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
    let first = cluster
        .until("2 containers run", || async {
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
    cluster
        .until(
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
    cluster
        .until("3 containers run", || async {
            Some(running(&node)).filter(|r| r.len() == 3)
        })
        .await;
    cluster
        .api
        .scale_service(&cluster.ns, "web", 1)
        .await
        .unwrap();
    let one = cluster
        .until("1 container runs", || async {
            Some(running(&node)).filter(|r| r.len() == 1 && node_containers(&node, true).len() == 1)
        })
        .await;
    let (id, _) = one.into_iter().next().unwrap();

    // A change of a secret key read only as a file reaches the running
    // container in place (a key read into env would need a new container).
    cluster
        .apply(&service("httpd -f -p 8080", 1).replace("token: first", "token: second"))
        .await;
    cluster
        .until("the secret file is updated", || async {
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
    let replaced = cluster
        .until("the new container replaces the old one", || async {
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
    cluster
        .until("no container is left", || async {
            node_containers(&node, true).is_empty().then_some(())
        })
        .await;
    cluster.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_containers_restart_and_a_restarted_agent_adopts_its_own_on_docker() {
    let Some(mut cluster) = Cluster::start("adopt").await else {
        return;
    };
    let node = cluster.node.clone();
    cluster.apply(&service("httpd -f -p 8080", 2)).await;
    let before = cluster
        .until("2 containers run", || async {
            Some(running(&node)).filter(|r| r.len() == 2)
        })
        .await;

    let victim = before.keys().next().unwrap().clone();
    docker(&["kill", &victim]);
    cluster
        .until("the killed container runs again", || async {
            let c = inspect(&victim);
            (c["State"]["Running"] == true && c["State"]["Restarting"] == false).then_some(())
        })
        .await;
    cluster
        .until("the restart is reported", || async {
            let pods = cluster.pods("web").await;
            pods.iter()
                .any(|p| {
                    p.status.containers.get("httpd").is_some_and(|c| {
                        c.id == victim && c.restarts >= 1 && c.state == State::Ready
                    })
                })
                .then_some(())
        })
        .await;

    cluster.stop_agent().await;
    let reported = cluster.reports();
    cluster.start_agent();
    // Every report follows a complete pass of the new agent, and a pass
    // that duplicated or replaced a container would have done so by then.
    cluster
        .until("the new agent has reported three passes", || async {
            (cluster.reports() >= reported + 3).then_some(())
        })
        .await;
    let mut all = node_containers(&node, true);
    all.sort();
    assert_eq!(
        all,
        before.keys().cloned().collect::<Vec<_>>(),
        "the restarted agent must adopt, not duplicate or replace (exited containers included)"
    );
    assert_eq!(
        running(&node).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "the adopted containers run"
    );
    let pods = cluster.pods("web").await;
    assert_eq!(
        pods.iter().filter(|p| p.status.ready).count(),
        2,
        "{pods:?}"
    );

    cluster
        .api
        .remove_service(&cluster.ns, "web")
        .await
        .unwrap();
    cluster
        .until("no container is left", || async {
            node_containers(&node, true).is_empty().then_some(())
        })
        .await;
    cluster.finish().await;
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
    spawn_lasting(
        &cluster.ended,
        "exporter's log listener",
        exporter.clone().serve_logs(logs),
    );
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_address = http.local_addr().unwrap();
    let app = exporter.router(Some(TOKEN.to_owned()));
    spawn_lasting(
        &cluster.ended,
        "exporter's HTTP server",
        serve(http, app, None, std::future::pending()),
    );
    let report = MemberReport {
        http: Some(http_address),
        listener: Some(listener),
        presence: Presence {
            ready: true,
            online: true,
        },
        ..MemberReport::default()
    };
    let registration = Membership::new(
        Arc::new(cluster.api.clone()),
        Kind::Exporter,
        format!("{}-exporter", cluster.node),
    )
    .every(Duration::from_millis(500))
    .run(
        tokio::sync::watch::channel(report).1,
        std::future::pending(),
    );
    spawn_lasting(&cluster.ended, "exporter's registration", async move {
        registration.await;
        Ok::<(), std::convert::Infallible>(())
    });

    let script = "[sh, -c, 'for i in 1 2 3 4 5; do echo line $i; done; exec sleep 3600']";
    cluster.apply(&service(script, 1)).await;
    let client = Client::builder()
        .endpoint(&cluster.endpoint)
        .token(TOKEN)
        .build()
        .unwrap();
    let service = client.namespace(&cluster.ns).service("web");
    let lines = cluster
        .until("the container's lines through the API", || async {
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
    cluster.finish().await;
}

/// A service of `replicas` pods of one `httpd` container behind a VIP, with
/// `probes` (YAML, indented under the container) and `command`.
fn probed(replicas: u32, command: &str, probes: &str) -> String {
    format!(
        "kind: Service
version: v1
meta:
  name: web
spec:
  replicas: {replicas}
  network:
    ports: [\"80:8080/tcp\"]
  template:
    containers:
      - name: httpd
        image:
          name: {image}
        command: {command}
        probes:
{probes}
",
        image = offline::BUSYBOX,
    )
}

/// The pod address and container id of each pod of `web` once the agent
/// has reported both.
async fn addresses(cluster: &Cluster, pods: usize) -> Vec<(IpAddr, String)> {
    cluster
        .until("the pods report their addresses", || async {
            let found: Vec<(IpAddr, String)> = cluster
                .pods("web")
                .await
                .iter()
                .filter_map(|p| {
                    Some((
                        p.status.network.pod_ip?,
                        p.status.containers.get("httpd")?.id.clone(),
                    ))
                })
                .collect();
            (found.len() == pods).then_some(found)
        })
        .await
}

/// Readiness decides the endpoint's upstreams: a pod whose probe fails is
/// left out while another's passes, joins once its probe passes, and leaves
/// when it fails again. The probe is `cat /tmp/ready`, the file made and
/// removed with `docker exec`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_readiness_probe_keeps_a_pod_out_of_the_endpoint_on_docker() {
    let Some(cluster) = Cluster::start("ready").await else {
        return;
    };
    // A generous timeout: `docker exec` on a busy machine is slow, and a
    // timed-out check would count as a failure the test did not make.
    let probes = "          readiness: {exec: {command: [cat, /tmp/ready]}, period: 1, timeout: 10, failure_threshold: 1}";
    cluster.apply(&probed(2, "httpd -f -p 8080", probes)).await;
    let pods = addresses(&cluster, 2).await;
    let [(first_ip, first), (second_ip, second)] = [pods[0].clone(), pods[1].clone()];
    let upstreams_are = |wanted: Vec<IpAddr>| {
        let cluster = &cluster;
        move || {
            let wanted = wanted.clone();
            async move { (cluster.upstreams("web").await? == wanted).then_some(()) }
        }
    };

    docker(&["exec", &first, "touch", "/tmp/ready"]);
    cluster
        .until(
            "the ready pod is the endpoint's one upstream",
            upstreams_are(vec![first_ip]),
        )
        .await;
    // Settled: the agent has reported passes since, and the controller has
    // acted on the first pod's readiness; the second is still out.
    let reported = cluster.reports();
    cluster
        .until("the agent has reported two more passes", || async {
            (cluster.reports() >= reported + 2).then_some(())
        })
        .await;
    assert_eq!(cluster.upstreams("web").await, Some(vec![first_ip]));
    let not_ready = cluster
        .pods("web")
        .await
        .into_iter()
        .find(|p| p.status.network.pod_ip == Some(second_ip))
        .unwrap();
    assert!(!not_ready.status.ready, "{not_ready:?}");
    assert_eq!(inspect(&second)["State"]["Running"], true);

    docker(&["exec", &second, "touch", "/tmp/ready"]);
    let mut both = vec![first_ip, second_ip];
    both.sort_unstable();
    cluster
        .until("both pods are upstreams", upstreams_are(both))
        .await;
    docker(&["exec", &first, "rm", "/tmp/ready"]);
    cluster
        .until(
            "the pod whose probe fails again leaves the endpoint",
            upstreams_are(vec![second_ip]),
        )
        .await;
    assert_eq!(
        inspect(&first)["State"]["Running"],
        true,
        "readiness never restarts a container"
    );
    cluster.finish().await;
}

/// A failing liveness probe restarts the container: the agent stops it and
/// starts it again, which Docker shows as a new start, and the pod's status
/// counts the restart. The probe is `cat /tmp/alive`, a file the command
/// makes on every start and the test removes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_liveness_probe_restarts_the_container_on_docker() {
    let Some(cluster) = Cluster::start("live").await else {
        return;
    };
    let probes = "          liveness: {exec: {command: [cat, /tmp/alive]}, period: 1, timeout: 10, failure_threshold: 2}";
    let command = "[sh, -c, 'touch /tmp/alive; exec httpd -f -p 8080']";
    cluster.apply(&probed(1, command, probes)).await;
    let (_, id) = addresses(&cluster, 1).await.remove(0);
    let restarts = || async {
        let pods = cluster.pods("web").await;
        let c = pods.first()?.status.containers.get("httpd")?.clone();
        (c.state == State::Ready).then_some((c.id, c.restarts))
    };
    let (_, restarts_before) = cluster.until("the pod is ready", restarts).await;
    let started = inspect(&id)["State"]["StartedAt"].clone();

    docker(&["exec", &id, "rm", "/tmp/alive"]);
    let (now, restarts_after) = cluster
        .until("the restart is reported", || async {
            restarts()
                .await
                .filter(|(_, count)| *count > restarts_before)
        })
        .await;
    let c = inspect(&now);
    assert_eq!(c["State"]["Running"], true);
    assert!(
        now != id || c["State"]["StartedAt"] != started,
        "Docker shows a new start of the container ({started} before)"
    );
    eprintln!("restarts reported: {restarts_before} -> {restarts_after}");
    cluster.finish().await;
}

/// A manifest file in the static pod directory runs as a container on the
/// engine, whatever the cluster says, and removing the file removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_pod_runs_from_its_file_and_goes_with_it_on_docker() {
    let Some(cluster) = Cluster::start("static").await else {
        return;
    };
    let node = cluster.node.clone();
    // Static containers are named by the pod alone: unique per test run.
    let name = format!("st{}", cluster.ns);
    let file = cluster.manifests.path().join("static.yaml");
    std::fs::write(
        &file,
        format!(
            "kind: Service
version: v1
meta:
  name: {name}
spec:
  template:
    containers:
      - name: httpd
        image:
          name: {image}
        command: httpd -f -p 8080
        env:
          - name: ORIGIN
            value: static
",
            image = offline::BUSYBOX,
        ),
    )
    .unwrap();
    let (id, c) = cluster
        .until("the static pod's container runs", || async {
            running(&node).into_iter().next()
        })
        .await;
    assert_eq!(node_containers(&node, true), vec![id.clone()]);
    assert_eq!(c["Name"], format!("/lb-static-{name}-httpd"));
    let labels = &c["Config"]["Labels"];
    assert_eq!(labels[LABEL_STATIC], "true");
    assert_eq!(labels[LABEL_POD], format!("static:{name}"));
    assert_eq!(
        c["Config"]["Cmd"],
        serde_json::json!(["httpd", "-f", "-p", "8080"])
    );
    assert!(env_of(&c).contains(&"ORIGIN=static".to_owned()));

    std::fs::remove_file(&file).unwrap();
    cluster
        .until("the static pod's container is removed", || async {
            node_containers(&node, true).is_empty().then_some(())
        })
        .await;
    cluster.finish().await;
}
