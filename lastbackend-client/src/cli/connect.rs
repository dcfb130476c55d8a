//! Where the API is: flags, then `LB_*` variables, then the config file
//! (`~/.config/lastbackend/config.yaml`, keys as in the docs' `api:` block).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

use crate::Client;

/// The connection settings of `lb`.
#[derive(Clone, Debug, Default, Args)]
pub struct Connection {
    /// REST API endpoint (`host:port` or `https://host:port`).
    #[arg(long, env = "LB_API_URI", global = true, value_name = "URI")]
    pub api_uri: Option<String>,
    /// Access token sent as `Authorization: Bearer`.
    #[arg(long, env = "LB_ACCESS_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// REST API TLS client certificate file path.
    #[arg(
        long = "api-tls-cert-file",
        env = "LB_API_CERT_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub cert_file: Option<PathBuf>,
    /// REST API TLS private key file path.
    #[arg(
        long = "api-tls-private-key-file",
        env = "LB_API_PRIVATE_KEY_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub key_file: Option<PathBuf>,
    /// REST API TLS certificate authority file path.
    #[arg(
        long = "api-tls-ca-file",
        env = "LB_API_CA_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub ca_file: Option<PathBuf>,
    /// Config file [default: ~/.config/lastbackend/config.yaml].
    #[arg(long, env = "LB_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The config file: `token` and the `api` block of the docs.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    token: Option<String>,
    api: ApiConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ApiConfig {
    uri: Option<String>,
    tls: TlsConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TlsConfig {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
}

fn default_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(base.join("lastbackend").join("config.yaml"))
}

impl Connection {
    /// Fills what flags and variables left unset from the config file; a
    /// missing default file is no error, a missing `--config` file is.
    pub fn resolve(mut self) -> anyhow::Result<Self> {
        let (path, explicit) = match self.config.clone() {
            Some(path) => (Some(path), true),
            None => (default_config_path(), false),
        };
        let Some(path) = path else { return Ok(self) };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if !explicit && err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(self);
            }
            Err(err) => return Err(err).with_context(|| format!("config {}", path.display())),
        };
        let file: FileConfig =
            yaml_serde::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let relative = |file: Option<PathBuf>| file.map(|file| dir.join(file));
        self.api_uri = self.api_uri.or(file.api.uri);
        self.token = self.token.or(file.token);
        self.cert_file = self.cert_file.or(relative(file.api.tls.cert));
        self.key_file = self.key_file.or(relative(file.api.tls.key));
        self.ca_file = self.ca_file.or(relative(file.api.tls.ca));
        Ok(self)
    }

    /// The SDK client for these settings.
    pub fn client(&self) -> anyhow::Result<Client> {
        let settings = self.clone().resolve()?;
        let mut builder = Client::builder();
        if let Some(uri) = &settings.api_uri {
            builder = builder.endpoint(uri);
        }
        if let Some(token) = &settings.token {
            builder = builder.token(token);
        }
        if let Some(ca) = &settings.ca_file {
            builder = builder.ca_file(ca);
        }
        match (&settings.cert_file, &settings.key_file) {
            (Some(cert), Some(key)) => builder = builder.identity(cert, key),
            (None, None) => {}
            _ => anyhow::bail!(
                "a TLS client certificate needs both --api-tls-cert-file and --api-tls-private-key-file"
            ),
        }
        Ok(builder.build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_file_paths_are_relative_to_it() {
        let dir = std::env::temp_dir().join(format!("lb-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.yaml");
        std::fs::write(
            &path,
            "token: from-file\napi:\n  uri: 10.0.0.1:2967\n  tls:\n    ca: ca.pem\n",
        )
        .unwrap();
        let connection = Connection {
            token: Some("from-flag".into()),
            config: Some(path),
            ..Connection::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(connection.token.as_deref(), Some("from-flag"));
        assert_eq!(connection.api_uri.as_deref(), Some("10.0.0.1:2967"));
        assert_eq!(connection.ca_file, Some(dir.join("ca.pem")));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_named_config_file_must_exist() {
        let connection = Connection {
            config: Some("/nonexistent/lb.yaml".into()),
            ..Connection::default()
        };
        assert!(connection.resolve().is_err());
    }
}
