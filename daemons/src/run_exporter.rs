//! `lastbackend exporter`: configuration, then the runtime's exporter (log
//! store, the agents' log listener, the HTTP reader) served and registered
//! with the API.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lastbackend_core::api::types::MemberReport;
use lastbackend_core::api::{ControlPlane, Membership};
use lastbackend_core::model::{Kind, Presence};
use lastbackend_core::server::{self, rustls};
use lastbackend_runtime::exporter::{Exporter, StoreConfig};
use lastbackend_runtime::host::{advertised, hostname};

use crate::api_client::api_client;
use crate::config::{ExporterArgs, ExporterConfig, log_level};
use crate::run_api::{server_tls, shutdown_signal};

/// How often the exporter renews its presence (the API forgets a member
/// after 15 s without a push).
const STATUS_EVERY: Duration = Duration::from_secs(5);

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
    tracing_subscriber::fmt()
        .with_max_level(log_level(config.verbose))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if config.token.is_none() {
        tracing::warn!("--insecure-no-auth: anyone may read the logs");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let api = match &config.api_uri {
                Some(uri) => {
                    let client = api_client(uri, config.token.as_deref(), &config.api_tls)?;
                    Some(Arc::new(client) as Arc<dyn ControlPlane>)
                }
                None => {
                    tracing::warn!(
                        "no --api-uri: not registered, the API will not find this exporter"
                    );
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
    let (stopped, stopping) = tokio::sync::watch::channel(false);
    let registration = api.map(|api| {
        let report = MemberReport {
            http: Some(http),
            listener: Some(listener),
            presence: Presence {
                ready: true,
                online: true,
            },
            ..MemberReport::default()
        };
        let mut stopping = stopping.clone();
        let stop = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        let membership = Membership::new(api, Kind::Exporter, hostname()).every(STATUS_EVERY);
        tokio::spawn(async move {
            membership
                .run(tokio::sync::watch::channel(report).1, stop)
                .await
        })
    });
    let ingest = tokio::spawn(exporter.clone().serve_logs(logs));
    let router = exporter.router(config.token.clone());
    let result = tokio::select! {
        served = server::serve(rest, router, tls, shutdown) => served.context("the HTTP server"),
        ingested = ingest => ingested?.context("the log listener"),
    };
    // Says "not ready" to the API on the way out.
    stopped.send_replace(true);
    if let Some(task) = registration {
        task.await.context("the exporter's registration")?;
    }
    tracing::info!("exporter stopped");
    result
}
