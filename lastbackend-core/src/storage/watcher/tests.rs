use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::Instant;

use super::{Config, Error, Event, object_watcher, watcher};
use crate::controller::testing::Gate;
use crate::model::{Kind, Meta, SelfLink, Service};
use crate::storage::{
    KeyValue, LeaseId, List, MemoryStorage, Result, Revision, Storage, Txn, WatchStream,
};
use crate::store::Store;

type Items<K> = BoxStream<'static, std::result::Result<Event<K>, Error>>;

async fn next<K>(items: &mut Items<K>) -> std::result::Result<Event<K>, Error> {
    tokio::time::timeout(Duration::from_secs(60), items.next())
        .await
        .expect("an item within a minute")
        .expect("the stream goes on")
}

fn keys(items: &[KeyValue]) -> Vec<&str> {
    items.iter().map(|kv| kv.key.as_str()).collect()
}

#[tokio::test(start_paused = true)]
async fn the_list_comes_first_then_every_change_in_order() {
    let storage = Arc::new(MemoryStorage::new());
    storage.put("hb/a", "1".into(), None).await.unwrap();
    storage.put("hb/b", "1".into(), None).await.unwrap();
    let listed_at = storage.put("other", "1".into(), None).await.unwrap();
    let mut items = watcher(storage.clone(), "hb/", Config::default());

    let Event::Restarted {
        items: list,
        revision,
    } = next(&mut items).await.unwrap()
    else {
        panic!("not a list first");
    };
    assert_eq!(keys(&list), ["hb/a", "hb/b"]);
    assert_eq!(revision, listed_at);

    let created = storage.put("hb/c", "1".into(), None).await.unwrap();
    let updated = storage
        .set("hb/c", "2".into(), created, None)
        .await
        .unwrap();
    storage.put("other2", "1".into(), None).await.unwrap();
    let deleted = storage.del("hb/a", None).await.unwrap();
    match next(&mut items).await.unwrap() {
        Event::Applied {
            key,
            item,
            revision,
        } => {
            assert_eq!((key.as_str(), revision), ("hb/c", created));
            assert_eq!(item.value, "1");
        }
        other => panic!("{other:?}"),
    }
    match next(&mut items).await.unwrap() {
        Event::Applied { item, revision, .. } => {
            assert_eq!((item.value, revision), ("2".into(), updated));
        }
        other => panic!("{other:?}"),
    }
    match next(&mut items).await.unwrap() {
        Event::Deleted {
            key,
            previous,
            revision,
        } => {
            assert_eq!((key.as_str(), revision), ("hb/a", deleted));
            assert_eq!(previous.unwrap().value, "1");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_compacted_history_relists_the_whole_state() {
    let storage = Arc::new(MemoryStorage::with_history(2));
    storage.put("k/a", "1".into(), None).await.unwrap();
    let mut items = watcher(storage.clone(), "k/", Config::default());
    assert!(matches!(
        next(&mut items).await,
        Ok(Event::Restarted { .. })
    ));

    // Off the history before the watch starts: it cannot, so a relist.
    storage.del("k/a", None).await.unwrap();
    for n in 0..5 {
        storage
            .put(&format!("k/{n}"), "1".into(), None)
            .await
            .unwrap();
    }
    match next(&mut items).await.unwrap() {
        Event::Restarted {
            items: list,
            revision,
        } => {
            assert_eq!(keys(&list), ["k/0", "k/1", "k/2", "k/3", "k/4"]);
            assert_eq!(revision, storage.revision().await.unwrap());
        }
        other => panic!("{other:?}"),
    }

    // Off the history while the watch runs: the stream says compacted, and
    // the watcher lists again.
    let written = storage.put("k/5", "1".into(), None).await.unwrap();
    assert_eq!(next(&mut items).await.unwrap().revision(), written);
    for n in 0..5000 {
        storage
            .put(&format!("x/{n}"), "1".into(), None)
            .await
            .unwrap();
    }
    storage.del("k/0", None).await.unwrap();
    match next(&mut items).await.unwrap() {
        Event::Restarted { items: list, .. } => {
            assert_eq!(keys(&list), ["k/1", "k/2", "k/3", "k/4", "k/5"]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_broken_watch_is_reported_and_resumed_without_a_relist() {
    let memory = MemoryStorage::new();
    let gate = Gate::new(&memory);
    let mut items = watcher(gate.clone(), "k/", Config::default());
    assert!(matches!(
        next(&mut items).await,
        Ok(Event::Restarted { .. })
    ));
    gate.put("k/a", "1".into(), None).await.unwrap();
    assert!(matches!(next(&mut items).await, Ok(Event::Applied { .. })));

    gate.cut_watches();
    let error = next(&mut items).await.unwrap_err();
    assert!(matches!(error, Error::WatchFailed { .. }), "{error}");
    // Written while the watch is down: delivered after the resume, once.
    let missed = gate.put("k/b", "1".into(), None).await.unwrap();
    match next(&mut items).await.unwrap() {
        Event::Applied { key, revision, .. } => {
            assert_eq!((key.as_str(), revision), ("k/b", missed))
        }
        other => panic!("not resumed: {other:?}"),
    }
}

/// Memory storage whose lists and watch starts fail a number of times.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryStorage,
    lists: AtomicU32,
    watches: AtomicU32,
}

fn fail_while(left: &AtomicU32) -> Result<()> {
    match left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
        Ok(_) => Err(crate::storage::Error::unavailable("flaky", "down")),
        Err(_) => Ok(()),
    }
}

#[async_trait]
impl Storage for Flaky {
    async fn revision(&self) -> Result<Revision> {
        self.inner.revision().await
    }
    async fn get(&self, key: &str) -> Result<KeyValue> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<List> {
        fail_while(&self.lists)?;
        self.inner.list(prefix).await
    }
    async fn txn(&self, txn: Txn) -> Result<Revision> {
        self.inner.txn(txn).await
    }
    async fn watch(&self, prefix: &str, after: Option<Revision>) -> Result<WatchStream> {
        fail_while(&self.watches)?;
        self.inner.watch(prefix, after).await
    }
    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        self.inner.lease_grant(ttl).await
    }
    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<Duration> {
        self.inner.lease_keep_alive(lease).await
    }
    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.inner.lease_revoke(lease).await
    }
}

#[tokio::test(start_paused = true)]
async fn failures_are_items_retried_with_a_doubling_delay_reset_by_progress() {
    let flaky = Arc::new(Flaky::default());
    flaky.lists.store(3, Ordering::SeqCst);
    flaky.watches.store(2, Ordering::SeqCst);
    let mut items = watcher(flaky.clone(), "k/", Config::default());
    let start = Instant::now();
    let mut at = Vec::new();
    for _ in 0..3 {
        let error = next(&mut items).await.unwrap_err();
        assert!(matches!(error, Error::ListFailed { .. }), "{error}");
        at.push((Instant::now() - start).as_millis());
    }
    assert!(matches!(
        next(&mut items).await,
        Ok(Event::Restarted { .. })
    ));
    at.push((Instant::now() - start).as_millis());
    // The list reset the count: the watch starts fail after 50, then 100.
    for _ in 0..2 {
        let error = next(&mut items).await.unwrap_err();
        assert!(matches!(error, Error::WatchStartFailed { .. }), "{error}");
        at.push((Instant::now() - start).as_millis());
    }
    let written = flaky.put("k/a", "1".into(), None).await.unwrap();
    assert_eq!(next(&mut items).await.unwrap().revision(), written);
    at.push((Instant::now() - start).as_millis());
    assert_eq!(at, [0, 50, 150, 350, 350, 400, 500]);
}

fn service(name: &str) -> Service {
    let link = SelfLink::namespaced(Kind::Service, "demo", name);
    Service {
        meta: Meta::new(name, &link),
        ..Service::default()
    }
}

#[tokio::test(start_paused = true)]
async fn objects_are_decoded_and_an_undecodable_one_is_reported_alone() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    store.create(&service("web")).await.unwrap();
    let storage = store.storage().clone();
    storage
        .put("service/demo:bad", "{".into(), None)
        .await
        .unwrap();
    let mut items = object_watcher::<Service>(&store, "demo:", Config::default());

    let error = next(&mut items).await.unwrap_err();
    let listed_at = storage.revision().await.unwrap();
    assert_eq!(error.undecodable(), Some(("demo:bad", listed_at)));
    match next(&mut items).await.unwrap() {
        Event::Restarted { items: list, .. } => {
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].meta.name, "web");
            assert!(list[0].meta.revision > 0);
        }
        other => panic!("{other:?}"),
    }

    let db = store.create(&service("db")).await.unwrap();
    match next(&mut items).await.unwrap() {
        Event::Applied {
            key,
            item,
            revision,
        } => {
            assert_eq!((key.as_str(), revision), ("demo:db", db.meta.revision));
            assert_eq!(item, db);
        }
        other => panic!("{other:?}"),
    }
    let bad = storage
        .put("service/demo:bad2", "\"nope\"".into(), None)
        .await
        .unwrap();
    match next(&mut items).await.unwrap_err() {
        Error::Decode { key, revision, .. } => {
            assert_eq!((key.as_str(), revision), ("demo:bad2", bad))
        }
        other => panic!("{other}"),
    }
    let deleted = store.delete(&db).await.unwrap();
    match next(&mut items).await.unwrap() {
        Event::Deleted {
            key,
            previous,
            revision,
        } => {
            assert_eq!((key.as_str(), revision), ("demo:db", deleted));
            assert_eq!(previous.unwrap().meta.name, "db");
        }
        other => panic!("{other:?}"),
    }
}
