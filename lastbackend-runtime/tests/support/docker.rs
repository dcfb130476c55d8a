//! The real Docker Engine for tests.
//!
//! [`docker`] connects and imports the offline busybox image; other crates'
//! tests copy it (about 20 lines). [`Scope`] names a test's containers,
//! networks and tags with a unique suffix and removes them when dropped, even
//! when the test panics: every container it specs carries the label
//! `io.lastbackend.test=<suffix>`, and the drop sweeps by that label with the
//! `docker` CLI (a synchronous drop cannot drive the async client).
//!
//! Without an engine (or busybox-static) a test is skipped with a message,
//! except under `CI=true`, where it fails (see `skip.rs`; a crate including
//! this module includes that one as `crate::skip`).
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lastbackend_core::model::RestartPolicy;
use lastbackend_runtime::docker::{DockerRuntime, offline};
use lastbackend_runtime::{ContainerSpec, Error};

use crate::skip::skip;

/// The label every test container carries, valued with its scope's suffix.
pub const TEST_LABEL: &str = "io.lastbackend.test";

/// How long [`eventually`] polls before failing: generous for a loaded
/// two-core machine.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The engine with [`offline::BUSYBOX`] imported, or `None` after saying
/// why; under `CI=true` a missing engine or busybox-static fails the test.
pub async fn docker() -> Option<DockerRuntime> {
    let docker = match DockerRuntime::connect().await {
        Ok(docker) => docker,
        Err(e) => {
            skip("the Docker test", format!("no Docker Engine: {e}"));
            return None;
        }
    };
    match offline::import_busybox(&docker, offline::BUSYBOX).await {
        Ok(_) => Some(docker),
        // Invalid: busybox-static is not installed.
        Err(e @ Error::Invalid { .. }) => {
            skip("the Docker test", e);
            None
        }
        Err(e) => panic!("importing the offline image: {e}"),
    }
}

/// A test's names, and the sweep of what carries them.
pub struct Scope {
    /// Unique to this scope: process id and a random part.
    pub suffix: String,
    /// `key=value` label filters of containers made by others (an agent).
    swept: Mutex<Vec<String>>,
    networks: Mutex<Vec<String>>,
    images: Mutex<Vec<String>>,
}

impl Scope {
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self {
            suffix: format!("{}-{n}-{:06x}", std::process::id(), random() & 0xff_ffff),
            swept: Mutex::default(),
            networks: Mutex::default(),
            images: Mutex::default(),
        }
    }

    /// `lb-test-<what>-<suffix>`.
    pub fn name(&self, what: &str) -> String {
        format!("lb-test-{what}-{}", self.suffix)
    }

    /// The label that sweeps this scope's containers.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(TEST_LABEL.to_owned(), self.suffix.clone())])
    }

    /// A busybox container named after `what` running `sh -c script`.
    pub fn spec(&self, what: &str, script: &str) -> ContainerSpec {
        let mut spec = ContainerSpec::new(self.name(what), offline::BUSYBOX);
        spec.command = vec!["sh".into(), "-c".into(), script.into()];
        spec.labels = self.labels();
        // The spec's default, always, would restart what a test lets exit.
        spec.restart = RestartPolicy::Never;
        spec
    }

    /// Removes the containers labelled `key=value` on drop, whoever made
    /// them.
    pub fn sweep(&self, key: &str, value: &str) {
        self.swept.lock().unwrap().push(format!("{key}={value}"));
    }

    /// Removes network `name` on drop.
    pub fn network(&self, name: &str) {
        self.networks.lock().unwrap().push(name.to_owned());
    }

    /// Removes image reference `reference` on drop.
    pub fn image(&self, reference: &str) {
        self.images.lock().unwrap().push(reference.to_owned());
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // Cleanup runs on the way out of a failed test too, so it reports
        // what it could not remove instead of panicking over the failure.
        let mut filters = vec![format!("{TEST_LABEL}={}", self.suffix)];
        filters.extend(self.swept.lock().unwrap().iter().cloned());
        for filter in filters {
            let ids = try_cli(&["ps", "-aq", "--filter", &format!("label={filter}")]);
            let ids = ids.unwrap_or_else(|e| {
                eprintln!("cleanup: {e}");
                String::new()
            });
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty()
                && let Err(e) = try_cli(&[&["rm", "-f", "-v"], ids.as_slice()].concat())
            {
                eprintln!("cleanup: {e}");
            }
        }
        for network in self.networks.lock().unwrap().iter() {
            if let Err(e) = try_cli(&["network", "rm", network]) {
                eprintln!("cleanup: {e}");
            }
        }
        // A test may have removed its image already: `rmi -f` of a missing
        // reference fails, and that is no leftover.
        for image in self.images.lock().unwrap().iter() {
            let _ = try_cli(&["rmi", "-f", image]);
        }
    }
}

/// Runs the `docker` CLI; its stdout, panicking with its stderr when it
/// fails.
pub fn cli(args: &[&str]) -> String {
    try_cli(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs the `docker` CLI; its stdout, or what it said on failure.
pub fn try_cli(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs (install docker.io)");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// `docker inspect <what>` parsed.
pub fn cli_inspect(what: &str) -> serde_json::Value {
    let json = cli(&["inspect", what]);
    let mut all: Vec<serde_json::Value> = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("docker inspect {what}: {e}: {json}"));
    assert_eq!(all.len(), 1, "docker inspect {what}");
    all.remove(0)
}

/// Polls `check` until it returns `Some`, failing after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A random number, for names and subnets.
pub fn random() -> u64 {
    RandomState::new().hash_one(std::time::SystemTime::now())
}
