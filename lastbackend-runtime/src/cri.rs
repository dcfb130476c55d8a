//! CRI: the container runtime. Pods are groups of containers; the agent
//! creates each container from a [`ContainerSpec`] whose labels name its pod,
//! node and container, so a restarted agent finds and adopts them with
//! [`Cri::list`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use lastbackend_core::model::RestartPolicy;
use lastbackend_core::units::PortMapping;

use crate::Result;

/// Everything needed to create one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerSpec {
    /// The runtime's name for it (unique on the host).
    pub name: String,
    /// The image reference.
    pub image: String,
    /// Replaces the image's `CMD` when not empty.
    pub command: Vec<String>,
    /// Replaces the image's `ENTRYPOINT` when not empty.
    pub entrypoint: Vec<String>,
    /// Appended to the command.
    pub args: Vec<String>,
    /// The working directory.
    pub workdir: Option<String>,
    /// Environment, resolved (secret and config values already read).
    pub env: BTreeMap<String, String>,
    /// Labels; the agent's name its pod, node and container.
    pub labels: BTreeMap<String, String>,
    /// Published ports.
    pub ports: Vec<PortMapping>,
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// CPU limit in millicores.
    pub cpu_millis: Option<u64>,
    /// What the runtime does when it exits.
    pub restart: RestartPolicy,
    /// Runs privileged.
    pub privileged: bool,
    /// Host directories mounted in.
    pub binds: Vec<Bind>,
    /// Which network namespace it joins.
    pub network: NetworkMode,
    /// Resolvers, replacing the host's.
    pub dns: Vec<String>,
    /// Search domains.
    pub dns_search: Vec<String>,
    /// `host:ip` lines added to `/etc/hosts`.
    pub extra_hosts: Vec<String>,
}

impl ContainerSpec {
    /// A spec running `image` under `name`, everything else default.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            image: image.into(),
            ..Self::default()
        }
    }
}

/// A host directory mounted into a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// On the host.
    pub host: PathBuf,
    /// In the container.
    pub container: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// The network namespace a container joins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// The runtime's default network.
    #[default]
    Default,
    /// A named network (the node's pod network).
    Network(String),
    /// The network namespace of another container (a pod's first one).
    Container(String),
    /// The host's.
    Host,
    /// None at all.
    None,
}

/// What a container is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, never started.
    #[default]
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Being restarted by the runtime.
    Restarting,
    /// Stopped, with this exit code.
    Exited(i64),
    /// Failed and unusable.
    Dead,
}

impl ContainerState {
    /// Whether its processes run.
    pub fn is_running(self) -> bool {
        matches!(self, Self::Running)
    }
}

/// A container as the runtime sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerInfo {
    /// The runtime's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The image reference it was created from.
    pub image: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its state.
    pub state: ContainerState,
    /// The runtime's message on failure.
    pub error: String,
    /// How often the runtime restarted it.
    pub restart_count: u32,
    /// When it last started.
    pub started: Option<DateTime<Utc>>,
    /// When it last stopped.
    pub finished: Option<DateTime<Utc>>,
    /// Its address on its network, if it has its own.
    pub ip: Option<IpAddr>,
}

/// Which containers [`Cri::list`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Only containers carrying all these labels.
    pub labels: BTreeMap<String, String>,
    /// Stopped containers too.
    pub all: bool,
}

/// Which log lines [`Cri::logs`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep the stream open for new lines.
    pub follow: bool,
    /// Only the last this many lines (all when `None`).
    pub tail: Option<u64>,
    /// Only lines written after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Prefix each line with the runtime's timestamp.
    pub timestamps: bool,
}

/// One chunk a container wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// From stderr rather than stdout.
    pub stderr: bool,
    /// The bytes, usually one line with its newline.
    pub data: Bytes,
}

/// A stream of log lines.
pub type LogStream = BoxStream<'static, Result<LogLine>>;

/// A change the runtime announces.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerEvent {
    /// The container.
    pub id: String,
    /// The runtime's action (`start`, `die`, `destroy`, `health_status`, …).
    pub action: String,
    /// The container's labels.
    pub labels: BTreeMap<String, String>,
}

impl ContainerEvent {
    /// An event of `action` on `id`.
    pub fn new(id: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            action: action.into(),
            labels: BTreeMap::new(),
        }
    }
}

/// What a command run in a container produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Its exit code.
    pub exit_code: i64,
    /// Its stdout and stderr, interleaved.
    pub output: Bytes,
}

/// A container runtime.
///
/// Ids are the runtime's; every call that takes one also accepts the name.
#[async_trait]
pub trait Cri: Send + Sync {
    /// The driver's name (`docker`, …).
    fn name(&self) -> &str;

    /// The runtime's version, for the node's status.
    async fn version(&self) -> Result<String>;

    /// Creates a container (not started); returns its id. A taken name is
    /// [`Error::Exists`](crate::Error::Exists).
    async fn create(&self, spec: &ContainerSpec) -> Result<String>;

    /// Starts it; starting a running container is not an error.
    async fn start(&self, id: &str) -> Result<()>;

    /// Stops it, killing it after `timeout`; stopping a stopped container is
    /// not an error.
    async fn stop(&self, id: &str, timeout: Duration) -> Result<()>;

    /// Removes it (killing it first when `force`).
    async fn remove(&self, id: &str, force: bool) -> Result<()>;

    /// Its current state.
    async fn inspect(&self, id: &str) -> Result<ContainerInfo>;

    /// The containers that match.
    async fn list(&self, filter: &ContainerFilter) -> Result<Vec<ContainerInfo>>;

    /// Its output.
    async fn logs(&self, id: &str, options: LogOptions) -> Result<LogStream>;

    /// Every container event from now on.
    async fn events(&self) -> Result<BoxStream<'static, Result<ContainerEvent>>>;

    /// Waits for it to stop; returns its exit code.
    async fn wait(&self, id: &str) -> Result<i64>;

    /// Runs `command` inside it (probes use this); unsupported by default.
    async fn exec(&self, id: &str, command: &[String]) -> Result<ExecOutput> {
        let _ = (id, command);
        Err(crate::Error::unsupported(self.name(), "exec"))
    }

    /// Makes sure a bridge network `name` on `subnet` (CIDR) with `gateway`
    /// exists, for pods to join with [`NetworkMode::Network`]; unsupported by
    /// default.
    async fn ensure_network(&self, name: &str, subnet: &str, gateway: IpAddr) -> Result<()> {
        let _ = (name, subnet, gateway);
        Err(crate::Error::unsupported(self.name(), "networks"))
    }
}
