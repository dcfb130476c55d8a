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
use crate::run_api::{api_settings, shutdown_signal, storage};
use crate::{run_controller, run_discovery, run_exporter, run_node};

/// Checks every setting, starts every component, prints where the API
/// listens and its token, then runs until SIGINT or SIGTERM or until a
/// component fails, which stops the others.
pub(crate) fn run(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut config = UpConfig::load(args)?;
    run_discovery::init_logging(config.verbose)?;
    if let Some(ingress) = &config.ingress
        && !ingress.haproxy.exec.exists()
    {
        anyhow::bail!(
            "--haproxy-exec: {} does not exist; install haproxy (apt-get install haproxy), \
             point the flag at it, or run without an ingress (--disable ingress)",
            ingress.haproxy.exec.display()
        );
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async move {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
            let token = match config.token.clone() {
                Some(token) => token,
                None => token_from_file(&config.token_file())?,
            };
            config.api.access = Access::Token(token.clone());
            if let Some(exporter) = &mut config.exporter {
                exporter.token = Some(token.clone());
            }

            let (stop, stopping) = watch::channel(false);
            let stopped = move || {
                let mut stopping = stopping.clone();
                async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                }
            };
            let signal = stop.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = signal.send(true);
            });
            let mut tasks = JoinSet::new();

            let storage = storage(&config.api.storage).await?;
            let store = Store::new(storage.clone());
            let api = Api::new(store.clone(), api_settings(&config.api));
            let plane: Arc<dyn ControlPlane> = Arc::new(api.clone());
            let listener = TcpListener::bind(config.api.listen).with_context(|| {
                format!(
                    "cannot listen on {} (--bind-address, --bind-port)",
                    config.api.listen
                )
            })?;
            let address = listener.local_addr()?;
            let state =
                ApiState::new(api, Some(token.clone())).with_body_limit(config.api.body_limit);
            let serving = server::serve(listener, server::router(state), None, stopped());
            tasks.spawn(async move { ("api", serving.await.map_err(anyhow::Error::from)) });
            announce(address, &token, &config.data_dir, started);

            let controller = config.controller.clone();
            let until = stopped();
            tasks.spawn(async move {
                let led = run_controller::lead(storage, &controller, until).await;
                ("controller", led)
            });
            if let Some(discovery) = config.discovery.take() {
                let (store, plane, until) = (store.clone(), plane.clone(), stopped());
                tasks.spawn(async move {
                    let served = run_discovery::serve(&discovery, store, plane, until).await;
                    ("discovery", served)
                });
            }
            if let Some(exporter) = config.exporter.take() {
                let (plane, until) = (plane.clone(), stopped());
                tasks.spawn(async move {
                    let served = run_exporter::serve(&exporter, None, Some(plane), until).await;
                    ("exporter", served)
                });
            }
            if let Some(ingress) = config.ingress.take() {
                let (plane, until) = (plane.clone(), stopped());
                tasks.spawn(async move {
                    let driver = Arc::new(Haproxy::new(ingress.haproxy));
                    member::run(plane, &hostname(), driver, until).await;
                    ("ingress", Ok(()))
                });
            }
            if let Some(node) = config.node.take() {
                let agent = run_node::agent(&node, plane.clone())
                    .await
                    .context("the node agent (--disable node runs without one)");
                let agent = match agent {
                    Ok(agent) => agent,
                    Err(error) => {
                        let _ = stop.send(true);
                        while tasks.join_next().await.is_some() {}
                        return Err(error);
                    }
                };
                let until = stopped();
                tasks.spawn(async move {
                    agent.run(until).await;
                    ("node", Ok(()))
                });
            }

            let mut failure = None;
            while let Some(joined) = tasks.join_next().await {
                let (component, result) = joined.context("a component panicked")?;
                if let Err(error) = result {
                    tracing::error!(component, "{error:#}; stopping everything");
                    failure.get_or_insert(
                        error.context(format!("the {component} failed{}", hint(component))),
                    );
                }
                // Whatever ends first, the rest follow.
                let _ = stop.send(true);
            }
            tracing::info!("stopped");
            failure.map_or(Ok(()), Err)
        })
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

/// The token kept in `path`, created (mode 600) with a random one on the
/// first start.
fn token_from_file(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim().to_owned();
            anyhow::ensure!(
                !token.is_empty(),
                "the token file {} is empty: delete it to have one generated, or pass --access-token",
                path.display()
            );
            Ok(token)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let token = uuid::Uuid::new_v4().simple().to_string();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create the token file {}", path.display()))?;
            writeln!(file, "{token}")
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write the token file {}", path.display()))?;
            Ok(token)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let first = token_from_file(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(token_from_file(&path).unwrap(), first);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "\n").unwrap();
        let error = token_from_file(&path).unwrap_err().to_string();
        assert!(error.contains("is empty"), "{error}");
    }
}
