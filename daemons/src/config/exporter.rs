//! `lastbackend exporter`: its flags (the docs' exporter option table, plus
//! rotation, retention and `--insecure-no-auth`), the YAML file of `-c` and
//! the resolved settings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use lastbackend_core::units::Ram;
use serde::Deserialize;

use super::{
    AccessArgs, ApiClientArgs, ApiClientFile, CommonArgs, ConfigError, ServerFile, ServerTls,
    ServerTlsArgs, TlsFiles, help_overrides,
};

/// The exporter's default log listener port (`:2963`).
pub(super) const DEFAULT_LISTENER_PORT: u16 = 2963;
/// The exporter's default HTTP port (`:2964`).
pub(super) const DEFAULT_REST_PORT: u16 = 2964;
/// The default rotation size: 10 MiB.
pub(super) const DEFAULT_ROTATE_BYTES: u64 = 10 << 20;
/// The default number of rotated files kept per container.
pub(super) const DEFAULT_RETENTION: usize = 5;
/// The smallest rotation size accepted: 64 KiB (a few long lines).
pub(super) const MIN_ROTATE_BYTES: u64 = 64 << 10;

/// The flags of `lastbackend exporter`, each with its `LB_*` variable.
#[derive(Clone, Debug, Default, Args)]
#[command(mut_args(help_overrides(&[
    (
        "access_token",
        "Access token: presented to the API and required from readers of the exporter's \
         HTTP (the same token as the API's). Required unless --insecure-no-auth",
    ),
    (
        "insecure_no_auth",
        "Serve logs over HTTP without a token (YAML `insecure_no_auth`)",
    ),
    (
        "tls_cert_file",
        "Exporter REST TLS cert file path (YAML `server.tls.cert`)",
    ),
    (
        "tls_private_key_file",
        "Exporter REST TLS private key path (YAML `server.tls.key`)",
    ),
    (
        "tls_ca_file",
        "Exporter REST TLS certificate authority file path; clients must present a \
         certificate it signed (YAML `server.tls.ca`)",
    ),
])))]
pub struct ExporterArgs {
    /// Who may read logs, and the token presented to the API.
    #[command(flatten)]
    pub access: AccessArgs,
    /// Exporter bind address for agents' log streams [default: 0.0.0.0]
    /// (YAML `logger.host`).
    #[arg(long, env = "LB_BIND_LISTENER_ADDRESS")]
    pub bind_listener_address: Option<IpAddr>,
    /// Exporter bind port for agents' log streams [default: 2963] (YAML
    /// `logger.port`).
    #[arg(long, env = "LB_BIND_LISTENER_PORT")]
    pub bind_listener_port: Option<u16>,
    /// Exporter REST listener address for logs streaming [default: 0.0.0.0]
    /// (YAML `server.host`).
    #[arg(long, env = "LB_BIND_REST_ADDRESS")]
    pub bind_rest_address: Option<IpAddr>,
    /// Exporter REST listener port [default: 2964] (YAML `server.port`).
    #[arg(long, env = "LB_BIND_REST_PORT")]
    pub bind_rest_port: Option<u16>,
    /// HTTPS for the REST listener.
    #[command(flatten)]
    pub tls: ServerTlsArgs,
    /// How it reaches the API.
    #[command(flatten)]
    pub api: ApiClientArgs,
    /// Network interface whose address is advertised when bound to 0.0.0.0
    /// [default: eth0] (YAML `network.interface`).
    #[arg(long, env = "LB_BIND_INTERFACE")]
    pub bind_interface: Option<String>,
    /// Directory on host for logs storage; logs go to its `logs/`
    /// [default: /var/run/lastbackend] (YAML `logger.workdir`).
    #[arg(long, env = "LB_LOG_WORKDIR")]
    pub log_workdir: Option<PathBuf>,
    /// Size at which a container's log file is rotated, bytes or with a
    /// unit (`10mib`) [default: 10mib] (YAML `logger.rotate_size`).
    #[arg(long, env = "LB_LOG_ROTATE_SIZE")]
    pub log_rotate_size: Option<String>,
    /// Rotated files kept per container [default: 5] (YAML
    /// `logger.retention`).
    #[arg(long, env = "LB_LOG_RETENTION")]
    pub log_retention: Option<usize>,
    /// `--verbose` and `--config`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The YAML file of `lastbackend exporter -c`, with the docs' keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExporterFile {
    verbose: Option<u8>,
    token: Option<String>,
    insecure_no_auth: Option<bool>,
    #[serde(default)]
    server: ServerFile,
    #[serde(default)]
    logger: LoggerFile,
    #[serde(default)]
    api: ApiClientFile,
    #[serde(default)]
    network: NetworkFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoggerFile {
    workdir: Option<PathBuf>,
    host: Option<IpAddr>,
    port: Option<u16>,
    rotate_size: Option<String>,
    retention: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    interface: Option<String>,
}

/// Everything `lastbackend exporter` runs with, resolved and checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExporterConfig {
    /// The token, `None` only with `--insecure-no-auth`.
    pub token: Option<String>,
    /// Where agents stream logs.
    pub listener: SocketAddr,
    /// Where logs are read over HTTP.
    pub rest: SocketAddr,
    /// HTTPS for the REST listener.
    pub tls: Option<ServerTls>,
    /// The API to register with.
    pub api_uri: Option<String>,
    /// Client TLS files for the API (its CA, a client certificate and key).
    pub api_tls: TlsFiles,
    /// The interface whose address is advertised.
    pub interface: String,
    /// The log files' directory (`<workdir>/logs`).
    pub log_dir: PathBuf,
    /// Rotation size in bytes.
    pub rotate_bytes: u64,
    /// Rotated files kept per container.
    pub retention: usize,
    /// Log verbosity 0–7.
    pub verbose: u8,
}

impl ExporterConfig {
    /// Resolves flags and environment over the `--config` file over the
    /// defaults, and checks the result.
    pub fn load(args: ExporterArgs) -> Result<Self, ConfigError> {
        let file: ExporterFile = args.common.file()?;
        let verbose = args.common.verbose(file.verbose)?;
        let token = args
            .access
            .resolve(file.token, file.insecure_no_auth)?
            .into_token();
        let server = file.server.without_body_limit()?;
        let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let listener = SocketAddr::new(
            args.bind_listener_address
                .or(file.logger.host)
                .unwrap_or(any),
            args.bind_listener_port
                .or(file.logger.port)
                .unwrap_or(DEFAULT_LISTENER_PORT),
        );
        let rest = SocketAddr::new(
            args.bind_rest_address.or(server.host).unwrap_or(any),
            args.bind_rest_port
                .or(server.port)
                .unwrap_or(DEFAULT_REST_PORT),
        );
        let tls = args.tls.resolve(server.tls)?;
        let (api_uri, api_tls) = args.api.resolve(file.api)?;
        let rotate_bytes = match args.log_rotate_size.or(file.logger.rotate_size) {
            None => DEFAULT_ROTATE_BYTES,
            Some(text) => Ram::parse(&text)
                .map_err(|e| {
                    ConfigError::invalid(
                        "--log-rotate-size (YAML `logger.rotate_size`)",
                        e.to_string(),
                    )
                })?
                .bytes(),
        };
        if rotate_bytes < MIN_ROTATE_BYTES {
            return Err(ConfigError::invalid(
                "--log-rotate-size (YAML `logger.rotate_size`)",
                format!("{rotate_bytes} bytes is too small: accepted 64kib or more"),
            ));
        }
        let workdir = args
            .log_workdir
            .or(file.logger.workdir)
            .unwrap_or_else(|| PathBuf::from("/var/run/lastbackend"));
        Ok(Self {
            token,
            listener,
            rest,
            tls,
            api_uri,
            api_tls,
            interface: args
                .bind_interface
                .or(file.network.interface)
                .unwrap_or_else(|| "eth0".to_owned()),
            log_dir: workdir.join("logs"),
            rotate_bytes,
            retention: args
                .log_retention
                .or(file.logger.retention)
                .unwrap_or(DEFAULT_RETENTION),
            verbose,
        })
    }
}

#[cfg(test)]
mod tests;
