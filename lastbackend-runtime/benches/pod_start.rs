//! Pod start latency and the agent's memory, on the real Docker Engine.
//!
//! 1. Baseline: `docker run -d` of the offline busybox image running
//!    `httpd -f -p 8080`, 50 times, one at a time.
//! 2. The agent (in process, Docker driver, `dir` volumes) under a scripted
//!    control plane: 50 times, one pod is added to the node's manifest and
//!    the clock runs until the agent reports it running.
//! 3. The real `lastbackend node` binary against an in-process API and
//!    controller with a 50-replica service: its VmRSS once all 50 run.
//!
//! `cargo bench -p lastbackend-runtime --bench pod_start`. Ends with
//! `RESULT` lines; skips (printing why) without Docker or busybox-static.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lastbackend_core::api::types::{Ack, MemberReport, NodeRegistration, NodeStatusReport};
use lastbackend_core::api::{Api, ControlPlane, ControlPlaneError, ControlPlaneResult, Settings};
use lastbackend_core::controller::leader::{self, LeaderConfig};
use lastbackend_core::controller::manager::{self, ControllerManager};
use lastbackend_core::manifest::internal::{DiscoveryManifest, IngressManifest, NodeManifest};
use lastbackend_core::manifest::{self, Manifest};
use lastbackend_core::model::{Container, Exec, Image, Kind, Node, PodSpec, Template};
use lastbackend_core::server::{ApiState, router, serve};
use lastbackend_core::storage::{MemoryStorage, Revision};
use lastbackend_core::store::Store;
use lastbackend_runtime::agent::{Agent, AgentSettings, LABEL_NODE};
use lastbackend_runtime::csi::dir::DirCsi;
use lastbackend_runtime::docker::{DockerRuntime, offline};
use tokio::sync::watch;

const PODS: usize = 50;

/// Hands out a scripted manifest; publishes every report.
struct Plane {
    manifest: watch::Sender<NodeManifest>,
    reports: watch::Sender<NodeStatusReport>,
}

fn not_member<T>() -> ControlPlaneResult<T> {
    Err(ControlPlaneError::Unreachable(
        "not in this bench".to_owned(),
    ))
}

#[async_trait]
impl ControlPlane for Plane {
    async fn register_node(&self, name: &str, _: NodeRegistration) -> ControlPlaneResult<Node> {
        let mut node = Node::default();
        node.meta.name = name.to_owned();
        Ok(node)
    }

    async fn node_status(&self, _: &str, report: NodeStatusReport) -> ControlPlaneResult<Ack> {
        self.reports.send_replace(report);
        Ok(Ack::default())
    }

    async fn node_manifest(
        &self,
        _: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<NodeManifest> {
        let mut rx = self.manifest.subscribe();
        if let Some(after) = after {
            let _ = tokio::time::timeout(wait, rx.wait_for(|m| m.revision > after)).await;
        }
        let manifest = rx.borrow().clone();
        Ok(manifest)
    }

    async fn register_member(&self, _: Kind, _: &str, _: MemberReport) -> ControlPlaneResult<()> {
        not_member()
    }

    async fn member_status(&self, _: Kind, _: &str, _: MemberReport) -> ControlPlaneResult<Ack> {
        not_member()
    }

    async fn ingress_manifest(
        &self,
        _: &str,
        _: Option<Revision>,
        _: Duration,
    ) -> ControlPlaneResult<IngressManifest> {
        not_member()
    }

    async fn discovery_manifest(
        &self,
        _: &str,
        _: Option<Revision>,
        _: Duration,
    ) -> ControlPlaneResult<DiscoveryManifest> {
        not_member()
    }
}

/// Removes the containers carrying `label` when dropped.
struct Sweep(String);

impl Drop for Sweep {
    fn drop(&mut self) {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label={}", self.0)])
            .output();
        if let Ok(out) = out {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("docker").args(["rm", "-f", id]).output();
            }
        }
    }
}

fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn count_running(label: &str) -> usize {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label={label}")])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .count()
}

fn baseline(tag: &str) -> Vec<Duration> {
    let _sweep = Sweep(format!("lbbench={tag}"));
    let mut times = Vec::new();
    for i in 0..PODS {
        let started = Instant::now();
        let out = Command::new("docker")
            .args(["run", "-d", "--label", &format!("lbbench={tag}")])
            .args(["--name", &format!("lbbench-{tag}-{i}"), offline::BUSYBOX])
            .args(["httpd", "-f", "-p", "8080"])
            .output()
            .expect("docker run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        times.push(started.elapsed());
    }
    times.sort();
    times
}

fn pod(node: &str) -> PodSpec {
    PodSpec {
        node: Some(node.to_owned()),
        template: Template {
            containers: vec![Container {
                name: "httpd".to_owned(),
                image: Image {
                    name: offline::BUSYBOX.to_owned(),
                    ..Image::default()
                },
                exec: Exec {
                    command: ["httpd", "-f", "-p", "8080"].map(str::to_owned).to_vec(),
                    ..Exec::default()
                },
                ..Container::default()
            }],
            volumes: Vec::new(),
        },
        ..PodSpec::default()
    }
}

async fn agent_latencies(docker: &DockerRuntime, node: &str) -> Vec<Duration> {
    let _sweep = Sweep(format!("{LABEL_NODE}={node}"));
    let storage = tempfile::tempdir().unwrap();
    let plane = Arc::new(Plane {
        manifest: watch::channel(NodeManifest::default()).0,
        reports: watch::channel(NodeStatusReport::default()).0,
    });
    let mut reports = plane.reports.subscribe();
    let agent = Agent::new(
        plane.clone(),
        Arc::new(docker.clone()),
        Arc::new(docker.clone()),
        Arc::new(DirCsi::new(storage.path())),
        AgentSettings::new(node).status_interval(Duration::from_secs(5)),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));
    let mut times = Vec::new();
    for i in 0..PODS {
        let link = format!("bench:svc:d_v1:{i:07x}");
        let started = Instant::now();
        plane.manifest.send_modify(|m| {
            m.pods.insert(link.clone(), pod(node));
            m.revision += 1;
        });
        reports
            .wait_for(|r| r.pods.get(&link).is_some_and(|p| p.running))
            .await
            .unwrap();
        times.push(started.elapsed());
    }
    let _ = stop.send(());
    let _ = task.await;
    times.sort();
    times
}

/// The `lastbackend` binary of this workspace, (re)built first: cargo
/// does not build another package's binary for a bench.
fn node_binary() -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-p",
            "lastbackend",
            "--bin",
            "lastbackend",
        ])
        .arg("--no-default-features")
        .current_dir(&root)
        .status()
        .ok()?;
    let bin = root.join("target/release/lastbackend");
    (status.success() && bin.exists()).then_some(bin)
}

/// Runs the real binary as the node of an in-process API and controller,
/// starts a 50-replica service and reads the agent's VmRSS in kB.
async fn agent_rss(node: &str) -> Option<u64> {
    let Some(bin) = node_binary() else {
        println!("SKIP rss: cannot build the lastbackend binary");
        return None;
    };
    let _sweep = Sweep(format!("{LABEL_NODE}={node}"));
    let api = Api::new(
        Store::new(Arc::new(MemoryStorage::new())),
        Settings::default(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        router(ApiState::new(api.clone(), None)),
        None,
        std::future::pending(),
    ));
    let store = api.store().clone();
    tokio::spawn(async move {
        let leadership = leader::campaign(store.storage().clone(), LeaderConfig::new("bench"));
        let manager = ControllerManager::new(store, manager::Settings::default());
        let _ = manager.run(leadership, std::future::pending()).await;
    });
    let storage = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args(["node", "--node-name", node, "--api-uri", &endpoint])
        .args(["--network-driver", "none", "--network-proxy", "none"])
        .arg("--container-storage-root")
        .arg(storage.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let ns = "bench";
    let text = format!("kind: Namespace\nversion: v1\nmeta: {{name: {ns}}}\n");
    let Manifest::Namespace(m) = manifest::parse(&text).unwrap().remove(0) else {
        unreachable!()
    };
    api.create_namespace(m).await.unwrap();
    let service = format!(
        "kind: Service\nversion: v1\nmeta:\n  name: web\nspec:\n  replicas: {PODS}\n  template:\n    containers:\n      - name: httpd\n        image:\n          name: {}\n        command: httpd -f -p 8080\n",
        offline::BUSYBOX
    );
    api.apply(ns, manifest::parse(&service).unwrap(), Default::default())
        .await
        .unwrap();
    let label = format!("{LABEL_NODE}={node}");
    let deadline = Instant::now() + Duration::from_secs(600);
    while count_running(&label) < PODS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Let it settle into its steady state: a few report cycles.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let running = count_running(&label);
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    println!("agent process with {running} pods running: VmRSS {rss:?} kB");
    api.remove_service(ns, "web").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while count_running(&label) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    (running == PODS).then_some(rss).flatten()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let docker = match DockerRuntime::connect().await {
            Ok(docker) => docker,
            Err(e) => return println!("SKIP: {e}"),
        };
        if let Err(e) = offline::import_busybox(&docker, offline::BUSYBOX).await {
            return println!("SKIP: {e}");
        }
        let tag = format!("{}", std::process::id());
        let base = baseline(&tag);
        let (b50, b99) = (percentile_ms(&base, 0.5), percentile_ms(&base, 0.99));
        println!("docker run -d, {PODS} containers one at a time: p50 {b50:.1} ms, p99 {b99:.1} ms");
        let agent = agent_latencies(&docker, &format!("lbbench-{tag}")).await;
        let (a50, a99) = (percentile_ms(&agent, 0.5), percentile_ms(&agent, 0.99));
        println!("agent, manifest to running and reported, {PODS} pods one at a time: p50 {a50:.1} ms, p99 {a99:.1} ms");
        println!("target: agent p50 <= 1.2 x baseline + 50 ms = {:.1} ms", 1.2 * b50 + 50.0);
        println!("RESULT pod_start_p50_ms={a50:.1} baseline={b50:.1} ratio={:.2}", a50 / b50);
        println!("RESULT pod_start_p99_ms={a99:.1} baseline={b99:.1} ratio={:.2}", a99 / b99);
        if let Some(rss) = agent_rss(&format!("lbrss-{tag}")).await {
            let mb = rss as f64 / 1024.0;
            // The baseline is the target (20 MB); k3s' agent uses 275 MB.
            println!("RESULT agent_rss_mb_50_pods={mb:.1} baseline=20.0 ratio={:.2}", mb / 20.0);
        }
    });
}
