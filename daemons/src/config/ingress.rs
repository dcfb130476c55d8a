//! `lastbackend ingress`: its flags (the docs' ingress option table), the
//! YAML file of `-c` and the resolved settings.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use clap::Args;

use lastbackend_runtime::ingress::haproxy::{HaproxySettings, StatsSettings};

use super::{ApiClientArgs, CommonArgs, ConfigError, TlsFiles, TokenArgs, default_api_uri};

mod file;

use file::IngressFile;

/// The docs' HAProxy configuration path.
pub(super) const DEFAULT_HAPROXY_CONFIG: &str = "/var/run/lastbackend/ingress/haproxy/haproxy.cfg";
/// The docs' HAProxy pid file.
pub(super) const DEFAULT_HAPROXY_PID: &str = "/var/run/lastbackend/ingress/haproxy/haproxy.pid";
/// The docs' HAProxy binary; Debian's `/usr/sbin/haproxy` when it is absent.
pub(super) const DEFAULT_HAPROXY_EXEC: &str = "/usr/local/bin/haproxy";
/// The docs' stats port.
pub(super) const DEFAULT_STAT_PORT: u16 = 1936;

/// The flags of `lastbackend ingress`, each with its `LB_*` variable.
#[derive(Clone, Debug, Default, Args)]
pub struct IngressArgs {
    /// The token presented to the API.
    #[command(flatten)]
    pub token: TokenArgs,
    /// HAProxy configuration path [default: /var/run/lastbackend/ingress/haproxy/haproxy.cfg].
    #[arg(long, env = "LB_HAPROXY_CONFIG_PATH")]
    pub haproxy_config_path: Option<PathBuf>,
    /// HAProxy pid file path [default: /var/run/lastbackend/ingress/haproxy/haproxy.pid].
    #[arg(long, env = "LB_HAPROXY_PID")]
    pub haproxy_pid: Option<PathBuf>,
    /// HAProxy binary [default: /usr/local/bin/haproxy, else /usr/sbin/haproxy].
    #[arg(long, env = "LB_HAPROXY_EXEC")]
    pub haproxy_exec: Option<PathBuf>,
    /// HAProxy statistics port [default: 1936]; 0 disables the stats page.
    #[arg(long, env = "LB_HAPROXY_STAT_PORT")]
    pub haproxy_stat_port: Option<u16>,
    /// HAProxy statistics access username.
    #[arg(long, env = "LB_HAPROXY_STAT_USER")]
    pub haproxy_stat_username: Option<String>,
    /// HAProxy statistics access password.
    #[arg(long, env = "LB_HAPROXY_STAT_PASS", hide_env_values = true)]
    pub haproxy_stat_password: Option<String>,
    /// Network interface route ports listen on [default: eth0]; `any` (or
    /// empty) listens on every interface.
    #[arg(long, env = "LB_INGRESS_BIND_INTERFACE")]
    pub bind_interface: Option<String>,
    /// Container proxy interface driver [default: ipvs] (accepted for the
    /// docs; this ingress reaches pods directly, see the README).
    #[arg(long, env = "LB_NETWORK_PROXY")]
    pub network_proxy: Option<String>,
    /// Network internal interface binding [default: docker0].
    #[arg(long, env = "LB_NETWORK_PROXY_IFACE_INTERNAL")]
    pub network_proxy_iface_internal: Option<String>,
    /// Network container bridge binding [default: eth0].
    #[arg(long, env = "LB_NETWORK_PROXY_IFACE_EXTERNAL")]
    pub network_proxy_iface_external: Option<String>,
    /// Container overlay network driver [default: vxlan].
    #[arg(long, env = "LB_NETWORK_DRIVER")]
    pub network_driver: Option<String>,
    /// Overlay external interface for host communication [default: eth0].
    #[arg(long, env = "LB_NETWORK_DRIVER_IFACE_EXTERNAL")]
    pub network_driver_iface_external: Option<String>,
    /// Overlay internal bridge interface [default: docker0].
    #[arg(long, env = "LB_NETWORK_DRIVER_IFACE_INTERNAL")]
    pub network_driver_iface_internal: Option<String>,
    /// Additional resolver IPs, comma separated [default: 8.8.8.8,8.8.4.4].
    #[arg(long, env = "LB_NETWORK_RESOLVERS", value_delimiter = ',')]
    pub network_resolvers: Vec<IpAddr>,
    /// How it reaches the API.
    #[command(flatten)]
    pub api: ApiClientArgs,
    /// `--verbose` and `--config`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The overlay and proxy settings of the docs' table. This ingress sends
/// traffic to pod addresses itself and does not program an overlay or a
/// proxy; they are kept so a configuration written for the original loads.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngressNetwork {
    /// `--network-proxy`.
    pub proxy: String,
    /// `--network-proxy-iface-internal`, `--network-proxy-iface-external`.
    pub proxy_interfaces: (String, String),
    /// `--network-driver`.
    pub driver: String,
    /// `--network-driver-iface-internal`, `--network-driver-iface-external`.
    pub driver_interfaces: (String, String),
    /// `--network-resolvers`.
    pub resolvers: Vec<IpAddr>,
}

/// Everything `lastbackend ingress` runs with, resolved and checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct IngressConfig {
    /// The API token (none: no header).
    pub token: Option<String>,
    /// The API endpoint.
    pub api_uri: String,
    /// TLS files for the API connection.
    pub api_tls: TlsFiles,
    /// The HAProxy driver's settings.
    pub haproxy: HaproxySettings,
    /// Accepted overlay/proxy settings.
    pub network: IngressNetwork,
    /// Log verbosity 0–7.
    pub verbose: u8,
}

impl IngressConfig {
    /// Resolves flags and environment over the `--config` file over the
    /// defaults, and checks the result.
    pub fn load(args: IngressArgs) -> Result<Self, ConfigError> {
        let file: IngressFile = args.common.file()?;
        let verbose = args.common.verbose(file.verbose)?;
        let exec = args.haproxy_exec.or(file.haproxy.exec).unwrap_or_else(|| {
            [DEFAULT_HAPROXY_EXEC, "/usr/sbin/haproxy"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_HAPROXY_EXEC))
        });
        let config_path = args
            .haproxy_config_path
            .or(file.haproxy.config)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HAPROXY_CONFIG));
        if config_path.file_name().is_none() {
            return Err(ConfigError::invalid(
                "--haproxy-config-path (YAML `haproxy.config`)",
                "must name a file, e.g. /var/run/lastbackend/ingress/haproxy/haproxy.cfg",
            ));
        }
        let dir = config_path.parent().unwrap_or(Path::new(".")).to_owned();
        let mut haproxy = HaproxySettings::new(exec, dir);
        haproxy.config_path = config_path;
        haproxy.pid_path = args
            .haproxy_pid
            .or(file.haproxy.pid)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_HAPROXY_PID));
        let interface = args
            .bind_interface
            .or(file.network.interface)
            .unwrap_or_else(|| "eth0".to_owned());
        haproxy.interface = match interface.trim() {
            "" | "any" | "*" => None,
            name if Path::new("/sys/class/net").join(name).exists() => Some(name.to_owned()),
            name => {
                return Err(ConfigError::invalid(
                    "--bind-interface (YAML `network.interface`)",
                    format!(
                        "no network interface {name:?} here (see `ip link`); `any` listens on every interface"
                    ),
                ));
            }
        };
        let port = args
            .haproxy_stat_port
            .or(file.haproxy.stats.port)
            .unwrap_or(DEFAULT_STAT_PORT);
        let user = args.haproxy_stat_username.or(file.haproxy.stats.username);
        let password = args.haproxy_stat_password.or(file.haproxy.stats.password);
        haproxy.stats = match (port, user, password) {
            (0, ..) => None,
            (port, None, None) => Some(StatsSettings::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
            (port, Some(user), Some(password)) => {
                if user.is_empty() || user.contains(':') || user.chars().any(char::is_whitespace) {
                    return Err(ConfigError::invalid(
                        "--haproxy-stat-username (YAML `haproxy.stats.username`)",
                        "must be non-empty without ':' or spaces",
                    ));
                }
                if password.is_empty() || password.chars().any(|c| c.is_whitespace() || c == '#') {
                    return Err(ConfigError::invalid(
                        "--haproxy-stat-password (YAML `haproxy.stats.password`)",
                        "must be non-empty without spaces or '#'",
                    ));
                }
                Some(
                    StatsSettings::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
                        .with_credentials(user, password),
                )
            }
            (_, Some(_), None) => {
                return Err(ConfigError::invalid(
                    "--haproxy-stat-password (YAML `haproxy.stats.password`)",
                    "is required with a stats username",
                ));
            }
            (_, None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "--haproxy-stat-username (YAML `haproxy.stats.username`)",
                    "is required with a stats password",
                ));
            }
        };
        let (api_uri, api_tls) = args.api.resolve(file.api)?;
        let network = IngressNetwork {
            proxy: args
                .network_proxy
                .or(file.network.cpi.kind)
                .unwrap_or_else(|| "ipvs".into()),
            proxy_interfaces: (
                args.network_proxy_iface_internal
                    .or(file.network.cpi.interface.internal)
                    .unwrap_or_else(|| "docker0".into()),
                args.network_proxy_iface_external
                    .or(file.network.cpi.interface.external)
                    .unwrap_or_else(|| "eth0".into()),
            ),
            driver: args
                .network_driver
                .or(file.network.cni.kind)
                .unwrap_or_else(|| "vxlan".into()),
            driver_interfaces: (
                args.network_driver_iface_internal
                    .or(file.network.cni.interface.internal)
                    .unwrap_or_else(|| "docker0".into()),
                args.network_driver_iface_external
                    .or(file.network.cni.interface.external)
                    .unwrap_or_else(|| "eth0".into()),
            ),
            resolvers: if args.network_resolvers.is_empty() {
                file.network.resolver.servers.unwrap_or_else(|| {
                    vec![
                        IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
                        IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4)),
                    ]
                })
            } else {
                args.network_resolvers
            },
        };
        Ok(Self {
            token: args.token.resolve(file.token),
            api_uri: api_uri.unwrap_or_else(default_api_uri),
            api_tls,
            haproxy,
            network,
            verbose,
        })
    }
}

#[cfg(test)]
mod tests;
