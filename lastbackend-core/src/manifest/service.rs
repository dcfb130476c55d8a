//! `kind: Service`: replicas, placement, network, rollout strategy and the
//! pod template (containers and volumes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::scalar::{self, IntOrString};
use super::{ManifestMeta, is_default};

/// A `kind: Service` document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceManifest {
    /// Manifest format version, `v1`.
    pub version: String,
    /// Name, description and labels.
    pub meta: ManifestMeta,
    /// What to run.
    pub spec: ServiceSpecManifest,
}

/// `spec` of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ServiceSpecManifest {
    /// How many pods to run; 1 when absent.
    #[cfg_attr(feature = "openapi", schema(maximum = 10_000))]
    pub replicas: u32,
    /// Which nodes may run the pods.
    #[serde(skip_serializing_if = "is_default")]
    pub selector: SelectorManifest,
    /// The service's virtual IP and port mappings.
    #[serde(skip_serializing_if = "is_default")]
    pub network: ServiceNetworkManifest,
    /// How a new deployment replaces the old one.
    #[serde(skip_serializing_if = "is_default")]
    pub strategy: StrategyManifest,
    /// The pod template.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub template: TemplateManifest,
}

impl Default for ServiceSpecManifest {
    fn default() -> Self {
        Self {
            replicas: 1,
            selector: SelectorManifest::default(),
            network: ServiceNetworkManifest::default(),
            strategy: StrategyManifest::default(),
            template: TemplateManifest::default(),
        }
    }
}

/// Node placement: a node by name and/or node labels that must all match.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SelectorManifest {
    /// Hostname of the one node to run on; `null` or absent means any node.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::NonEmptyScalar>))]
    pub node: Option<String>,
    /// Labels the node must carry.
    #[serde(
        deserialize_with = "scalar::map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::LabelMap))]
    pub labels: BTreeMap<String, String>,
}

/// `spec.network` of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ServiceNetworkManifest {
    /// A fixed virtual IP; allocated when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::IpAddress>))]
    pub ip: Option<String>,
    /// Port mappings `[ip:][port:]container-port[/proto]`, e.g. `"80:8080/tcp"`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::PortMappingText>))]
    pub ports: Vec<String>,
}

/// `spec.strategy` of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct StrategyManifest {
    /// Blue/green (default) or rolling.
    #[serde(rename = "type")]
    pub kind: StrategyType,
    /// Rolling: pods above `replicas` allowed during the rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Rolling: pods below `replicas` allowed during the rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

/// How a service moves to a new deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StrategyType {
    /// Start the new deployment, switch traffic when it is ready, then remove
    /// the old one.
    #[default]
    Bluegreen,
    /// Replace pods a few at a time.
    Rolling,
}

/// `spec.template`: the containers of every pod and the volumes they mount.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct TemplateManifest {
    /// At least one container.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, required = true))]
    pub containers: Vec<ContainerManifest>,
    /// Volumes the containers mount by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<TemplateVolumeManifest>,
}

/// One container of the pod template.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ContainerManifest {
    /// Unique within the template, a DNS label.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DnsLabel, required = true))]
    pub name: String,
    /// The image to run.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub image: ImageManifest,
    /// Overrides the image's `CMD`; a string is split on whitespace.
    #[serde(
        deserialize_with = "scalar::words",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Words))]
    pub command: Vec<String>,
    /// Overrides the image's `ENTRYPOINT`; a string is split on whitespace.
    #[serde(
        deserialize_with = "scalar::words",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Words))]
    pub entrypoint: Vec<String>,
    /// Working directory inside the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::AbsolutePath>))]
    pub workdir: Option<String>,
    /// Arguments appended to the command.
    #[serde(
        deserialize_with = "scalar::words",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Words))]
    pub args: Vec<String>,
    /// Container ports published on the pod, `[ip:][host:]container[/proto]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::PortMappingText>))]
    pub ports: Vec<String>,
    /// Environment variables.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvManifest>,
    /// RAM and CPU limits and requests.
    #[serde(skip_serializing_if = "is_default")]
    pub resources: ResourcesManifest,
    /// Template volumes mounted into the container. The docs' examples write
    /// `volume:`, so that spelling is accepted too.
    #[serde(alias = "volume", skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeMountManifest>,
    /// Restart policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartManifest>,
    /// Security options.
    #[serde(skip_serializing_if = "is_default")]
    pub security: SecurityManifest,
    /// DNS servers and search domains.
    #[serde(skip_serializing_if = "is_default")]
    pub dns: DnsManifest,
    /// Extra `/etc/hosts` entries, `host:ip`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::ExtraHost>))]
    pub extra_hosts: Vec<String>,
    /// Liveness and readiness checks, in the entity model's shape:
    /// `{liveness: {http: {port: 8080, path: /healthz}, period: 5}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<crate::model::Probes>,
}

/// `image` of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ImageManifest {
    /// Image reference, e.g. `evilroot/docker-2048` or `registry:5000/app:1.2`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, required = true))]
    pub name: String,
    /// Pins the image to a digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Registry credentials: a secret of type `auth` and the key holding them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<KeyRefManifest>,
}

/// A reference to one key of a secret or config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct KeyRefManifest {
    /// Name of the secret or config.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DnsLabel, required = true))]
    pub name: String,
    /// Key inside it.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, required = true))]
    pub key: String,
}

/// One environment variable: exactly one of `value`, `secret` or `config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct EnvManifest {
    /// Variable name, unique in the container (which the OpenAPI schema
    /// cannot say).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::EnvName, required = true))]
    pub name: String,
    /// A literal value.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Scalar>))]
    pub value: Option<String>,
    /// The value of a secret's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<KeyRefManifest>,
    /// The value of a config's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<KeyRefManifest>,
}

/// `resources` of a container. A request above its limit is refused, which
/// the OpenAPI schema cannot say.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ResourcesManifest {
    /// Hard caps.
    #[serde(skip_serializing_if = "is_default")]
    pub limits: ResourceValuesManifest,
    /// What the scheduler reserves; the original called it `quota`.
    #[serde(alias = "quota", skip_serializing_if = "is_default")]
    pub request: ResourceValuesManifest,
}

/// RAM and CPU as written (`"512mib"`, `"0.5"`); validation parses them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ResourceValuesManifest {
    /// Memory, e.g. `"128mib"`, `"1gb"`, `"512Mi"`.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::RamText>))]
    pub ram: Option<String>,
    /// CPU in cores or millicores, e.g. `"0.5"`, `"500m"`.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::CpuText>))]
    pub cpu: Option<String>,
}

/// A template volume mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VolumeMountManifest {
    /// Name of a volume in `spec.template.volumes`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, required = true))]
    pub name: String,
    /// Absolute mount path in the container.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::AbsolutePath, required = true))]
    pub path: String,
    /// Read-write (default) or read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<MountMode>,
    /// A relative path inside the volume to mount instead of its root.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::RelativePath>))]
    pub sub_path: Option<String>,
}

/// Access of a container to a mounted volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MountMode {
    /// Read-write.
    Rw,
    /// Read-only.
    Ro,
}

/// `restart` of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RestartManifest {
    /// When to restart.
    pub policy: RestartPolicy,
    /// With `on-failure`: how many restarts at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// When a stopped container is restarted, as Docker's restart policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Always.
    Always,
    /// When it exits non-zero.
    OnFailure,
    /// Never.
    #[default]
    Never,
    /// Always, unless it was stopped on purpose.
    UnlessStopped,
}

/// `security` of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SecurityManifest {
    /// Run with all capabilities and devices.
    #[serde(skip_serializing_if = "is_default")]
    pub privileged: bool,
}

/// `dns` of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DnsManifest {
    /// Name servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::IpAddress>))]
    pub server: Vec<String>,
    /// Search domains.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::Hostname>))]
    pub search: Vec<String>,
}

/// A volume of the pod template: exactly one of `volume`, `secret`, `config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct TemplateVolumeManifest {
    /// Name containers mount it by, a DNS label unique in the template.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DnsLabel, required = true))]
    pub name: String,
    /// A namespace volume (`kind: Volume`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeRefManifest>,
    /// Keys of a secret as files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<FilesSourceManifest>,
    /// Keys of a config as files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<FilesSourceManifest>,
}

/// A reference to a namespace volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct VolumeRefManifest {
    /// Name of the `kind: Volume`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DnsLabel, required = true))]
    pub name: String,
    /// A relative path inside it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::RelativePath>))]
    pub subpath: Option<String>,
}

/// Keys of a secret or config laid out as files in a volume.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FilesSourceManifest {
    /// Name of the secret or config.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DnsLabel, required = true))]
    pub name: String,
    /// Keys written as files named after the key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::DataKey>))]
    pub files: Vec<String>,
    /// Keys written as files with another name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<FileBindManifest>,
}

/// A key written to a file of another name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct FileBindManifest {
    /// Key in the secret or config.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, required = true))]
    pub key: String,
    /// File name (relative) in the volume.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RelativeFile, required = true))]
    pub file: String,
}
