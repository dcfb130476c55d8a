//! Embed a control-plane store in your own program and follow changes.
//!
//! Run: `cargo run -p examples --example store_watch`
//!
//! A typed [`Store`] over the in-memory backend: create two services, watch
//! the namespace from the list's revision, then change and delete one. The
//! watch sees exactly those changes, in order — swap `MemoryStorage` for
//! `EmbeddedStorage` (feature `embedded`) or `EtcdStorage` (feature `etcd`)
//! and nothing else changes.

use std::sync::Arc;

use futures::StreamExt;
use lastbackend_core::model::{Kind, Meta, SelfLink, Service};
use lastbackend_core::storage::memory::MemoryStorage;
use lastbackend_core::store::Store;

fn service(namespace: &str, name: &str, replicas: u32) -> Service {
    let link = SelfLink::namespaced(Kind::Service, namespace, name);
    let mut service = Service {
        meta: Meta::new(name, &link),
        ..Service::default()
    };
    service.spec.replicas = replicas;
    service
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    store.create(&service("demo", "web", 2)).await?;
    store.create(&service("demo", "db", 1)).await?;

    let (services, revision) = store.list::<Service>("demo:").await?;
    println!("listed {} services at revision {revision}", services.len());
    let mut changes = store
        .storage()
        .watch("service/demo:", Some(revision))
        .await?;

    let mut web = services
        .into_iter()
        .find(|s| s.meta.name == "web")
        .expect("listed");
    web.spec.replicas = 5;
    let web = store.update(&web).await?;
    store.delete(&web).await?;

    for _ in 0..2 {
        let event = changes.next().await.expect("the watch stays open")?;
        println!(
            "{} {} at revision {}",
            event.kind,
            event.kv.key,
            event.revision()
        );
    }
    Ok(())
}
