//! Failure drills on a real cluster: `scripts/cluster` starts etcd, two
//! API servers, two controllers, discovery, ingress (HAProxy), exporter and
//! three node agents as separate processes on this machine's Docker; the
//! docs' 2048 service runs behind a route, and the drills are:
//!
//! 1. a node is lost (its agent SIGKILLed, its containers removed, as when
//!    the host dies): its pods run elsewhere, and every request through the
//!    ingress meanwhile succeeds within its 2 s timeout;
//! 2. the leading controller is SIGKILLed while a rollout waits for the new
//!    pods' readiness: the other takes over and the rollout completes;
//! 3. etcd restarts: every daemon stays up, every object is still there with
//!    the same value except what the drill itself changed, and a watch
//!    opened before the restart sees the next change;
//! 4. the service's template changes under a steady request loop through
//!    the ingress: not one request fails (blue/green).
//!
//! After each: every container of the cluster's nodes, exited ones
//! included, is the container a pod reports, running, one per pod (no
//! orphan, no duplicate). Before the drills: the controllers' leases have
//! the 3 s TTL `scripts/cluster` gives them. After them: `scripts/cluster
//! down` leaves no container, no process and no mount. No figure is
//! asserted: the times are printed. Needs root, Docker, etcd + etcdctl,
//! haproxy, curl and busybox-static (`.ci/install`); skips with the reason
//! without them and fails under `CI=true`.
#![cfg(feature = "etcd")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lastbackend_client::Client;
use lastbackend_core::api::types::WatchEvent;
use serde_json::Value;

#[path = "support/e2e.rs"]
mod e2e;

use e2e::{Need, bin_dir, eventually, repo_root};

const HOST: &str = "2048.demo.example";
const NODES: [&str; 3] = ["lb-node-1", "lb-node-2", "lb-node-3"];
const COMPONENTS: [&str; 10] = [
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
];
/// The readiness gate of drill 2's pods: they are not ready until the test
/// makes this file, so the rollout cannot finish before the leader dies.
const GATE: &str = "/ready";

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Docker,
    Need::Program("etcd", "--version"),
    Need::Program("etcdctl", "version"),
    Need::Program("curl", "--version"),
    Need::Haproxy,
    Need::Busybox,
];

/// Every key under the cluster's prefix (without it) and its value, read at
/// one revision.
type Snapshot = BTreeMap<String, Entry>;

#[derive(Debug)]
struct Entry {
    value: String,
    lease: i64,
}

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

    /// `etcdctl -w json <args>` against the cluster's etcd; fails the test
    /// with etcdctl's stderr when it fails.
    fn etcdctl(&self, args: &[&str]) -> Value {
        let out = Command::new("etcdctl")
            .args(["--endpoints", &self.env["LB_CLUSTER_ETCD"], "-w", "json"])
            .args(args)
            .env("ETCDCTL_API", "3")
            .output()
            .expect("etcdctl runs");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("etcdctl writes JSON")
    }

    fn root(&self) -> String {
        format!("/{}/", self.env["LB_CLUSTER_ETCD_PREFIX"])
    }

    /// Everything the cluster keeps in etcd.
    fn snapshot(&self) -> Snapshot {
        let root = self.root();
        let answer = self.etcdctl(&["get", "--prefix", &root]);
        let Some(kvs) = answer["kvs"].as_array() else {
            return Snapshot::new();
        };
        kvs.iter()
            .map(|kv| {
                let text = |field: &str| {
                    String::from_utf8(base64(kv[field].as_str().expect("a base64 field")))
                        .expect("UTF-8")
                };
                let key = text("key");
                let key = key
                    .strip_prefix(&root)
                    .expect("under the prefix")
                    .to_owned();
                let entry = Entry {
                    value: text("value"),
                    lease: kv["lease"].as_i64().unwrap_or(0),
                };
                (key, entry)
            })
            .collect()
    }

    /// The granted TTL of the lease `key` is attached to.
    fn lease_ttl(&self, snapshot: &Snapshot, key: &str) -> Duration {
        let lease = snapshot
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in etcd"))
            .lease;
        assert_ne!(lease, 0, "{key} has no lease");
        let answer = self.etcdctl(&["lease", "timetolive", &format!("{lease:x}")]);
        let ttl = answer["granted-ttl"].as_u64().expect("a granted TTL");
        Duration::from_secs(ttl)
    }

    /// The controller whose pid is in the lead key, if any.
    fn leader(&self, snapshot: &Snapshot) -> Option<&'static str> {
        let holder = json(snapshot, "system/controller/lead")?["holder"]
            .as_str()?
            .to_owned();
        ["controller-1", "controller-2"].into_iter().find(|c| {
            self.pid(c)
                .is_some_and(|pid| holder.ends_with(&format!(":{pid}")))
        })
    }

    /// `Ok` once the cluster is settled with `replicas` pods of the service:
    /// each ready and reporting its one container, and the containers of
    /// the cluster's nodes, exited ones included, exactly those, running
    /// on the pod's node. The agent removes every container of a pod it
    /// should not run, running or not, and restarts a wanted pod's exited
    /// container in place, so in a settled cluster there is no other.
    fn settled(&self, replicas: usize) -> Result<(), String> {
        let snapshot = self.snapshot();
        let pods = pods(&snapshot);
        if pods.len() != replicas {
            return Err(format!("{} pods, not {replicas}", pods.len()));
        }
        let mut reported = BTreeMap::new();
        for (link, pod) in &pods {
            let containers = pod["status"]["containers"].as_object();
            let ids: Vec<&str> = containers
                .into_iter()
                .flat_map(|c| c.values())
                .filter_map(|c| c["id"].as_str())
                .collect();
            if pod["status"]["ready"] != true || ids.len() != 1 {
                return Err(format!("pod {link} is not ready with one container: {pod}"));
            }
            let node = pod["spec"]["node"].as_str().unwrap_or_default().to_owned();
            reported.insert(ids[0].to_owned(), (link.clone(), node));
        }
        let containers = containers();
        let found: BTreeMap<String, (String, String)> = containers
            .iter()
            .map(|c| (c.id.clone(), (c.pod.clone(), c.node.clone())))
            .collect();
        if found != reported {
            return Err(format!(
                "the nodes' containers {containers:?} are not the pods' {reported:?}"
            ));
        }
        match containers.iter().find(|c| c.state != "running") {
            Some(c) => Err(format!("container {c:?} is not running")),
            None => Ok(()),
        }
    }

    /// Waits for [`Cluster::settled`]: removal and restarts are
    /// asynchronous, and the pods report what their agents found.
    fn settles(&self, replicas: usize, drill: &str) {
        until(
            &format!("{drill}: every container a pod's, one each"),
            Duration::from_secs(120),
            || self.settled(replicas),
        );
    }

    /// `Ok` once the service runs `version` alone, all its pods ready.
    fn rolled_out_to(&self, version: &str) -> Result<(), String> {
        let snapshot = self.snapshot();
        let deployments = deployments(&snapshot);
        let service = json(&snapshot, "service/demo:2048").ok_or("no service")?;
        let deployment = deployments
            .get(version)
            .ok_or_else(|| format!("no {version} in {:?}", deployments.keys()))?;
        if deployments.len() != 1
            || service["status"]["active"] != version
            || deployment["status"]["state"] != "ready"
            || deployment["status"]["ready"] != deployment["spec"]["replicas"]
        {
            return Err(format!(
                "service {}, deployments {deployments:?}",
                service["status"]
            ));
        }
        Ok(())
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.route_port())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in COMPONENTS {
                let log = self.log(name);
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                eprintln!("--- {name} (last lines)");
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        // Best effort on the way out: the test checks `down` itself.
        let _ = Command::new(repo_root().join("scripts/cluster"))
            .arg("down")
            .arg(self.dir.path())
            .env("LB_BIN", bin_dir())
            .env("LB_CLUSTER_PORT", self.port.to_string())
            .status();
    }
}

/// A container of one of the cluster's nodes.
#[derive(Debug)]
struct NodeContainer {
    id: String,
    node: String,
    pod: String,
    state: String,
}

/// Every container of the cluster's nodes, exited ones included.
fn containers() -> Vec<NodeContainer> {
    NODES
        .iter()
        .flat_map(|node| e2e::node_containers(node, true))
        .map(|id| {
            let out = Command::new("docker")
                .args([
                    "inspect",
                    "--format",
                    "{{.State.Status}} {{index .Config.Labels \"io.lastbackend.node\"}} {{index .Config.Labels \"io.lastbackend.pod\"}}",
                    &id,
                ])
                .output()
                .expect("docker inspect");
            let text = String::from_utf8_lossy(&out.stdout);
            let mut fields = text.split_whitespace().map(str::to_owned);
            let mut field = || fields.next().unwrap_or_default();
            NodeContainer {
                state: field(),
                node: field(),
                pod: field(),
                id,
            }
        })
        .collect()
}

/// The value of `key` as JSON.
fn json(snapshot: &Snapshot, key: &str) -> Option<Value> {
    let entry = snapshot.get(key)?;
    Some(serde_json::from_str(&entry.value).expect("a JSON object"))
}

/// The service's pods, by self link.
fn pods(snapshot: &Snapshot) -> BTreeMap<String, Value> {
    snapshot
        .keys()
        .filter_map(|k| k.strip_prefix("pod/demo:2048:"))
        .map(|rest| {
            let key = format!("pod/demo:2048:{rest}");
            (key[4..].to_owned(), json(snapshot, &key).unwrap())
        })
        .collect()
}

/// The service's deployments, by name.
fn deployments(snapshot: &Snapshot) -> BTreeMap<String, Value> {
    snapshot
        .keys()
        .filter_map(|k| k.strip_prefix("deployment/demo:2048:"))
        .map(|name| {
            let key = format!("deployment/demo:2048:{name}");
            (name.to_owned(), json(snapshot, &key).unwrap())
        })
        .collect()
}

/// The containers of v2's pods that run but are not ready: their gate is
/// shut.
fn gated(snapshot: &Snapshot) -> Vec<String> {
    pods(snapshot)
        .into_iter()
        .filter(|(link, _)| link.starts_with("demo:2048:d_v2:"))
        .filter(|(_, pod)| pod["status"]["running"] == true && pod["status"]["ready"] == false)
        .filter_map(|(_, pod)| {
            pod["status"]["containers"]["web"]["id"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// Opens the gate of these containers.
fn open(ids: &[String]) {
    for id in ids {
        let out = Command::new("docker")
            .args(["exec", id, "touch", GATE])
            .output()
            .expect("docker exec");
        assert!(
            out.status.success(),
            "opening the gate in {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Standard base64, as etcdctl's JSON writes keys and values.
fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut bits, mut count, mut out) = (0u32, 0, Vec::new());
    for c in text.bytes().filter(|&c| c != b'=') {
        let digit = ALPHABET.iter().position(|&a| a == c).expect("base64");
        bits = (bits << 6) | digit as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// Waits until `check` is `Ok`, failing the test with its last error after
/// `timeout` (a guard against hanging, not a figure); returns how long it
/// took.
fn until(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<(), String>) -> Duration {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return start.elapsed(),
            Err(why) => assert!(
                start.elapsed() < timeout,
                "{what}: not within {timeout:?}: {why}"
            ),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Requests through the ingress, one after another, until finished.
struct Load {
    stop: Arc<AtomicBool>,
    /// Succeeded, and the failures' codes and curl errors.
    outcomes: Arc<Mutex<(usize, Vec<String>)>>,
    thread: std::thread::JoinHandle<()>,
}

impl Load {
    /// Each request may take 2 s in all (1 s to connect): a request
    /// stalled on a dead pod counts as failed, not as slow.
    fn start(url: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new((0, Vec::new())));
        let (stop2, outcomes2) = (stop.clone(), outcomes.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let out = Command::new("curl")
                    .args(["-sS", "--connect-timeout", "1", "--max-time", "2"])
                    .args(["-o", "/dev/null", "-w", "%{http_code}", "-H"])
                    .arg(format!("Host: {HOST}"))
                    .arg(&url)
                    .output()
                    .expect("curl runs");
                let code = String::from_utf8_lossy(&out.stdout).into_owned();
                let mut outcomes = outcomes2.lock().unwrap();
                if out.status.success() && code == "200" {
                    outcomes.0 += 1;
                } else {
                    outcomes.1.push(format!(
                        "{code} {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                drop(outcomes);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Self {
            stop,
            outcomes,
            thread,
        }
    }

    fn requests(&self) -> usize {
        let outcomes = self.outcomes.lock().unwrap();
        outcomes.0 + outcomes.1.len()
    }

    /// Waits for `n` more requests to be answered or to fail.
    fn more(&self, n: usize, what: &str) {
        let target = self.requests() + n;
        eventually(what, Duration::from_secs(120), || self.requests() >= target);
    }

    /// Stops and asserts that every request succeeded.
    fn finish(self, drill: &str) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the request loop ran to its end");
        let (ok, failed) = std::mem::take(&mut *self.outcomes.lock().unwrap());
        eprintln!(
            "{drill}: {} requests through the ingress, {} failed",
            ok + failed.len(),
            failed.len()
        );
        assert!(failed.is_empty(), "{drill}: requests failed: {failed:?}");
    }
}

/// The quick start's 2048 manifest with `VERSION=<version>` in its
/// template (a template change: a new deployment), its pods kept unready
/// by [`GATE`] if `gated`.
fn manifest(dir: &Path, version: &str, gated: bool) -> PathBuf {
    let base = std::fs::read_to_string(repo_root().join("examples/manifests/2048.yaml")).unwrap();
    let mut template = format!(
        "          name: lastbackend/2048:offline\n        env:\n          - name: VERSION\n            value: \"{version}\"\n"
    );
    if gated {
        template.push_str(&format!(
            "        probes:\n          readiness: {{exec: {{command: [cat, {GATE}]}}, period: 1}}\n"
        ));
    }
    let text = base.replace("          name: lastbackend/2048:offline\n", &template);
    assert_ne!(text, base, "the manifest's image line moved");
    let path = dir.join(format!("2048-{version}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The processes whose environment carries `scripts/cluster`'s mark for
/// the cluster in `dir`: the components and whatever they started.
fn cluster_processes(dir: &Path) -> Vec<String> {
    let mark = format!("LB_CLUSTER_DIR={}", dir.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.split(|&b| b == 0).any(|var| var == mark.as_bytes()) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
    }
    found
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

    eventually("three nodes online", Duration::from_secs(60), || {
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
    eventually("the route answers", Duration::from_secs(60), || {
        Command::new("curl")
            .args(["-fsS", "-m", "2", "-o", "/dev/null", "-H"])
            .arg(format!("Host: {HOST}"))
            .arg(cluster.url())
            .status()
            .is_ok_and(|s| s.success())
    });
    cluster.settles(2, "start");
    let snapshot = cluster.snapshot();
    assert_eq!(
        cluster.lease_ttl(&snapshot, "system/controller/lead"),
        Duration::from_secs(3),
        "the leading controller's lease (--lease-ttl 3)"
    );

    // 1. A node is lost.
    let victim_node = pods(&snapshot)
        .values()
        .next()
        .and_then(|pod| pod["spec"]["node"].as_str())
        .expect("a node runs a pod")
        .to_owned();
    let victim = victim_node.trim_start_matches("lb-").to_owned();
    let node_ttl = cluster.lease_ttl(&snapshot, &format!("node/lease/{victim_node}"));
    let load = Load::start(cluster.url());
    load.more(10, "node lost: requests before the loss");
    cluster.script(&["kill", &victim]);
    e2e::remove_containers(&e2e::node_containers(&victim_node, true));
    assert_eq!(
        e2e::node_containers(&victim_node, true),
        Vec::<String>::new(),
        "the lost node's containers are removed"
    );
    let took = until(
        "node lost: its pods run elsewhere",
        node_ttl + Duration::from_secs(60),
        || {
            cluster.settled(2)?;
            let snapshot = cluster.snapshot();
            if pods(&snapshot)
                .values()
                .any(|pod| pod["spec"]["node"] == victim_node.as_str())
            {
                return Err(format!("a pod is still on {victim_node}"));
            }
            Ok(())
        },
    );
    eprintln!("node lost: pods replaced in {took:?} (node heartbeat TTL {node_ttl:?})");
    // The ingress learns the new endpoints after the pods run.
    load.more(20, "node lost: requests after the replacement");
    load.finish("node lost");
    cluster.script(&["start", &victim]);
    eventually(
        "node lost: the node is back online",
        Duration::from_secs(60),
        || cluster.lb(&["node", "ls"]).matches(" online ").count() == 3,
    );
    cluster.settles(2, "node lost");

    // 2. The leading controller dies mid-rollout.
    cluster.lb(&[
        "namespace",
        "apply",
        "demo",
        "-f",
        manifest(&work, "2", true).to_str().unwrap(),
    ]);
    // In progress: v2 exists, its pods run but are not ready (the gate is
    // shut), v1 still takes the traffic.
    let in_progress = |snapshot: &Snapshot| -> Result<Vec<String>, String> {
        let service = json(snapshot, "service/demo:2048").ok_or("no service")?;
        let ids = gated(snapshot);
        let deployments = deployments(snapshot);
        match (deployments.get("v1"), deployments.get("v2")) {
            (Some(_), Some(v2))
                if service["status"]["active"] == "v1"
                    && v2["status"]["state"] != "ready"
                    && ids.len() == 2 =>
            {
                Ok(ids)
            }
            _ => Err(format!(
                "service {}, deployments {deployments:?}, gated {ids:?}",
                service["status"]
            )),
        }
    };
    until(
        "leader killed: the rollout waits on v2's readiness",
        Duration::from_secs(60),
        || in_progress(&cluster.snapshot()).map(drop),
    );
    let snapshot = cluster.snapshot();
    in_progress(&snapshot).expect("leader killed: still in progress right before the kill");
    let leader = cluster.leader(&snapshot).unwrap_or_else(|| {
        panic!(
            "no controller holds the lead: {:?}",
            json(&snapshot, "system/controller/lead")
        )
    });
    cluster.script(&["kill", leader]);
    // Read after the kill: whatever is in progress now, the dead leader
    // left in progress.
    let shut = in_progress(&cluster.snapshot())
        .unwrap_or_else(|why| panic!("leader killed: the rollout was not in progress: {why}"));
    open(&shut);
    let took = until(
        "leader killed: the rollout completes under the other controller",
        Duration::from_secs(120),
        || cluster.rolled_out_to("v2"),
    );
    eprintln!("leader killed: rollout completed {took:?} after the gate opened");
    let snapshot = cluster.snapshot();
    let new_leader = cluster.leader(&snapshot);
    assert!(
        new_leader.is_some() && new_leader != Some(leader),
        "the other controller leads: {:?}",
        json(&snapshot, "system/controller/lead")
    );
    assert_eq!(
        cluster.lease_ttl(&snapshot, "system/controller/lead"),
        Duration::from_secs(3),
        "the new leader's lease (--lease-ttl 3)"
    );
    cluster.script(&["start", leader]);
    cluster.settles(2, "leader killed");

    // 3. etcd restarts.
    let client = cluster.client();
    let services = client.namespace("demo").services();
    let listed = services.list().await.unwrap();
    let mut watch = services.watch(Some(listed.revision));
    let before = cluster.snapshot();
    cluster.script(&["stop", "etcd"]);
    // The outage itself: longer than 2/3 of the controllers' 3 s lease
    // TTL, so the leader steps down and campaigns again.
    std::thread::sleep(Duration::from_secs(3));
    cluster.script(&["start", "etcd"]);
    eventually("the API answers again", Duration::from_secs(60), || {
        Command::new(bin_dir().join("lb"))
            .args(["service", "ls", "demo"])
            .envs(&cluster.env)
            .output()
            .is_ok_and(|o| o.status.success())
    });
    for component in COMPONENTS {
        assert!(
            cluster.alive(component),
            "{component} died with etcd:\n{}",
            cluster.log(component)
        );
    }
    cluster.lb(&["service", "scale", "demo", "2048", "3"]);
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
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
    .expect("the watch sees the scale within 60 s");
    assert!(seen, "the watch ended");
    // The scale's new pod is one of v2's: gated too.
    until(
        "etcd restart: the new pod waits at its gate",
        Duration::from_secs(120),
        || match gated(&cluster.snapshot()) {
            ids if ids.len() == 1 => {
                open(&ids);
                Ok(())
            }
            ids => Err(format!("gated: {ids:?}")),
        },
    );
    cluster.settles(3, "etcd restart");
    let after = cluster.snapshot();
    let mut differ = Vec::new();
    for (key, was) in &before {
        let Some(now) = after.get(key) else {
            differ.push(format!("{key} is gone"));
            continue;
        };
        let same = match key.as_str() {
            // The scale: the service's replicas, its deployment's replicas
            // and ready count, its endpoint's new upstream.
            "service/demo:2048" | "deployment/demo:2048:v2" | "endpoint/demo:2048" => true,
            // The leader's lease outlives no outage of 2/3 of its TTL: it
            // steps down and a controller makes the key again.
            "system/controller/lead" => true,
            // A heartbeat key holds its lease's id; one whose lease ended
            // while etcd was down is made again with a new lease.
            k if k.contains("/lease/") => true,
            // The node the new pod lands on counts it.
            k if k.starts_with("node/info/") => {
                without_accounting(&was.value) == without_accounting(&now.value)
            }
            _ => was.value == now.value,
        };
        if !same {
            differ.push(format!("{key}: {} -> {}", was.value, now.value));
        }
    }
    let new: Vec<&String> = after
        .keys()
        .filter(|k| !before.contains_key(*k) && !k.starts_with("pod/demo:2048:d_v2:"))
        .collect();
    assert!(
        differ.is_empty() && new.is_empty(),
        "etcd restart: objects changed {differ:#?}, or appeared {new:?}"
    );
    eprintln!(
        "etcd restart: {} objects kept, {} pod added",
        before.len(),
        after.len() - before.len()
    );

    // 4. Blue/green under load.
    let load = Load::start(cluster.url());
    load.more(10, "blue/green: requests before the change");
    cluster.lb(&[
        "namespace",
        "apply",
        "demo",
        "-f",
        manifest(&work, "3", false).to_str().unwrap(),
    ]);
    let took = until(
        "blue/green: the rollout completes",
        Duration::from_secs(120),
        || cluster.rolled_out_to("v3"),
    );
    eprintln!("blue/green: rollout took {took:?}");
    cluster.settles(2, "blue/green");
    // The old pods' containers are gone; the ingress may still be updating.
    load.more(20, "blue/green: requests after the change");
    load.finish("blue/green");

    // `scripts/cluster down` leaves nothing of the cluster.
    assert!(
        !cluster_processes(&work).is_empty(),
        "scripts/cluster marks what it starts"
    );
    cluster.script(&["down"]);
    let left = containers();
    assert!(left.is_empty(), "down left containers: {left:?}");
    let left = cluster_processes(&work);
    assert!(left.is_empty(), "down left processes: {left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let left: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(&*work.to_string_lossy()))
        .collect();
    assert!(left.is_empty(), "down left mounts: {left:?}");
}

/// A node's object without what a pod landing on it changes.
fn without_accounting(value: &str) -> Value {
    let mut node: Value = serde_json::from_str(value).expect("a node");
    node["meta"]["updated"] = Value::Null;
    node["status"]["allocated"] = Value::Null;
    node
}
