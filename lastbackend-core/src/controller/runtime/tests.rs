use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::{Instant, sleep};

use super::*;
use crate::controller::testing::Gate;
use crate::model::{Deployment, Kind, Meta, Object, SelfLink, Service};
use crate::storage::MemoryStorage;
use crate::store::Store;

const MS: Duration = Duration::from_millis(1);

fn service(name: &str) -> Service {
    let link = SelfLink::namespaced(Kind::Service, "demo", name);
    Service {
        meta: Meta::new(name, &link),
        ..Service::default()
    }
}

fn deployment(service: &str, name: &str) -> Deployment {
    let link = SelfLink::deployment("demo", service, name);
    Deployment {
        meta: Meta::new(name, &link),
        ..Deployment::default()
    }
}

fn own_link<T: Object>(obj: &T) -> Vec<String> {
    vec![obj.meta().self_link.clone()]
}

/// Records every reconcile, optionally sleeping in it and failing a number
/// of times per key, and counts how many run at once per key.
#[derive(Default)]
struct Probe {
    started: Mutex<Vec<(String, Instant)>>,
    finished: AtomicUsize,
    running: Mutex<HashMap<String, usize>>,
    most_at_once_per_key: AtomicUsize,
    running_total: AtomicUsize,
    most_at_once: AtomicUsize,
    work: Duration,
    failures_left: Mutex<HashMap<String, u32>>,
}

impl Probe {
    fn working(work: Duration) -> Self {
        Self {
            work,
            ..Self::default()
        }
    }

    fn starts(&self, key: &str) -> Vec<Instant> {
        let started = self.started.lock().unwrap();
        started
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, at)| *at)
            .collect()
    }

    fn count(&self) -> usize {
        self.started.lock().unwrap().len()
    }
}

#[async_trait]
impl Reconciler for Probe {
    async fn reconcile(&self, key: &str) -> Result<Action, BoxError> {
        self.started
            .lock()
            .unwrap()
            .push((key.to_owned(), Instant::now()));
        let now = {
            let mut running = self.running.lock().unwrap();
            let n = running.entry(key.to_owned()).or_default();
            *n += 1;
            *n
        };
        self.most_at_once_per_key.fetch_max(now, Ordering::SeqCst);
        let total = self.running_total.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(total, Ordering::SeqCst);

        sleep(self.work).await;

        self.running_total.fetch_sub(1, Ordering::SeqCst);
        *self.running.lock().unwrap().get_mut(key).unwrap() -= 1;
        self.finished.fetch_add(1, Ordering::SeqCst);
        let mut failures = self.failures_left.lock().unwrap();
        match failures.get_mut(key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(format!("{key} failed on purpose").into())
            }
            _ => Ok(Action::Done),
        }
    }
}

/// Runs `controller` in a task; the sender stops it.
fn start(
    controller: Controller,
    reconciler: Arc<dyn Reconciler>,
    workers: usize,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), Error>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(controller.run(reconciler, workers, async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

async fn until(what: &str, within: Duration, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(MS).await;
    }
}

#[tokio::test(start_paused = true)]
async fn duplicates_collapse_and_a_key_added_while_processed_comes_back() {
    let queue = WorkQueue::new();
    queue.add("a");
    queue.add("a");
    queue.add("b");
    assert_eq!(queue.len(), 2);

    let a = queue.get().await.unwrap();
    assert_eq!(a, "a");
    queue.add("a");
    assert_eq!(queue.get().await.unwrap(), "b");
    let nothing = tokio::time::timeout(Duration::from_secs(1), queue.get()).await;
    assert!(
        nothing.is_err(),
        "a is held by a worker: not handed out twice"
    );

    queue.done("a", Outcome::Done);
    assert_eq!(
        queue.get().await.unwrap(),
        "a",
        "the add during processing is kept"
    );
    queue.done("a", Outcome::Done);
    queue.done("b", Outcome::Done);
    assert!(queue.is_empty());
    assert_eq!(queue.in_flight(), 0);

    queue.shutdown();
    assert_eq!(queue.get().await, None);
    queue.add("c");
    assert!(queue.is_empty(), "adds after shutdown are ignored");
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_up_to_the_cap_and_reset_on_success() {
    let queue = WorkQueue::with_backoff(Backoff::new(5 * MS, 50 * MS));
    queue.add("k");
    let mut key = queue.get().await.unwrap();
    let mut delays = Vec::new();
    for _ in 0..6 {
        let failed_at = Instant::now();
        queue.done(&key, Outcome::Failed);
        key = queue.get().await.unwrap();
        delays.push((Instant::now() - failed_at).as_millis());
    }
    assert_eq!(delays, [5, 10, 20, 40, 50, 50]);
    assert_eq!(queue.failures("k"), 6);

    queue.done(&key, Outcome::Done);
    assert_eq!(queue.failures("k"), 0);
    queue.add("k");
    let key = queue.get().await.unwrap();
    let failed_at = Instant::now();
    queue.done(&key, Outcome::Failed);
    queue.get().await.unwrap();
    assert_eq!(
        (Instant::now() - failed_at).as_millis(),
        5,
        "reset by the success"
    );

    let at = Instant::now();
    queue.done("k", Outcome::RequeueAfter(Duration::from_secs(3)));
    assert_eq!(queue.get().await.unwrap(), "k");
    assert_eq!(Instant::now() - at, Duration::from_secs(3));
    assert_eq!(queue.failures("k"), 0);

    assert_eq!(Backoff::default().delay(1), 5 * MS);
    assert_eq!(Backoff::default().delay(100), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_controller_retries_a_failing_reconcile_with_backoff() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    store.create(&service("web")).await.unwrap();
    let mut controller = Controller::new(store.clone()).resync(None);
    controller.watch::<Service>("", own_link);
    let probe = Arc::new(Probe::default());
    probe
        .failures_left
        .lock()
        .unwrap()
        .insert("demo:web".to_owned(), 4);
    let (stop, task) = start(controller, probe.clone(), 2);

    until("five reconciles", Duration::from_secs(1), || {
        probe.count() == 5
    })
    .await;
    let starts = probe.starts("demo:web");
    let gaps: Vec<_> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    assert_eq!(gaps, [5, 10, 20, 40]);

    sleep(Duration::from_secs(10)).await;
    assert_eq!(probe.count(), 5, "a success ends the retries");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn one_key_is_never_reconciled_twice_at_once_and_no_trigger_is_lost() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let mut web = store.create(&service("web")).await.unwrap();
    store.create(&service("db")).await.unwrap();
    let mut controller = Controller::new(store.clone()).resync(None);
    let queue = controller.queue();
    controller.watch::<Service>("", own_link);
    let probe = Arc::new(Probe::working(10 * MS));
    let (stop, task) = start(controller, probe.clone(), 4);

    for n in 0..200 {
        if n % 10 == 0 {
            web.spec.replicas = n;
            web = store.update(&web).await.unwrap();
        } else {
            queue.add("demo:web");
            queue.add("demo:db");
        }
        sleep(MS).await;
    }
    let last_trigger = Instant::now();
    until("the last trigger handled", Duration::from_secs(1), || {
        probe.starts("demo:web").last() >= Some(&last_trigger)
            && probe.running_total.load(Ordering::SeqCst) == 0
    })
    .await;

    assert_eq!(probe.most_at_once_per_key.load(Ordering::SeqCst), 1);
    assert_eq!(
        probe.most_at_once.load(Ordering::SeqCst),
        2,
        "the two keys do run side by side"
    );
    let runs = probe.starts("demo:web").len();
    assert!((15..=25).contains(&runs), "bursts collapse: {runs} runs");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn every_cached_object_is_resynced_periodically() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    store.create(&service("web")).await.unwrap();
    store.create(&service("db")).await.unwrap();
    let mut controller = Controller::new(store).resync(Some(Duration::from_secs(1)));
    controller.watch::<Service>("", own_link);
    let probe = Arc::new(Probe::default());
    let (stop, task) = start(controller, probe.clone(), 1);

    sleep(Duration::from_millis(3500)).await;
    assert_eq!(probe.starts("demo:web").len(), 4, "start + 3 resyncs");
    assert_eq!(probe.starts("demo:db").len(), 4);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// Checks, at every reconcile, that both caches hold everything stored.
struct CacheChecker {
    services: Arc<Cache<Service>>,
    deployments: Arc<Cache<Deployment>>,
    smallest_seen: Mutex<Option<(usize, usize)>>,
}

#[async_trait]
impl Reconciler for CacheChecker {
    async fn reconcile(&self, _key: &str) -> Result<Action, BoxError> {
        let seen = (self.services.len(), self.deployments.len());
        let mut smallest = self.smallest_seen.lock().unwrap();
        *smallest = Some(smallest.map_or(seen, |s| (s.0.min(seen.0), s.1.min(seen.1))));
        Ok(Action::Done)
    }
}

#[tokio::test(start_paused = true)]
async fn no_reconcile_runs_before_every_cache_is_warm() {
    let memory = MemoryStorage::new();
    let gate = Gate::new(&memory);
    let store = Store::new(gate.clone());
    for n in 0..20 {
        store.create(&service(&format!("s{n}"))).await.unwrap();
        store
            .create(&deployment(&format!("s{n}"), "v1"))
            .await
            .unwrap();
    }
    // Services load at once, deployments a second later: a worker started
    // early would see services and no deployments.
    gate.slow_lists("deployment/", Duration::from_secs(1));

    let mut controller = Controller::new(store).resync(None);
    let services = controller.watch::<Service>("", own_link);
    let deployments = controller.watch::<Deployment>("", |d| {
        d.self_link()
            .ok()
            .and_then(|link| link.parent())
            .map(|parent| parent.to_string())
            .into_iter()
            .collect()
    });
    let checker = Arc::new(CacheChecker {
        services: services.clone(),
        deployments: deployments.clone(),
        smallest_seen: Mutex::new(None),
    });
    let (stop, task) = start(controller, checker.clone(), 4);

    sleep(Duration::from_millis(500)).await;
    assert!(services.is_synced() && !deployments.is_synced());
    assert_eq!(
        *checker.smallest_seen.lock().unwrap(),
        None,
        "nothing ran yet"
    );

    sleep(Duration::from_secs(1)).await;
    assert_eq!(*checker.smallest_seen.lock().unwrap(), Some((20, 20)));
    assert_eq!(
        deployments.get("demo:s3:v1").unwrap().meta.name,
        "v1",
        "the cache is keyed by selflink"
    );
    assert_eq!(services.list_prefix("demo:s1").len(), 11);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_taking_keys_and_waits_for_the_reconciles_in_flight() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    store.create(&service("web")).await.unwrap();
    let mut controller = Controller::new(store).resync(None);
    let queue = controller.queue();
    controller.watch::<Service>("", own_link);
    let probe = Arc::new(Probe::working(Duration::from_secs(2)));
    let (stop, task) = start(controller, probe.clone(), 1);

    until("the reconcile to start", Duration::from_secs(1), || {
        probe.count() == 1
    })
    .await;
    queue.add("demo:other");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    assert_eq!(
        probe.finished.load(Ordering::SeqCst),
        1,
        "the reconcile in flight finished"
    );
    let started = probe.starts("demo:web")[0];
    assert_eq!(Instant::now() - started, Duration::from_secs(2));
    assert_eq!(probe.count(), 1, "the queued key was not taken");
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_up_on_a_reconcile_that_outlasts_the_timeout() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    store.create(&service("web")).await.unwrap();
    let mut controller = Controller::new(store)
        .resync(None)
        .shutdown_timeout(Duration::from_secs(1));
    controller.watch::<Service>("", own_link);
    let probe = Arc::new(Probe::working(Duration::from_secs(3600)));
    let (stop, task) = start(controller, probe.clone(), 1);

    until("the reconcile to start", Duration::from_secs(1), || {
        probe.count() == 1
    })
    .await;
    let stopped_at = Instant::now();
    stop.send(()).unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::ShutdownTimedOut { in_flight: 1, .. }),
        "{err}"
    );
    assert_eq!(Instant::now() - stopped_at, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_watch_that_cannot_resume_relists_and_reports_what_it_missed() {
    let memory = MemoryStorage::with_history(4);
    let gate = Gate::new(&memory);
    let store = Store::new(gate.clone());
    let a = store.create(&service("a")).await.unwrap();
    store.create(&service("b")).await.unwrap();
    let mut controller = Controller::new(store.clone()).resync(None);
    let services = controller.watch::<Service>("", own_link);
    let probe = Arc::new(Probe::default());
    let (stop, task) = start(controller, probe.clone(), 2);
    until("the first reconciles", Duration::from_secs(1), || {
        probe.count() == 2
    })
    .await;

    // The connection drops; while the watch waits to resume, more changes
    // than the history keeps go by.
    gate.cut_watches();
    sleep(MS).await;
    let cut_at = Instant::now();
    store.delete(&a).await.unwrap();
    for name in ["c", "d", "e", "f", "g"] {
        store.create(&service(name)).await.unwrap();
    }

    until("the relist", Duration::from_secs(5), || services.len() == 6).await;
    assert!(!services.contains("demo:a"));
    assert_eq!(
        services.keys(),
        ["demo:b", "demo:c", "demo:d", "demo:e", "demo:f", "demo:g"]
    );
    until("the missed keys reconciled", Duration::from_secs(1), || {
        ["demo:a", "demo:c", "demo:g"]
            .iter()
            .all(|key| probe.starts(key).last() > Some(&cut_at))
    })
    .await;

    // And the watch goes on after the relist.
    store.create(&service("h")).await.unwrap();
    until("the next event", Duration::from_secs(1), || {
        services.len() == 7
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_panicking_reconcile_is_retried_like_a_failed_one() {
    struct Panics(AtomicUsize);

    #[async_trait]
    impl Reconciler for Panics {
        async fn reconcile(&self, _key: &str) -> Result<Action, BoxError> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first run panics");
            }
            Ok(Action::Done)
        }
    }

    let store = Store::new(Arc::new(MemoryStorage::new()));
    store.create(&service("web")).await.unwrap();
    let mut controller = Controller::new(store).resync(None);
    controller.watch::<Service>("", own_link);
    let panics = Arc::new(Panics(AtomicUsize::new(0)));
    let (stop, task) = start(controller, panics.clone(), 1);
    until("the retry", Duration::from_secs(1), || {
        panics.0.load(Ordering::SeqCst) == 2
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn raw_keys_are_watched_and_a_relist_reports_the_keys_gone_meanwhile() {
    let memory = MemoryStorage::with_history(4);
    let gate = Gate::new(&memory);
    let store = Store::new(gate.clone());
    let storage = store.storage().clone();
    for name in ["a", "b"] {
        storage
            .put(&format!("hb/{name}"), "{}".into(), None)
            .await
            .unwrap();
    }
    // A key outside the prefix is not watched.
    storage.put("hbx/c", "{}".into(), None).await.unwrap();
    let mut controller = Controller::new(store.clone()).resync(None);
    controller.watch_keys("hb/", |key| {
        key.strip_prefix("hb/")
            .map(str::to_owned)
            .into_iter()
            .collect()
    });
    let probe = Arc::new(Probe::default());
    let (stop, task) = start(controller, probe.clone(), 1);
    until("the listed keys", Duration::from_secs(1), || {
        probe.count() == 2
    })
    .await;
    assert_eq!(probe.starts("a").len(), 1);

    storage.del("hb/b", None).await.unwrap();
    until("the deletion", Duration::from_secs(1), || {
        probe.starts("b").len() == 2
    })
    .await;

    // Cut off while more changes than the history keeps go by: the relist
    // still reports `a`, deleted meanwhile.
    gate.cut_watches();
    sleep(MS).await;
    storage.del("hb/a", None).await.unwrap();
    for n in 0..5 {
        storage
            .put(&format!("other/{n}"), "{}".into(), None)
            .await
            .unwrap();
    }
    until("the relist", Duration::from_secs(5), || {
        probe.starts("a").len() == 2
    })
    .await;
    assert!(probe.starts("c").is_empty());
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
