//! `lastbackend ingress`: configuration, the API connection, then the
//! member loop driving HAProxy until SIGINT or SIGTERM.

use std::sync::Arc;

use lastbackend_core::api::ControlPlane;
use lastbackend_runtime::ingress::haproxy::Haproxy;
use lastbackend_runtime::ingress::member;

use crate::api_client::api_client;
use crate::config::{IngressArgs, IngressConfig, log_level};
use crate::run_api::shutdown_signal;

/// Parses the configuration before anything else, then serves routes as
/// ingress `<hostname>` until a signal, when HAProxy is stopped.
pub(crate) fn run(args: IngressArgs) -> anyhow::Result<()> {
    let config = IngressConfig::load(args)?;
    tracing_subscriber::fmt()
        .with_max_level(log_level(config.verbose))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let client = api_client(&config.api_uri, config.token.as_deref(), &config.api_tls)?;
    if !config.haproxy.exec.exists() {
        anyhow::bail!(
            "--haproxy-exec (YAML `haproxy.exec`): {} does not exist; install haproxy \
             (apt-get install haproxy) or point the flag at it",
            config.haproxy.exec.display()
        );
    }
    let name = lastbackend_runtime::host::hostname();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let plane: Arc<dyn ControlPlane> = Arc::new(client);
            tracing::info!(
                name,
                api = config.api_uri,
                config = %config.haproxy.config_path.display(),
                stats = ?config.haproxy.stats.as_ref().map(|s| s.port),
                "ingress starting"
            );
            let driver = Arc::new(Haproxy::new(config.haproxy));
            member::run(plane, &name, driver, shutdown_signal()).await;
            tracing::info!("ingress stopped");
            Ok(())
        })
}
