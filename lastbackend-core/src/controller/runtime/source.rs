//! The watches of a [`Controller`](super::Controller): each follows a
//! [`watcher`](crate::storage::watcher) stream into its cache and queues
//! the keys every change touches.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;

use super::{Cache, WorkQueue};
use crate::model::Object;
use crate::storage::KeyValue;
use crate::storage::watcher::{self, Event};
use crate::store::Store;

/// A watch, whatever its kind.
#[async_trait]
pub(super) trait Source: Send + Sync + 'static {
    /// Follows the watch for ever; signals `warm` once, after the first
    /// list is in.
    async fn run(&self, store: Store, queue: WorkQueue, warm: watch::Sender<usize>);

    /// Queues the keys of every cached object.
    fn resync(&self, queue: &WorkQueue);
}

/// Hands every event of `items` to `take`, logs the errors (the watcher
/// retries by itself) and signals `warm` after the first list.
async fn follow<K>(
    mut items: BoxStream<'static, Result<Event<K>, watcher::Error>>,
    warm: watch::Sender<usize>,
    mut take: impl FnMut(Event<K>) + Send,
) {
    let mut warmed = false;
    while let Some(item) = items.next().await {
        match item {
            Ok(event) => {
                let listed = matches!(event, Event::Restarted { .. });
                take(event);
                if listed && !warmed {
                    warm.send_modify(|n| *n += 1);
                    warmed = true;
                }
            }
            Err(error) => tracing::warn!(%error, "controller watch"),
        }
    }
}

/// Objects of one kind, cached.
pub(super) struct WatchSource<T, F> {
    pub(super) prefix: String,
    pub(super) cache: Arc<Cache<T>>,
    pub(super) mapper: F,
}

impl<T: Object, F: Fn(&T) -> Vec<String>> WatchSource<T, F> {
    fn enqueue(&self, queue: &WorkQueue, obj: &T) {
        for key in (self.mapper)(obj) {
            queue.add(&key);
        }
    }

    fn enqueue_all(&self, queue: &WorkQueue) {
        for obj in self.cache.list() {
            self.enqueue(queue, &obj);
        }
    }

    /// Takes one event into the cache and queues every key it touches:
    /// for a list, those of the objects gone since the last one too.
    fn take(&self, queue: &WorkQueue, event: Event<T>) {
        match event {
            Event::Restarted { items, revision } => {
                for gone in self.cache.replace(items, revision) {
                    self.enqueue(queue, &gone);
                }
                self.enqueue_all(queue);
            }
            Event::Applied { item, revision, .. } => {
                // Cached before it is queued: the reconcile sees it.
                let old = self.cache.upsert(item.clone(), revision);
                self.enqueue(queue, &item);
                if let Some(old) = old {
                    self.enqueue(queue, &old);
                }
            }
            Event::Deleted {
                key,
                previous,
                revision,
            } => {
                if let Some(old) = self.cache.remove(&key, revision).or(previous) {
                    self.enqueue(queue, &old);
                }
            }
        }
    }
}

#[async_trait]
impl<T, F> Source for WatchSource<T, F>
where
    T: Object,
    F: Fn(&T) -> Vec<String> + Send + Sync + 'static,
{
    async fn run(&self, store: Store, queue: WorkQueue, warm: watch::Sender<usize>) {
        let items = watcher::object_watcher::<T>(&store, &self.prefix, Default::default());
        follow(items, warm, |event| self.take(&queue, event)).await;
    }

    fn resync(&self, queue: &WorkQueue) {
        self.enqueue_all(queue);
    }
}

/// Raw keys under a storage prefix.
pub(super) struct KeySource<F> {
    pub(super) prefix: String,
    pub(super) keys: Mutex<BTreeSet<String>>,
    pub(super) mapper: F,
}

impl<F: Fn(&str) -> Vec<String>> KeySource<F> {
    // Only whole-set swaps and single inserts: a panic cannot leave the set
    // half-changed.
    fn keys(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enqueue(&self, queue: &WorkQueue, key: &str) {
        for key in (self.mapper)(key) {
            queue.add(&key);
        }
    }

    /// Takes one event in and queues its keys: for a list, those of the
    /// keys gone since the last one too.
    fn take(&self, queue: &WorkQueue, event: Event<KeyValue>) {
        match event {
            Event::Restarted { items, .. } => {
                let fresh: BTreeSet<String> = items.into_iter().map(|kv| kv.key).collect();
                let old = std::mem::replace(&mut *self.keys(), fresh.clone());
                for key in old.union(&fresh) {
                    self.enqueue(queue, key);
                }
            }
            Event::Applied { key, .. } => {
                self.keys().insert(key.clone());
                self.enqueue(queue, &key);
            }
            Event::Deleted { key, .. } => {
                self.keys().remove(&key);
                self.enqueue(queue, &key);
            }
        }
    }
}

#[async_trait]
impl<F> Source for KeySource<F>
where
    F: Fn(&str) -> Vec<String> + Send + Sync + 'static,
{
    async fn run(&self, store: Store, queue: WorkQueue, warm: watch::Sender<usize>) {
        let items = watcher::watcher(store.storage().clone(), &self.prefix, Default::default());
        follow(items, warm, |event| self.take(&queue, event)).await;
    }

    fn resync(&self, queue: &WorkQueue) {
        let keys = self.keys().clone();
        for key in &keys {
            self.enqueue(queue, key);
        }
    }
}
