//! `lastbackend api`: configuration, storage, operations, router, server.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;
use lastbackend_core::api::{Api, Settings};
use lastbackend_core::server::{self, ApiState, TlsError, rustls};
use lastbackend_core::storage::{MemoryStorage, Storage};
use lastbackend_core::store::Store;

use crate::config::{
    Access, ApiArgs, ApiConfig, ServerTls, StorageConfig, StorageDriver, log_level,
};

/// Parses the configuration before anything else, then serves until SIGINT
/// or SIGTERM.
pub(crate) fn run(args: ApiArgs) -> anyhow::Result<()> {
    let config = ApiConfig::load(args)?;
    let tls = config
        .tls
        .as_ref()
        .map(server_tls)
        .transpose()
        .context("the API's TLS settings")?;
    tracing_subscriber::fmt()
        .with_max_level(log_level(config.verbose))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if config.vault_configured {
        tracing::warn!("the vault settings are not supported and are ignored");
    }
    if config.access == Access::Open {
        tracing::warn!("--insecure-no-auth: the API answers anyone without a token");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let storage = storage(&config.storage).await?;
            let settings = api_settings(&config);
            let token = match &config.access {
                Access::Token(token) => Some(token.clone()),
                Access::Open => None,
            };
            let state = ApiState::new(Api::new(Store::new(storage), settings), token)
                .with_body_limit(config.body_limit);
            let listener = TcpListener::bind(config.listen)
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            tracing::info!(
                address = %listener.local_addr()?,
                storage = %config.storage.driver,
                "REST API listening on {scheme}://{}",
                listener.local_addr()?
            );
            server::serve(listener, server::router(state), tls, shutdown_signal()).await?;
            tracing::info!("REST API stopped");
            Ok(())
        })
}

/// The rustls configuration of a daemon's server TLS files.
pub(crate) fn server_tls(tls: &ServerTls) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server::server_config(&tls.cert, &tls.key, tls.client_ca.as_deref())
}

/// The API's settings from its configuration.
pub(crate) fn api_settings(config: &ApiConfig) -> Settings {
    let mut settings = Settings::default();
    settings.cluster_name = config.cluster_name.clone();
    settings.cluster_description = config.cluster_description.clone();
    settings.internal_domain = config.domain_internal.clone();
    settings.external_domain = config.domain_external.clone();
    settings
}

/// The configured storage backend.
pub(crate) async fn storage(config: &StorageConfig) -> anyhow::Result<Arc<dyn Storage>> {
    Ok(match config.driver {
        StorageDriver::Memory | StorageDriver::Mock => Arc::new(MemoryStorage::new()),
        #[cfg(feature = "embedded")]
        StorageDriver::Embedded => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
            let path = config.data_dir.join("lastbackend.redb");
            Arc::new(
                lastbackend_core::storage::EmbeddedStorage::open(&path)
                    .with_context(|| format!("cannot open the store {}", path.display()))?,
            )
        }
        #[cfg(feature = "etcd")]
        StorageDriver::Etcd => {
            use lastbackend_core::storage::etcd::{EtcdConfig, EtcdTls};
            let mut etcd = EtcdConfig::new(config.etcd_endpoints.clone())
                .with_prefix(config.etcd_prefix.clone());
            if !config.etcd_tls.is_empty() {
                let mut tls = EtcdTls::new();
                tls.cert_file = config.etcd_tls.cert.clone();
                tls.key_file = config.etcd_tls.key.clone();
                tls.ca_file = config.etcd_tls.ca.clone();
                etcd = etcd.with_tls(tls);
            }
            Arc::new(
                lastbackend_core::storage::EtcdStorage::connect(etcd)
                    .await
                    .context("cannot connect to etcd")?,
            )
        }
        #[allow(unreachable_patterns)]
        other => anyhow::bail!(
            "--storage {other}: this build lacks the `{other}` feature; rebuild with it"
        ),
    })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}
