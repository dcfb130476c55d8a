//! `lastbackend discovery`: configuration, storage, the endpoint watch, the
//! DNS server, and its registration with the API.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use lastbackend_core::api::types::MemberReport;
use lastbackend_core::api::{Api, ControlPlane, Membership, Settings};
use lastbackend_core::model::{Kind, Presence};
use lastbackend_core::store::Store;
use lastbackend_runtime::discovery::{self, DnsServer, EndpointWatch, ServiceZone, advertised_ip};
use lastbackend_runtime::host::hostname;
use tokio::sync::watch;

use crate::config::{DiscoveryArgs, DiscoveryConfig, Upstreams};
use crate::daemon::{block_on, init_logging, shutdown_signal, storage};

/// Parses the configuration before anything else, loads the endpoints, then
/// serves DNS until SIGINT or SIGTERM.
pub(crate) fn run(args: DiscoveryArgs) -> anyhow::Result<()> {
    let config = DiscoveryConfig::load(args)?;
    init_logging(config.verbose)?;
    if config.api_uri.is_some() {
        // Not wired to the HTTP client the node, ingress and exporter report
        // through (`api_client`): this server reads the store directly for
        // its endpoints, so it reports through an `Api` over that same store,
        // as in `lastbackend up`.
        tracing::warn!("--api-uri is not used yet: presence is reported through the storage");
    }
    block_on(None, async move {
        // Handlers first: a signal during startup still stops cleanly.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(());
        });
        let store = Store::new(storage(&config.storage).await?);
        let api: Arc<dyn ControlPlane> = Arc::new(Api::new(store.clone(), Settings::default()));
        serve(&config, store, api, async move {
            let _ = stopped.await;
        })
        .await
    })
}

/// Loads the endpoints from `store`, serves DNS and stays registered
/// through `api` until `stopped`.
pub(crate) async fn serve(
    config: &DiscoveryConfig,
    store: Store,
    api: Arc<dyn ControlPlane>,
    stopped: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let upstreams = match &config.upstreams {
        Upstreams::Servers(servers) => servers.clone(),
        Upstreams::System => discovery::system_upstreams().unwrap_or_else(|error| {
            tracing::warn!(%error, "names outside the zone will be refused");
            Vec::new()
        }),
    };
    let advertise = config
        .advertise
        .unwrap_or_else(|| advertised_ip(config.listen.ip()));
    let zone = Arc::new(ServiceZone::new(
        config.zone.clone().with_nameserver(advertise),
    ));
    let _watch = EndpointWatch::start(store, zone.clone())
        .await
        .context("loading the endpoints")?;
    let server = DnsServer::builder(zone.clone())
        .upstreams(upstreams)
        .bind(config.listen)
        .await?;
    let address = SocketAddr::new(advertise, server.local_addr().port());
    tracing::info!(%address, endpoints = zone.len(), "discovery serving");
    let report = MemberReport {
        address: Some(address),
        presence: Presence::READY,
        ..MemberReport::default()
    };
    let membership = Membership::new(api, Kind::Discovery, hostname());
    let registration = membership.spawn(watch::channel(report).1);
    let served = server.run_until(stopped).await;
    // Not ready from now on; online ends with the heartbeat lease.
    registration.stop().await?;
    served?;
    tracing::info!("discovery stopped");
    Ok(())
}
