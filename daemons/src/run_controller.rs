//! `lastbackend controller`: configuration, storage, leader election, the
//! reconcilers while leading, and an immediate handover on shutdown.

use std::sync::Arc;

use anyhow::Context;
use lastbackend_core::controller::leader::{self, LEAD_KEY, LeaderConfig};
use lastbackend_core::controller::manager::{ControllerManager, Settings};
use lastbackend_core::storage::Storage;
use lastbackend_core::store::Store;
use lastbackend_runtime::host::hostname;

use crate::config::{ControllerArgs, ControllerConfig};
use crate::daemon::{block_on, init_logging, shutdown_signal, storage};

/// Parses the configuration before anything else, then campaigns and runs
/// the reconcilers while leading until SIGINT or SIGTERM, when it resigns
/// the lead so another controller takes over at once.
pub(crate) fn run(args: ControllerArgs) -> anyhow::Result<()> {
    let config = ControllerConfig::load(args)?;
    init_logging(config.verbose)?;
    block_on(None, async move {
        let storage = storage(&config.storage).await?;
        lead(storage, &config, shutdown_signal()).await
    })
}

/// Campaigns on `storage` and runs the reconcilers while leading, until
/// `shutdown`, when it resigns the lead first so another controller takes
/// over at once.
pub(crate) async fn lead(
    storage: Arc<dyn Storage>,
    config: &ControllerConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let holder = format!("{}:{}", hostname(), std::process::id());
    // A follower also polls the lead key this often; a short TTL (tests)
    // wants a quick poll too.
    let retry = leader::DEFAULT_RETRY.min(config.lease_ttl / 3);
    let leadership = leader::campaign(
        storage.clone(),
        LeaderConfig::new(holder.clone())
            .ttl(config.lease_ttl)
            .retry(retry),
    );
    let settings = Settings::default()
        .internal_domain(config.domain_internal.clone())
        .services_cidr(config.services_cidr)
        .pod_cidr(config.pod_cidr);
    let manager = ControllerManager::new(Store::new(storage), settings);
    tracing::info!(
        holder,
        storage = %config.storage.driver,
        ttl = ?config.lease_ttl,
        "controller campaigning for {LEAD_KEY}"
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handover = {
        let leadership = leadership.clone();
        async move {
            shutdown.await;
            // First, so the next controller starts while this one's
            // reconcilers wind down (their writes are fenced off).
            if let Err(error) = leadership.resign().await {
                tracing::warn!(%error, "resigning failed; the lead ends at its TTL");
            }
            let _ = stop.send(());
        }
    };
    let running = manager.run(leadership, async move {
        let _ = stopped.await;
    });
    let (result, ()) = tokio::join!(running, handover);
    result.context("the reconcilers")?;
    tracing::info!("controller stopped");
    Ok(())
}
