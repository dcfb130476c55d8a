//! Network namespaces as test hosts: created with `ip netns`, deleted by a
//! Drop guard even when the test panics, named with the pid and a counter
//! so parallel runs never meet.
//!
//! Without root or `ip` a test is skipped with a message, except under
//! `CI=true`, where it fails (`crate::skip`).
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::skip::skip;

/// Whether the real thing can run here; fails the test under `CI=true`
/// when not.
pub fn available() -> bool {
    let problem = if !nix::unistd::Uid::effective().is_root() {
        Some("not root".to_owned())
    } else {
        match Command::new("ip").args(["netns", "list"]).output() {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(format!(
                "`ip netns list` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => Some(format!("no `ip` (package iproute2): {e}")),
        }
    };
    match problem {
        None => true,
        Some(why) => {
            skip("the network namespace test (root and iproute2)", why);
            false
        }
    }
}

/// Runs `ip args…`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) -> String {
    match try_ip(args) {
        Ok(out) => out,
        Err(e) => panic!("ip {}: {e}", args.join(" ")),
    }
}

/// Runs `ip args…`.
pub fn try_ip(args: &[&str]) -> Result<String, String> {
    run("ip", args)
}

/// Runs a program, returning stdout or stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Polls `check` until it holds or `within` passes.
pub fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Namespaces deleted when dropped.
#[derive(Debug, Default)]
pub struct Namespaces {
    names: Vec<String>,
}

impl Namespaces {
    /// A new namespace with `lo` up; `role` makes its name readable.
    pub fn add(&mut self, role: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("lbt{}-{n}-{role}", std::process::id());
        ip(&["netns", "add", &name]);
        self.names.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        name
    }

    /// The namespace's path, for `setns`.
    pub fn path(name: &str) -> PathBuf {
        PathBuf::from(format!("/var/run/netns/{name}"))
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in self.names.iter().rev() {
            if let Err(e) = try_ip(&["netns", "del", name]) {
                eprintln!("cleanup: ip netns del {name}: {e}");
            }
        }
    }
}

/// Runs `f` on a thread inside namespace `name` (sockets opened there stay
/// there, whichever thread uses them later).
pub fn in_ns<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = Namespaces::path(name);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("thread in netns")
}
