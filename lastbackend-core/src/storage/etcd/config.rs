use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::storage::{DEFAULT_PREFIX, Error, Result};

/// Where the etcd cluster is and how to talk to it: the original's
/// `--etcd-endpoints`, `--etcd-prefix` and `--etcd-*-file` flags, or the YAML
/// section `storage.etcd`.
///
/// ```
/// use lastbackend_core::storage::etcd::{EtcdConfig, EtcdTls};
///
/// let config = EtcdConfig::new(["https://10.0.0.1:2379"])
///     .with_prefix("staging")
///     .with_tls(EtcdTls::new().with_ca_file("/etc/lb/ca.pem"));
/// assert_eq!(config.prefix, "staging");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct EtcdConfig {
    /// The cluster's client URLs (`host:port`, `http://..` or `https://..`).
    pub endpoints: Vec<String>,
    /// Every key lives under `/<prefix>/`.
    pub prefix: String,
    /// Client TLS; `None` talks plain HTTP/2.
    pub tls: Option<EtcdTls>,
    /// How long one request may wait for etcd before it fails as unavailable.
    #[serde(skip)]
    pub request_timeout: Duration,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        Self {
            endpoints: vec!["127.0.0.1:2379".to_owned()],
            prefix: DEFAULT_PREFIX.to_owned(),
            tls: None,
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl EtcdConfig {
    /// The defaults (prefix `lastbackend`, no TLS) with these endpoints.
    pub fn new<I, S>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Puts every key under `/<prefix>/` (slashes around it are ignored).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Talks TLS with these files.
    pub fn with_tls(mut self, tls: EtcdTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Fails a request that etcd has not answered after `timeout`.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The key root, `/<prefix>/`.
    pub(super) fn root(&self) -> Result<String> {
        let prefix = self.prefix.trim_matches('/');
        if prefix.is_empty() {
            return Err(Error::Invalid("the etcd prefix is empty".to_owned()));
        }
        Ok(format!("/{prefix}/"))
    }
}

/// Client TLS files, PEM encoded (`--etcd-cert-file`,
/// `--etcd-private-key-file`, `--etcd-ca-file`; YAML `tls.{cert,key,ca}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct EtcdTls {
    /// The client certificate, for clusters that authenticate clients.
    #[serde(rename = "cert")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key.
    #[serde(rename = "key")]
    pub key_file: Option<PathBuf>,
    /// The CA that signed the servers' certificates; the system roots
    /// otherwise.
    #[serde(rename = "ca")]
    pub ca_file: Option<PathBuf>,
}

impl EtcdTls {
    /// No files: TLS with the system's roots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Presents this client certificate and key.
    pub fn with_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.cert_file = Some(cert.into());
        self.key_file = Some(key.into());
        self
    }

    /// Trusts servers signed by this CA.
    pub fn with_ca_file(mut self, ca: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca.into());
        self
    }

    /// Reads the files into etcd-client's options, failing with the flag and
    /// path of the first file that cannot be read.
    pub(super) fn load(&self) -> Result<etcd_client::TlsOptions> {
        let mut options = etcd_client::TlsOptions::new();
        if let Some(ca) = &self.ca_file {
            let pem = read_pem(ca, "--etcd-ca-file")?;
            options = options.ca_certificate(etcd_client::Certificate::from_pem(pem));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let cert = read_pem(cert, "--etcd-cert-file")?;
                let key = read_pem(key, "--etcd-private-key-file")?;
                options = options.identity(etcd_client::Identity::from_pem(cert, key));
            }
            (None, None) => {}
            _ => {
                return Err(Error::Invalid(
                    "etcd TLS: --etcd-cert-file and --etcd-private-key-file must be given together"
                        .to_owned(),
                ));
            }
        }
        Ok(options)
    }
}

fn read_pem(path: &Path, flag: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::Invalid(format!(
            "etcd TLS: cannot read {flag} {}: {e}",
            path.display()
        ))
    })
}
