//! What the end-to-end tests (`quick_start`, `cluster_drills`,
//! `node_docker`, `up`) share: checking the machine has what they run,
//! skipping (or failing under `CI=true`) when it has not, where the built
//! binaries are, free ports, and the containers a node runs on Docker.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A program or file a test runs with.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// The test runs as root (nftables, HAProxy on low ports).
    Root,
    /// A Docker Engine answering `docker info`.
    Docker,
    /// HAProxy, where the ingress looks for it.
    Haproxy,
    /// Debian's busybox-static (the offline images).
    Busybox,
    /// A program that answers `<name> <arg>` with success.
    Program(&'static str, &'static str),
}

/// Why the test cannot run here, if it cannot.
pub fn missing(needs: &[Need]) -> Option<String> {
    let ok = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    needs.iter().find_map(|need| match *need {
        Need::Root => {
            let root = Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
            (!root).then(|| "not root".to_owned())
        }
        Need::Docker => {
            (!ok("docker", &["info"])).then(|| "no Docker engine answers `docker info`".to_owned())
        }
        Need::Haproxy => (!["/usr/local/bin/haproxy", "/usr/sbin/haproxy"]
            .iter()
            .any(|p| Path::new(p).exists()))
        .then(|| "haproxy is not installed".to_owned()),
        Need::Busybox => (!Path::new("/bin/busybox").exists())
            .then(|| "busybox-static is not installed".to_owned()),
        Need::Program(program, arg) => {
            (!ok(program, &[arg])).then(|| format!("`{program}` is not installed"))
        }
    })
}

/// Skips with `reason`, or fails under `CI=true`, where every dependency
/// must be there (`.ci/install`); `what` names what the test needs.
pub fn skip(what: &str, reason: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} (.ci/install): {reason}"
    );
    eprintln!("skipped: {reason}");
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

/// The directory of the built `lastbackend`, where `lb` is built too.
pub fn bin_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_lastbackend"))
        .parent()
        .expect("target dir")
        .to_owned();
    assert!(
        dir.join("lb").exists(),
        "no `lb` next to the lastbackend binary: cargo build -p lastbackend-client --bin lb"
    );
    dir
}

/// The ids of the containers of `node` (by the agent's label), running
/// ones only unless `all`.
pub fn node_containers(node: &str, all: bool) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            if all { "-aq" } else { "-q" },
            "--no-trunc",
            "--filter",
        ])
        .arg(format!("label=io.lastbackend.node={node}"))
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Removes the containers, running or not.
pub fn remove_containers(ids: &[String]) {
    for id in ids {
        let _ = Command::new("docker").args(["rm", "-f", id]).output();
    }
}

/// Waits until `check` holds, failing the test after `timeout`; returns
/// how long it took.
pub fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    start.elapsed()
}

/// SIGTERM to `pid`.
pub fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

/// A port nothing listens on just now, TCP and UDP, on every address.
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("0.0.0.0:0").expect("a TCP port");
        let port = tcp.local_addr().expect("its address").port();
        if std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}
