//! What every daemon does around its components, written once: logging,
//! the tokio runtime, the shutdown signal, and opening the configured
//! storage and server TLS.

use std::sync::Arc;

use anyhow::Context;
use lastbackend_core::server::{self, TlsError, rustls};
use lastbackend_core::storage::{MemoryStorage, Storage};

use crate::config::{ServerTls, StorageConfig, StorageDriver, log_level};

/// Logs to stderr at the `-v` level (colours on a terminal), without
/// hickory's line per DNS query below `-v 3`.
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

/// Runs `main` to completion on a multi-thread runtime, with `workers`
/// threads when given (one per core otherwise).
pub(crate) fn block_on(
    workers: Option<usize>,
    main: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    builder.enable_all().build()?.block_on(main)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (the daemons target Linux,
/// where the node's overlay and service proxies run).
pub(crate) async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

/// The rustls configuration of a daemon's server TLS files.
pub(crate) fn server_tls(tls: &ServerTls) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    server::server_config(&tls.cert, &tls.key, tls.client_ca.as_deref())
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
