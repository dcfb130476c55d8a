//! The node agent on the real Docker Engine: probes and static pods, which
//! the agent's unit tests check against the recording fakes only. The agent
//! runs in process with the Docker driver and the `dir` volume driver under
//! a scripted control plane; what it did is read back from the engine.
//!
//! The API, the controller and the `lastbackend node` binary around the same
//! paths are `daemons/tests/node_docker.rs`'s; this is the agent alone, so a
//! failure here points at the agent or the driver.
//!
//! Without an engine (or busybox-static) the tests are skipped with a
//! message; under `CI=true` they fail.
#![cfg(feature = "docker")]

#[path = "support/skip.rs"]
mod skip;
#[path = "support/docker.rs"]
mod support;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lastbackend_core::api::types::{Ack, MemberReport, NodeRegistration, NodeStatusReport};
use lastbackend_core::api::{ControlPlane, ControlPlaneError, ControlPlaneResult};
use lastbackend_core::manifest::internal::{DiscoveryManifest, IngressManifest, NodeManifest};
use lastbackend_core::model::{
    Container, Exec, Image, Kind, Node, PodSpec, PodStatus, Probe, ProbeAction, Probes, Template,
};
use lastbackend_core::storage::Revision;
use lastbackend_runtime::agent::{Agent, AgentSettings, LABEL_NODE, LABEL_POD, LABEL_STATIC};
use lastbackend_runtime::csi::dir::DirCsi;
use lastbackend_runtime::docker::{DockerRuntime, offline};
use lastbackend_runtime::{ContainerFilter, ContainerInfo, Cri, LogOptions};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use support::{Scope, cli_inspect, docker, eventually, random};

/// A control plane that hands out a scripted manifest and keeps every
/// report.
struct Plane {
    manifest: watch::Sender<NodeManifest>,
    reports: Mutex<Vec<NodeStatusReport>>,
}

fn not_a_node_call<T>() -> ControlPlaneResult<T> {
    Err(ControlPlaneError::Unreachable(
        "not a node agent's call".to_owned(),
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
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(report);
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
            // A long poll that ends without a change answers the same
            // manifest, as the API does.
            let _ = tokio::time::timeout(wait, rx.wait_for(|m| m.revision > after)).await;
        }
        let manifest = rx.borrow().clone();
        Ok(manifest)
    }

    async fn register_member(&self, _: Kind, _: &str, _: MemberReport) -> ControlPlaneResult<()> {
        not_a_node_call()
    }

    async fn member_status(&self, _: Kind, _: &str, _: MemberReport) -> ControlPlaneResult<Ack> {
        not_a_node_call()
    }

    async fn ingress_manifest(
        &self,
        _: &str,
        _: Option<Revision>,
        _: Duration,
    ) -> ControlPlaneResult<IngressManifest> {
        not_a_node_call()
    }

    async fn discovery_manifest(
        &self,
        _: &str,
        _: Option<Revision>,
        _: Duration,
    ) -> ControlPlaneResult<DiscoveryManifest> {
        not_a_node_call()
    }
}

/// An agent on the real engine, its containers removed when dropped.
struct Harness {
    name: String,
    docker: DockerRuntime,
    plane: Arc<Plane>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _volumes: tempfile::TempDir,
    _scope: Scope,
}

impl Drop for Harness {
    fn drop(&mut self) {
        // A test that failed never reached `stop`: the agent must not
        // recreate what the scope sweeps next. The test runtime has one
        // thread, so the aborted task is not polled again.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Harness {
    /// Starts an agent with `settings` applied to the defaults, or `None`
    /// when there is no engine (outside CI).
    async fn start(settings: impl FnOnce(AgentSettings) -> AgentSettings) -> Option<Self> {
        let docker = docker().await?;
        let scope = Scope::new();
        let name = scope.name("node");
        scope.sweep(LABEL_NODE, &name);
        let volumes = tempfile::tempdir().unwrap();
        let plane = Arc::new(Plane {
            manifest: watch::channel(NodeManifest::default()).0,
            reports: Mutex::default(),
        });
        // A report every second keeps the waits short; a liveness stop
        // needs no grace, httpd as pid 1 ignores SIGTERM anyway.
        let defaults = AgentSettings::new(&name)
            .status_interval(Duration::from_secs(1))
            .stop_timeout(Duration::from_secs(1));
        let agent = Agent::new(
            plane.clone(),
            Arc::new(docker.clone()),
            Arc::new(docker.clone()),
            Arc::new(DirCsi::new(volumes.path())),
            settings(defaults),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(agent.run(async {
            // A dropped sender stops the agent as well.
            let _ = stopped.await;
        }));
        Some(Self {
            name,
            docker,
            plane,
            stop: Some(stop),
            task: Some(task),
            _volumes: volumes,
            _scope: scope,
        })
    }

    /// Runs `pod` as `link`.
    fn run(&self, link: &str, pod: PodSpec) {
        self.plane.manifest.send_modify(|m| {
            m.pods.insert(link.to_owned(), pod);
            m.revision += 1;
        });
    }

    /// How many reports the agent sent so far; fails when the agent
    /// stopped on its own, which is a panic or an error nobody waits for.
    fn reports(&self) -> usize {
        let task = self.task.as_ref().expect("the agent runs");
        assert!(!task.is_finished(), "the agent stopped on its own");
        self.plane
            .reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The pod's status in the latest report.
    fn last_pod(&self, link: &str) -> Option<PodStatus> {
        self.reports();
        let reports = self
            .plane
            .reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        reports.last().and_then(|r| r.pods.get(link).cloned())
    }

    /// Waits for a report sent after this call, and returns the pod's
    /// status in it.
    async fn next_report(&self, link: &str) -> Option<PodStatus> {
        let seen = self.reports();
        eventually("a new report", || async {
            (self.reports() > seen).then_some(())
        })
        .await;
        self.last_pod(link)
    }

    /// The pod's containers as the engine lists them, exited ones included.
    async fn containers(&self, link: &str) -> Vec<ContainerInfo> {
        let filter = ContainerFilter {
            labels: [(LABEL_NODE, self.name.as_str()), (LABEL_POD, link)]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            all: true,
        };
        self.docker.list(&filter).await.unwrap()
    }

    /// Everything the container wrote so far.
    async fn logs(&self, id: &str) -> String {
        let lines = self.docker.logs(id, LogOptions::default()).await.unwrap();
        lines
            .map(|line| String::from_utf8_lossy(&line.unwrap().data).into_owned())
            .collect()
            .await
    }

    /// Creates `path` in the container.
    async fn touch(&self, id: &str, path: &str) {
        let command = ["touch".to_owned(), path.to_owned()];
        let out = self.docker.exec(id, &command).await.unwrap();
        assert_eq!(out.exit_code, 0, "touch {path}: {out:?}");
    }

    /// Stops the agent; a panic in it fails the test here.
    async fn stop(mut self) {
        drop(self.stop.take());
        self.task.take().unwrap().await.expect("the agent's task");
    }
}

/// A pod link unique to this run: the agent names containers after it, and
/// container names are global to the engine.
fn link() -> String {
    format!("demo:web:d_v1:{:07x}", random() & 0xfff_ffff)
}

/// A pod of one busybox container `web` running `sh -c script`.
fn pod(script: &str, probes: Probes) -> PodSpec {
    PodSpec {
        template: Template {
            containers: vec![Container {
                name: "web".to_owned(),
                image: Image {
                    name: offline::BUSYBOX.to_owned(),
                    ..Image::default()
                },
                exec: Exec {
                    command: vec!["sh".into(), "-c".into(), script.into()],
                    ..Exec::default()
                },
                probes,
                ..Container::default()
            }],
            volumes: Vec::new(),
        },
        ..PodSpec::default()
    }
}

/// A probe checking every second.
fn every_second(action: ProbeAction, failure_threshold: u32) -> Probe {
    let mut probe = Probe::new(action);
    probe.period = 1;
    probe.failure_threshold = failure_threshold;
    probe
}

/// The pod's one container once the engine runs it.
async fn running(node: &Harness, link: &str) -> ContainerInfo {
    eventually("the engine runs the pod's container", || async {
        let mut containers = node.containers(link).await;
        let running = containers.len() == 1 && containers[0].state.is_running();
        running.then(|| containers.remove(0))
    })
    .await
}

#[tokio::test]
async fn a_failing_readiness_probe_keeps_the_pod_unready_until_it_passes() {
    let Some(node) = Harness::start(|s| s).await else {
        return;
    };
    let link = link();
    // `-v` logs every request with its response code: the test counts the
    // probe's failures from the engine's side.
    let readiness = every_second(
        ProbeAction::Http {
            port: 8080,
            path: "/ready".into(),
        },
        1,
    );
    node.run(
        &link,
        pod(
            "exec httpd -f -v -p 8080 -h /www",
            Probes {
                liveness: None,
                readiness: Some(readiness),
            },
        ),
    );
    let web = running(&node, &link).await;

    eventually("three probes answered 404", || async {
        (node.logs(&web.id).await.matches("response:404").count() >= 3).then_some(())
    })
    .await;
    let status = node.next_report(&link).await.expect("the pod is reported");
    assert!(
        status.running && !status.ready && !status.containers["web"].ready,
        "ready although its probe failed: {status:?}"
    );

    node.touch(&web.id, "/www/ready").await;
    let status = eventually("the pod reported ready", || async {
        node.last_pod(&link).filter(|s| s.ready)
    })
    .await;
    assert!(
        status.running && status.containers["web"].ready,
        "{status:?}"
    );
    assert_eq!(status.containers["web"].id, web.id);
    let ip = node.docker.inspect(&web.id).await.unwrap().ip;
    assert_eq!(status.network.pod_ip, ip, "probed on its address");
    assert!(node.logs(&web.id).await.contains("response:200"));
    node.stop().await;
}

#[tokio::test]
async fn a_failing_liveness_probe_restarts_the_container() {
    let Some(node) = Harness::start(|s| s.restart_backoff(Duration::from_secs(1))).await else {
        return;
    };
    let link = link();
    // Each start clears the fault, so the restarted container is healthy.
    // A probe may still run before the shell does and count against the
    // new start: the test asks for a restart, not for exactly one.
    let liveness = every_second(
        ProbeAction::Exec {
            command: ["sh", "-c", "test ! -e /tmp/sick"]
                .map(String::from)
                .to_vec(),
        },
        2,
    );
    node.run(
        &link,
        pod(
            "echo started; rm -f /tmp/sick; exec httpd -f -p 8080 -h /www",
            Probes {
                liveness: Some(liveness),
                readiness: None,
            },
        ),
    );
    let web = running(&node, &link).await;
    let first_start = cli_inspect(&web.id)["State"]["StartedAt"].clone();
    eventually("the pod reported ready", || async {
        node.last_pod(&link).filter(|s| s.ready)
    })
    .await;

    node.touch(&web.id, "/tmp/sick").await;
    eventually("the engine restarted the container", || async {
        let state = cli_inspect(&web.id)["State"].clone();
        (state["Running"] == true && state["StartedAt"] != first_start).then_some(())
    })
    .await;
    // The engine says "started" before the shell has run its first line:
    // the second start shows in the log once it has.
    eventually("the restarted container logged its start", || async {
        let starts = node.logs(&web.id).await.matches("started").count();
        (starts >= 2).then_some(())
    })
    .await;
    let containers = node.containers(&link).await;
    assert_eq!(
        containers.iter().map(|c| &c.id).collect::<Vec<_>>(),
        [&web.id],
        "restarted in place, not recreated"
    );
    let status = eventually("the restart reported", || async {
        node.last_pod(&link)
            .filter(|s| s.ready && s.containers["web"].restarts >= 1)
    })
    .await;
    assert_eq!(status.containers["web"].id, web.id);
    node.stop().await;
}

#[tokio::test]
async fn a_static_pod_runs_on_the_engine_until_its_file_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("static-{:07x}", random() & 0xfff_ffff);
    let file = dir.path().join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "kind: Service\nversion: v1\nmeta:\n  name: {name}\nspec:\n  template:\n    \
             containers:\n      - name: server\n        image:\n          name: {}\n        \
             command: sleep 1000\n",
            offline::BUSYBOX
        ),
    )
    .unwrap();
    let Some(node) = Harness::start(|s| s.manifest_dir(dir.path())).await else {
        return;
    };
    let link = format!("static:{name}");
    let server = running(&node, &link).await;
    assert_eq!(server.name, format!("lb-static-{name}-server"));
    assert_eq!(server.labels[LABEL_STATIC], "true");
    let reported = node.next_report(&link).await;
    assert!(
        reported.is_none(),
        "a static pod is not the cluster's to know: {reported:?}"
    );

    std::fs::remove_file(&file).unwrap();
    eventually("the static pod's container removed", || async {
        node.containers(&link).await.is_empty().then_some(())
    })
    .await;
    node.stop().await;
}
