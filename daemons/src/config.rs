//! Daemon configuration: command-line flags with their `LB_*` variables, the
//! YAML file of `--config`, and the resolved settings a daemon runs with.
//!
//! Precedence is flag > environment > file > default, as in the original
//! (pflag + viper). Everything is checked before a port is bound: unknown YAML
//! keys and bad values are errors that name the key or flag and what it
//! accepts.
//!
//! The flags and file sections several daemons take are shared groups, each
//! flattened into the daemons' flags with one YAML section type and one
//! resolution: [`CommonArgs`] (`--verbose`, `--config`), [`TokenArgs`] and
//! [`AccessArgs`] (`--access-token`, `--insecure-no-auth`),
//! [`ServerTlsArgs`] (`--tls-*`), [`StorageArgs`] and [`ApiClientArgs`]
//! (`--api-*`). A daemon whose help text for a shared flag says more
//! overrides it with [`common::help_overrides`], so `docs/flags.md` keeps every word.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// The API's default port (`:2967`).
pub const DEFAULT_API_PORT: u16 = 2967;
/// Where the embedded store keeps its file unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/lastbackend";
pub use lastbackend_core::server::DEFAULT_BODY_LIMIT;

mod access;
mod api;
mod client;
mod common;
mod controller;
mod discovery;
mod exporter;
mod ingress;
mod node;
mod server;
mod storage;
mod up;

pub use access::{Access, AccessArgs, TokenArgs};
pub use api::{ApiArgs, ApiConfig};
pub use client::ApiClientArgs;
use client::{ApiClientFile, default_api_uri};
pub use common::{CommonArgs, log_level};
use common::{DomainFile, DriverFile, check_verbose, help_overrides};
pub use controller::{ControllerArgs, ControllerConfig};
pub use discovery::{DEFAULT_DNS_PORT, DiscoveryArgs, DiscoveryConfig, Upstreams};
pub use exporter::{ExporterArgs, ExporterConfig};
pub use ingress::{IngressArgs, IngressConfig, IngressNetwork};
pub use node::{
    DEFAULT_NODE_PORT, DEFAULT_STORAGE_ROOT, Interfaces, NetworkDriver, NodeArgs, NodeConfig,
    ProxyDriver,
};
use server::ServerFile;
pub use server::{ServerTls, ServerTlsArgs, TlsFiles};
use storage::StorageFile;
pub use storage::{StorageArgs, StorageConfig, StorageDriver};
pub use up::{Component, UpArgs, UpConfig};

/// What is wrong with a daemon's configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The `--config` file could not be read.
    #[error("cannot read the config file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `--config` file is not valid: a syntax error, an unknown key or a
    /// bad value; `key` is the path of the offending key.
    #[error("config file {path}: {key}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// The YAML key path (`server.tls.cert`), `.` for the whole file.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A setting's value is not accepted; `setting` names the flag and the
    /// YAML key.
    #[error("{setting}: {message}")]
    Invalid {
        /// `--flag` (YAML `key`).
        setting: String,
        /// What is wrong and what is accepted.
        message: String,
    },
}

impl ConfigError {
    fn invalid(setting: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            setting: setting.to_owned(),
            message: message.into(),
        }
    }
}

/// Reads a YAML config file into `T`, rejecting unknown keys with their path.
pub fn load_yaml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    if text.trim().is_empty() {
        return yaml_serde::from_str("{}").map_err(|e| file_error(path, ".", e.to_string()));
    }
    let deserializer = yaml_serde::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        file_error(path, &key, e.into_inner().to_string())
    })
}

fn file_error(path: &Path, key: &str, message: String) -> ConfigError {
    ConfigError::File {
        path: path.to_owned(),
        key: key.to_owned(),
        message,
    }
}
