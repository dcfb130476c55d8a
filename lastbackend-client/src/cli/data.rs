//! `lb secret ...` and `lb config ...`: key/value data from flags or files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use lastbackend_core::manifest::{
    ConfigEntryManifest, ConfigManifest, ConfigSpecManifest, ConfigType, ManifestMeta,
    SecretManifest, SecretSpecManifest, SecretType,
};

use super::{MANIFEST_VERSION, Printer, views};
use crate::Client;

/// The data of a secret: auth, text or files, one type at a time.
#[derive(Clone, Debug, Args)]
#[group(id = "secret_data", required = true, multiple = true)]
pub struct SecretData {
    /// An auth secret: a username and a password.
    #[arg(short, long, requires_all = ["username", "password"], conflicts_with_all = ["text", "files"])]
    pub auth: bool,
    /// The auth secret's username.
    #[arg(short, long, requires = "auth")]
    pub username: Option<String>,
    /// The auth secret's password.
    #[arg(short, long, requires = "auth")]
    pub password: Option<String>,
    /// A text entry; repeat for more.
    #[arg(short, long = "text", value_name = "KEY=VALUE", value_parser = parse_pair, conflicts_with = "files")]
    pub text: Vec<(String, String)>,
    /// A file, stored under its file name; repeat for more.
    #[arg(short, long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// The data of a config: text or files.
#[derive(Clone, Debug, Args)]
#[group(id = "config_data", required = true, multiple = true)]
pub struct ConfigData {
    /// A text entry; repeat for more.
    #[arg(short, long = "text", value_name = "KEY=VALUE", value_parser = parse_pair, conflicts_with = "files")]
    pub text: Vec<(String, String)>,
    /// A file, stored under its file name; repeat for more.
    #[arg(short, long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?}: expected KEY=VALUE")),
    }
}

fn read_files(files: &[PathBuf]) -> anyhow::Result<BTreeMap<String, String>> {
    files
        .iter()
        .map(|path| {
            let key = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .with_context(|| format!("{} has no file name", path.display()))?;
            let value = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok((key, value))
        })
        .collect()
}

impl SecretData {
    fn manifest(self, name: &str) -> anyhow::Result<SecretManifest> {
        let (kind, data) = if self.auth {
            let pairs = [
                ("username", self.username.unwrap_or_default()),
                ("password", self.password.unwrap_or_default()),
            ];
            let data = pairs.map(|(k, v)| (k.to_owned(), v)).into_iter().collect();
            (SecretType::Auth, data)
        } else if !self.text.is_empty() {
            (SecretType::Text, self.text.into_iter().collect())
        } else {
            (SecretType::File, read_files(&self.files)?)
        };
        Ok(SecretManifest {
            meta: meta(name),
            spec: SecretSpecManifest { kind, data },
            version: MANIFEST_VERSION.to_owned(),
        })
    }
}

impl ConfigData {
    fn manifest(self, name: &str) -> anyhow::Result<ConfigManifest> {
        let (kind, data) = if self.text.is_empty() {
            (ConfigType::File, read_files(&self.files)?)
        } else {
            (ConfigType::Text, self.text.into_iter().collect())
        };
        let data = data
            .into_iter()
            .map(|(key, value)| ConfigEntryManifest {
                key,
                value: Some(value),
                file: None,
            })
            .collect();
        Ok(ConfigManifest {
            meta: meta(name),
            spec: ConfigSpecManifest { kind, data },
            version: MANIFEST_VERSION.to_owned(),
        })
    }
}

fn meta(name: &str) -> ManifestMeta {
    ManifestMeta {
        name: name.to_owned(),
        ..ManifestMeta::default()
    }
}

/// `lb secret`.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// List the secrets of a namespace (keys only, never values).
    #[command(visible_alias = "list")]
    Ls {
        /// The namespace.
        namespace: String,
    },
    /// Show a secret's type and keys.
    Inspect {
        /// The namespace.
        namespace: String,
        /// The secret.
        name: String,
    },
    /// Create a secret: `-a -u <user> -p <password>`, `-t k=v...` or
    /// `-f <file>...`.
    Create {
        /// The namespace.
        namespace: String,
        /// The secret.
        name: String,
        /// Its data.
        #[command(flatten)]
        data: SecretData,
    },
    /// Replace a secret's data (of the same type).
    Update {
        /// The namespace.
        namespace: String,
        /// The secret.
        name: String,
        /// Its data.
        #[command(flatten)]
        data: SecretData,
    },
    /// Remove a secret.
    #[command(visible_alias = "rm")]
    Remove {
        /// The namespace.
        namespace: String,
        /// The secret.
        name: String,
    },
}

/// `lb config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List the configs of a namespace.
    #[command(visible_alias = "list")]
    Ls {
        /// The namespace.
        namespace: String,
    },
    /// Show a config and its values.
    Inspect {
        /// The namespace.
        namespace: String,
        /// The config.
        name: String,
    },
    /// Create a config: `-t k=v...` or `-f <file>...`.
    Create {
        /// The namespace.
        namespace: String,
        /// The config.
        name: String,
        /// Its data.
        #[command(flatten)]
        data: ConfigData,
    },
    /// Replace a config's data.
    Update {
        /// The namespace.
        namespace: String,
        /// The config.
        name: String,
        /// Its data.
        #[command(flatten)]
        data: ConfigData,
    },
    /// Remove a config.
    #[command(visible_alias = "rm")]
    Remove {
        /// The namespace.
        namespace: String,
        /// The config.
        name: String,
    },
}

pub(super) async fn run_secret(
    client: &Client,
    out: &Printer,
    command: SecretCommand,
) -> anyhow::Result<()> {
    match command {
        SecretCommand::Ls { namespace } => {
            let list = client.namespace(&namespace).secrets().list().await?;
            out.show(&list.items, || views::secret_list(&list.items));
        }
        SecretCommand::Inspect { namespace, name } => {
            let secret = client.namespace(&namespace).secret(&name).get().await?;
            out.show(&secret, || views::secret(&secret));
        }
        SecretCommand::Create {
            namespace,
            name,
            data,
        } => {
            let manifest = data.manifest(&name)?;
            let secret = client
                .namespace(&namespace)
                .secrets()
                .create(&manifest)
                .await?;
            out.show(&secret, || format!("Secret `{name}` is created\n"));
        }
        SecretCommand::Update {
            namespace,
            name,
            data,
        } => {
            let manifest = data.manifest(&name)?;
            let secret = client
                .namespace(&namespace)
                .secret(&name)
                .update(&manifest)
                .await?;
            out.show(&secret, || format!("Secret `{name}` is updated\n"));
        }
        SecretCommand::Remove { namespace, name } => {
            let secret = client.namespace(&namespace).secret(&name).remove().await?;
            out.show(&secret, || format!("Secret `{name}` is removed\n"));
        }
    }
    Ok(())
}

pub(super) async fn run_config(
    client: &Client,
    out: &Printer,
    command: ConfigCommand,
) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Ls { namespace } => {
            let list = client.namespace(&namespace).configs().list().await?;
            out.show(&list.items, || views::config_list(&list.items));
        }
        ConfigCommand::Inspect { namespace, name } => {
            let config = client.namespace(&namespace).config(&name).get().await?;
            out.show(&config, || views::config(&config));
        }
        ConfigCommand::Create {
            namespace,
            name,
            data,
        } => {
            let manifest = data.manifest(&name)?;
            let config = client
                .namespace(&namespace)
                .configs()
                .create(&manifest)
                .await?;
            out.show(&config, || format!("Config `{name}` is created\n"));
        }
        ConfigCommand::Update {
            namespace,
            name,
            data,
        } => {
            let manifest = data.manifest(&name)?;
            let config = client
                .namespace(&namespace)
                .config(&name)
                .update(&manifest)
                .await?;
            out.show(&config, || format!("Config `{name}` is updated\n"));
        }
        ConfigCommand::Remove { namespace, name } => {
            let config = client.namespace(&namespace).config(&name).remove().await?;
            out.show(&config, || format!("Config `{name}` is removed\n"));
        }
    }
    Ok(())
}
