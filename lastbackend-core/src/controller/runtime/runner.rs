//! [`Controller`]: watches feeding caches and a work queue, and the workers
//! draining it.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use super::source::{KeySource, Source, WatchSource};
use super::{Action, Backoff, Cache, Error, Outcome, Reconciler, WorkQueue};
use crate::model::Object;
use crate::store::Store;

/// How often every cached object is queued again unless told otherwise.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(300);

/// How long shutdown waits for reconciles in flight unless told otherwise.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

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
