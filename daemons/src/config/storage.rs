//! Where cluster state lives: the storage flags every daemon that reads the
//! store takes, the file's `storage` section and their one resolution.

use std::fmt;
use std::path::PathBuf;

use clap::ValueEnum;
use serde::Deserialize;

use super::{ConfigError, DEFAULT_DATA_DIR, TlsFiles};

/// Where cluster state is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageDriver {
    /// In memory: lost on exit (tests, demos).
    Memory,
    /// The original's name for the in-memory test store; same as `memory`.
    Mock,
    /// A redb file under the data directory: one server, durable.
    Embedded,
    /// An etcd v3 cluster (the docs' default).
    Etcd,
}

impl fmt::Display for StorageDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Memory => "memory",
            Self::Mock => "mock",
            Self::Embedded => "embedded",
            Self::Etcd => "etcd",
        })
    }
}

/// Resolved storage settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageConfig {
    /// The backend.
    pub driver: StorageDriver,
    /// The embedded store's directory.
    pub data_dir: PathBuf,
    /// etcd endpoints.
    pub etcd_endpoints: Vec<String>,
    /// etcd key prefix.
    pub etcd_prefix: String,
    /// etcd client TLS files.
    pub etcd_tls: TlsFiles,
}

/// The docs' `storage` section, plus `dir` for the embedded store.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StorageFile {
    driver: Option<StorageDriver>,
    dir: Option<PathBuf>,
    #[serde(default)]
    etcd: EtcdFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EtcdFile {
    prefix: Option<String>,
    endpoints: Option<Vec<String>>,
    #[serde(default)]
    tls: TlsFiles,
}

/// The storage flags every daemon that reads the store takes, as the docs'
/// tables list them, before the YAML file and the defaults.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StorageArgs {
    /// Storage driver [default: etcd].
    #[arg(long, env = "LB_STORAGE")]
    pub storage: Option<StorageDriver>,
    /// Directory of the embedded store [default: /var/lib/lastbackend]
    /// (YAML `storage.dir`).
    #[arg(long, env = "LB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// ETCD database cert file path.
    #[arg(long, env = "LB_ETCD_CERT_FILE")]
    pub etcd_cert_file: Option<PathBuf>,
    /// ETCD database private key file path.
    #[arg(long, env = "LB_ETCD_PRIVATE_KEY_FILE")]
    pub etcd_private_key_file: Option<PathBuf>,
    /// ETCD database certificate authority file.
    #[arg(long, env = "LB_ETCD_CA_FILE")]
    pub etcd_ca_file: Option<PathBuf>,
    /// ETCD database endpoints list, comma separated [default: 127.0.0.1:2379].
    #[arg(long, env = "LB_ETCD_ENDPOINTS", value_delimiter = ',')]
    pub etcd_endpoints: Vec<String>,
    /// ETCD database storage prefix [default: lastbackend].
    #[arg(long, env = "LB_ETCD_PREFIX")]
    pub etcd_prefix: Option<String>,
}

impl StorageArgs {
    /// Flags over the file's `storage` section over the defaults, checked.
    pub(super) fn resolve(self, file: StorageFile) -> Result<StorageConfig, ConfigError> {
        let storage = StorageConfig {
            driver: self.storage.or(file.driver).unwrap_or(StorageDriver::Etcd),
            data_dir: self
                .data_dir
                .or(file.dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            etcd_endpoints: if self.etcd_endpoints.is_empty() {
                file.etcd
                    .endpoints
                    .unwrap_or_else(|| vec!["127.0.0.1:2379".to_owned()])
            } else {
                self.etcd_endpoints
            },
            etcd_prefix: self
                .etcd_prefix
                .or(file.etcd.prefix)
                .unwrap_or_else(|| "lastbackend".to_owned()),
            etcd_tls: file.etcd.tls.under(TlsFiles {
                cert: self.etcd_cert_file,
                key: self.etcd_private_key_file,
                ca: self.etcd_ca_file,
            }),
        };
        if storage.etcd_endpoints.iter().any(|e| e.trim().is_empty()) {
            return Err(ConfigError::invalid(
                "--etcd-endpoints (YAML `storage.etcd.endpoints`)",
                "has an empty endpoint: accepted `host:port` or `http(s)://host:port`",
            ));
        }
        if storage.etcd_prefix.trim_matches('/').is_empty() {
            return Err(ConfigError::invalid(
                "--etcd-prefix (YAML `storage.etcd.prefix`)",
                "must not be empty",
            ));
        }
        Ok(storage)
    }
}
