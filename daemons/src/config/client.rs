//! How a host-side daemon reaches the API: the `--api-*` flags, the file's
//! `api` section and their one resolution.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::{ConfigError, DEFAULT_API_PORT, TlsFiles};

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
pub(super) struct ApiClientFile {
    uri: Option<String>,
    #[serde(default)]
    tls: TlsFiles,
}

impl ApiClientArgs {
    /// Flags over the file's `api` section, checked: the endpoint (`None`
    /// when unset or empty) and the TLS files.
    pub(super) fn resolve(
        self,
        file: ApiClientFile,
    ) -> Result<(Option<String>, TlsFiles), ConfigError> {
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
        let tls = file.tls.under(TlsFiles {
            cert: self.api_tls_cert_file,
            key: self.api_tls_private_key_file,
            ca: self.api_tls_ca_file,
        });
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
pub(super) fn default_api_uri() -> String {
    format!("http://127.0.0.1:{DEFAULT_API_PORT}")
}
