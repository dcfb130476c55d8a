//! What an agent runs with besides its drivers.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use lastbackend_core::model::Labels;

/// The agent's settings; [`AgentSettings::new`] gives the defaults and the
/// builder methods change them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AgentSettings {
    /// The node's name in the cluster (its hostname by default).
    pub node: String,
    /// Node labels, merged over the stored ones at registration.
    pub labels: Labels,
    /// How often the agent reports (its heartbeat) and re-checks every pod
    /// when nothing happens. Keep it under a third of the API's node TTL.
    pub status_interval: Duration,
    /// How long one manifest long-poll waits for a change.
    pub manifest_wait: Duration,
    /// The longest wait between retries of a failed registration or
    /// manifest request (they back off from 100 ms up to this).
    pub retry_max: Duration,
    /// The first delay of the crash-loop backoff of a stopped container
    /// (the first restart is immediate; then this, doubling to 60 s).
    pub restart_backoff: Duration,
    /// How long a container may take to stop before it is killed.
    pub stop_timeout: Duration,
    /// The directory of static pod manifests.
    pub manifest_dir: Option<PathBuf>,
    /// The most pods the node takes (its reported capacity).
    pub pods_limit: u32,
    /// The runtime network pods join when an overlay (CNI) is configured.
    pub pod_network: String,
    /// The node's address others reach it on; detected from the default
    /// route when `None`.
    pub external_ip: Option<IpAddr>,
}

impl AgentSettings {
    /// The defaults for a node named `node`: report every 5 s, long-poll
    /// 30 s, retry up to 10 s, 110 pods.
    pub fn new(node: impl Into<String>) -> Self {
        Self {
            node: node.into(),
            labels: Labels::new(),
            status_interval: Duration::from_secs(5),
            manifest_wait: Duration::from_secs(30),
            retry_max: Duration::from_secs(10),
            restart_backoff: Duration::from_secs(1),
            stop_timeout: Duration::from_secs(10),
            manifest_dir: None,
            pods_limit: 110,
            pod_network: "lastbackend".to_owned(),
            external_ip: None,
        }
    }

    /// Sets the node labels.
    #[must_use]
    pub fn labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// Sets the report and re-check interval.
    #[must_use]
    pub fn status_interval(mut self, interval: Duration) -> Self {
        self.status_interval = interval;
        self
    }

    /// Sets the manifest long-poll wait.
    #[must_use]
    pub fn manifest_wait(mut self, wait: Duration) -> Self {
        self.manifest_wait = wait;
        self
    }

    /// Sets the longest retry delay.
    #[must_use]
    pub fn retry_max(mut self, retry: Duration) -> Self {
        self.retry_max = retry;
        self
    }

    /// Sets the first crash-loop backoff delay.
    #[must_use]
    pub fn restart_backoff(mut self, backoff: Duration) -> Self {
        self.restart_backoff = backoff;
        self
    }

    /// Sets the stop timeout.
    #[must_use]
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Runs the static pods of `dir`.
    #[must_use]
    pub fn manifest_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.manifest_dir = Some(dir.into());
        self
    }

    /// Sets the pods limit.
    #[must_use]
    pub fn pods_limit(mut self, pods: u32) -> Self {
        self.pods_limit = pods;
        self
    }

    /// Sets the runtime network's name for pods on the overlay.
    #[must_use]
    pub fn pod_network(mut self, name: impl Into<String>) -> Self {
        self.pod_network = name.into();
        self
    }

    /// Sets the node's external address.
    #[must_use]
    pub fn external_ip(mut self, ip: IpAddr) -> Self {
        self.external_ip = Some(ip);
        self
    }
}
