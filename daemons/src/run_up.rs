//! `lastbackend up`: the API, the controller, discovery, the ingress, the
//! exporter and a node agent in one process on the embedded store. Each is
//! the same code its own subcommand runs; here they share one store and
//! reach the API in process (`Api` is the `ControlPlane` the node agent,
//! the ingress, discovery and the exporter are given) instead of over HTTP.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use lastbackend_core::api::{Api, ControlPlane};
use lastbackend_core::server::{self, ApiState};
use lastbackend_core::store::Store;
use lastbackend_runtime::host::hostname;
use lastbackend_runtime::ingress::haproxy::Haproxy;
use lastbackend_runtime::ingress::member;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Access, UpArgs, UpConfig};
use crate::daemon::{block_on, init_logging, shutdown_signal, storage};
use crate::run_api::api_settings;
use crate::{run_controller, run_discovery, run_exporter, run_node};

/// Checks every setting, starts every component, prints where the API
/// listens and its token, then runs until SIGINT or SIGTERM or until a
/// component fails, which stops the others.
pub(crate) fn run(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut config = UpConfig::load(args)?;
    init_logging(config.verbose)?;
    if let Some(ingress) = &config.ingress
        && !ingress.haproxy.exec.exists()
    {
        anyhow::bail!(
            "--haproxy-exec: {} does not exist; install haproxy (apt-get install haproxy), \
             point the flag at it, or run without an ingress (--disable ingress)",
            ingress.haproxy.exec.display()
        );
    }
    block_on(Some(2), async move {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
        let token = match config.token.clone() {
            Some(token) => token,
            None => {
                let path = config.token_file();
                server::token_file(&path).with_context(|| {
                    format!("the token file {} (or pass --access-token)", path.display())
                })?
            }
        };
        config.api.access = Access::Token(token.clone());
        if let Some(exporter) = &mut config.exporter {
            exporter.token = Some(token.clone());
        }
        let mut components = Components::new();
        let stop = components.stop.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            stop.send_replace(true);
        });
        if let Err(error) = start(&mut components, config, token, started).await {
            components.stop.send_replace(true);
            while components.tasks.join_next().await.is_some() {}
            return Err(error);
        }
        components.supervise().await
    })
}

/// Starts the API, then every other enabled component, on `components`.
async fn start(
    components: &mut Components,
    mut config: UpConfig,
    token: String,
    started: Instant,
) -> anyhow::Result<()> {
    let storage = storage(&config.api.storage).await?;
    let store = Store::new(storage.clone());
    let api = Api::new(store.clone(), api_settings(&config.api));
    let plane: Arc<dyn ControlPlane> = Arc::new(api.clone());
    let listen = config.api.listen;
    let listener = TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen} (--bind-address, --bind-port)"))?;
    let address = listener.local_addr()?;
    let state = ApiState::new(api, Some(token.clone())).with_body_limit(config.api.body_limit);
    let serving = server::serve(listener, server::router(state), None, components.stopped());
    components.spawn("api", async move { Ok(serving.await?) });
    announce(address, &token, &config.data_dir, started);

    let (controller, until) = (config.controller.clone(), components.stopped());
    components.spawn("controller", async move {
        run_controller::lead(storage, &controller, until).await
    });
    if let Some(discovery) = config.discovery.take() {
        let (plane, until) = (plane.clone(), components.stopped());
        components.spawn("discovery", async move {
            run_discovery::serve(&discovery, store, plane, until).await
        });
    }
    if let Some(exporter) = config.exporter.take() {
        let (plane, until) = (plane.clone(), components.stopped());
        components.spawn("exporter", async move {
            run_exporter::serve(&exporter, None, Some(plane), until).await
        });
    }
    if let Some(ingress) = config.ingress.take() {
        let driver = Arc::new(Haproxy::new(ingress.haproxy));
        let (plane, until) = (plane.clone(), components.stopped());
        components.spawn("ingress", async move {
            member::run(plane, &hostname(), driver, until).await;
            Ok(())
        });
    }
    if let Some(node) = config.node.take() {
        let agent = run_node::agent(&node, plane)
            .await
            .context("the node agent (--disable node runs without one)")?;
        let until = components.stopped();
        components.spawn("node", async move {
            agent.run(until).await;
            Ok(())
        });
    }
    Ok(())
}

/// The running components, each a task that ends with its name and
/// result, and the flag that stops them all.
struct Components {
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
    stop: watch::Sender<bool>,
}

impl Components {
    fn new() -> Self {
        Self {
            tasks: JoinSet::new(),
            stop: watch::channel(false).0,
        }
    }

    /// Completes once the components are told to stop.
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopping = self.stop.subscribe();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    }

    fn spawn(
        &mut self,
        component: &'static str,
        task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        self.tasks.spawn(async move { (component, task.await) });
    }

    /// Waits for every component: whichever ends first, the rest follow;
    /// the first failure is the result.
    async fn supervise(mut self) -> anyhow::Result<()> {
        let mut failure = None;
        while let Some(joined) = self.tasks.join_next().await {
            let (component, result) = joined.context("a component panicked")?;
            if let Err(error) = result {
                tracing::error!(component, "{error:#}; stopping everything");
                failure.get_or_insert(
                    error.context(format!("the {component} failed{}", hint(component))),
                );
            }
            self.stop.send_replace(true);
        }
        tracing::info!("stopped");
        failure.map_or(Ok(()), Err)
    }
}

/// What to try when `component` fails to start.
fn hint(component: &str) -> &'static str {
    match component {
        "discovery" => " (--dns-port moves its port; --disable discovery runs without it)",
        "exporter" => " (it listens on 2963 and 2964; --disable exporter runs without it)",
        _ => "",
    }
}

/// Tells the user where the API is and how to reach it, on stdout (the logs
/// go to stderr).
fn announce(address: SocketAddr, token: &str, data_dir: &Path, started: Instant) {
    let host = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    let uri = SocketAddr::new(host, address.port());
    println!(
        "lastbackend up: API ready at http://{uri} in {} ms; data in {}",
        started.elapsed().as_millis(),
        data_dir.display()
    );
    println!("  export LB_API_URI=http://{uri} LB_ACCESS_TOKEN={token}");
}
