//! `lastbackend node`: configuration, the API client, the Docker runtime and
//! the `dir` volume driver, then the agent until SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use lastbackend_core::api::ControlPlane;
use lastbackend_runtime::agent::{Agent, AgentSettings};
use lastbackend_runtime::cni::vxlan::{Vxlan, VxlanConfig};
use lastbackend_runtime::cpi::{self, ProxyKind};
use lastbackend_runtime::csi::dir::DirCsi;
use lastbackend_runtime::docker::DockerRuntime;

use crate::api_client::api_client;
use crate::config::{NetworkDriver, NodeArgs, NodeConfig, ProxyDriver};
use crate::daemon::{block_on, init_logging, shutdown_signal};

/// Parses the configuration before anything else, connects to Docker, then
/// runs the agent; containers keep running after it stops (the next agent
/// adopts them).
pub(crate) fn run(args: NodeArgs) -> anyhow::Result<()> {
    let config = NodeConfig::load(args)?;
    init_logging(config.verbose)?;
    block_on(Some(2), async move {
        let client = api_client(&config.api_uri, config.token.as_deref(), &config.api_tls)?;
        tracing::info!(
            node = %config.node_name,
            api = %config.api_uri,
            storage = %config.storage_root.display(),
            "node agent starting"
        );
        let agent = agent(&config, Arc::new(client)).await?;
        agent.run(shutdown_signal()).await;
        tracing::info!("node agent stopped");
        Ok(())
    })
}

/// The agent `config` describes, joining through `control`: Docker, `dir`
/// volumes, and the overlay and service proxy the settings ask for.
pub(crate) async fn agent(
    config: &NodeConfig,
    control: Arc<dyn ControlPlane>,
) -> anyhow::Result<Agent> {
    let docker = DockerRuntime::connect().await.context(
        "no Docker engine: start it (systemctl start docker) or point DOCKER_HOST at it",
    )?;
    if let Some(required) = &config.docker_version {
        // The configuration checked it is `<major>.<minor>`.
        let (major, minor) = required.split_once('.').unwrap_or_default();
        docker
            .require_api_version(major.parse()?, minor.parse()?)
            .context("--container-runtime-docker-version")?;
    }
    let mut settings = AgentSettings::new(config.node_name.clone());
    if let Some(dir) = &config.manifest_dir {
        settings = settings.manifest_dir(dir);
    }
    let mut agent = Agent::new(
        control,
        Arc::new(docker.clone()),
        Arc::new(docker),
        Arc::new(DirCsi::new(&config.storage_root)),
        settings,
    );
    if config.network == NetworkDriver::Vxlan {
        let external = Some(config.network_interfaces.external.clone());
        let vxlan = Vxlan::new(VxlanConfig::default().external_iface(external))
            .context("the vxlan overlay driver (--network-driver none runs without)")?;
        agent = agent.with_cni(Arc::new(vxlan));
    }
    let proxy = match config.proxy {
        ProxyDriver::Auto => Some(ProxyKind::Auto),
        ProxyDriver::Ipvs => Some(ProxyKind::Ipvs),
        ProxyDriver::Nftables => Some(ProxyKind::Nftables),
        _ => None,
    };
    if let Some(kind) = proxy {
        let cpi = cpi::select(kind).await.context("--network-proxy")?;
        tracing::info!(proxy = cpi.name(), "service proxy");
        agent = agent.with_cpi(cpi);
    }
    Ok(agent)
}
