//! `lastbackend exporter`: its flags (the docs' exporter option table, plus
//! rotation, retention and `--insecure-no-auth`), the YAML file of `-c` and
//! the resolved settings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use lastbackend_core::units::Ram;
use serde::Deserialize;

use super::{
    ApiClientArgs, ApiClientFile, ConfigError, ServerTls, TlsFiles, check_verbose, load_yaml,
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
pub struct ExporterArgs {
    /// Access token: presented to the API and required from readers of
    /// the exporter's HTTP (the same token as the API's). Required unless
    /// --insecure-no-auth.
    #[arg(long, env = "LB_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// Serve logs over HTTP without a token (YAML `insecure_no_auth`).
    #[arg(long, env = "LB_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
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
    /// Exporter REST TLS cert file path (YAML `server.tls.cert`).
    #[arg(long, env = "LB_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// Exporter REST TLS private key path (YAML `server.tls.key`).
    #[arg(long, env = "LB_TLS_PRIVATE_KEY")]
    pub tls_private_key_file: Option<PathBuf>,
    /// Exporter REST TLS certificate authority file path; clients must
    /// present a certificate it signed (YAML `server.tls.ca`).
    #[arg(long, env = "LB_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
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
    /// Set log level from 0 to 7.
    #[arg(short, long, env = "LB_VERBOSE", value_parser = clap::value_parser!(u8).range(0..=7))]
    pub verbose: Option<u8>,
    /// Path for the configuration file (YAML).
    #[arg(short, long, env = "LB_CONFIG")]
    pub config: Option<PathBuf>,
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
struct ServerFile {
    host: Option<IpAddr>,
    port: Option<u16>,
    #[serde(default)]
    tls: TlsFiles,
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
    /// Client TLS files for the API (accepted; HTTPS to the API is not
    /// supported by the exporter yet).
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
        let file: ExporterFile = match &args.config {
            Some(path) => load_yaml(path)?,
            None => ExporterFile::default(),
        };
        let verbose = check_verbose(args.verbose.or(file.verbose).unwrap_or(0))?;
        let token = args.access_token.or(file.token).filter(|t| !t.is_empty());
        let open = args.insecure_no_auth || file.insecure_no_auth.unwrap_or(false);
        let token = match (token, open) {
            (Some(token), false) => Some(token),
            (None, true) => None,
            (None, false) => {
                return Err(ConfigError::invalid(
                    "--access-token (YAML `token`)",
                    "is required (the API's token); or serve logs to anyone with --insecure-no-auth",
                ));
            }
            (Some(_), true) => {
                return Err(ConfigError::invalid(
                    "--insecure-no-auth (YAML `insecure_no_auth`)",
                    "contradicts the access token that is set: give one or the other",
                ));
            }
        };
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
            args.bind_rest_address.or(file.server.host).unwrap_or(any),
            args.bind_rest_port
                .or(file.server.port)
                .unwrap_or(DEFAULT_REST_PORT),
        );
        let tls = server_tls(TlsFiles {
            cert: args.tls_cert_file.or(file.server.tls.cert),
            key: args.tls_private_key_file.or(file.server.tls.key),
            ca: args.tls_ca_file.or(file.server.tls.ca),
        })?;
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

/// HTTPS settings from the `server.tls` files: certificate and key together.
fn server_tls(files: TlsFiles) -> Result<Option<ServerTls>, ConfigError> {
    match files {
        TlsFiles {
            cert: Some(cert),
            key: Some(key),
            ca,
        } => Ok(Some(ServerTls {
            cert,
            key,
            client_ca: ca,
        })),
        TlsFiles {
            cert: None,
            key: None,
            ca: None,
        } => Ok(None),
        TlsFiles { cert: None, .. } => Err(ConfigError::invalid(
            "--tls-cert-file (YAML `server.tls.cert`)",
            "is required when a TLS key or CA is given",
        )),
        TlsFiles { key: None, .. } => Err(ConfigError::invalid(
            "--tls-private-key-file (YAML `server.tls.key`)",
            "is required when a TLS certificate is given",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExporterArgs,
    }

    fn load(flags: &[&str]) -> Result<ExporterConfig, ConfigError> {
        let mut argv = vec!["exporter"];
        argv.extend_from_slice(flags);
        ExporterConfig::load(Cli::try_parse_from(argv).unwrap().args)
    }

    #[test]
    fn defaults_are_the_docs() {
        let config = load(&["--access-token", "t"]).unwrap();
        assert_eq!(config.listener, "0.0.0.0:2963".parse().unwrap());
        assert_eq!(config.rest, "0.0.0.0:2964".parse().unwrap());
        assert_eq!(config.log_dir, PathBuf::from("/var/run/lastbackend/logs"));
        assert_eq!(config.interface, "eth0");
        assert_eq!(
            (config.rotate_bytes, config.retention),
            (DEFAULT_ROTATE_BYTES, DEFAULT_RETENTION)
        );
        assert!(config.tls.is_none() && config.api_uri.is_none());
    }

    #[test]
    fn the_file_has_the_docs_keys_and_flags_win() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(
            b"verbose: 3\ntoken: file-token\nserver:\n  host: 127.0.0.1\n  port: 3001\nlogger:\n  workdir: /tmp/lb\n  host: 127.0.0.2\n  port: 3000\n  rotate_size: 1mib\n  retention: 2\napi:\n  uri: http://10.0.0.1:2967\nnetwork:\n  interface: lo\n",
        )
        .unwrap();
        let path = file.path().to_str().unwrap();
        let config = load(&["-c", path]).unwrap();
        assert_eq!(config.token.as_deref(), Some("file-token"));
        assert_eq!(config.listener, "127.0.0.2:3000".parse().unwrap());
        assert_eq!(config.rest, "127.0.0.1:3001".parse().unwrap());
        assert_eq!(config.log_dir, PathBuf::from("/tmp/lb/logs"));
        assert_eq!((config.rotate_bytes, config.retention), (1 << 20, 2));
        assert_eq!(config.api_uri.as_deref(), Some("http://10.0.0.1:2967"));
        assert_eq!((config.interface.as_str(), config.verbose), ("lo", 3));

        let config = load(&[
            "-c",
            path,
            "--bind-listener-port",
            "4000",
            "--log-rotate-size",
            "65536",
            "--log-retention",
            "0",
        ])
        .unwrap();
        assert_eq!(config.listener.port(), 4000);
        assert_eq!((config.rotate_bytes, config.retention), (65536, 0));
    }

    #[test]
    fn bad_values_name_their_setting() {
        let err = load(&[]).unwrap_err();
        assert!(err.to_string().starts_with("--access-token"), "{err}");
        let err = load(&["--access-token", "t", "--log-rotate-size", "1kib"]).unwrap_err();
        assert!(err.to_string().starts_with("--log-rotate-size"), "{err}");
        let err = load(&["--access-token", "t", "--log-rotate-size", "lots"]).unwrap_err();
        assert!(err.to_string().starts_with("--log-rotate-size"), "{err}");
        // HTTPS to the API is fine (the client speaks TLS); a path without
        // a scheme is no endpoint.
        let config = load(&["--access-token", "t", "--api-uri", "https://x:2967"]).unwrap();
        assert_eq!(config.api_uri.as_deref(), Some("https://x:2967"));
        let err = load(&["--access-token", "t", "--api-uri", "api.local/lb"]).unwrap_err();
        assert!(err.to_string().starts_with("--api-uri"), "{err}");
        let err = load(&["--access-token", "t", "--api-tls-cert-file", "c"]).unwrap_err();
        assert!(err.to_string().starts_with("--api-tls-cert-file"), "{err}");
        let err = load(&["--access-token", "t", "--tls-private-key-file", "k"]).unwrap_err();
        assert!(err.to_string().starts_with("--tls-cert-file"), "{err}");
    }
}
