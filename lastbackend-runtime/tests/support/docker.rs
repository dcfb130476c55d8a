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
//! except under `CI=true`, where it fails: CI must run the real thing.
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

/// The label every test container carries, valued with its scope's suffix.
pub const TEST_LABEL: &str = "io.lastbackend.test";

/// How long [`eventually`] polls before failing: generous for a loaded
/// two-core machine.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The engine with [`offline::BUSYBOX`] imported, or `None` after saying
/// why; under `CI=true` a missing engine or busybox-static panics.
pub async fn docker() -> Option<DockerRuntime> {
    let ci = std::env::var("CI").is_ok_and(|ci| ci == "true");
    let docker = match DockerRuntime::connect().await {
        Ok(docker) => docker,
        Err(e) if !ci => {
            eprintln!("skipped: no Docker Engine: {e}");
            return None;
        }
        Err(e) => panic!("CI=true needs a Docker Engine: {e}"),
    };
    match offline::import_busybox(&docker, offline::BUSYBOX).await {
        Ok(_) => Some(docker),
        Err(e @ Error::Invalid { .. }) if !ci => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("importing the offline image: {e}"),
    }
}

/// A test's names, and the sweep of what carries them.
pub struct Scope {
    /// Unique to this scope: process id and a random part.
    pub suffix: String,
    networks: Mutex<Vec<String>>,
    images: Mutex<Vec<String>>,
}

impl Scope {
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self {
            suffix: format!("{}-{n}-{:06x}", std::process::id(), random() & 0xff_ffff),
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
        let filter = format!("label={TEST_LABEL}={}", self.suffix);
        let ids = cli(&["ps", "-aq", "--filter", &filter]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            cli(&[&["rm", "-f", "-v"], ids.as_slice()].concat());
        }
        for network in self.networks.lock().unwrap().iter() {
            cli(&["network", "rm", network]);
        }
        for image in self.images.lock().unwrap().iter() {
            cli(&["rmi", "-f", image]);
        }
    }
}

/// Runs the `docker` CLI; its stdout (failures are the caller's to judge).
pub fn cli(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs (install docker.io)");
    String::from_utf8_lossy(&output.stdout).into_owned()
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
