//! `lastbackend up`: its flags and the settings of each component it runs,
//! resolved through the components' own loaders so their checks and
//! defaults are the same as when each runs alone.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{
    Access, AccessArgs, ApiArgs, ApiConfig, CommonArgs, ConfigError, ControllerArgs,
    ControllerConfig, DiscoveryArgs, DiscoveryConfig, ExporterArgs, ExporterConfig, IngressArgs,
    IngressConfig, NodeArgs, NodeConfig, StorageArgs, StorageDriver, check_verbose,
};

/// The flags of `lastbackend up`, each with its `LB_*` variable.
#[derive(Clone, Debug, Default, Args)]
pub struct UpArgs {
    /// Where the store, the logs, the volumes and the generated token live
    /// [default: /var/lib/lastbackend as root, else
    /// $XDG_DATA_HOME/lastbackend or ~/.local/share/lastbackend].
    #[arg(long, env = "LB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Access token for the API and the exporter [default: generated on the
    /// first start and kept in <data-dir>/token].
    #[arg(long, env = "LB_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// The API's bind address [default: 0.0.0.0].
    #[arg(long, env = "LB_BIND_ADDRESS")]
    pub bind_address: Option<IpAddr>,
    /// The API's port [default: 2967].
    #[arg(long, env = "LB_BIND_PORT")]
    pub bind_port: Option<u16>,
    /// The port discovery serves DNS on, UDP and TCP [default: 53].
    #[arg(long, env = "LB_DNS_PORT")]
    pub dns_port: Option<u16>,
    /// The node's name in the cluster [default: the hostname].
    #[arg(long, env = "LB_NODE_NAME")]
    pub node_name: Option<String>,
    /// Service proxy: auto (ipvs when the kernel has it, else nftables),
    /// ipvs, nftables or none [default: auto].
    #[arg(long, env = "LB_NETWORK_PROXY")]
    pub network_proxy: Option<String>,
    /// Overlay network: none or vxlan [default: none; one host needs no
    /// overlay, pods use Docker's bridge].
    #[arg(long, env = "LB_NETWORK_DRIVER")]
    pub network_driver: Option<String>,
    /// The HAProxy binary the ingress runs [default: /usr/local/bin/haproxy,
    /// else /usr/sbin/haproxy].
    #[arg(long, env = "LB_HAPROXY_EXEC")]
    pub haproxy_exec: Option<PathBuf>,
    /// Components not to run (repeat, or separate with commas); the API and
    /// the controller always run.
    #[arg(long, env = "LB_DISABLE", value_enum, value_delimiter = ',')]
    pub disable: Vec<Component>,
    /// Set log level from 0 to 7.
    #[arg(short, long, env = "LB_VERBOSE", value_parser = clap::value_parser!(u8).range(0..=7))]
    pub verbose: Option<u8>,
}

/// A component `up` may leave out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Component {
    /// The node agent (needs Docker).
    Node,
    /// The DNS server of service names.
    Discovery,
    /// HAProxy in front of the routes.
    Ingress,
    /// The log collector.
    Exporter,
}

/// What `lastbackend up` runs, each component's settings resolved.
#[derive(Debug)]
#[non_exhaustive]
pub struct UpConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The token given by flag or environment; `None`: the token file's.
    pub token: Option<String>,
    /// The API (on the embedded store in `data_dir`).
    pub api: ApiConfig,
    /// The controller.
    pub controller: ControllerConfig,
    /// Discovery, unless disabled.
    pub discovery: Option<DiscoveryConfig>,
    /// The ingress, unless disabled.
    pub ingress: Option<IngressConfig>,
    /// The exporter, unless disabled.
    pub exporter: Option<ExporterConfig>,
    /// The node agent, unless disabled.
    pub node: Option<NodeConfig>,
    /// Log verbosity 0–7.
    pub verbose: u8,
}

impl UpConfig {
    /// Resolves the flags into every component's settings and checks them;
    /// touches no file.
    pub fn load(args: UpArgs) -> Result<Self, ConfigError> {
        let verbose = check_verbose(args.verbose.unwrap_or(0))?;
        let data_dir = match args.data_dir {
            Some(dir) if dir.as_os_str().is_empty() => {
                return Err(ConfigError::invalid(
                    "--data-dir",
                    "is empty: give a directory",
                ));
            }
            Some(dir) => dir,
            None => default_data_dir(),
        };
        let enabled = |c: Component| !args.disable.contains(&c);
        let storage = StorageArgs {
            storage: Some(StorageDriver::Embedded),
            data_dir: Some(data_dir.clone()),
            ..StorageArgs::default()
        };
        // Loaded open, then given the token once it is known: a generated
        // token needs a file written, which waits until every setting is
        // checked.
        let mut api = ApiConfig::load(ApiArgs {
            access: AccessArgs {
                insecure_no_auth: true,
                ..AccessArgs::default()
            },
            bind_address: args.bind_address,
            bind_port: args.bind_port,
            storage: storage.clone(),
            common: CommonArgs::verbose_only(verbose),
            ..ApiArgs::default()
        })?;
        if let Some(token) = &args.access_token {
            if token.is_empty() {
                return Err(ConfigError::invalid(
                    "--access-token",
                    "is empty: give a token, or leave it out to use the generated one",
                ));
            }
            api.access = Access::Token(token.clone());
        }
        let controller = ControllerConfig::load(ControllerArgs {
            storage: storage.clone(),
            common: CommonArgs::verbose_only(verbose),
            ..ControllerArgs::default()
        })?;
        let discovery = enabled(Component::Discovery)
            .then(|| {
                DiscoveryConfig::load(DiscoveryArgs {
                    bind_port: args.dns_port,
                    storage: storage.clone(),
                    common: CommonArgs::verbose_only(verbose),
                    ..DiscoveryArgs::default()
                })
            })
            .transpose()?;
        let ingress_dir = data_dir.join("ingress");
        let ingress = enabled(Component::Ingress)
            .then(|| {
                IngressConfig::load(IngressArgs {
                    haproxy_config_path: Some(ingress_dir.join("haproxy.cfg")),
                    haproxy_pid: Some(ingress_dir.join("haproxy.pid")),
                    haproxy_exec: args.haproxy_exec.clone(),
                    // No stats page: it would need credentials of its own.
                    haproxy_stat_port: Some(0),
                    bind_interface: Some("any".to_owned()),
                    common: CommonArgs::verbose_only(verbose),
                    ..IngressArgs::default()
                })
            })
            .transpose()?;
        let exporter = enabled(Component::Exporter)
            .then(|| {
                ExporterConfig::load(ExporterArgs {
                    access: AccessArgs {
                        insecure_no_auth: true,
                        ..AccessArgs::default()
                    },
                    log_workdir: Some(data_dir.clone()),
                    common: CommonArgs::verbose_only(verbose),
                    ..ExporterArgs::default()
                })
            })
            .transpose()?;
        let node = enabled(Component::Node)
            .then(|| {
                NodeConfig::load(NodeArgs {
                    node_name: args.node_name.clone(),
                    network_proxy: args.network_proxy.clone(),
                    network_driver: Some(
                        args.network_driver
                            .clone()
                            .unwrap_or_else(|| "none".to_owned()),
                    ),
                    container_storage_root: Some(data_dir.join("volumes")),
                    common: CommonArgs::verbose_only(verbose),
                    ..NodeArgs::default()
                })
            })
            .transpose()?;
        Ok(Self {
            token: args.access_token,
            data_dir,
            api,
            controller,
            discovery,
            ingress,
            exporter,
            node,
            verbose,
        })
    }

    /// Where the generated token is kept.
    pub fn token_file(&self) -> PathBuf {
        self.data_dir.join("token")
    }
}

/// `/var/lib/lastbackend` for root; otherwise the user's data directory.
fn default_data_dir() -> PathBuf {
    let root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if root {
        return PathBuf::from(super::DEFAULT_DATA_DIR);
    }
    user_data_dir(
        std::env::var_os("XDG_DATA_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// `$XDG_DATA_HOME/lastbackend`, else `~/.local/share/lastbackend`, else
/// the system directory.
fn user_data_dir(xdg: Option<PathBuf>, home: Option<PathBuf>) -> PathBuf {
    match (xdg.filter(|p| p.is_absolute()), home) {
        (Some(xdg), _) => xdg.join("lastbackend"),
        (None, Some(home)) => home.join(".local/share/lastbackend"),
        (None, None) => Path::new(super::DEFAULT_DATA_DIR).to_owned(),
    }
}

#[cfg(test)]
mod tests;
