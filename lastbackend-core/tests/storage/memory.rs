//! The battery on [`MemoryStorage`], and what only a local store can show:
//! compaction with a tiny history, lagging watchers, expiry on paused time.

use std::sync::Arc;

use lastbackend_core::storage::{MemoryStorage, Storage};

async fn make() -> Option<(Arc<dyn Storage>, ())> {
    Some((Arc::new(MemoryStorage::new()), ()))
}

battery!(memory, make());

#[tokio::test]
async fn compaction() {
    crate::battery::compaction(Arc::new(MemoryStorage::with_history(8)), 8).await;
}

#[tokio::test]
async fn lagging_watcher_catches_up() {
    // More writes than the live channel holds, fewer than the history.
    crate::battery::lagging_watcher_catches_up(Arc::new(MemoryStorage::new()), 10_000).await;
}

#[tokio::test]
async fn lagging_watcher_past_history_is_compacted() {
    let store = Arc::new(MemoryStorage::with_history(100));
    crate::battery::lagging_watcher_past_history_is_compacted(store, 10_000).await;
}

#[tokio::test(start_paused = true)]
async fn lease_expiry() {
    crate::battery::lease_expiry(Arc::new(MemoryStorage::new())).await;
}

#[test]
fn new_works_outside_a_runtime() {
    let store = MemoryStorage::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let revision = runtime.block_on(store.put("k", "v".into(), None)).unwrap();
    assert_eq!(revision, 1);
}
