use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hickory_server::proto::rr::{LowerName, RecordType};
use lastbackend_core::model::{EndpointSpec, Kind, Meta, SelfLink};
use lastbackend_core::storage::{
    Error, KeyValue, LeaseId, List, MemoryStorage, Result as StorageResult, Revision, Storage, Txn,
    WatchStream,
};

use super::*;
use crate::discovery::{Answer, ZoneConfig};

/// A memory store whose watches, while `lossy`, drop every event (history
/// the watcher never sees) and end with `Compacted` at a write to
/// `endpoint/demo:trigger`, as etcd does when a watcher falls too far
/// behind.
#[derive(Debug, Default)]
struct Lossy {
    inner: MemoryStorage,
    lossy: Arc<AtomicBool>,
}

#[async_trait]
impl Storage for Lossy {
    async fn revision(&self) -> StorageResult<Revision> {
        self.inner.revision().await
    }
    async fn get(&self, key: &str) -> StorageResult<KeyValue> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> StorageResult<List> {
        self.inner.list(prefix).await
    }
    async fn txn(&self, txn: Txn) -> StorageResult<Revision> {
        self.inner.txn(txn).await
    }
    async fn watch(&self, prefix: &str, after: Option<Revision>) -> StorageResult<WatchStream> {
        let lossy = self.lossy.clone();
        let stream = self.inner.watch(prefix, after).await?;
        Ok(stream
            .filter_map(move |item| {
                let lossy = lossy.load(Ordering::SeqCst);
                let out = match item {
                    Ok(event) if lossy && event.kv.key == "endpoint/demo:trigger" => {
                        Some(Err(Error::Compacted {
                            requested: event.revision(),
                            compacted: event.revision(),
                        }))
                    }
                    Ok(_) if lossy => None,
                    other => Some(other),
                };
                std::future::ready(out)
            })
            .boxed())
    }
    async fn lease_grant(&self, ttl: Duration) -> StorageResult<LeaseId> {
        self.inner.lease_grant(ttl).await
    }
    async fn lease_keep_alive(&self, lease: LeaseId) -> StorageResult<Duration> {
        self.inner.lease_keep_alive(lease).await
    }
    async fn lease_revoke(&self, lease: LeaseId) -> StorageResult<()> {
        self.inner.lease_revoke(lease).await
    }
}

fn endpoint(svc: &str, ip: &str) -> Endpoint {
    let link = SelfLink::namespaced(Kind::Endpoint, "demo", svc);
    Endpoint {
        meta: Meta::new(svc, &link),
        spec: EndpointSpec {
            ip: Some(ip.parse().unwrap()),
            ..EndpointSpec::default()
        },
        ..Endpoint::default()
    }
}

fn address(zone: &ServiceZone, name: &str) -> Option<String> {
    match zone.resolve(&LowerName::from_str(name).unwrap(), RecordType::A) {
        Answer::Records { answers, .. } => {
            Some(answers[0].records_without_rrsigs().next()?.data.to_string())
        }
        _ => None,
    }
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_zone_follows_the_store_and_relists_after_compaction() {
    let storage = Arc::new(Lossy::default());
    let store = Store::new(storage.clone());
    let mut web = store.create(&endpoint("web", "10.96.0.1")).await.unwrap();
    let zone = Arc::new(ServiceZone::new(ZoneConfig::new("lb.local").unwrap()));
    let _watch = EndpointWatch::start(store.clone(), zone.clone())
        .await
        .unwrap();
    // The first list is in before `start` returns.
    assert_eq!(
        address(&zone, "web.demo.lb.local.").as_deref(),
        Some("10.96.0.1")
    );

    let db = store.create(&endpoint("db", "10.96.0.2")).await.unwrap();
    eventually("db appears", || {
        address(&zone, "db.demo.lb.local.").is_some()
    })
    .await;
    store.delete(&db).await.unwrap();
    eventually("db goes", || address(&zone, "db.demo.lb.local.").is_none()).await;

    // Changes the watch never delivers, then a compaction: only a relist
    // can find them.
    storage.lossy.store(true, Ordering::SeqCst);
    web.spec.ip = Some("10.96.0.9".parse().unwrap());
    store.update(&web).await.unwrap();
    store.create(&endpoint("cache", "10.96.0.3")).await.unwrap();
    store
        .create(&endpoint("trigger", "10.96.0.4"))
        .await
        .unwrap();
    eventually("the relist", || {
        address(&zone, "web.demo.lb.local.").as_deref() == Some("10.96.0.9")
            && address(&zone, "cache.demo.lb.local.").is_some()
    })
    .await;
    storage.lossy.store(false, Ordering::SeqCst);

    // And the watch goes on from the relist.
    store.create(&endpoint("after", "10.96.0.5")).await.unwrap();
    eventually("a later change", || {
        address(&zone, "after.demo.lb.local.").is_some()
    })
    .await;
    assert_eq!(zone.len(), 4);
}
