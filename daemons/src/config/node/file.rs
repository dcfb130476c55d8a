//! The YAML file of `lastbackend node -c`: its sections, with the docs'
//! keys.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{ApiClientFile, DriverFile, ServerFile};

/// The YAML file of `lastbackend node -c`, with the docs' keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeFile {
    pub(super) name: Option<String>,
    pub(super) verbose: Option<u8>,
    pub(super) token: Option<String>,
    pub(super) workdir: Option<PathBuf>,
    #[serde(default)]
    pub(super) manifest: ManifestFile,
    #[serde(default)]
    pub(super) network: NetworkFile,
    #[serde(default)]
    pub(super) container: ContainerFile,
    #[serde(default)]
    pub(super) server: ServerFile,
    #[serde(default)]
    pub(super) api: ApiClientFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ManifestFile {
    pub(super) dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NetworkFile {
    pub(super) interface: Option<String>,
    #[serde(default)]
    pub(super) cpi: DriverFile,
    #[serde(default)]
    pub(super) cni: DriverFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ContainerFile {
    #[serde(default)]
    pub(super) cri: RuntimeFile,
    #[serde(default)]
    pub(super) csi: CsiFile,
    #[serde(default)]
    pub(super) iri: RuntimeFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuntimeFile {
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) docker: DockerFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DockerFile {
    pub(super) version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CsiFile {
    #[serde(default)]
    pub(super) dir: DirFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DirFile {
    pub(super) root: Option<PathBuf>,
}
