//! The etcd section of the storage benchmark: [`EtcdStorage`] against raw
//! `etcd-client` calls doing the same etcd operations on the same server in
//! the same run (samples interleaved, so both see the same machine load).
//!
//! Called from `benches/storage.rs` with
//! `#[cfg(feature = "etcd")] #[path = "storage/etcd.rs"] mod etcd;` and
//! `etcd::run()`; it starts its own etcd (data on tmpfs when there is one)
//! through the test harness and prints one `RESULT etcd.<metric>=..` line per
//! figure: p50 latency of put, get, CAS set (µs), a 10,000-key list (ms) and
//! the watch fan-out to `WATCHERS` watchers (ms, p50 and p99).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use lastbackend_core::storage::etcd::etcd_client::{
    self, Compare, CompareOp, GetOptions, PutOptions, TxnOp as RawOp, WatchOptions,
};
use lastbackend_core::storage::etcd::{EtcdConfig, EtcdStorage};
use lastbackend_core::storage::{Storage, Txn, TxnOp};
use tokio::sync::Notify;

#[path = "../../tests/support/etcd.rs"]
mod server;

const SAMPLES: usize = 2_000;
const WARMUP: usize = 100;
const LIST_KEYS: usize = 10_000;
const LIST_RUNS: usize = 21;
const WATCHERS: usize = 200;
const FANOUT_WRITES: usize = 100;
const VALUE: &[u8] = br#"{"meta":{"name":"web"}}"#;

/// One figure through [`EtcdStorage`] and through the raw client.
struct Figure {
    metric: &'static str,
    storage: f64,
    raw: f64,
}

/// Runs the etcd section and prints its `RESULT` lines; says why and does
/// nothing when etcd is not installed.
pub(crate) fn run() {
    let Some(server) = server::EtcdServer::start() else {
        return;
    };
    eprintln!("etcd: measuring against raw etcd-client");
    let endpoint = server.endpoint();
    let mut figures = current_thread().block_on(single_ops(&endpoint));
    figures.extend(two_workers().block_on(fanout(&endpoint)));
    for Figure {
        metric,
        storage,
        raw,
    } in figures
    {
        println!(
            "RESULT etcd.{metric}={storage:.3} baseline={raw:.3} ratio={:.3}",
            storage / raw
        );
    }
}

async fn connect(endpoint: &str) -> (EtcdStorage, etcd_client::Client) {
    let config = EtcdConfig::new([endpoint]).with_prefix("bench");
    let storage = EtcdStorage::connect(config).await.unwrap();
    // The baseline gets a connection of its own, like a separate program.
    let raw = etcd_client::Client::connect([endpoint], None)
        .await
        .unwrap();
    (storage, raw)
}

/// p50 of put, get, CAS set and a 10k list, storage and raw samples taken in
/// turn.
async fn single_ops(endpoint: &str) -> Vec<Figure> {
    let (storage, mut raw) = connect(endpoint).await;
    let value = Bytes::from_static(VALUE);
    let mut figures = Vec::new();

    let mut samples = Samples::default();
    for i in 0..WARMUP + SAMPLES {
        let key = format!("put/{i:08}");
        let t = Instant::now();
        storage.put(&key, value.clone(), None).await.unwrap();
        let ours = t.elapsed();
        let raw_key = format!("/raw/put/{i:08}");
        let t = Instant::now();
        let txn = etcd_client::Txn::new()
            .when([Compare::create_revision(
                raw_key.as_str(),
                CompareOp::Equal,
                0,
            )])
            .and_then([RawOp::put(raw_key.as_str(), VALUE, None)]);
        assert!(raw.txn(txn).await.unwrap().succeeded());
        samples.push(i >= WARMUP, ours, t.elapsed());
    }
    figures.push(samples.p50_us("put_p50_us"));

    let mut samples = Samples::default();
    for i in 0..WARMUP + SAMPLES {
        let n = i % SAMPLES;
        let t = Instant::now();
        black_box(storage.get(&format!("put/{n:08}")).await.unwrap());
        let ours = t.elapsed();
        let t = Instant::now();
        let got = raw.get(format!("/raw/put/{n:08}"), None).await.unwrap();
        assert_eq!(black_box(got).kvs().len(), 1);
        samples.push(i >= WARMUP, ours, t.elapsed());
    }
    figures.push(samples.p50_us("get_p50_us"));

    let mut ours_rev = storage.put("cas", value.clone(), None).await.unwrap();
    let mut raw_rev = raw.put("/raw/cas", VALUE, None).await.unwrap();
    let mut raw_rev = raw_rev.take_header().unwrap().revision();
    let mut samples = Samples::default();
    for i in 0..WARMUP + SAMPLES {
        let t = Instant::now();
        ours_rev = storage
            .set("cas", value.clone(), ours_rev, None)
            .await
            .unwrap();
        let ours = t.elapsed();
        let t = Instant::now();
        let txn = etcd_client::Txn::new()
            .when([Compare::mod_revision("/raw/cas", CompareOp::Equal, raw_rev)])
            .and_then([RawOp::put("/raw/cas", VALUE, None::<PutOptions>)]);
        let mut response = raw.txn(txn).await.unwrap();
        assert!(response.succeeded());
        raw_rev = response.take_header().unwrap().revision();
        samples.push(i >= WARMUP, ours, t.elapsed());
    }
    figures.push(samples.p50_us("set_p50_us"));

    // etcd caps a transaction at 128 operations.
    for chunk in (0..LIST_KEYS).collect::<Vec<_>>().chunks(100) {
        let mut txn = Txn::new();
        let mut raw_ops = Vec::new();
        for i in chunk {
            txn = txn.op(TxnOp::Upsert {
                key: format!("list/{i:05}"),
                value: value.clone(),
                lease: None,
            });
            raw_ops.push(RawOp::put(format!("/raw/list/{i:05}"), VALUE, None));
        }
        storage.txn(txn).await.unwrap();
        raw.txn(etcd_client::Txn::new().and_then(raw_ops))
            .await
            .unwrap();
    }
    let mut raw_list = raw.kv_client().max_decoding_message_size(256 << 20);
    let mut samples = Samples::default();
    for i in 0..2 + LIST_RUNS {
        // Lists allocate a lot, in etcd too: alternate which goes first so
        // neither always pays for the other's garbage.
        let mut ours = Duration::ZERO;
        let mut theirs = Duration::ZERO;
        for turn in [i % 2, 1 - i % 2] {
            let t = Instant::now();
            if turn == 0 {
                assert_eq!(storage.list("list/").await.unwrap().items.len(), LIST_KEYS);
                ours = t.elapsed();
            } else {
                let got = raw_list
                    .get("/raw/list/", Some(GetOptions::new().with_prefix()))
                    .await
                    .unwrap();
                assert_eq!(black_box(got).kvs().len(), LIST_KEYS);
                theirs = t.elapsed();
            }
        }
        // The first two lists warm etcd's and the clients' buffers.
        samples.push(i > 1, ours, theirs);
    }
    figures.push(samples.p50_ms("list_10k_p50_ms"));
    figures
}

/// The delay from a write's return until the last of `WATCHERS` watchers
/// has it: watches through [`EtcdStorage`], then raw etcd watch streams.
async fn fanout(endpoint: &str) -> Vec<Figure> {
    let (storage, mut raw) = connect(endpoint).await;

    // Written before the watches start, so each watcher sees exactly one
    // event per timed write.
    let writer = storage.clone();
    let mut revision = writer
        .put("fan/k", Bytes::from_static(b"0"), None)
        .await
        .unwrap();
    raw.put("/raw/fan/k", VALUE, None).await.unwrap();

    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let watch = storage.watch("fan/", None).await.unwrap();
        watchers.push(watch.map(|e| drop(e.unwrap())).boxed());
    }
    let ours = deliveries(watchers, async move || {
        revision = writer
            .set("fan/k", Bytes::from_static(b"1"), revision, None)
            .await
            .unwrap();
    })
    .await;

    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let options = WatchOptions::new().with_prefix().with_prev_key();
        let stream = raw.watch("/raw/fan/", Some(options)).await.unwrap();
        // One stream item per write: skip the "created" answer.
        let events = stream.filter_map(|response| async move {
            let response = response.unwrap();
            (!response.events().is_empty()).then_some(())
        });
        watchers.push(events.boxed());
    }
    let mut writer = raw.clone();
    let raw_latencies = deliveries(watchers, async move || {
        writer.put("/raw/fan/k", VALUE, None).await.unwrap();
    })
    .await;

    let (ours_p50, ours_p99) = percentiles(ours);
    let (raw_p50, raw_p99) = percentiles(raw_latencies);
    vec![
        Figure {
            metric: "fanout_200_p50_ms",
            storage: ours_p50,
            raw: raw_p50,
        },
        Figure {
            metric: "fanout_200_p99_ms",
            storage: ours_p99,
            raw: raw_p99,
        },
    ]
}

/// Runs `FANOUT_WRITES` writes, each after the last reached every watcher,
/// and returns each write's delay from its return to its last delivery.
async fn deliveries(
    watchers: Vec<BoxStream<'static, ()>>,
    mut write: impl AsyncFnMut(),
) -> Vec<Duration> {
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
                for _ in 0..FANOUT_WRITES {
                    watch.next().await.unwrap();
                    if received.fetch_add(1, Ordering::AcqRel) + 1 == count {
                        *last.lock().unwrap() = Instant::now();
                        all.notify_one();
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(FANOUT_WRITES);
    for _ in 0..FANOUT_WRITES {
        received.store(0, Ordering::Release);
        write().await;
        let returned = Instant::now();
        all.notified().await;
        latencies.push(last.lock().unwrap().saturating_duration_since(returned));
    }
    for task in tasks {
        task.await.unwrap();
    }
    latencies
}

/// Paired timings, warm-up samples left out.
#[derive(Default)]
struct Samples {
    ours: Vec<Duration>,
    raw: Vec<Duration>,
}

impl Samples {
    fn push(&mut self, keep: bool, ours: Duration, raw: Duration) {
        if keep {
            self.ours.push(ours);
            self.raw.push(raw);
        }
    }

    fn p50_us(self, metric: &'static str) -> Figure {
        Figure {
            metric,
            storage: percentiles(self.ours).0 * 1e3,
            raw: percentiles(self.raw).0 * 1e3,
        }
    }

    fn p50_ms(self, metric: &'static str) -> Figure {
        Figure {
            metric,
            storage: percentiles(self.ours).0,
            raw: percentiles(self.raw).0,
        }
    }
}

/// p50 and p99 in ms.
fn percentiles(mut latencies: Vec<Duration>) -> (f64, f64) {
    latencies.sort();
    let at =
        |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.50), at(0.99))
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
