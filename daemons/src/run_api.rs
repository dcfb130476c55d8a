//! `lastbackend api`: configuration, storage, operations, router, server.

use std::net::TcpListener;

use anyhow::Context;
use lastbackend_core::api::{Api, Settings};
use lastbackend_core::server::{self, ApiState};
use lastbackend_core::store::Store;

use crate::config::{Access, ApiArgs, ApiConfig};
use crate::daemon::{block_on, init_logging, server_tls, shutdown_signal, storage};

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
    init_logging(config.verbose)?;
    if config.vault_configured {
        tracing::warn!("the vault settings are not supported and are ignored");
    }
    if config.access == Access::Open {
        tracing::warn!("--insecure-no-auth: the API answers anyone without a token");
    }
    block_on(None, async move {
        let storage = storage(&config.storage).await?;
        let token = match &config.access {
            Access::Token(token) => Some(token.clone()),
            Access::Open => None,
        };
        let api = Api::new(Store::new(storage), api_settings(&config));
        let state = ApiState::new(api, token).with_body_limit(config.body_limit);
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

/// The API's settings from its configuration.
pub(crate) fn api_settings(config: &ApiConfig) -> Settings {
    let mut settings = Settings::default();
    settings.cluster_name = config.cluster_name.clone();
    settings.cluster_description = config.cluster_description.clone();
    settings.internal_domain = config.domain_internal.clone();
    settings.external_domain = config.domain_external.clone();
    settings
}
