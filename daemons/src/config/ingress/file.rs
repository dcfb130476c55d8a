//! The YAML file of `lastbackend ingress -c`: its sections, with the docs'
//! keys.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{ApiClientFile, DriverFile};

/// The YAML file of `lastbackend ingress -c`, with the docs' keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IngressFile {
    pub(super) verbose: Option<u8>,
    pub(super) token: Option<String>,
    #[serde(default)]
    pub(super) haproxy: HaproxyFile,
    #[serde(default)]
    pub(super) network: NetworkFile,
    #[serde(default)]
    pub(super) api: ApiClientFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HaproxyFile {
    pub(super) config: Option<PathBuf>,
    pub(super) pid: Option<PathBuf>,
    pub(super) exec: Option<PathBuf>,
    #[serde(default)]
    pub(super) stats: StatsFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatsFile {
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NetworkFile {
    pub(super) interface: Option<String>,
    #[serde(default)]
    pub(super) cpi: DriverFile,
    #[serde(default)]
    pub(super) cni: DriverFile,
    #[serde(default)]
    pub(super) resolver: ResolverFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResolverFile {
    pub(super) servers: Option<Vec<IpAddr>>,
}
