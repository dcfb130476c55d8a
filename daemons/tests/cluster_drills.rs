//! Failure drills on a real cluster: `scripts/cluster` starts etcd, two
//! API servers, two controllers, discovery, ingress (HAProxy), exporter and
//! three node agents as separate processes on this machine's Docker; the
//! docs' 2048 service runs behind a route, and the drills are:
//!
//! 1. a node is lost (its agent SIGKILLed, its containers removed, as when
//!    the host dies): its pods run elsewhere within the heartbeat TTL + 10 s
//!    and every request through the ingress meanwhile succeeds;
//! 2. the leading controller is SIGKILLed mid-rollout: the other takes over
//!    and the rollout completes;
//! 3. etcd restarts: every daemon stays up, no object is lost, and a watch
//!    opened before the restart sees the next change;
//! 4. the service's template changes under a steady request loop through
//!    the ingress: not one request fails (blue/green).
//!
//! After each: every running container of the cluster's nodes is a pod the
//! API knows, and every pod has exactly one container (no orphan, no
//! duplicate). Needs root, Docker, etcd + etcdctl, haproxy, curl and
//! busybox-static (`.ci/install`); skips with the reason without them and
//! fails under `CI=true`.
#![cfg(feature = "etcd")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use lastbackend_client::Client;
use lastbackend_core::api::types::WatchEvent;

#[path = "support/e2e.rs"]
mod e2e;

use e2e::{Need, bin_dir, eventually, repo_root};

/// The API's node heartbeat TTL (`lastbackend_core::api::Settings`).
const NODE_TTL: Duration = Duration::from_secs(15);
const HOST: &str = "2048.demo.example";

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Docker,
    Need::Program("etcd", "--version"),
    Need::Program("etcdctl", "version"),
    Need::Program("curl", "--version"),
    Need::Haproxy,
    Need::Busybox,
];

/// The cluster `scripts/cluster` runs in `dir`; torn down when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    env: BTreeMap<String, String>,
}

impl Cluster {
    fn up() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        // Apart from a cluster someone runs at the default 24000.
        let port = 25000 + (std::process::id() % 40) as u16 * 100;
        let mut cluster = Self {
            dir,
            port,
            env: BTreeMap::new(),
        };
        cluster.script(&["up"]);
        let text = std::fs::read_to_string(cluster.dir.path().join("env")).expect("DIR/env");
        for pair in text.split_whitespace().filter(|word| *word != "export") {
            let (k, v) = pair.split_once('=').expect("NAME=value");
            cluster.env.insert(k.to_owned(), v.to_owned());
        }
        cluster
    }

    fn script(&self, args: &[&str]) {
        let mut command = Command::new(repo_root().join("scripts/cluster"));
        command
            .arg(args[0])
            .arg(self.dir.path())
            .args(&args[1..])
            .env("LB_BIN", bin_dir())
            .env("LB_CLUSTER_PORT", self.port.to_string());
        let out = command.output().expect("scripts/cluster runs");
        assert!(
            out.status.success(),
            "scripts/cluster {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn route_port(&self) -> u16 {
        self.port + 80
    }

    fn pid(&self, component: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join(format!("{component}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn alive(&self, component: &str) -> bool {
        self.pid(component)
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
    }

    fn log(&self, component: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{component}.log")))
            .unwrap_or_default()
    }

    /// `lb <args>` against api-1; fails the test when it fails.
    fn lb(&self, args: &[&str]) -> String {
        let out = Command::new(bin_dir().join("lb"))
            .args(args)
            .current_dir(repo_root())
            .envs(&self.env)
            .output()
            .expect("lb runs (cargo build -p lastbackend-client --bin lb)");
        assert!(
            out.status.success(),
            "lb {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn client(&self) -> Client {
        Client::builder()
            .endpoint(&self.env["LB_API_URI"])
            .token(&self.env["LB_ACCESS_TOKEN"])
            .build()
            .expect("a client")
    }

    /// `etcdctl get <flags> /<cluster prefix>/<key>` against the cluster's
    /// etcd.
    fn etcdctl_get(&self, flags: &[&str], key: &str) -> String {
        let out = Command::new("etcdctl")
            .args(["--endpoints", &self.env["LB_CLUSTER_ETCD"], "get"])
            .args(flags)
            .arg(format!("/{}/{key}", self.env["LB_CLUSTER_ETCD_PREFIX"]))
            .env("ETCDCTL_API", "3")
            .output()
            .expect("etcdctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The keys under `prefix` in the cluster's etcd, without the cluster's
    /// own prefix.
    fn etcd_keys(&self, prefix: &str) -> Vec<String> {
        let root = format!("/{}/", self.env["LB_CLUSTER_ETCD_PREFIX"]);
        self.etcdctl_get(&["--prefix", "--keys-only"], prefix)
            .lines()
            .filter_map(|l| l.strip_prefix(&root))
            .map(str::to_owned)
            .collect()
    }

    fn etcd_value(&self, key: &str) -> String {
        self.etcdctl_get(&["--print-value-only"], key)
            .trim()
            .to_owned()
    }

    /// The pods the API knows, by self link.
    fn pods(&self) -> Vec<String> {
        let mut pods: Vec<String> = self
            .etcd_keys("pod/")
            .into_iter()
            .filter_map(|k| k.strip_prefix("pod/").map(str::to_owned))
            .collect();
        pods.sort();
        pods
    }

    /// The pod link on each running container of the cluster's nodes.
    fn container_pods(&self) -> Vec<(String, String)> {
        let out = Command::new("docker")
            .args([
                "ps",
                "--format",
                "{{.Label \"io.lastbackend.node\"}} {{.Label \"io.lastbackend.pod\"}}",
            ])
            .output()
            .expect("docker ps");
        let mut found: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(node, _)| node.starts_with("lb-node-"))
            .map(|(node, pod)| (node.to_owned(), pod.to_owned()))
            .collect();
        found.sort();
        found
    }

    fn nodes_of_pods(&self) -> BTreeMap<String, String> {
        self.container_pods()
            .into_iter()
            .map(|(node, pod)| (pod, node))
            .collect()
    }

    /// Every container is a known pod and every pod has one container,
    /// `replicas` of them (within a minute: removal is asynchronous).
    fn settles(&self, replicas: usize, drill: &str) {
        eventually(
            &format!("{drill}: no orphan, no duplicate"),
            Duration::from_secs(60),
            || {
                let pods = self.pods();
                let mut containers: Vec<String> = self
                    .container_pods()
                    .into_iter()
                    .map(|(_, pod)| pod)
                    .collect();
                containers.sort();
                pods.len() == replicas && containers == pods
            },
        );
    }

    /// Requests through the ingress until `stop`, counting successes and
    /// failures (a 10 s client timeout, as a patient user's).
    fn load(
        &self,
        stop: Arc<AtomicBool>,
    ) -> (
        Arc<AtomicUsize>,
        Arc<AtomicUsize>,
        std::thread::JoinHandle<Vec<String>>,
    ) {
        let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let url = format!("http://127.0.0.1:{}/", self.route_port());
        let (ok2, failed2) = (ok.clone(), failed.clone());
        let handle = std::thread::spawn(move || {
            let mut errors = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let out = Command::new("curl")
                    .args([
                        "-sS",
                        "-m",
                        "10",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                        "-H",
                    ])
                    .arg(format!("Host: {HOST}"))
                    .arg(&url)
                    .output()
                    .expect("curl");
                let code = String::from_utf8_lossy(&out.stdout).into_owned();
                if out.status.success() && code == "200" {
                    ok2.fetch_add(1, Ordering::SeqCst);
                } else {
                    failed2.fetch_add(1, Ordering::SeqCst);
                    errors.push(format!(
                        "{code} {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            errors
        });
        (ok, failed, handle)
    }

    /// The deployments of the service, by name.
    fn deployments(&self) -> Vec<String> {
        self.etcd_keys("deployment/demo:2048:")
            .into_iter()
            .filter_map(|k| k.rsplit(':').next().map(str::to_owned))
            .collect()
    }

    fn rolled_out_to(&self, version: &str) -> bool {
        let inspect = self.lb(&["service", "inspect", "demo", "2048"]);
        self.deployments() == [version.to_owned()]
            && inspect.contains(&format!("Name:     {version}"))
            && inspect.matches(" ready ").count() >= 2
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in [
                "api-1",
                "controller-1",
                "controller-2",
                "ingress",
                "node-1",
                "node-2",
                "node-3",
            ] {
                let log = self.log(name);
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                eprintln!("--- {name} (last lines)");
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        let _ = Command::new(repo_root().join("scripts/cluster"))
            .arg("down")
            .arg(self.dir.path())
            .env("LB_BIN", bin_dir())
            .env("LB_CLUSTER_PORT", self.port.to_string())
            .status();
    }
}

/// The quick start's 2048 manifest with `VERSION=<version>` in its
/// template (a template change: a new deployment).
fn manifest(dir: &Path, version: &str) -> PathBuf {
    let base = std::fs::read_to_string(repo_root().join("examples/manifests/2048.yaml")).unwrap();
    let text = base.replace(
        "          name: lastbackend/2048:offline\n",
        &format!(
            "          name: lastbackend/2048:offline\n        env:\n          - name: VERSION\n            value: \"{version}\"\n"
        ),
    );
    assert_ne!(text, base, "the manifest's image line moved");
    let path = dir.join(format!("2048-{version}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drills_on_a_real_cluster() {
    if let Some(reason) = e2e::missing(NEEDS) {
        return e2e::skip(
            "the cluster drills need root, Docker, etcd, etcdctl, haproxy, curl and busybox-static",
            &reason,
        );
    }
    let build = Command::new(repo_root().join("examples/manifests/2048/build-image"))
        .output()
        .expect("build-image runs");
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let cluster = Cluster::up();
    let work = cluster.dir.path().to_owned();

    eventually("three nodes online", Duration::from_secs(30), || {
        cluster.lb(&["node", "ls"]).matches(" online ").count() == 3
    });
    cluster.lb(&["namespace", "create", "demo"]);
    cluster.lb(&[
        "namespace",
        "apply",
        "demo",
        "-f",
        "examples/manifests/2048.yaml",
        "--wait",
    ]);
    let port = cluster.route_port().to_string();
    cluster.lb(&[
        "route", "create", "demo", "2048", "-p", &port, "-d", HOST, "2048:80",
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    eventually("the route answers", Duration::from_secs(30), || {
        Command::new("curl")
            .args(["-fsS", "-m", "2", "-o", "/dev/null", "-H"])
            .arg(format!("Host: {HOST}"))
            .arg(format!("http://127.0.0.1:{port}/"))
            .status()
            .is_ok_and(|s| s.success())
    });
    cluster.settles(2, "start");

    // 1. A node is lost.
    let placed = cluster.nodes_of_pods();
    let victim_node = placed.values().next().expect("a node runs a pod").clone();
    let victim = victim_node.trim_start_matches("lb-").to_owned();
    let (ok, failed, loader) = cluster.load(stop.clone());
    cluster.script(&["kill", &victim]);
    e2e::remove_containers(&e2e::node_containers(&victim_node, true));
    let took = eventually(
        "the lost node's pods run elsewhere",
        NODE_TTL + Duration::from_secs(10),
        || {
            let now = cluster.nodes_of_pods();
            now.len() == 2 && now.values().all(|node| *node != victim_node)
        },
    );
    eprintln!("drill 1: pods replaced {took:?} after the node was lost");
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    let errors = loader.join().unwrap();
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed while the node was lost: {errors:?}"
    );
    assert!(ok.load(Ordering::SeqCst) > 0, "no request went through");
    cluster.script(&["start", &victim]);
    cluster.settles(2, "node lost");

    // 2. The leading controller dies mid-rollout.
    let lead = cluster.etcd_value("system/controller/lead");
    let leader = ["controller-1", "controller-2"]
        .into_iter()
        .find(|c| {
            cluster
                .pid(c)
                .is_some_and(|pid| lead.contains(&format!(":{pid}\"")))
        })
        .unwrap_or_else(|| panic!("no controller holds the lead: {lead}"));
    cluster.lb(&[
        "namespace",
        "apply",
        "demo",
        "-f",
        manifest(&work, "2").to_str().unwrap(),
    ]);
    eventually("the rollout starts", Duration::from_secs(10), || {
        cluster.deployments().contains(&"v2".to_owned())
    });
    cluster.script(&["kill", leader]);
    let took = eventually(
        "the rollout completes under the other controller",
        Duration::from_secs(60),
        || cluster.rolled_out_to("v2"),
    );
    let lead_after = cluster.etcd_value("system/controller/lead");
    assert_ne!(lead_after, lead, "another controller leads");
    eprintln!("drill 2: rollout completed {took:?} after the leader was killed");
    cluster.script(&["start", leader]);
    cluster.settles(2, "leader killed");

    // 3. etcd restarts.
    let client = cluster.client();
    let services = client.namespace("demo").services();
    let listed = services.list().await.unwrap();
    let mut watch = services.watch(Some(listed.revision));
    let objects_before = cluster.etcd_keys("").len();
    cluster.script(&["stop", "etcd"]);
    std::thread::sleep(Duration::from_secs(3));
    cluster.script(&["start", "etcd"]);
    eventually("the API answers again", Duration::from_secs(30), || {
        Command::new(bin_dir().join("lb"))
            .args(["service", "ls", "demo"])
            .envs(&cluster.env)
            .output()
            .is_ok_and(|o| o.status.success())
    });
    for component in [
        "api-1",
        "api-2",
        "controller-1",
        "controller-2",
        "discovery",
        "exporter",
        "ingress",
        "node-1",
        "node-2",
        "node-3",
    ] {
        assert!(
            cluster.alive(component),
            "{component} died with etcd:\n{}",
            cluster.log(component)
        );
    }
    cluster.lb(&["service", "scale", "demo", "2048", "3"]);
    let seen = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = watch.next().await {
            match event {
                Ok(WatchEvent::Updated { object, .. }) if object.spec.replicas == 3 => return true,
                Ok(_) => {}
                Err(error) => panic!("the watch failed across the etcd restart: {error}"),
            }
        }
        false
    })
    .await
    .expect("the watch sees the scale within 30 s");
    assert!(seen, "the watch ended");
    cluster.settles(3, "etcd restart");
    assert!(
        cluster.etcd_keys("").len() >= objects_before,
        "objects were lost across the etcd restart"
    );

    // 4. Blue/green under load.
    stop.store(false, Ordering::SeqCst);
    let (ok, failed, loader) = cluster.load(stop.clone());
    std::thread::sleep(Duration::from_secs(1));
    cluster.lb(&[
        "namespace",
        "apply",
        "demo",
        "-f",
        manifest(&work, "3").to_str().unwrap(),
    ]);
    let took = eventually(
        "the blue/green rollout completes",
        Duration::from_secs(90),
        || cluster.rolled_out_to("v3"),
    );
    cluster.settles(2, "blue/green");
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    let errors = loader.join().unwrap();
    eprintln!(
        "drill 4: rollout took {took:?}; {} requests, {} failed",
        ok.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst)
    );
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed during the rollout: {errors:?}"
    );
    assert!(ok.load(Ordering::SeqCst) >= 20, "too few requests to tell");
}
