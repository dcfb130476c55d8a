//! The agent's loop against the recording fakes and a scripted control
//! plane, on paused time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use lastbackend_core::api::types::{Ack, MemberReport, NodeRegistration, NodeStatusReport};
use lastbackend_core::api::{ControlPlane, ControlPlaneError, ControlPlaneResult};
use lastbackend_core::manifest::internal::{DiscoveryManifest, IngressManifest, NodeManifest};
use lastbackend_core::model::{
    Container, EnvSource, EnvVar, Exec, FilesRef, Image, KeyRef, Kind, Node, PodSpec, PodStatus,
    Probe, ProbeAction, Probes, SecretSpec, State, Template, TemplateVolume, VolumeMount,
    VolumeSource,
};
use lastbackend_core::storage::Revision;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::{
    Agent, AgentSettings, LABEL_CONTAINER, LABEL_HASH, LABEL_NODE, LABEL_POD, LABEL_STATIC,
};
use crate::cri::{ContainerSpec, ExecOutput, NetworkMode};
use crate::fake::{FakeCii, FakeCri, FakeCsi};
use crate::{ContainerState, Cri};

const NODE: &str = "node-1";
const POD: &str = "demo:web:d_v1:a1b2c3d";

/// A control plane that hands out a scripted manifest and keeps the
/// reports.
struct Plane {
    manifest: watch::Sender<NodeManifest>,
    reports: Mutex<Vec<NodeStatusReport>>,
    /// Fails every call while set.
    offline: AtomicBool,
}

impl Plane {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            manifest: watch::channel(NodeManifest::default()).0,
            reports: Mutex::new(Vec::new()),
            offline: AtomicBool::new(false),
        })
    }

    /// Changes the manifest and bumps its revision.
    fn set(&self, change: impl FnOnce(&mut NodeManifest)) {
        self.manifest.send_modify(|m| {
            change(m);
            m.revision += 1;
        });
    }

    fn last_pod(&self, link: &str) -> Option<PodStatus> {
        let reports = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        reports.last().and_then(|r| r.pods.get(link).cloned())
    }

    fn reports(&self) -> Vec<NodeStatusReport> {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn unsupported<T>() -> ControlPlaneResult<T> {
    Err(ControlPlaneError::Unreachable(
        "not a member call".to_owned(),
    ))
}

#[async_trait]
impl ControlPlane for Plane {
    async fn register_node(&self, name: &str, _r: NodeRegistration) -> ControlPlaneResult<Node> {
        if self.offline.load(Ordering::SeqCst) {
            return unsupported();
        }
        let mut node = Node::default();
        node.meta.name = name.to_owned();
        Ok(node)
    }

    async fn node_status(&self, _name: &str, report: NodeStatusReport) -> ControlPlaneResult<Ack> {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(report);
        Ok(Ack::default())
    }

    async fn node_manifest(
        &self,
        _name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> ControlPlaneResult<NodeManifest> {
        if self.offline.load(Ordering::SeqCst) {
            return unsupported();
        }
        let mut rx = self.manifest.subscribe();
        if let Some(after) = after {
            let _ = tokio::time::timeout(wait, rx.wait_for(|m| m.revision > after)).await;
        }
        let m = rx.borrow().clone();
        Ok(m)
    }

    async fn register_member(&self, _: Kind, _: &str, _: MemberReport) -> ControlPlaneResult<()> {
        unsupported()
    }

    async fn member_status(&self, _: Kind, _: &str, _: MemberReport) -> ControlPlaneResult<Ack> {
        unsupported()
    }

    async fn ingress_manifest(
        &self,
        _: &str,
        _: Option<Revision>,
        _: Duration,
    ) -> ControlPlaneResult<IngressManifest> {
        unsupported()
    }

    async fn discovery_manifest(
        &self,
        _: &str,
        _: Option<Revision>,
        _: Duration,
    ) -> ControlPlaneResult<DiscoveryManifest> {
        unsupported()
    }
}

/// A running agent over fakes.
struct Harness {
    plane: Arc<Plane>,
    cri: Arc<FakeCri>,
    cii: Arc<FakeCii>,
    csi: Arc<FakeCsi>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Harness {
    fn start(settings: AgentSettings) -> Self {
        Self::start_with(Plane::new(), Arc::new(FakeCri::new()), settings)
    }

    fn start_with(plane: Arc<Plane>, cri: Arc<FakeCri>, settings: AgentSettings) -> Self {
        let mut h = Self {
            plane,
            cri,
            cii: Arc::new(FakeCii::new()),
            csi: Arc::new(FakeCsi::new()),
            stop: None,
            task: None,
        };
        h.cii.add("busybox");
        h.spawn(settings);
        h
    }

    fn spawn(&mut self, settings: AgentSettings) {
        let agent = Agent::new(
            self.plane.clone(),
            self.cri.clone(),
            self.cii.clone(),
            self.csi.clone(),
            settings,
        );
        let (tx, rx) = oneshot::channel();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(agent.run(async {
            let _ = rx.await;
        })));
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// The fake's containers of a pod.
    fn pod(&self, link: &str) -> Vec<crate::fake::FakeContainer> {
        self.cri
            .containers()
            .into_values()
            .filter(|c| c.info.labels.get(LABEL_POD).map(String::as_str) == Some(link))
            .collect()
    }
}

fn settings() -> AgentSettings {
    AgentSettings::new(NODE).status_interval(Duration::from_secs(2))
}

/// Polls `check` for up to a minute of (paused) time.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

fn container(name: &str, command: &str) -> Container {
    Container {
        name: name.to_owned(),
        image: Image {
            name: "busybox".to_owned(),
            ..Image::default()
        },
        exec: Exec {
            command: command.split_whitespace().map(str::to_owned).collect(),
            ..Exec::default()
        },
        ..Container::default()
    }
}

fn pod(containers: Vec<Container>) -> PodSpec {
    PodSpec {
        node: Some(NODE.to_owned()),
        template: Template {
            containers,
            volumes: Vec::new(),
        },
        ..PodSpec::default()
    }
}

fn running(h: &Harness, link: &str, n: usize) -> bool {
    let pod = h.pod(link);
    pod.len() == n && pod.iter().all(|c| c.info.state.is_running())
}

#[tokio::test(start_paused = true)]
async fn creates_a_pod_as_containers_sharing_the_first_ones_network() {
    let mut h = Harness::start(settings());
    h.plane.set(|m| {
        m.pods.insert(
            POD.to_owned(),
            pod(vec![
                container("web", "httpd -f"),
                container("sidecar", "sleep 1000"),
            ]),
        );
    });
    until("both containers run", || running(&h, POD, 2)).await;
    let web = h
        .cri
        .by_name("lb-demo-web-a1b2c3d-web")
        .expect("named after the pod");
    let sidecar = h.cri.by_name("lb-demo-web-a1b2c3d-sidecar").unwrap();
    assert_eq!(web.spec.network, NetworkMode::Default);
    assert_eq!(
        sidecar.spec.network,
        NetworkMode::Container("lb-demo-web-a1b2c3d-web".to_owned())
    );
    assert_eq!(web.spec.command, ["httpd", "-f"]);
    for (c, name) in [(&web, "web"), (&sidecar, "sidecar")] {
        assert_eq!(c.info.labels[LABEL_NODE], NODE);
        assert_eq!(c.info.labels[LABEL_POD], POD);
        assert_eq!(c.info.labels[LABEL_CONTAINER], name);
        assert_eq!(c.info.labels[LABEL_HASH].len(), 16);
    }
    until("the pod is reported ready", || {
        h.plane.last_pod(POD).is_some_and(|s| s.ready && s.running)
    })
    .await;
    let status = h.plane.last_pod(POD).unwrap();
    assert_eq!(status.status.state, State::Ready);
    assert_eq!(status.network.pod_ip, web.info.ip);
    assert_eq!(status.containers["web"].id, web.info.id);
    assert_eq!(status.containers["sidecar"].state, State::Ready);
    let report = h.plane.reports().pop().unwrap();
    assert_eq!(report.allocated.pods, 1);
    assert_eq!(report.allocated.containers, 2);
    assert!(
        report.capacity.cpu.millis() >= 1000,
        "{:?}",
        report.capacity
    );
    assert!(report.capacity.ram.bytes() > 0);
    assert_eq!(report.drivers.cri.kind, "fake");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn leaves_unchanged_pods_alone_and_recreates_changed_ones() {
    let mut h = Harness::start(settings());
    h.plane.set(|m| {
        m.pods
            .insert(POD.to_owned(), pod(vec![container("web", "httpd -f")]));
    });
    until("the pod runs", || running(&h, POD, 1)).await;
    let first = h.pod(POD).remove(0);
    // A new revision that changes nothing else, and a few ticks.
    h.plane.set(|m| {
        m.endpoints
            .insert("demo:other".to_owned(), Default::default());
    });
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.cri.count("create"), 1, "{:?}", h.cri.calls());
    assert_eq!(h.pod(POD)[0].info.id, first.info.id);

    h.plane.set(|m| {
        m.pods.insert(
            POD.to_owned(),
            pod(vec![container("web", "httpd -f -p 81")]),
        );
    });
    until("the container is replaced", || {
        let pod = h.pod(POD);
        pod.len() == 1 && pod[0].info.id != first.info.id && pod[0].info.state.is_running()
    })
    .await;
    let second = h.pod(POD).remove(0);
    assert_eq!(second.spec.command, ["httpd", "-f", "-p", "81"]);
    assert_ne!(
        second.info.labels[LABEL_HASH],
        first.info.labels[LABEL_HASH]
    );
    assert!(!h.cri.containers().contains_key(&first.info.id));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn destroys_pods_asked_to_and_pods_gone_from_the_manifest() {
    let mut h = Harness::start(settings());
    let other = "demo:web:d_v1:bbbbbbb";
    h.plane.set(|m| {
        m.pods
            .insert(POD.to_owned(), pod(vec![container("web", "httpd -f")]));
        m.pods
            .insert(other.to_owned(), pod(vec![container("web", "httpd -f")]));
    });
    until("both pods run", || {
        running(&h, POD, 1) && running(&h, other, 1)
    })
    .await;
    h.plane.set(|m| {
        m.pods.get_mut(POD).unwrap().state.destroy = true;
        m.pods.remove(other);
    });
    until("both pods are gone", || h.cri.containers().is_empty()).await;
    until("the destroyed pod is reported destroyed", || {
        h.plane
            .last_pod(POD)
            .is_some_and(|s| s.status.state == State::Destroyed)
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_agent_adopts_its_containers_and_never_duplicates_them() {
    let mut h = Harness::start(settings());
    h.plane.set(|m| {
        m.pods.insert(
            POD.to_owned(),
            pod(vec![
                container("web", "httpd -f"),
                container("log", "sleep 9"),
            ]),
        );
    });
    until("the pod runs", || running(&h, POD, 2)).await;
    let before: Vec<String> = h.cri.containers().into_keys().collect();
    h.stop().await;
    h.spawn(settings());
    until("the new agent reports the pod", || {
        h.plane.reports().len() > 2 && h.plane.last_pod(POD).is_some_and(|s| s.ready)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after: Vec<String> = h.cri.containers().into_keys().collect();
    assert_eq!(before, after);
    assert_eq!(h.cri.count("create"), 2, "{:?}", h.cri.calls());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn foreign_containers_of_the_node_go_only_after_the_first_manifest() {
    let cri = Arc::new(FakeCri::new());
    let mut spec = ContainerSpec::new("lb-old", "busybox");
    spec.labels.insert(LABEL_NODE.to_owned(), NODE.to_owned());
    spec.labels
        .insert(LABEL_POD.to_owned(), "demo:gone:d_v1:0000000".to_owned());
    let id = cri.create(&spec).await.unwrap();
    cri.start(&id).await.unwrap();
    let mut other_node = ContainerSpec::new("someone-else", "busybox");
    other_node
        .labels
        .insert(LABEL_NODE.to_owned(), "node-2".to_owned());
    other_node
        .labels
        .insert(LABEL_POD.to_owned(), "demo:x:d_v1:1111111".to_owned());
    cri.create(&other_node).await.unwrap();

    let plane = Plane::new();
    plane.offline.store(true, Ordering::SeqCst);
    let mut h = Harness::start_with(plane.clone(), cri.clone(), settings());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        cri.by_name("lb-old").is_some(),
        "removed before any manifest"
    );
    plane.offline.store(false, Ordering::SeqCst);
    plane.set(|_| {});
    until("the orphan is removed", || cri.by_name("lb-old").is_none()).await;
    assert!(
        cri.by_name("someone-else").is_some(),
        "another node's container was touched"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn env_comes_from_values_secrets_and_configs() {
    let mut h = Harness::start(settings());
    let mut web = container("web", "httpd -f");
    web.env = vec![
        EnvVar {
            name: "PLAIN".into(),
            source: EnvSource::Value("1".into()),
        },
        EnvVar {
            name: "PASSWORD".into(),
            source: EnvSource::Secret(KeyRef {
                name: "db".into(),
                key: "password".into(),
            }),
        },
        EnvVar {
            name: "MODE".into(),
            source: EnvSource::Config(KeyRef {
                name: "app".into(),
                key: "mode".into(),
            }),
        },
    ];
    h.plane.set(|m| {
        m.pods.insert(POD.to_owned(), pod(vec![web]));
        m.configs
            .insert("demo:app".into(), config(&[("mode", "fast")]));
    });
    until("the missing secret is reported", || {
        h.plane.last_pod(POD).is_some_and(|s| {
            s.status.state == State::Error && s.status.message.contains("secret db not found")
        })
    })
    .await;
    assert_eq!(h.cri.count("create"), 0);
    h.plane.set(|m| {
        m.secrets
            .insert("demo:db".into(), secret(&[("password", "s3cret")]));
    });
    until("the pod runs", || running(&h, POD, 1)).await;
    let env = h.pod(POD)[0].spec.env.clone();
    assert_eq!(
        env,
        BTreeMap::from([
            ("MODE".to_owned(), "fast".to_owned()),
            ("PASSWORD".to_owned(), "s3cret".to_owned()),
            ("PLAIN".to_owned(), "1".to_owned()),
        ])
    );
    // A new value read into env needs a new container.
    let id = h.pod(POD)[0].info.id.clone();
    h.plane.set(|m| {
        m.secrets
            .insert("demo:db".into(), secret(&[("password", "rotated")]));
    });
    until("the container is replaced", || {
        h.pod(POD)
            .first()
            .is_some_and(|c| c.info.id != id && c.spec.env["PASSWORD"] == "rotated")
    })
    .await;
    h.stop().await;
}

fn secret(data: &[(&str, &str)]) -> SecretSpec {
    SecretSpec {
        data: data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..SecretSpec::default()
    }
}

fn config(data: &[(&str, &str)]) -> lastbackend_core::model::ConfigSpec {
    lastbackend_core::model::ConfigSpec {
        data: data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn secret_and_config_files_are_written_with_their_modes_and_updated_in_place() {
    let mut h = Harness::start(settings());
    let mut web = container("web", "httpd -f");
    web.volumes = vec![
        VolumeMount {
            name: "creds".into(),
            path: "/etc/creds".into(),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "conf".into(),
            path: "/etc/app".into(),
            ..VolumeMount::default()
        },
    ];
    let mut spec = pod(vec![web]);
    spec.template.volumes = vec![
        TemplateVolume {
            name: "creds".into(),
            source: VolumeSource::Secret(FilesRef {
                name: "db".into(),
                binds: BTreeMap::from([("password".to_owned(), "db-password".to_owned())]),
            }),
        },
        TemplateVolume {
            name: "conf".into(),
            source: VolumeSource::Config(FilesRef {
                name: "app".into(),
                binds: BTreeMap::new(),
            }),
        },
    ];
    h.plane.set(|m| {
        m.pods.insert(POD.to_owned(), spec);
        m.secrets.insert(
            "demo:db".into(),
            secret(&[("password", "s3cret"), ("user", "u")]),
        );
        m.configs.insert(
            "demo:app".into(),
            config(&[("a.conf", "x=1"), ("b.conf", "y=2")]),
        );
    });
    until("the pod runs", || running(&h, POD, 1)).await;
    let creds = h
        .csi
        .files("pod-demo_web_d_v1_a1b2c3d-creds")
        .expect("secret volume");
    assert_eq!(creds.len(), 1);
    assert_eq!(creds["db-password"], ("s3cret".into(), 0o400));
    let conf = h
        .csi
        .files("pod-demo_web_d_v1_a1b2c3d-conf")
        .expect("config volume");
    assert_eq!(conf["a.conf"], ("x=1".into(), 0o444));
    assert_eq!(conf["b.conf"].1, 0o444);
    let c = h.pod(POD).remove(0);
    let binds: Vec<_> = c
        .spec
        .binds
        .iter()
        .map(|b| {
            (
                b.host.display().to_string(),
                b.container.as_str(),
                b.read_only,
            )
        })
        .collect();
    assert!(
        binds.contains(&(
            "/fake/volumes/pod-demo_web_d_v1_a1b2c3d-creds".to_owned(),
            "/etc/creds",
            true
        )),
        "{binds:?}"
    );
    assert!(
        binds.contains(&(
            "/fake/volumes/pod-demo_web_d_v1_a1b2c3d-conf".to_owned(),
            "/etc/app",
            true
        )),
        "{binds:?}"
    );

    let writes = h.csi.count("write_files");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        h.csi.count("write_files"),
        writes,
        "unchanged files rewritten"
    );
    h.plane.set(|m| {
        m.secrets.insert(
            "demo:db".into(),
            secret(&[("password", "rotated"), ("user", "u")]),
        );
    });
    until("the file is rewritten", || {
        h.csi.files("pod-demo_web_d_v1_a1b2c3d-creds").unwrap()["db-password"].0 == "rotated"
    })
    .await;
    assert_eq!(
        h.pod(POD)[0].info.id,
        c.info.id,
        "a file change must not recreate the container"
    );

    h.plane.set(|m| {
        m.pods.remove(POD);
    });
    until("the pod's volumes are removed", || {
        h.csi.files("pod-demo_web_d_v1_a1b2c3d-creds").is_none()
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn images_are_pulled_when_missing_with_the_registry_secret() {
    let mut h = Harness::start(settings());
    let mut web = container("web", "httpd -f");
    web.image = Image {
        name: "registry.example.com/app:1".into(),
        secret: Some(KeyRef {
            name: "registry".into(),
            key: String::new(),
        }),
        ..Image::default()
    };
    h.plane.set(|m| {
        m.pods
            .insert(POD.to_owned(), pod(vec![web, container("side", "sleep 9")]));
        m.secrets.insert(
            "demo:registry".into(),
            secret(&[
                ("username", "bob"),
                ("password", "pw"),
                ("server", "registry.example.com"),
            ]),
        );
    });
    until("the pod runs", || running(&h, POD, 2)).await;
    let pulls = h.cii.pulls();
    assert_eq!(
        pulls.len(),
        1,
        "busybox is present and not pulled: {pulls:?}"
    );
    let (image, auth) = &pulls[0];
    assert_eq!(image, "registry.example.com/app:1");
    let auth = auth.as_ref().expect("credentials");
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        ("bob", "pw")
    );
    assert_eq!(auth.server.as_deref(), Some("registry.example.com"));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_pull_is_reported_and_retried() {
    let mut h = Harness::start(settings());
    let mut web = container("web", "httpd -f");
    web.image.name = "missing:1".into();
    h.cii.fail_pull(Some("manifest unknown"));
    h.plane.set(|m| {
        m.pods.insert(POD.to_owned(), pod(vec![web]));
    });
    until("the failure is reported", || {
        h.plane
            .last_pod(POD)
            .is_some_and(|s| s.status.message.contains("manifest unknown"))
    })
    .await;
    h.cii.fail_pull(None);
    until("the pod runs on a later pass", || running(&h, POD, 1)).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stopped_containers_restart_per_policy_with_backoff() {
    let mut h = Harness::start(settings().restart_backoff(Duration::from_secs(4)));
    h.plane.set(|m| {
        m.pods
            .insert(POD.to_owned(), pod(vec![container("web", "httpd -f")]));
    });
    until("the pod runs", || running(&h, POD, 1)).await;
    let id = h.pod(POD)[0].info.id.clone();
    h.cri.exit(&id, 137);
    until("restarted at once", || running(&h, POD, 1)).await;
    until("one restart reported", || {
        h.plane
            .last_pod(POD)
            .is_some_and(|s| s.containers["web"].restarts == 1 && s.ready)
    })
    .await;
    // The second crash in a row waits out the backoff.
    h.cri.exit(&id, 137);
    let crashed = tokio::time::Instant::now();
    until("the error is reported", || {
        h.plane.last_pod(POD).is_some_and(|s| {
            s.status.state == State::Error && s.containers["web"].exit_code == Some(137)
        })
    })
    .await;
    until("restarted again", || running(&h, POD, 1)).await;
    assert!(
        crashed.elapsed() >= Duration::from_secs(4),
        "{:?}",
        crashed.elapsed()
    );
    assert_eq!(h.pod(POD)[0].info.id, id, "restarted, not recreated");

    // `never` leaves it stopped.
    let mut never = container("web", "true");
    never.restart.policy = lastbackend_core::model::RestartPolicy::Never;
    let link = "demo:job:d_v1:ccccccc";
    h.plane.set(|m| {
        m.pods.insert(link.to_owned(), pod(vec![never]));
    });
    until("the job runs", || running(&h, link, 1)).await;
    h.cri.exit(&h.pod(link)[0].info.id, 0);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(matches!(
        h.pod(link)[0].info.state,
        ContainerState::Exited(0)
    ));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn static_pods_run_without_the_cluster_and_are_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dns.yaml"),
        "kind: Service\nversion: v1\nmeta:\n  name: dns\nspec:\n  template:\n    containers:\n      - name: server\n        image:\n          name: busybox\n        command: sleep 1000\n        env:\n          - name: A\n            value: '1'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.yaml"),
        "kind: Service\nversion: v1\n",
    )
    .unwrap();
    let mut h = Harness::start(settings().manifest_dir(dir.path()));
    until("the static pod runs", || running(&h, "static:dns", 1)).await;
    let c = h.pod("static:dns").remove(0);
    assert_eq!(c.info.name, "lb-static-dns-server");
    assert_eq!(c.info.labels[LABEL_STATIC], "true");
    assert_eq!(c.spec.env["A"], "1");
    // A cluster manifest without it keeps it, and never reports it.
    h.plane.set(|m| {
        m.pods
            .insert(POD.to_owned(), pod(vec![container("web", "httpd -f")]));
    });
    until("the cluster pod runs", || running(&h, POD, 1)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(running(&h, "static:dns", 1));
    assert!(
        h.plane
            .reports()
            .iter()
            .all(|r| r.pods.keys().all(|k| k == POD))
    );
    // Removing the file removes the pod.
    std::fs::remove_file(dir.path().join("dns.yaml")).unwrap();
    until("the static pod is removed", || {
        h.pod("static:dns").is_empty()
    })
    .await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn readiness_gates_the_pod_and_liveness_failure_restarts_the_container() {
    let mut h = Harness::start(settings());
    let mut web = container("web", "httpd -f");
    let exec = |cmd: &str| {
        let mut p = Probe::new(ProbeAction::Exec {
            command: vec![cmd.to_owned()],
        });
        p.period = 1;
        p.failure_threshold = 2;
        p
    };
    web.probes = Probes {
        liveness: Some(exec("alive")),
        readiness: Some(exec("ready")),
    };
    h.plane.set(|m| {
        m.pods.insert(POD.to_owned(), pod(vec![web]));
    });
    until("the pod runs", || running(&h, POD, 1)).await;
    let id = h.pod(POD)[0].info.id.clone();
    until("ready once the probe passed", || {
        h.plane.last_pod(POD).is_some_and(|s| s.ready)
    })
    .await;

    // Readiness fails (both probes run the same fake exec): not ready,
    // then liveness fails too and the container is stopped and restarted.
    h.cri.set_exec(
        &id,
        ExecOutput {
            exit_code: 1,
            ..ExecOutput::default()
        },
    );
    until("not ready", || {
        h.plane.last_pod(POD).is_some_and(|s| s.running && !s.ready)
    })
    .await;
    until("restarted by liveness", || {
        h.cri.count(&format!("stop {id}")) >= 1
    })
    .await;
    h.cri.set_exec(&id, ExecOutput::default());
    until("ready again after a restart", || {
        h.plane
            .last_pod(POD)
            .is_some_and(|s| s.ready && s.containers["web"].restarts >= 1)
    })
    .await;
    assert_eq!(h.pod(POD)[0].info.id, id);
    h.stop().await;
}
