//! The pod template: what a service, its deployments and its pods run.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::units::{Cpu, PortMapping, Ram};

/// Containers and the volumes they mount; the first container is the pod's
/// primary one, whose network namespace the others join.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Template {
    /// The containers, in start order.
    pub containers: Vec<Container>,
    /// The volumes the containers may mount.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<TemplateVolume>,
}

impl Template {
    /// The names of the secrets the template reads (env, volumes, image
    /// pull auth), sorted and unique.
    pub fn secrets(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .containers
            .iter()
            .flat_map(|c| {
                c.env
                    .iter()
                    .filter_map(|e| match &e.source {
                        EnvSource::Secret(r) => Some(r.name.as_str()),
                        _ => None,
                    })
                    .chain(c.image.secret.as_ref().map(|r| r.name.as_str()))
            })
            .chain(self.volumes.iter().filter_map(|v| match &v.source {
                VolumeSource::Secret(f) => Some(f.name.as_str()),
                _ => None,
            }))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The names of the configs the template reads, sorted and unique.
    pub fn configs(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .containers
            .iter()
            .flat_map(|c| {
                c.env.iter().filter_map(|e| match &e.source {
                    EnvSource::Config(r) => Some(r.name.as_str()),
                    _ => None,
                })
            })
            .chain(self.volumes.iter().filter_map(|v| match &v.source {
                VolumeSource::Config(f) => Some(f.name.as_str()),
                _ => None,
            }))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The names of the persistent volumes the template mounts, sorted and
    /// unique.
    pub fn persistent_volumes(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .volumes
            .iter()
            .filter_map(|v| match &v.source {
                VolumeSource::Volume(r) => Some(r.name.as_str()),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The summed resource requests of all containers (a container without a
    /// request counts its limit).
    pub fn requests(&self) -> Resources {
        self.containers.iter().fold(Resources::default(), |acc, c| {
            let want = |req: Option<Ram>, lim: Option<Ram>| req.or(lim).map_or(0, Ram::bytes);
            let want_cpu = |req: Option<Cpu>, lim: Option<Cpu>| req.or(lim).map_or(0, Cpu::millis);
            Resources {
                ram: Some(Ram::from_bytes(
                    acc.ram.map_or(0, Ram::bytes)
                        + want(c.resources.request.ram, c.resources.limits.ram),
                )),
                cpu: Some(Cpu::from_millis(
                    acc.cpu.map_or(0, Cpu::millis)
                        + want_cpu(c.resources.request.cpu, c.resources.limits.cpu),
                )),
                storage: None,
            }
        })
    }
}

/// One container of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Container {
    /// Unique within the pod.
    pub name: String,
    /// What to run.
    pub image: Image,
    /// Ports the container listens on, with optional host bindings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    /// Environment variables.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Resource limits and requests.
    pub resources: ContainerResources,
    /// Command line and working directory.
    pub exec: Exec,
    /// Where the template's volumes are mounted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeMount>,
    /// What to do when the container stops.
    pub restart: Restart,
    /// Privileges.
    pub security: Security,
    /// Resolver settings beyond the cluster's.
    #[serde(skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
    /// `host:ip` lines added to `/etc/hosts`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Health checks the node agent runs.
    #[serde(skip_serializing_if = "Probes::is_empty")]
    pub probes: Probes,
}

/// A container's health checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Probes {
    /// Failing it restarts the container (with backoff).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Probe>,
    /// Until it passes, the pod is not ready and takes no endpoint traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Probe>,
}

impl Probes {
    /// No probe.
    pub fn is_empty(&self) -> bool {
        self.liveness.is_none() && self.readiness.is_none()
    }
}

/// One health check and its timing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Probe {
    /// What it checks.
    #[serde(flatten)]
    pub action: ProbeAction,
    /// Seconds after the container starts before the first check.
    #[serde(default)]
    pub initial_delay: u32,
    /// Seconds between checks.
    #[serde(default = "Probe::default_period")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub period: u32,
    /// Seconds a check may take.
    #[serde(default = "Probe::default_timeout")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub timeout: u32,
    /// Consecutive failures that count as failed.
    #[serde(default = "Probe::default_threshold")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub failure_threshold: u32,
}

impl Probe {
    /// A check of `action` with the default timing: every 10 s, 1 s
    /// timeout, failed after 3 failures in a row.
    pub fn new(action: ProbeAction) -> Self {
        Self {
            action,
            initial_delay: 0,
            period: Self::default_period(),
            timeout: Self::default_timeout(),
            failure_threshold: Self::default_threshold(),
        }
    }

    fn default_period() -> u32 {
        10
    }

    fn default_timeout() -> u32 {
        1
    }

    fn default_threshold() -> u32 {
        3
    }
}

/// How a probe checks a container. In JSON the variant is a key of the
/// probe: `{"exec":{"command":[..]}}`, `{"http":{"port":80,"path":"/"}}`,
/// `{"tcp":{"port":5432}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProbeAction {
    /// The command exits with 0 inside the container.
    Exec {
        /// The command line.
        #[cfg_attr(feature = "openapi", schema(min_items = 1))]
        command: Vec<String>,
    },
    /// `GET path` on the pod's address answers 2xx or 3xx.
    Http {
        /// The container port.
        #[cfg_attr(feature = "openapi", schema(minimum = 1))]
        port: u16,
        /// The request path.
        #[serde(default = "root")]
        #[cfg_attr(feature = "openapi", schema(pattern = "^/"))]
        path: String,
    },
    /// A TCP connection to the port is accepted.
    Tcp {
        /// The container port.
        #[cfg_attr(feature = "openapi", schema(minimum = 1))]
        port: u16,
    },
}

fn root() -> String {
    "/".to_owned()
}

/// An image reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Image {
    /// `repository[:tag]`.
    pub name: String,
    /// A content digest to pin, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Registry credentials: an `auth` secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<KeyRef>,
}

/// A key of a named secret or config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyRef {
    /// The secret's or config's name, in the pod's namespace.
    pub name: String,
    /// The key inside it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
}

/// One environment variable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvVar {
    /// The variable's name.
    pub name: String,
    /// Where its value comes from.
    #[serde(flatten)]
    pub source: EnvSource,
}

/// Where an environment variable's value comes from. In JSON the variant is
/// the key beside `name`: `{"name":"A","value":"1"}`,
/// `{"name":"B","secret":{"name":"db","key":"password"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EnvSource {
    /// A literal value.
    Value(String),
    /// A secret's key.
    Secret(KeyRef),
    /// A config's key.
    Config(KeyRef),
}

/// Limits (hard caps) and requests (what scheduling reserves).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ContainerResources {
    /// Hard caps enforced by the runtime.
    #[serde(skip_serializing_if = "Resources::is_empty")]
    pub limits: Resources,
    /// What the scheduler reserves on a node.
    #[serde(skip_serializing_if = "Resources::is_empty")]
    pub request: Resources,
}

/// Amounts of RAM, CPU and storage; `None` is "unspecified".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Resources {
    /// Memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ram: Option<Ram>,
    /// CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// Disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<Ram>,
}

impl Resources {
    /// Nothing specified.
    pub fn is_empty(&self) -> bool {
        self.ram.is_none() && self.cpu.is_none() && self.storage.is_none()
    }
}

/// The command line. Empty fields keep the image's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Exec {
    /// Replaces the image's `CMD`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Replaces the image's `ENTRYPOINT`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Appended to the command.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// A mount of one of the template's volumes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VolumeMount {
    /// The template volume's name.
    pub name: String,
    /// The absolute path inside the container.
    pub path: String,
    /// `ro` or `rw` (default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Mount only this sub-directory of the volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}

/// When the runtime restarts a stopped container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Always, whatever the exit code.
    #[default]
    Always,
    /// Only after a non-zero exit, at most `attempt` times.
    OnFailure,
    /// Unless stopped by the platform.
    UnlessStopped,
    /// Never.
    Never,
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Always => "always",
            Self::OnFailure => "on-failure",
            Self::UnlessStopped => "unless-stopped",
            Self::Never => "never",
        })
    }
}

/// Restart policy and the attempts it allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Restart {
    /// The policy.
    pub policy: RestartPolicy,
    /// For `on-failure`: how many restarts at most (`0`: unlimited).
    #[serde(skip_serializing_if = "is_zero")]
    pub attempt: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Container privileges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Security {
    /// Run privileged.
    pub privileged: bool,
}

/// Extra resolver settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Dns {
    /// Name servers tried after the cluster's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server: Vec<String>,
    /// Search domains.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
}

impl Dns {
    /// Nothing set.
    pub fn is_empty(&self) -> bool {
        self.server.is_empty() && self.search.is_empty()
    }
}

/// A volume a pod's containers can mount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateVolume {
    /// Unique within the template.
    pub name: String,
    /// Where its content comes from.
    #[serde(flatten)]
    pub source: VolumeSource,
}

/// Where a template volume's content comes from. In JSON the variant is the
/// key beside `name`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VolumeSource {
    /// A persistent volume of the namespace.
    Volume(VolumeRef),
    /// Files made from a secret's keys.
    Secret(FilesRef),
    /// Files made from a config's keys.
    Config(FilesRef),
}

/// A persistent volume by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VolumeRef {
    /// The volume's name.
    pub name: String,
    /// Only this sub-directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// Files written from a secret's or config's keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FilesRef {
    /// The secret's or config's name.
    pub name: String,
    /// Key → file name; empty means every key, each as a file of its name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub binds: BTreeMap<String, String>,
}
