//! What a daemon that serves HTTP is configured with: the `server` section
//! of its file, the TLS files and the `--tls-*` flags the API and the
//! exporter share, with their one resolution.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::ConfigError;

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

    /// Each file of `flags` over the same file of `self` (the YAML's).
    pub(super) fn under(self, flags: TlsFiles) -> TlsFiles {
        TlsFiles {
            cert: flags.cert.or(self.cert),
            key: flags.key.or(self.key),
            ca: flags.ca.or(self.ca),
        }
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

/// The `--tls-*` flags of a daemon serving HTTPS (the API, the exporter).
/// The help texts are the API's; the exporter overrides them with
/// `help_overrides`.
#[derive(Clone, Debug, Default, Args)]
#[non_exhaustive]
pub struct ServerTlsArgs {
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
}

impl ServerTlsArgs {
    /// Flags over the file's `server.tls`: HTTPS with a certificate and its
    /// key (and a client CA), plain HTTP with no file at all.
    pub(super) fn resolve(self, file: TlsFiles) -> Result<Option<ServerTls>, ConfigError> {
        let files = file.under(TlsFiles {
            cert: self.tls_cert_file,
            key: self.tls_private_key_file,
            ca: self.tls_ca_file,
        });
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
}

/// The `server` section of the API's, the exporter's and the node's files.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerFile {
    pub(super) host: Option<IpAddr>,
    pub(super) port: Option<u16>,
    /// The API's alone: [`ServerFile::without_body_limit`] refuses it
    /// elsewhere, as the daemons' own sections did.
    pub(super) body_limit: Option<usize>,
    #[serde(default)]
    pub(super) tls: TlsFiles,
}

impl ServerFile {
    /// This section, refusing `body_limit`, which only the API reads.
    pub(super) fn without_body_limit(self) -> Result<Self, ConfigError> {
        match self.body_limit {
            None => Ok(self),
            Some(_) => Err(ConfigError::invalid(
                "YAML `server.body_limit`",
                "is an API setting: this daemon takes no request bodies",
            )),
        }
    }
}
