//! `lastbackend discovery`: configuration, storage, the endpoint watch, the
//! DNS server, and presence reports to the API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lastbackend_core::api::types::MemberReport;
use lastbackend_core::api::{Api, ControlPlane, Settings};
use lastbackend_core::model::{Kind, Presence};
use lastbackend_core::store::Store;
use lastbackend_runtime::discovery::{self, DnsServer, EndpointWatch, ServiceZone, advertised_ip};
use lastbackend_runtime::host::hostname;

use crate::config::{DiscoveryArgs, DiscoveryConfig, Upstreams, log_level};
use crate::run_api::{shutdown_signal, storage};

/// How often the server reports itself; well within the API's heartbeat TTL.
const REPORT_EVERY: Duration = Duration::from_secs(5);

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
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
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

/// Loads the endpoints from `store`, serves DNS and reports presence
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
    let name = hostname();
    let report = MemberReport {
        presence: Presence {
            ready: true,
            online: true,
        },
        address: Some(address),
        ..MemberReport::default()
    };
    // Registered as soon as it serves; a failure here is retried by the
    // reports.
    let registered = api
        .register_member(Kind::Discovery, &name, report.clone())
        .await
        .inspect_err(|error| tracing::warn!(%error, "registering failed; retrying"))
        .is_ok();
    let reports = tokio::spawn(keep_reporting(
        api.clone(),
        name.clone(),
        report,
        registered,
    ));
    let served = server.run_until(stopped).await;
    reports.abort();
    // Not ready from now on; online ends with the heartbeat lease.
    let stopping = MemberReport {
        address: Some(address),
        ..MemberReport::default()
    };
    if let Err(error) = api.member_status(Kind::Discovery, &name, stopping).await {
        tracing::warn!(%error, "could not report the server stopping");
    }
    served?;
    tracing::info!("discovery stopped");
    Ok(())
}

/// Logs to stderr at the `-v` level, without hickory's line per query
/// below `-v 3`.
pub(crate) fn init_logging(verbose: u8) -> anyhow::Result<()> {
    let level = tracing_subscriber::filter::LevelFilter::from_level(log_level(verbose));
    let mut filter = tracing_subscriber::EnvFilter::default().add_directive(level.into());
    if verbose < 3 {
        // hickory logs every query at info: a line per packet is debugging.
        filter = filter.add_directive("hickory_server::server=warn".parse()?);
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(())
}

/// Pushes presence every [`REPORT_EVERY`], registering again when the API
/// has forgotten this server.
async fn keep_reporting(
    api: Arc<dyn ControlPlane>,
    name: String,
    report: MemberReport,
    mut registered: bool,
) {
    let mut tick = tokio::time::interval(REPORT_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        let result = if registered {
            api.member_status(Kind::Discovery, &name, report.clone())
                .await
                .map(drop)
        } else {
            api.register_member(Kind::Discovery, &name, report.clone())
                .await
        };
        match result {
            Ok(()) => registered = true,
            Err(error) if error.is_not_found() => registered = false,
            Err(error) => tracing::warn!(%error, "reporting to the API failed; retrying"),
        }
    }
}
