//! Watch a namespace's services with the typed client.
//!
//! Run: `cargo run -p examples --example client_watch`
//! (or, against a running API: `LB_API_URI=http://127.0.0.1:2967
//! LB_ACCESS_TOKEN=<token> cargo run -p examples --example client_watch -- demo`)
//!
//! Without `LB_API_URI` the program serves the real API router in process
//! on a loopback port and drives a service through its life (apply, scale,
//! remove) while the watch prints every change; with it, it watches the
//! named namespace of that cluster until interrupted. The watch starts from
//! the list's revision, so no change between the two is missed, and resumes
//! from the last revision it saw if the connection drops.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use lastbackend_client::core::api::types::WatchEvent;
use lastbackend_client::core::api::{Api, Settings};
use lastbackend_client::core::manifest::{ManifestMeta, NamespaceManifest};
use lastbackend_client::core::storage::memory::MemoryStorage;
use lastbackend_client::core::store::Store;
use lastbackend_client::{ApplyOptions, Client, NamespaceHandle};
use lastbackend_core::server::{ApiState, router, serve};

const SERVICE: &str = "kind: Service\nversion: v1\nmeta: {name: web}\nspec:\n  replicas: 1\n  template:\n    containers: [{name: web, image: {name: busybox}}]\n";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let namespace = std::env::args().nth(1).unwrap_or_else(|| "demo".to_owned());
    let (client, demo_mode) = match std::env::var("LB_API_URI") {
        Ok(uri) => {
            let mut builder = Client::builder().endpoint(&uri);
            if let Ok(token) = std::env::var("LB_ACCESS_TOKEN") {
                builder = builder.token(&token);
            }
            (builder.build()?, false)
        }
        Err(_) => (in_process_api().await?, true),
    };
    let ns = client.namespace(&namespace);

    let services = ns
        .services()
        .list()
        .await
        .with_context(|| format!("listing the services of namespace {namespace}"))?;
    println!(
        "{} services in {namespace} at revision {}",
        services.items.len(),
        services.revision
    );
    let mut watch = ns.services().watch(Some(services.revision));
    if demo_mode {
        tokio::spawn(drive(client.namespace(&namespace)));
    }

    while let Some(event) = watch.next().await {
        match event? {
            WatchEvent::Created { revision, object } => {
                println!(
                    "{revision}: created {} ({} replicas)",
                    object.meta.name, object.spec.replicas
                )
            }
            WatchEvent::Updated { revision, object } if object.spec.state.destroy => {
                // Removal is graceful: the controller deletes the service
                // once its pods are gone (none runs in demo mode).
                println!("{revision}: {} is being removed", object.meta.name);
                if demo_mode {
                    break;
                }
            }
            WatchEvent::Updated { revision, object } => {
                println!(
                    "{revision}: updated {} ({} replicas)",
                    object.meta.name, object.spec.replicas
                )
            }
            WatchEvent::Deleted { revision, object } => {
                println!("{revision}: deleted {}", object.meta.name)
            }
            WatchEvent::Error(body) => anyhow::bail!("the watch ended: {}", body.message),
        }
    }
    Ok(())
}

/// Serves the API router on a loopback port over a memory store, with a
/// `demo` namespace; answers a client for it.
async fn in_process_api() -> anyhow::Result<Client> {
    const TOKEN: &str = "example-token";
    let api = Api::new(
        Store::new(Arc::new(MemoryStorage::new())),
        Settings::default(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let app = router(ApiState::new(api, Some(TOKEN.to_owned())));
    tokio::spawn(serve(listener, app, None, std::future::pending()));
    let client = Client::builder().endpoint(&endpoint).token(TOKEN).build()?;
    let demo = NamespaceManifest {
        version: "v1".to_owned(),
        meta: ManifestMeta {
            name: "demo".to_owned(),
            ..ManifestMeta::default()
        },
        ..NamespaceManifest::default()
    };
    client.namespaces().create(&demo).await?;
    println!("serving the API at {endpoint}");
    Ok(client)
}

/// A service's life: applied, scaled, removed.
async fn drive(ns: NamespaceHandle) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    ns.apply(SERVICE, ApplyOptions::default()).await?;
    ns.service("web").scale(3).await?;
    ns.service("web").remove().await?;
    Ok(())
}
