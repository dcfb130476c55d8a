//! `lastbackend exporter`: configuration, then the runtime's exporter (log
//! store, the agents' log listener, the HTTP reader) served and registered
//! with the API.

use std::sync::Arc;

use anyhow::Context;
use lastbackend_core::api::types::MemberReport;
use lastbackend_core::api::{ControlPlane, Membership};
use lastbackend_core::model::{Kind, Presence};
use lastbackend_core::server::{self, rustls};
use lastbackend_runtime::exporter::{Exporter, StoreConfig};
use lastbackend_runtime::host::{advertised, hostname};
use tokio::sync::watch;

use crate::api_client::api_client;
use crate::config::{ExporterArgs, ExporterConfig};
use crate::daemon::{block_on, init_logging, server_tls, shutdown_signal};

/// Parses the configuration before anything else, then stores and serves
/// logs until SIGINT or SIGTERM.
pub(crate) fn run(args: ExporterArgs) -> anyhow::Result<()> {
    let config = ExporterConfig::load(args)?;
    let tls = config
        .tls
        .as_ref()
        .map(server_tls)
        .transpose()
        .context("the exporter's TLS settings")?;
    init_logging(config.verbose)?;
    if config.token.is_none() {
        tracing::warn!("--insecure-no-auth: anyone may read the logs");
    }
    block_on(None, async move {
        let api = match &config.api_uri {
            Some(uri) => {
                let client = api_client(uri, config.token.as_deref(), &config.api_tls)?;
                Some(Arc::new(client) as Arc<dyn ControlPlane>)
            }
            None => {
                tracing::warn!("no --api-uri: not registered, the API will not find this exporter");
                None
            }
        };
        serve(&config, tls, api, shutdown_signal()).await
    })
}

/// Stores the logs agents stream in and serves them over HTTP until
/// `shutdown`, registered through `api` when given.
pub(crate) async fn serve(
    config: &ExporterConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    api: Option<Arc<dyn ControlPlane>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = StoreConfig::new(&config.log_dir, config.rotate_bytes, config.retention);
    let exporter = Exporter::open(store)
        .with_context(|| format!("cannot open the log store {}", config.log_dir.display()))?;
    let logs = tokio::net::TcpListener::bind(config.listener)
        .await
        .with_context(|| format!("cannot listen for logs on {}", config.listener))?;
    let rest = std::net::TcpListener::bind(config.rest)
        .with_context(|| format!("cannot listen on {}", config.rest))?;
    let listener = advertised(logs.local_addr()?, &config.interface).await;
    let http = advertised(rest.local_addr()?, &config.interface).await;
    tracing::info!(%listener, %http, dir = %config.log_dir.display(), "exporter serving");
    let registration = api.map(|api| {
        let report = MemberReport {
            http: Some(http),
            listener: Some(listener),
            presence: Presence::READY,
            ..MemberReport::default()
        };
        Membership::new(api, Kind::Exporter, hostname()).spawn(watch::channel(report).1)
    });
    let ingest = tokio::spawn(exporter.clone().serve_logs(logs));
    let router = exporter.router(config.token.clone());
    let result = tokio::select! {
        served = server::serve(rest, router, tls, shutdown) => served.context("the HTTP server"),
        ingested = ingest => ingested?.context("the log listener"),
    };
    if let Some(registration) = registration {
        // Says "not ready" to the API on the way out.
        registration.stop().await?;
    }
    tracing::info!("exporter stopped");
    result
}
