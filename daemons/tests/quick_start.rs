//! The README's quick start, for real: `lastbackend up` (the built binary,
//! on a fresh data directory, the README's default ports) with Docker,
//! HAProxy and nftables, then every line of the README's tested block run
//! by bash exactly as written, with `lb` on the PATH and the `export` line
//! `up` printed. Then what a pod sees (its resolver is discovery:
//! `nslookup` gives the service VIP, `wget` by name reaches the service
//! through the VIP), a restart of `up` (every object, the token and the
//! containers kept, none doubled), and removal (no container left, exited
//! ones included).
//!
//! Needs root, the Docker Engine, haproxy, nft, curl, dig and
//! busybox-static (`.ci/install`); skips with a reason without them, and
//! fails under `CI=true`.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/e2e.rs"]
mod e2e;

use e2e::{Need, bin_dir, eventually, repo_root};

/// The node name `up` runs its agent under; its containers carry it.
const NODE: &str = "quick-start";

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Docker,
    Need::Program("nft", "--version"),
    Need::Program("curl", "--version"),
    Need::Program("dig", "-v"),
    Need::Haproxy,
    Need::Busybox,
];

/// The lines of the README's tested quick-start block.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let start = readme
        .find("<!-- quick start: tested -->")
        .expect("the README marks its tested quick-start block");
    let block = &readme[start..];
    let open = block.find("```sh\n").expect("the block opens with ```sh") + "```sh\n".len();
    let close = block[open..].find("```").expect("the block closes");
    let commands: Vec<String> = block[open..open + close]
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert!(
        commands.len() >= 5,
        "the quick start lost its commands: {commands:?}"
    );
    commands
}

/// A running `lastbackend up`, stopped (and its node's containers removed
/// when `sweep`) when dropped.
struct Up {
    child: Child,
    /// `LB_API_URI` and `LB_ACCESS_TOKEN` as `up` printed them.
    env: Vec<(String, String)>,
    sweep: bool,
}

impl Up {
    fn start(data: &Path) -> Self {
        let log = std::fs::File::create(data.with_extension("log")).expect("the log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lastbackend"))
            .args(["up", "--node-name", NODE, "--data-dir"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("lastbackend up starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        let mut second = String::new();
        stdout.read_line(&mut first).expect("up's first line");
        stdout.read_line(&mut second).expect("up's second line");
        assert!(
            first.starts_with("lastbackend up: API ready at http://127.0.0.1:2967 in "),
            "up said {first:?}; its log: {}",
            std::fs::read_to_string(data.with_extension("log")).unwrap_or_default()
        );
        let env = second
            .trim()
            .strip_prefix("export ")
            .expect("up prints an export line")
            .split_whitespace()
            .map(|pair| {
                let (k, v) = pair.split_once('=').expect("NAME=value");
                (k.to_owned(), v.to_owned())
            })
            .collect();
        Self {
            child,
            env,
            sweep: true,
        }
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        self.sweep = false;
        signal_and_wait(&mut self.child);
    }

    fn token(&self) -> &str {
        &self
            .env
            .iter()
            .find(|(k, _)| k == "LB_ACCESS_TOKEN")
            .expect("token")
            .1
    }

    /// Runs one command line as the README's reader would.
    fn sh(&self, line: &str) -> String {
        let lb_dir = bin_dir();
        let path = format!(
            "{}:{}",
            lb_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = Command::new("bash")
            .args(["-o", "pipefail", "-ec", line])
            .current_dir(repo_root())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("PATH", path)
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "`{line}` failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if self.sweep {
            let _ = self.child.kill();
            let _ = self.child.wait();
            e2e::remove_containers(&containers());
        }
    }
}

fn signal_and_wait(child: &mut Child) {
    e2e::terminate(child.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "up exited with {status} on SIGTERM");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "up did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The ids of the node's containers, exited ones included: an exited
/// duplicate or leftover counts.
fn containers() -> Vec<String> {
    let mut ids = e2e::node_containers(NODE, true);
    ids.sort();
    ids
}

/// The ids of the node's running containers.
fn running() -> Vec<String> {
    let mut ids = e2e::node_containers(NODE, false);
    ids.sort();
    ids
}

fn docker_exec(id: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(["exec", id])
        .args(args)
        .output()
        .expect("docker exec");
    assert!(
        out.status.success(),
        "docker exec {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_readme_quick_start_works_and_survives_a_restart() {
    if let Some(reason) = e2e::missing(NEEDS) {
        return e2e::skip(
            "the quick-start test needs root, Docker, haproxy, nft, curl, dig and busybox-static",
            &reason,
        );
    }
    let data = tempfile::tempdir().expect("a temp dir");
    let data_dir = data.path().join("lastbackend");
    let up = Up::start(&data_dir);

    for line in readme_commands() {
        let out = up.sh(&line);
        eprintln!("$ {line}\n{out}");
    }
    assert_eq!(containers().len(), 2, "two replicas, two containers");
    assert_eq!(running(), containers(), "both run");

    // From inside a pod: discovery is its resolver, the name is the VIP,
    // and the VIP reaches the service.
    let vip: Ipv4Addr = up
        .sh("dig +short @127.0.0.1 2048.demo.lb.local")
        .trim()
        .parse()
        .expect("discovery answers the service name with an address");
    assert!(
        "10.96.0.0/16"
            .parse::<lastbackend_core::ipam::Ipv4Cidr>()
            .unwrap()
            .contains(vip),
        "the VIP {vip} is from --services-cidr"
    );
    let pod = containers().remove(0);
    let resolv = docker_exec(&pod, &["cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver"), "{resolv}");
    let looked_up = docker_exec(&pod, &["nslookup", "2048.demo.lb.local"]);
    assert!(
        looked_up.contains(&format!("Address: {vip}")),
        "nslookup in the pod:\n{looked_up}"
    );
    let page = docker_exec(&pod, &["wget", "-qO-", "http://2048.demo.lb.local/"]);
    assert!(page.contains("<title>2048</title>"), "{page}");

    // A restart keeps every object, the token and the containers.
    let token = up.token().to_owned();
    let before = containers();
    up.stop();
    assert_eq!(running(), before, "containers run on while up is down");
    let up = Up::start(&data_dir);
    assert_eq!(up.token(), token, "the generated token is kept");
    let inspect = up.sh("lb service inspect demo 2048");
    assert!(inspect.contains("State:     ready"), "{inspect}");
    // A scale is a manifest the new agent acts on after its first pass
    // over the adopted pods; `--wait` returns once the third pod is reported
    // ready, which the agent does at the end of a pass. A pass that doubled
    // or replaced a container has done so by then.
    up.sh("lb service scale demo 2048 3 --wait");
    let after = containers();
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        before.iter().all(|id| after.contains(id)),
        "the agent adopts its containers: none replaced or doubled \
         (before {before:?}, after {after:?})"
    );
    assert_eq!(running(), after, "all run");
    up.sh(
        "curl -fsS --retry 20 --retry-all-errors --retry-delay 1 -H 'Host: 2048.demo.example' \
         http://127.0.0.1/ | grep -q '<title>2048</title>'",
    );

    // Removing the namespace removes its containers.
    up.sh("lb namespace remove demo");
    eventually(
        "the namespace's containers are removed",
        Duration::from_secs(60),
        || containers().is_empty(),
    );
    up.stop();
}
