//! Storage backends against their raw engines.
//!
//! `cargo bench -p lastbackend-core --features embedded --bench storage`
//!
//! For each backend, through `Arc<dyn Storage>` on one task of a
//! current-thread runtime: put, get and compare-and-swap set (ops/s), a list
//! of 10,000 keys (ms); then, on a two-worker runtime, the watch fan-out: the
//! time from a write's return until the last of 1,000 watchers on its prefix
//! received it (p50/p99 over 200 writes). The baselines run the same
//! operations on the raw engine: a `RwLock<BTreeMap>` for memory, bare redb
//! transactions for embedded, and a bare `tokio::sync::broadcast` for the
//! fan-out. A new backend adds one `section(..)` call with its own baseline.
//!
//! With `--features embedded,etcd` the etcd section follows (`storage/etcd.rs`):
//! a real etcd on loopback, `EtcdStorage` against raw `etcd-client` calls. Its
//! operations are network round trips, so it reports p50 latencies from
//! samples interleaved with the baseline's rather than `section(..)`'s
//! throughput.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use lastbackend_core::storage::{EmbeddedStorage, MemoryStorage, Storage, Txn, TxnOp};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::Notify;

#[cfg(feature = "etcd")]
#[path = "storage/etcd.rs"]
mod etcd;

const LIST_KEYS: usize = 10_000;
const WATCHERS: usize = 1_000;
const FANOUT_WRITES: usize = 200;

/// How many operations to time: a durable store fsyncs each write.
#[derive(Clone, Copy)]
struct Sizes {
    writes: usize,
    reads: usize,
}

/// The figures of one backend or baseline.
#[derive(Debug, Default)]
struct Figures {
    put_ops_per_s: f64,
    get_ops_per_s: f64,
    set_ops_per_s: f64,
    list_10k_ms: f64,
    fanout_1000_p50_ms: f64,
    fanout_1000_p99_ms: f64,
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn per_second(ops: usize, elapsed: Duration) -> f64 {
    ops as f64 / elapsed.as_secs_f64()
}

fn list_keys() -> Vec<String> {
    (0..LIST_KEYS)
        .map(|i| format!("bench/list/{i:05}"))
        .collect()
}

/// The median of `runs` timings of `f`, in ms.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// Measures any backend through the trait.
fn bench_storage(store: Arc<dyn Storage>, sizes: Sizes) -> Figures {
    let mut figures = Figures::default();
    let keys = list_keys();
    current_thread().block_on(async {
        let mut txn = Txn::new();
        for key in &keys {
            txn = txn.op(TxnOp::Upsert {
                key: key.clone(),
                value: Bytes::from_static(b"{}"),
                lease: None,
            });
        }
        store.txn(txn).await.unwrap();

        let value = Bytes::from_static(br#"{"meta":{"name":"web"}}"#);
        let start = Instant::now();
        for i in 0..sizes.writes {
            store
                .put(&format!("bench/put/{i:08}"), value.clone(), None)
                .await
                .unwrap();
        }
        figures.put_ops_per_s = per_second(sizes.writes, start.elapsed());

        let start = Instant::now();
        for i in 0..sizes.reads {
            black_box(store.get(&keys[i % LIST_KEYS]).await.unwrap());
        }
        figures.get_ops_per_s = per_second(sizes.reads, start.elapsed());

        let mut revision = store.put("bench/cas", value.clone(), None).await.unwrap();
        let start = Instant::now();
        for _ in 0..sizes.writes {
            revision = store
                .set("bench/cas", value.clone(), revision, None)
                .await
                .unwrap();
        }
        figures.set_ops_per_s = per_second(sizes.writes, start.elapsed());

        let mut times = Vec::new();
        for _ in 0..11 {
            let start = Instant::now();
            let list = store.list("bench/list/").await.unwrap();
            times.push(start.elapsed().as_secs_f64() * 1e3);
            assert_eq!(list.items.len(), LIST_KEYS);
        }
        times.sort_by(f64::total_cmp);
        figures.list_10k_ms = times[times.len() / 2];
    });

    let (p50, p99) = two_workers().block_on(async {
        let mut watchers = Vec::new();
        for _ in 0..WATCHERS {
            let watch = store.watch("bench/fan/", None).await.unwrap();
            watchers.push(watch.map(|e| drop(e.unwrap())).boxed());
        }
        let mut revision = store
            .put("bench/fan/k", Bytes::from_static(b"0"), None)
            .await
            .unwrap();
        // Drain the creation before timing.
        let warm = fanout(watchers, 1, async || {}).await;
        let store = Arc::clone(&store);
        let latencies = fanout(warm.1, FANOUT_WRITES, async move || {
            revision = store
                .set("bench/fan/k", Bytes::from_static(b"1"), revision, None)
                .await
                .unwrap();
        })
        .await;
        percentiles(latencies.0)
    });
    figures.fanout_1000_p50_ms = p50;
    figures.fanout_1000_p99_ms = p99;
    figures
}

/// Runs `writes` writes, each after the previous one reached every watcher,
/// and returns the delays from each write's return to its last delivery (and
/// the watchers, for another round).
async fn fanout(
    watchers: Vec<BoxStream<'static, ()>>,
    writes: usize,
    mut write: impl AsyncFnMut(),
) -> (Vec<Duration>, Vec<BoxStream<'static, ()>>) {
    let count = watchers.len();
    let received = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(Notify::new());
    let last = Arc::new(std::sync::Mutex::new(Instant::now()));
    let tasks: Vec<_> = watchers
        .into_iter()
        .map(|mut watch| {
            let (received, all, last) =
                (Arc::clone(&received), Arc::clone(&all), Arc::clone(&last));
            tokio::spawn(async move {
                for _ in 0..writes {
                    watch.next().await.unwrap();
                    if received.fetch_add(1, Ordering::AcqRel) + 1 == count {
                        *last.lock().unwrap() = Instant::now();
                        all.notify_one();
                    }
                }
                watch
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(writes);
    for _ in 0..writes {
        write().await;
        let returned = Instant::now();
        all.notified().await;
        latencies.push(last.lock().unwrap().saturating_duration_since(returned));
        // Every watcher has counted this write and waits for the next one.
        received.store(0, Ordering::Release);
    }
    let mut watchers = Vec::new();
    for task in tasks {
        watchers.push(task.await.unwrap());
    }
    (latencies, watchers)
}

fn percentiles(mut latencies: Vec<Duration>) -> (f64, f64) {
    latencies.sort();
    let at =
        |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.50), at(0.99))
}

/// The fan-out baseline: a bare broadcast channel carrying the value.
fn broadcast_fanout() -> (f64, f64) {
    two_workers().block_on(async {
        let (sender, _) = tokio::sync::broadcast::channel::<Bytes>(1024);
        let watchers: Vec<BoxStream<'static, ()>> = (0..WATCHERS)
            .map(|_| {
                futures::stream::unfold(sender.subscribe(), |mut rx| async move {
                    rx.recv().await.ok().map(|v| (drop(v), rx))
                })
                .boxed()
            })
            .collect();
        let (latencies, _) = fanout(watchers, FANOUT_WRITES, async || {
            sender.send(Bytes::from_static(b"1")).unwrap();
        })
        .await;
        percentiles(latencies)
    })
}

fn memory_baseline(sizes: Sizes) -> Figures {
    let map: RwLock<BTreeMap<String, Bytes>> = RwLock::new(BTreeMap::new());
    let keys = list_keys();
    for key in &keys {
        map.write()
            .unwrap()
            .insert(key.clone(), Bytes::from_static(b"{}"));
    }
    let value = Bytes::from_static(br#"{"meta":{"name":"web"}}"#);
    let mut figures = Figures::default();

    let start = Instant::now();
    for i in 0..sizes.writes {
        let mut map = map.write().unwrap();
        let key = format!("bench/put/{i:08}");
        assert!(!map.contains_key(&key));
        map.insert(key, value.clone());
    }
    figures.put_ops_per_s = per_second(sizes.writes, start.elapsed());

    let start = Instant::now();
    for i in 0..sizes.reads {
        black_box(
            map.read()
                .unwrap()
                .get(&keys[i % LIST_KEYS])
                .cloned()
                .unwrap(),
        );
    }
    figures.get_ops_per_s = per_second(sizes.reads, start.elapsed());

    map.write()
        .unwrap()
        .insert("bench/cas".into(), value.clone());
    let start = Instant::now();
    for _ in 0..sizes.writes {
        let mut map = map.write().unwrap();
        let slot = map.get_mut("bench/cas").unwrap();
        assert_eq!(slot.len(), value.len());
        *slot = value.clone();
    }
    figures.set_ops_per_s = per_second(sizes.writes, start.elapsed());

    figures.list_10k_ms = median_ms(11, || {
        let map = map.read().unwrap();
        let items: Vec<(String, Bytes)> = map
            .range::<str, _>((Bound::Included("bench/list/"), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with("bench/list/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(black_box(items).len(), LIST_KEYS);
    });
    (figures.fanout_1000_p50_ms, figures.fanout_1000_p99_ms) = broadcast_fanout();
    figures
}

const TABLE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("bench");

fn redb_baseline(db: &Database, sizes: Sizes) -> Figures {
    let keys = list_keys();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(TABLE).unwrap();
        for key in &keys {
            table.insert(key.as_str(), b"{}".as_slice()).unwrap();
        }
    }
    txn.commit().unwrap();
    let value = br#"{"meta":{"name":"web"}}"#.as_slice();
    let mut figures = Figures::default();

    let start = Instant::now();
    for i in 0..sizes.writes {
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(TABLE).unwrap();
            let key = format!("bench/put/{i:08}");
            assert!(table.get(key.as_str()).unwrap().is_none());
            table.insert(key.as_str(), value).unwrap();
        }
        txn.commit().unwrap();
    }
    figures.put_ops_per_s = per_second(sizes.writes, start.elapsed());

    let start = Instant::now();
    for i in 0..sizes.reads {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TABLE).unwrap();
        black_box(Bytes::copy_from_slice(
            table
                .get(keys[i % LIST_KEYS].as_str())
                .unwrap()
                .unwrap()
                .value(),
        ));
    }
    figures.get_ops_per_s = per_second(sizes.reads, start.elapsed());

    let start = Instant::now();
    for _ in 0..sizes.writes {
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(TABLE).unwrap();
            let current = table.get("bench/cas").unwrap().map(|v| v.value().len());
            assert!(current.is_none_or(|len| len == value.len()));
            table.insert("bench/cas", value).unwrap();
        }
        txn.commit().unwrap();
    }
    figures.set_ops_per_s = per_second(sizes.writes, start.elapsed());

    figures.list_10k_ms = median_ms(11, || {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(TABLE).unwrap();
        let items: Vec<(String, Bytes)> = table
            .range("bench/list/"..)
            .unwrap()
            .map(|row| row.unwrap())
            .take_while(|(k, _)| k.value().starts_with("bench/list/"))
            .map(|(k, v)| (k.value().to_owned(), Bytes::copy_from_slice(v.value())))
            .collect();
        assert_eq!(black_box(items).len(), LIST_KEYS);
    });
    (figures.fanout_1000_p50_ms, figures.fanout_1000_p99_ms) = broadcast_fanout();
    figures
}

fn report(backend: &str, figures: &Figures, baseline: &Figures) {
    let lines = [
        (
            "put_ops_per_s",
            figures.put_ops_per_s,
            baseline.put_ops_per_s,
        ),
        (
            "get_ops_per_s",
            figures.get_ops_per_s,
            baseline.get_ops_per_s,
        ),
        (
            "set_ops_per_s",
            figures.set_ops_per_s,
            baseline.set_ops_per_s,
        ),
        ("list_10k_ms", figures.list_10k_ms, baseline.list_10k_ms),
        (
            "fanout_1000_p50_ms",
            figures.fanout_1000_p50_ms,
            baseline.fanout_1000_p50_ms,
        ),
        (
            "fanout_1000_p99_ms",
            figures.fanout_1000_p99_ms,
            baseline.fanout_1000_p99_ms,
        ),
    ];
    for (metric, value, base) in lines {
        let ratio = if base > 0.0 { value / base } else { f64::NAN };
        println!("RESULT {backend}.{metric}={value:.3} baseline={base:.3} ratio={ratio:.3}");
    }
}

/// One backend: its figures through the trait, then its baseline's.
fn section(
    backend: &str,
    store: Arc<dyn Storage>,
    sizes: Sizes,
    baseline: impl FnOnce(Sizes) -> Figures,
) -> (String, Figures, Figures) {
    eprintln!("{backend}: measuring");
    let figures = bench_storage(store, sizes);
    eprintln!("{backend}: measuring the baseline");
    let base = baseline(sizes);
    (backend.to_owned(), figures, base)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut sections = Vec::new();
    sections.push(section(
        "memory",
        Arc::new(MemoryStorage::new()),
        Sizes {
            writes: 200_000,
            reads: 1_000_000,
        },
        memory_baseline,
    ));
    let embedded = EmbeddedStorage::open(dir.path().join("embedded.redb")).unwrap();
    sections.push(section(
        "embedded",
        Arc::new(embedded),
        Sizes {
            writes: 300,
            reads: 200_000,
        },
        |sizes| {
            redb_baseline(
                &Database::create(dir.path().join("raw.redb")).unwrap(),
                sizes,
            )
        },
    ));
    for (backend, figures, baseline) in &sections {
        report(backend, figures, baseline);
    }
    #[cfg(feature = "etcd")]
    etcd::run();
}
