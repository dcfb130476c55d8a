//! `lastbackend node`: its flags (the docs' node option table, plus
//! `--node-name`), the YAML file of `-c` with the docs' keys, and the
//! resolved settings.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use lastbackend_runtime::host::hostname;

use super::{
    ApiClientArgs, CommonArgs, ConfigError, TlsFiles, TokenArgs, default_api_uri, help_overrides,
};

mod drivers;
mod file;

use drivers::docker_only;
pub use drivers::{Interfaces, NetworkDriver, ProxyDriver};
use file::NodeFile;

/// The node agent's port: 2969 as the daemon list and the docs' YAML say
/// (the docs' table says 2965).
pub const DEFAULT_NODE_PORT: u16 = 2969;
/// Where volumes and the files of secrets and configs live.
pub const DEFAULT_STORAGE_ROOT: &str = "/var/run/lastbackend";

/// The flags of `lastbackend node`, each with its `LB_*` variable.
#[derive(Clone, Debug, Default, Args)]
#[command(mut_args(help_overrides(&[(
    "access_token",
    "Access token to API server (YAML `token`)",
)])))]
pub struct NodeArgs {
    /// The node's name in the cluster [default: the hostname] (YAML `name`).
    #[arg(long, env = "LB_NODE_NAME")]
    pub node_name: Option<String>,
    /// The token presented to the API.
    #[command(flatten)]
    pub token: TokenArgs,
    /// Node workdir for runtime (YAML `workdir`).
    #[arg(long, env = "LB_NODE_WORKDIR")]
    pub workdir: Option<PathBuf>,
    /// Node manifest(s) path: a directory of static pod manifests (YAML
    /// `manifest.dir`).
    #[arg(long, env = "LB_NODE_MANIFESTS_PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Node bind external network interface [default: eth0] (YAML
    /// `network.interface`).
    #[arg(long, env = "LB_NODE_BIND_INTERFACE")]
    pub bind_interface: Option<String>,
    /// Network proxy driver: auto (ipvs when the kernel has it, else
    /// nftables), ipvs, nftables or none [default: auto] (YAML
    /// `network.cpi.type`).
    #[arg(long, env = "LB_NETWORK_PROXY")]
    pub network_proxy: Option<String>,
    /// Network proxy internal interface [default: docker0] (YAML
    /// `network.cpi.interface.internal`).
    #[arg(long, env = "LB_NETWORK_PROXY_IFACE_INTERNAL")]
    pub network_proxy_iface_internal: Option<String>,
    /// Network proxy external interface [default: eth0] (YAML
    /// `network.cpi.interface.external`).
    #[arg(long, env = "LB_NETWORK_PROXY_IFACE_EXTERNAL")]
    pub network_proxy_iface_external: Option<String>,
    /// Overlay network driver: vxlan or none [default: vxlan] (YAML
    /// `network.cni.type`).
    #[arg(long, env = "LB_NETWORK_DRIVER")]
    pub network_driver: Option<String>,
    /// Overlay external interface [default: eth0] (YAML
    /// `network.cni.interface.external`).
    #[arg(long, env = "LB_NETWORK_DRIVER_IFACE_EXTERNAL")]
    pub network_driver_iface_external: Option<String>,
    /// Overlay internal bridge [default: docker0] (YAML
    /// `network.cni.interface.internal`).
    #[arg(long, env = "LB_NETWORK_DRIVER_IFACE_INTERNAL")]
    pub network_driver_iface_internal: Option<String>,
    /// Container runtime: docker [default: docker] (YAML
    /// `container.cri.type`).
    #[arg(long, env = "LB_CONTAINER_RUNTIME")]
    pub container_runtime: Option<String>,
    /// Docker API version to require, e.g. 1.41 [default: negotiated] (YAML
    /// `container.cri.docker.version`).
    #[arg(long, env = "LB_RUNTIME_DOCKER_VERSION")]
    pub container_runtime_docker_version: Option<String>,
    /// Storage root for pod volumes and persistent volumes [default:
    /// /var/run/lastbackend] (YAML `container.csi.dir.root`).
    #[arg(long, env = "LB_CONTAINER_STORAGE_ROOT")]
    pub container_storage_root: Option<PathBuf>,
    /// Image runtime: docker [default: docker] (YAML `container.iri.type`).
    #[arg(long, env = "LB_CONTAINER_IMAGE_RUNTIME")]
    pub container_image_runtime: Option<String>,
    /// Node bind address [default: 0.0.0.0] (YAML `server.host`).
    #[arg(long, env = "LB_NODE_BIND_ADDRESS")]
    pub bind_address: Option<IpAddr>,
    /// Node listening port [default: 2969] (YAML `server.port`).
    #[arg(long, env = "LB_NODE_BIND_PORT")]
    pub bind_port: Option<u16>,
    /// Node cert file (YAML `server.tls.cert`).
    #[arg(long, env = "LB_NODE_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// Node private key file (YAML `server.tls.key`).
    #[arg(long, env = "LB_NODE_PRIVATE_KEY_FILE")]
    pub tls_private_key_file: Option<PathBuf>,
    /// Node certificate authority file (YAML `server.tls.ca`).
    #[arg(long, env = "LB_NODE_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// How it reaches the API.
    #[command(flatten)]
    pub api: ApiClientArgs,
    /// `--verbose` and `--config`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Everything `lastbackend node` runs with, resolved and checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeConfig {
    /// The node's name.
    pub node_name: String,
    /// The API token.
    pub token: Option<String>,
    /// The runtime's working directory.
    pub workdir: Option<PathBuf>,
    /// Static pod manifests.
    pub manifest_dir: Option<PathBuf>,
    /// The node's external interface.
    pub interface: String,
    /// Service proxy.
    pub proxy: ProxyDriver,
    /// Its interfaces.
    pub proxy_interfaces: Interfaces,
    /// Overlay network.
    pub network: NetworkDriver,
    /// Its interfaces.
    pub network_interfaces: Interfaces,
    /// The Docker API version required, when pinned.
    pub docker_version: Option<String>,
    /// Volume root.
    pub storage_root: PathBuf,
    /// The node's own listener (address and port).
    pub bind: std::net::SocketAddr,
    /// The node listener's TLS files.
    pub tls: TlsFiles,
    /// The API endpoint.
    pub api_uri: String,
    /// TLS towards the API.
    pub api_tls: TlsFiles,
    /// Log verbosity 0–7.
    pub verbose: u8,
}

impl NodeConfig {
    /// Resolves flags and environment over the `--config` file over the
    /// defaults, and checks the result.
    pub fn load(args: NodeArgs) -> Result<Self, ConfigError> {
        let file: NodeFile = args.common.file()?;
        let verbose = args.common.verbose(file.verbose)?;
        let node_name = args.node_name.or(file.name).unwrap_or_else(hostname);
        if node_name.is_empty() || node_name.contains(['/', ' ']) {
            return Err(ConfigError::invalid(
                "--node-name (YAML `name`)",
                format!("{node_name:?} must be a host name, without '/' or spaces"),
            ));
        }
        let proxy = ProxyDriver::parse(args.network_proxy.or(file.network.cpi.kind).as_deref())?;
        let network =
            NetworkDriver::parse(args.network_driver.or(file.network.cni.kind).as_deref())?;
        docker_only(
            "--container-runtime (YAML `container.cri.type`)",
            args.container_runtime.or(file.container.cri.kind),
        )?;
        docker_only(
            "--container-image-runtime (YAML `container.iri.type`)",
            args.container_image_runtime.or(file.container.iri.kind),
        )?;
        let docker_version = args
            .container_runtime_docker_version
            .or(file.container.cri.docker.version)
            .or(file.container.iri.docker.version);
        if let Some(v) = &docker_version
            && !v
                .split_once('.')
                .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
        {
            return Err(ConfigError::invalid(
                "--container-runtime-docker-version (YAML `container.cri.docker.version`)",
                format!("{v:?} is not an API version such as 1.41"),
            ));
        }
        let (api_uri, api_tls) = args.api.resolve(file.api)?;
        let api_uri = api_uri.unwrap_or_else(default_api_uri);
        let pick = |flag: Option<String>, yaml: Option<String>, default: &str| {
            flag.or(yaml).unwrap_or_else(|| default.to_owned())
        };
        let server = file.server.without_body_limit()?;
        let tls = server.tls.under(TlsFiles {
            cert: args.tls_cert_file,
            key: args.tls_private_key_file,
            ca: args.tls_ca_file,
        });
        Ok(Self {
            node_name,
            token: args.token.resolve(file.token),
            workdir: args.workdir.or(file.workdir),
            manifest_dir: args.manifest_path.or(file.manifest.dir),
            interface: pick(args.bind_interface, file.network.interface, "eth0"),
            proxy,
            proxy_interfaces: Interfaces {
                external: pick(
                    args.network_proxy_iface_external,
                    file.network.cpi.interface.external,
                    "eth0",
                ),
                internal: pick(
                    args.network_proxy_iface_internal,
                    file.network.cpi.interface.internal,
                    "docker0",
                ),
            },
            network,
            network_interfaces: Interfaces {
                external: pick(
                    args.network_driver_iface_external,
                    file.network.cni.interface.external,
                    "eth0",
                ),
                internal: pick(
                    args.network_driver_iface_internal,
                    file.network.cni.interface.internal,
                    "docker0",
                ),
            },
            docker_version,
            storage_root: args
                .container_storage_root
                .or(file.container.csi.dir.root)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STORAGE_ROOT)),
            bind: std::net::SocketAddr::new(
                args.bind_address
                    .or(server.host)
                    .unwrap_or(IpAddr::from([0, 0, 0, 0])),
                args.bind_port.or(server.port).unwrap_or(DEFAULT_NODE_PORT),
            ),
            tls,
            api_uri,
            api_tls,
            verbose,
        })
    }
}

#[cfg(test)]
mod tests;
