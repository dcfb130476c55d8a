//! `lastbackend ingress`: configuration, the API connection, then the
//! member loop driving HAProxy until SIGINT or SIGTERM.

use std::sync::Arc;

use lastbackend_runtime::host::hostname;
use lastbackend_runtime::ingress::haproxy::Haproxy;
use lastbackend_runtime::ingress::member;

use crate::api_client::api_client;
use crate::config::{IngressArgs, IngressConfig};
use crate::daemon::{block_on, init_logging, shutdown_signal};

/// Parses the configuration before anything else, then serves routes as
/// ingress `<hostname>` until a signal, when HAProxy is stopped.
pub(crate) fn run(args: IngressArgs) -> anyhow::Result<()> {
    let config = IngressConfig::load(args)?;
    init_logging(config.verbose)?;
    let client = api_client(&config.api_uri, config.token.as_deref(), &config.api_tls)?;
    if !config.haproxy.exec.exists() {
        anyhow::bail!(
            "--haproxy-exec (YAML `haproxy.exec`): {} does not exist; install haproxy \
             (apt-get install haproxy) or point the flag at it",
            config.haproxy.exec.display()
        );
    }
    let name = hostname();
    block_on(None, async move {
        tracing::info!(
            name,
            api = config.api_uri,
            config = %config.haproxy.config_path.display(),
            stats = ?config.haproxy.stats.as_ref().map(|s| s.port),
            "ingress starting"
        );
        let driver = Arc::new(Haproxy::new(config.haproxy));
        member::run(Arc::new(client), &name, driver, shutdown_signal()).await;
        tracing::info!("ingress stopped");
        Ok(())
    })
}
