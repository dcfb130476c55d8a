//! [`Controller`]: watches feeding caches and a work queue, and the workers
//! draining it.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use super::{Action, Backoff, Cache, Error, Outcome, Reconciler, WorkQueue};
use crate::model::Object;
use crate::storage::{self, Event, EventKind};
use crate::store::{self, Store};

/// How often every cached object is queued again unless told otherwise.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(300);

/// How long shutdown waits for reconciles in flight unless told otherwise.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a watch waits before it retries a failed list or watch.
const WATCH_RETRY: Duration = Duration::from_secs(1);

/// Runs a [`Reconciler`] over keys fed by watches. Build it, register the
/// watches (each hands out its [`Cache`]), then [`run`](Self::run) it:
///
/// ```no_run
/// # use std::future::Future;
/// # use std::sync::Arc;
/// # use lastbackend_core::controller::runtime::{Action, Controller, Reconciler};
/// # use lastbackend_core::model::{Deployment, Object, Service};
/// # use lastbackend_core::store::Store;
/// # async fn run(
/// #     store: Store,
/// #     reconciler: Arc<dyn Reconciler>,
/// #     shutdown: impl Future<Output = ()> + Send,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// let mut controller = Controller::new(store);
/// let services = controller.watch::<Service>("", |s| vec![s.meta.self_link.clone()]);
/// // A deployment change reconciles its service.
/// let deployments = controller.watch::<Deployment>("", |d| {
///     d.self_link().ok().and_then(|l| l.parent()).map(|s| s.to_string()).into_iter().collect()
/// });
/// controller.run(reconciler, 4, shutdown).await?;
/// # Ok(())
/// # }
/// ```
pub struct Controller {
    store: Store,
    queue: WorkQueue,
    sources: Vec<Arc<dyn Source>>,
    resync: Option<Duration>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("queue", &self.queue)
            .field("watches", &self.sources.len())
            .field("resync", &self.resync)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller over `store` with no watches yet, the default
    /// [`Backoff`], [`DEFAULT_RESYNC`] and [`DEFAULT_SHUTDOWN_TIMEOUT`].
    pub fn new(store: Store) -> Self {
        Self {
            store,
            queue: WorkQueue::new(),
            sources: Vec::new(),
            resync: Some(DEFAULT_RESYNC),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// Retries failed keys after `backoff`.
    pub fn backoff(self, backoff: Backoff) -> Self {
        self.queue.set_backoff(backoff);
        self
    }

    /// Queues every cached object again this often (`None`: never).
    pub fn resync(mut self, every: Option<Duration>) -> Self {
        self.resync = every;
        self
    }

    /// Waits this long for reconciles in flight at shutdown.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The queue, to add keys by hand (from another event source, or a
    /// reconciler asking for a related key).
    pub fn queue(&self) -> WorkQueue {
        self.queue.clone()
    }

    /// Watches the objects of kind `T` whose selflink starts with `prefix`
    /// (`""`: all) and queues the keys `mapper` names for every change: for
    /// the new object and, on an update or a deletion, the old one too.
    /// Returns the cache the watch keeps.
    pub fn watch<T: Object>(
        &mut self,
        prefix: &str,
        mapper: impl Fn(&T) -> Vec<String> + Send + Sync + 'static,
    ) -> Arc<Cache<T>> {
        let cache = Arc::new(Cache::new());
        self.sources.push(Arc::new(WatchSource {
            prefix: prefix.to_owned(),
            cache: Arc::clone(&cache),
            mapper,
        }));
        cache
    }

    /// Watches the raw storage keys under `prefix` (`node/lease/`: keys that
    /// are not objects, such as heartbeats) and queues the keys `mapper`
    /// names for every key created, replaced or deleted, and for every key
    /// listed (or gone) at a relist. A reconciler reads the keys themselves
    /// from the store.
    pub fn watch_keys(
        &mut self,
        prefix: &str,
        mapper: impl Fn(&str) -> Vec<String> + Send + Sync + 'static,
    ) {
        self.sources.push(Arc::new(KeySource {
            prefix: prefix.to_owned(),
            keys: Mutex::new(BTreeSet::new()),
            mapper,
        }));
    }

    /// Runs `workers` workers (at least one) until `shutdown` completes, then
    /// stops handing out keys and waits for the reconciles in flight, up to
    /// the shutdown timeout ([`Error::ShutdownTimedOut`] after it).
    ///
    /// No reconcile starts before every watch has loaded its initial list.
    pub async fn run(
        self,
        reconciler: Arc<dyn Reconciler>,
        workers: usize,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), Error> {
        let mut shutdown = pin!(shutdown);
        let (warm_tx, mut warm_rx) = watch::channel(0_usize);
        let mut background = JoinSet::new();
        for source in &self.sources {
            let source = Arc::clone(source);
            let (store, queue, warm) = (self.store.clone(), self.queue.clone(), warm_tx.clone());
            background.spawn(async move { source.run(store, queue, warm).await });
        }
        if let Some(every) = self.resync {
            let (sources, queue) = (self.sources.clone(), self.queue.clone());
            background.spawn(resync(sources, queue, every));
        }

        let sources = self.sources.len();
        let warm = tokio::select! {
            warm = warm_rx.wait_for(|n| *n >= sources) => warm.is_ok(),
            () = &mut shutdown => false,
            Some(ended) = background.join_next() => died("a watch", ended),
        };
        let mut pool = JoinSet::new();
        if warm {
            tracing::debug!(sources, workers, "caches warm; starting workers");
            for _ in 0..workers.max(1) {
                pool.spawn(work(self.queue.clone(), Arc::clone(&reconciler)));
            }
            tokio::select! {
                () = &mut shutdown => {}
                Some(ended) = background.join_next() => died("a watch", ended),
                Some(ended) = pool.join_next() => died("a worker", ended),
            }
        }

        self.queue.shutdown();
        background.abort_all();
        let drained = tokio::time::timeout(self.shutdown_timeout, async {
            while pool.join_next().await.is_some() {}
        })
        .await;
        match drained {
            Ok(()) => Ok(()),
            Err(_) => {
                let in_flight = self.queue.in_flight();
                pool.abort_all();
                Err(Error::ShutdownTimedOut {
                    in_flight,
                    timeout: self.shutdown_timeout,
                })
            }
        }
    }
}

/// A watch or a worker runs until shutdown; one that ended before is a
/// bug (a panic outside any reconcile, which catches its own): its panic
/// goes on up, so a controller that lost a watch or a worker never looks
/// healthy.
fn died(what: &str, ended: Result<(), JoinError>) -> ! {
    match ended {
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => panic!("{what} task was cancelled: {error}"),
        Ok(()) => panic!("{what} task ended before shutdown"),
    }
}

async fn work(queue: WorkQueue, reconciler: Arc<dyn Reconciler>) {
    while let Some(key) = queue.get().await {
        let result = AssertUnwindSafe(reconciler.reconcile(&key))
            .catch_unwind()
            .await;
        let outcome = match result {
            Ok(Ok(Action::Done)) => Outcome::Done,
            Ok(Ok(Action::RequeueAfter(delay))) => Outcome::RequeueAfter(delay),
            Ok(Err(error)) => {
                let failures = queue.failures(&key) + 1;
                tracing::warn!(key, failures, %error, "reconcile failed");
                Outcome::Failed
            }
            Err(_) => {
                tracing::error!(key, "reconcile panicked");
                Outcome::Failed
            }
        };
        queue.done(&key, outcome);
    }
}

async fn resync(sources: Vec<Arc<dyn Source>>, queue: WorkQueue, every: Duration) {
    let start = tokio::time::Instant::now() + every;
    let mut ticks = tokio::time::interval_at(start, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for source in &sources {
            source.resync(&queue);
        }
    }
}

/// A watch, whatever its kind.
#[async_trait]
trait Source: Send + Sync + 'static {
    /// Lists, signals `warm` once, then watches for ever, relisting when
    /// the watch cannot resume.
    async fn run(&self, store: Store, queue: WorkQueue, warm: watch::Sender<usize>);

    /// Queues the keys of every cached object.
    fn resync(&self, queue: &WorkQueue);
}

struct WatchSource<T, F> {
    prefix: String,
    cache: Arc<Cache<T>>,
    mapper: F,
}

impl<T: Object, F: Fn(&T) -> Vec<String>> WatchSource<T, F> {
    fn enqueue(&self, queue: &WorkQueue, obj: &T) {
        for key in (self.mapper)(obj) {
            queue.add(&key);
        }
    }

    fn take(&self, queue: &WorkQueue, event: Event) {
        let revision = event.revision();
        let collection = T::KIND.collection();
        let Some(self_link) = event
            .kv
            .key
            .strip_prefix(collection)
            .and_then(|k| k.strip_prefix('/'))
        else {
            return;
        };
        match event.kind {
            EventKind::Deleted => {
                let old = self
                    .cache
                    .remove(self_link, revision)
                    .or_else(|| event.prev.and_then(|prev| store::decode(prev).ok()));
                if let Some(old) = old {
                    self.enqueue(queue, &old);
                }
            }
            EventKind::Created | EventKind::Updated => {
                match store::decode::<T>(event.kv) {
                    Ok(obj) => {
                        // Cached before it is queued: the reconcile sees it.
                        let old = self.cache.upsert(obj.clone(), revision);
                        self.enqueue(queue, &obj);
                        if let Some(old) = old {
                            self.enqueue(queue, &old);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "skipping an undecodable object"),
                }
            }
        }
    }

    /// Loads the list into the cache and queues every key it touches.
    async fn load(&self, store: &Store, queue: &WorkQueue) -> storage::Result<u64> {
        let (objects, revision) = store.list::<T>(&self.prefix).await?;
        for gone in self.cache.replace(objects, revision) {
            self.enqueue(queue, &gone);
        }
        self.enqueue_all(queue);
        Ok(revision)
    }

    fn enqueue_all(&self, queue: &WorkQueue) {
        for obj in self.cache.list() {
            self.enqueue(queue, &obj);
        }
    }
}

#[async_trait]
impl<T, F> Feed for WatchSource<T, F>
where
    T: Object,
    F: Fn(&T) -> Vec<String> + Send + Sync + 'static,
{
    fn prefix(&self) -> String {
        storage::key(T::KIND.collection(), &self.prefix)
    }

    async fn relist(&self, store: &Store, queue: &WorkQueue) -> storage::Result<u64> {
        self.load(store, queue).await
    }

    fn apply(&self, queue: &WorkQueue, event: Event) {
        self.take(queue, event);
    }

    fn resync(&self, queue: &WorkQueue) {
        self.enqueue_all(queue);
    }
}

/// Raw keys under a storage prefix.
struct KeySource<F> {
    prefix: String,
    keys: Mutex<BTreeSet<String>>,
    mapper: F,
}

impl<F: Fn(&str) -> Vec<String>> KeySource<F> {
    // Only whole-set swaps and single inserts: a panic cannot leave the set
    // half-changed.
    fn keys(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enqueue(&self, queue: &WorkQueue, key: &str) {
        for key in (self.mapper)(key) {
            queue.add(&key);
        }
    }
}

#[async_trait]
impl<F> Feed for KeySource<F>
where
    F: Fn(&str) -> Vec<String> + Send + Sync + 'static,
{
    fn prefix(&self) -> String {
        self.prefix.clone()
    }

    async fn relist(&self, store: &Store, queue: &WorkQueue) -> storage::Result<u64> {
        let list = store.storage().list(&self.prefix).await?;
        let fresh: BTreeSet<String> = list.items.into_iter().map(|kv| kv.key).collect();
        let old = std::mem::replace(&mut *self.keys(), fresh.clone());
        for key in old.union(&fresh) {
            self.enqueue(queue, key);
        }
        Ok(list.revision)
    }

    fn apply(&self, queue: &WorkQueue, event: Event) {
        match event.kind {
            EventKind::Deleted => self.keys().remove(&event.kv.key),
            EventKind::Created | EventKind::Updated => self.keys().insert(event.kv.key.clone()),
        };
        self.enqueue(queue, &event.kv.key);
    }

    fn resync(&self, queue: &WorkQueue) {
        let keys = self.keys().clone();
        for key in &keys {
            self.enqueue(queue, key);
        }
    }
}

/// A watch that keeps itself current: what [`Source::run`] drives.
#[async_trait]
trait Feed: Send + Sync + 'static {
    /// The storage prefix watched.
    fn prefix(&self) -> String;

    /// Loads everything under the prefix and queues what it touches;
    /// returns the revision to watch after.
    async fn relist(&self, store: &Store, queue: &WorkQueue) -> storage::Result<u64>;

    /// Takes one watch event in.
    fn apply(&self, queue: &WorkQueue, event: Event);

    /// Queues every known key again.
    fn resync(&self, queue: &WorkQueue);
}

#[async_trait]
impl<S: Feed> Source for S {
    async fn run(&self, store: Store, queue: WorkQueue, warm: watch::Sender<usize>) {
        let prefix = self.prefix();
        let mut warmed = false;
        'list: loop {
            let mut after = match self.relist(&store, &queue).await {
                Ok(revision) => revision,
                Err(error) => {
                    tracing::warn!(prefix, %error, "list failed; retrying");
                    tokio::time::sleep(WATCH_RETRY).await;
                    continue;
                }
            };
            if !warmed {
                warm.send_modify(|n| *n += 1);
                warmed = true;
            }
            loop {
                let mut stream = match store.storage().watch(&prefix, Some(after)).await {
                    Ok(stream) => stream,
                    Err(error) if error.is_compacted() => continue 'list,
                    Err(error) => {
                        tracing::warn!(prefix, %error, "watch failed; retrying");
                        tokio::time::sleep(WATCH_RETRY).await;
                        continue;
                    }
                };
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(event) => {
                            after = event.revision();
                            self.apply(&queue, event);
                        }
                        Err(error) if error.is_compacted() => {
                            tracing::debug!(prefix, %error, "watch compacted; relisting");
                            continue 'list;
                        }
                        Err(error) => {
                            tracing::warn!(prefix, %error, "watch broke; resuming");
                            break;
                        }
                    }
                }
                tokio::time::sleep(WATCH_RETRY).await;
            }
        }
    }

    fn resync(&self, queue: &WorkQueue) {
        Feed::resync(self, queue);
    }
}
