//! `lastbackend api`: its flags (the docs' REST API option table, plus the
//! storage directory and the body limit), the YAML file of `-c` and the
//! resolved settings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Args;
use serde::Deserialize;

use super::{
    Access, AccessArgs, CommonArgs, ConfigError, DEFAULT_API_PORT, DEFAULT_BODY_LIMIT, DomainFile,
    ServerFile, ServerTls, ServerTlsArgs, StorageArgs, StorageConfig, StorageFile, help_overrides,
};

/// The flags of `lastbackend api`, each with its `LB_*` variable (see the
/// docs' REST API option table).
#[derive(Clone, Debug, Default, Args)]
#[command(mut_args(help_overrides(&[(
    "access_token",
    "Access token callers must present (`Authorization: Bearer <token>` or \
     `?x-lastbackend-token=<token>`). Required unless --insecure-no-auth",
)])))]
pub struct ApiArgs {
    /// Who may call.
    #[command(flatten)]
    pub access: AccessArgs,
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
    /// HTTPS.
    #[command(flatten)]
    pub tls: ServerTlsArgs,
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
    /// `--verbose` and `--config`.
    #[command(flatten)]
    pub common: CommonArgs,
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
        let mut file: ApiFile = args.common.file()?;
        let verbose = args.common.verbose(file.verbose)?;
        let access = args.access.resolve(file.token, file.insecure_no_auth)?;
        let listen = SocketAddr::new(
            args.bind_address
                .or(file.server.host)
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            args.bind_port
                .or(file.server.port)
                .unwrap_or(DEFAULT_API_PORT),
        );
        let tls = args.tls.resolve(file.server.tls)?;
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
            domain_internal: file.domain.internal(args.domain_internal),
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

#[cfg(test)]
mod tests;
