//! Daemon configuration: command-line flags with their `LB_*` variables, the
//! YAML file of `--config`, and the resolved settings a daemon runs with.
//!
//! Precedence is flag > environment > file > default, as in the original
//! (pflag + viper). Everything is checked before a port is bound: unknown YAML
//! keys and bad values are errors that name the key or flag and what it
//! accepts.
//!
//! The pieces shared by every daemon (the storage choice, etcd settings, the
//! log level, YAML loading) are public so later daemons reuse them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The API's default port (`:2967`).
pub const DEFAULT_API_PORT: u16 = 2967;
/// Where the embedded store keeps its file unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/lastbackend";
pub use lastbackend_core::server::DEFAULT_BODY_LIMIT;

mod controller;
mod discovery;
mod exporter;
mod ingress;
mod node;
mod up;

pub use controller::{ControllerArgs, ControllerConfig};
pub use discovery::{DEFAULT_DNS_PORT, DiscoveryArgs, DiscoveryConfig, Upstreams};
pub use exporter::{ExporterArgs, ExporterConfig};
pub use ingress::{IngressArgs, IngressConfig, IngressNetwork};
pub use node::{
    DEFAULT_NODE_PORT, DEFAULT_STORAGE_ROOT, Interfaces, NetworkDriver, NodeArgs, NodeConfig,
    ProxyDriver,
};
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

/// PEM files for TLS: a certificate, its key and a CA; each optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: Option<PathBuf>,
    /// Its private key.
    pub key: Option<PathBuf>,
    /// The certificate authority.
    pub ca: Option<PathBuf>,
}

impl TlsFiles {
    /// Whether no file is set.
    pub fn is_empty(&self) -> bool {
        self.cert.is_none() && self.key.is_none() && self.ca.is_none()
    }
}

/// The server's TLS: certificate and key, and a CA that client certificates
/// must chain to (required when set).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerTls {
    /// The server certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// HTTPS with this certificate chain and key, no client certificates.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            client_ca: None,
        }
    }

    /// Requires client certificates signed by `ca`.
    pub fn with_client_ca(mut self, ca: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(ca.into());
        self
    }
}

/// Who may call the API.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    /// Callers present this token.
    Token(String),
    /// Anyone: only with `--insecure-no-auth`.
    Open,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::Open => f.write_str("Open"),
        }
    }
}

/// The tracing level for the docs' `--verbose` 0–7: the original logged
/// debug lines at verbosity 3 and above and its most detailed ones at 7.
pub fn log_level(verbose: u8) -> tracing::Level {
    match verbose {
        0..=2 => tracing::Level::INFO,
        3..=6 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
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

/// The flags of `lastbackend api`, each with its `LB_*` variable (see the
/// docs' REST API option table).
#[derive(Clone, Debug, Default, Args)]
pub struct ApiArgs {
    /// Access token callers must present (`Authorization: Bearer <token>` or
    /// `?x-lastbackend-token=<token>`). Required unless --insecure-no-auth.
    #[arg(long, env = "LB_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// Serve the API without any authentication (YAML `insecure_no_auth`).
    /// Without it an empty or missing token is a configuration error.
    #[arg(long, env = "LB_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// Cluster name info.
    #[arg(long, env = "LB_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// Cluster description.
    #[arg(long, env = "LB_CLUSTER_DESCRIPTION")]
    pub cluster_description: Option<String>,
    /// Bind address for listening [default: 0.0.0.0].
    #[arg(long, env = "LB_BIND_ADDRESS")]
    pub bind_address: Option<IpAddr>,
    /// Port for listening [default: 2967] (YAML `server.port`).
    #[arg(long, env = "LB_BIND_PORT")]
    pub bind_port: Option<u16>,
    /// TLS cert file path; serves HTTPS with --tls-private-key-file.
    #[arg(long, env = "LB_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// TLS private key file path.
    #[arg(long, env = "LB_TLS_PRIVATE_KEY")]
    pub tls_private_key_file: Option<PathBuf>,
    /// TLS certificate authority file path; when set, clients must present a
    /// certificate it signed.
    #[arg(long, env = "LB_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Vault access token (accepted, not supported: ignored with a warning).
    #[arg(long, env = "LB_VAULT_TOKEN", hide_env_values = true)]
    pub vault_token: Option<String>,
    /// Vault access endpoint (accepted, not supported: ignored with a warning).
    #[arg(long, env = "LB_VAULT_ENDPOINT")]
    pub vault_endpoint: Option<String>,
    /// Internal domain name for cluster [default: lb.local].
    #[arg(long, env = "LB_DOMAIN_INTERNAL")]
    pub domain_internal: Option<String>,
    /// Default external domain for cluster.
    #[arg(long, env = "LB_DOMAIN_EXTERNAL")]
    pub domain_external: Option<String>,
    /// Where the cluster state lives.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Largest accepted request body in bytes [default: 10485760]
    /// (YAML `server.body_limit`).
    #[arg(long, env = "LB_BODY_LIMIT")]
    pub body_limit: Option<usize>,
    /// Set log level from 0 to 7.
    #[arg(short, long, env = "LB_VERBOSE", value_parser = clap::value_parser!(u8).range(0..=7))]
    pub verbose: Option<u8>,
    /// Path for the configuration file (YAML).
    #[arg(short, long, env = "LB_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The YAML file of `lastbackend api -c`, with the docs' keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiFile {
    verbose: Option<u8>,
    token: Option<String>,
    insecure_no_auth: Option<bool>,
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    domain: DomainFile,
    #[serde(default)]
    storage: StorageFile,
    #[serde(default)]
    server: ServerFile,
    #[serde(default)]
    vault: VaultFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainFile {
    internal: Option<String>,
    external: Option<String>,
}

/// The docs' `storage` section, plus `dir` for the embedded store.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageFile {
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    host: Option<IpAddr>,
    port: Option<u16>,
    body_limit: Option<usize>,
    #[serde(default)]
    tls: TlsFiles,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultFile {
    endpoint: Option<String>,
    token: Option<String>,
}

/// Everything `lastbackend api` runs with, resolved and checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ApiConfig {
    /// Who may call.
    pub access: Access,
    /// Cluster name.
    pub cluster_name: String,
    /// Cluster description.
    pub cluster_description: String,
    /// Where to listen.
    pub listen: SocketAddr,
    /// HTTPS settings; plain HTTP when `None`.
    pub tls: Option<ServerTls>,
    /// Internal cluster domain.
    pub domain_internal: String,
    /// Default external domain.
    pub domain_external: String,
    /// Storage.
    pub storage: StorageConfig,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Log verbosity 0–7.
    pub verbose: u8,
    /// Whether a vault setting was given (not supported; the daemon warns).
    pub vault_configured: bool,
}

impl ApiConfig {
    /// Resolves flags and environment (already merged by clap) over the
    /// `--config` file over the defaults, and checks the result.
    pub fn load(args: ApiArgs) -> Result<Self, ConfigError> {
        let file: ApiFile = match &args.config {
            Some(path) => load_yaml(path)?,
            None => ApiFile::default(),
        };
        let verbose = args.verbose.or(file.verbose).unwrap_or(0);
        if verbose > 7 {
            return Err(ConfigError::invalid(
                "--verbose (YAML `verbose`)",
                format!("{verbose} is out of range: accepted 0 to 7"),
            ));
        }
        let insecure = args.insecure_no_auth || file.insecure_no_auth.unwrap_or(false);
        let token = args.access_token.or(file.token).unwrap_or_default();
        let access = match (token.is_empty(), insecure) {
            (false, false) => Access::Token(token),
            (true, true) => Access::Open,
            (true, false) => {
                return Err(ConfigError::invalid(
                    "--access-token (YAML `token`)",
                    "is empty or missing: set a token, or pass --insecure-no-auth \
                     (YAML `insecure_no_auth: true`) to serve the API without authentication",
                ));
            }
            (false, true) => {
                return Err(ConfigError::invalid(
                    "--insecure-no-auth (YAML `insecure_no_auth`)",
                    "contradicts the access token that is set: give one or the other",
                ));
            }
        };
        let listen = SocketAddr::new(
            args.bind_address
                .or(file.server.host)
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            args.bind_port
                .or(file.server.port)
                .unwrap_or(DEFAULT_API_PORT),
        );
        let server_tls = TlsFiles {
            cert: args.tls_cert_file.or(file.server.tls.cert),
            key: args.tls_private_key_file.or(file.server.tls.key),
            ca: args.tls_ca_file.or(file.server.tls.ca),
        };
        let tls = match server_tls {
            TlsFiles {
                cert: Some(cert),
                key: Some(key),
                ca,
            } => Some(ServerTls {
                cert,
                key,
                client_ca: ca,
            }),
            TlsFiles {
                cert: None,
                key: None,
                ca: None,
            } => None,
            TlsFiles { cert: None, .. } => {
                return Err(ConfigError::invalid(
                    "--tls-cert-file (YAML `server.tls.cert`)",
                    "is required when a TLS key or CA is given",
                ));
            }
            TlsFiles { key: None, .. } => {
                return Err(ConfigError::invalid(
                    "--tls-private-key-file (YAML `server.tls.key`)",
                    "is required when a TLS certificate is given",
                ));
            }
        };
        let body_limit = args
            .body_limit
            .or(file.server.body_limit)
            .unwrap_or(DEFAULT_BODY_LIMIT);
        if body_limit == 0 {
            return Err(ConfigError::invalid(
                "--body-limit (YAML `server.body_limit`)",
                "must be at least 1 byte",
            ));
        }
        let storage = args.storage.resolve(file.storage)?;
        let vault_configured = args.vault_token.or(file.vault.token).is_some()
            || args.vault_endpoint.or(file.vault.endpoint).is_some();
        Ok(Self {
            access,
            cluster_name: args.cluster_name.or(file.name).unwrap_or_default(),
            cluster_description: args
                .cluster_description
                .or(file.description)
                .unwrap_or_default(),
            listen,
            tls,
            domain_internal: args
                .domain_internal
                .or(file.domain.internal)
                .unwrap_or_else(|| "lb.local".to_owned()),
            domain_external: args
                .domain_external
                .or(file.domain.external)
                .unwrap_or_default(),
            storage,
            body_limit,
            verbose,
            vault_configured,
        })
    }
}

/// How a host-side daemon (node, ingress, exporter, discovery) reaches the
/// API: the docs' `--api-*` flags, flattened into each daemon's flags.
#[derive(Args, Clone, Debug, Default)]
#[non_exhaustive]
pub struct ApiClientArgs {
    /// REST API endpoint, `http[s]://host:port` (YAML `api.uri`).
    #[arg(long, env = "LB_API_URI")]
    pub api_uri: Option<String>,
    /// REST API TLS client certificate (YAML `api.tls.cert`).
    #[arg(long, env = "LB_API_CERT_FILE")]
    pub api_tls_cert_file: Option<PathBuf>,
    /// REST API TLS client key (YAML `api.tls.key`).
    #[arg(long, env = "LB_API_PRIVATE_KEY_FILE")]
    pub api_tls_private_key_file: Option<PathBuf>,
    /// REST API certificate authority (YAML `api.tls.ca`).
    #[arg(long, env = "LB_API_CA_FILE")]
    pub api_tls_ca_file: Option<PathBuf>,
}

/// The `api` section of a host-side daemon's YAML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiClientFile {
    uri: Option<String>,
    #[serde(default)]
    tls: TlsFiles,
}

impl ApiClientArgs {
    /// Flags over the file's `api` section, checked: the endpoint (`None`
    /// when unset or empty) and the TLS files.
    fn resolve(self, file: ApiClientFile) -> Result<(Option<String>, TlsFiles), ConfigError> {
        let uri = self.api_uri.or(file.uri).filter(|u| !u.is_empty());
        if let Some(uri) = &uri
            && !uri.contains("://")
            && uri.contains('/')
        {
            return Err(ConfigError::invalid(
                "--api-uri (YAML `api.uri`)",
                format!("{uri:?} is not an endpoint such as http://10.0.0.1:2967"),
            ));
        }
        let tls = TlsFiles {
            cert: self.api_tls_cert_file.or(file.tls.cert),
            key: self.api_tls_private_key_file.or(file.tls.key),
            ca: self.api_tls_ca_file.or(file.tls.ca),
        };
        if tls.cert.is_some() != tls.key.is_some() {
            return Err(ConfigError::invalid(
                "--api-tls-cert-file/--api-tls-private-key-file (YAML `api.tls`)",
                "a client certificate needs its key and the key its certificate",
            ));
        }
        Ok((uri, tls))
    }
}

/// The API's endpoint when none is configured.
fn default_api_uri() -> String {
    format!("http://127.0.0.1:{DEFAULT_API_PORT}")
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
    fn resolve(self, file: StorageFile) -> Result<StorageConfig, ConfigError> {
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
            etcd_tls: TlsFiles {
                cert: self.etcd_cert_file.or(file.etcd.tls.cert),
                key: self.etcd_private_key_file.or(file.etcd.tls.key),
                ca: self.etcd_ca_file.or(file.etcd.tls.ca),
            },
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

fn check_verbose(verbose: u8) -> Result<u8, ConfigError> {
    if verbose > 7 {
        return Err(ConfigError::invalid(
            "--verbose (YAML `verbose`)",
            format!("{verbose} is out of range: accepted 0 to 7"),
        ));
    }
    Ok(verbose)
}

#[cfg(test)]
mod tests;
