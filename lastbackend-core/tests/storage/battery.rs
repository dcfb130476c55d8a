//! Checks every backend must pass, and the `battery!` macro that stamps them
//! out as tests.
//!
//! Each check takes a fresh, empty store. They never assume revisions are
//! consecutive (a shared etcd may be written by other tests), only that they
//! increase.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use lastbackend_core::storage::{Event, EventKind, Revision, Storage, Txn, TxnOp, WatchStream};

/// Stamps out the battery for one backend.
///
/// `$make` is an expression giving a future of
/// `Option<(Arc<dyn Storage>, guard)>`, evaluated once per test; the guard
/// lives as long as the test (a temp dir, a server process, a key prefix to
/// clean up). `None` skips the test: the backend's server is not installed
/// (the maker says so, and fails instead under `CI=true`).
///
/// ```ignore
/// battery!(memory, async { Some((Arc::new(MemoryStorage::new()) as Arc<dyn Storage>, ())) });
/// ```
macro_rules! battery {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            battery!(@tests $make;
                get_missing_is_not_found,
                put_creates_once,
                set_is_compare_and_swap,
                set_unconditional_creates_and_replaces,
                del_removes_the_exact_key,
                del_with_revision_guard,
                list_by_prefix_sorted,
                txn_is_all_or_nothing,
                txn_check_guards,
                txn_empty_and_duplicate_keys,
                revisions_increase,
                watch_sees_changes_with_prev,
                watch_filters_by_prefix,
                watch_after_replays_missed_events,
                watch_from_now_sees_only_new,
                watch_txn_shares_revision,
                lease_revoke_deletes_keys,
                lease_ended_is_not_found,
                no_lost_update,
            );

            #[test]
            fn model() {
                $crate::model::run(|| async { $make.await });
            }
        }
    };
    (@tests $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some((store, _guard)) = $make.await else {
                    return;
                };
                $crate::battery::$check(store).await;
            }
        )*
    };
}

/// A value from a string.
pub(crate) fn v(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// The next event of `watch`, failing after a few seconds.
pub(crate) async fn next(watch: &mut WatchStream) -> Event {
    tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("an event within 10s")
        .expect("the stream goes on")
        .expect("an event, not an error")
}

/// Asserts nothing more arrives on `watch` for a moment.
pub(crate) async fn quiet(watch: &mut WatchStream) {
    let more = tokio::time::timeout(Duration::from_millis(200), watch.next()).await;
    assert!(more.is_err(), "unexpected item: {more:?}");
}

pub(crate) async fn get_missing_is_not_found(s: Arc<dyn Storage>) {
    let err = s.get("node/missing").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("node/missing"));
}

pub(crate) async fn put_creates_once(s: Arc<dyn Storage>) {
    let rev = s.put("node/n1", v("one"), None).await.unwrap();
    let kv = s.get("node/n1").await.unwrap();
    assert_eq!(kv.key, "node/n1");
    assert_eq!(kv.value, v("one"));
    assert_eq!(kv.create_revision, rev);
    assert_eq!(kv.mod_revision, rev);
    assert_eq!(kv.lease, None);

    let err = s.put("node/n1", v("two"), None).await.unwrap_err();
    assert!(err.is_exists(), "{err}");
    assert_eq!(s.get("node/n1").await.unwrap().value, v("one"));
}

pub(crate) async fn set_is_compare_and_swap(s: Arc<dyn Storage>) {
    let created = s.put("svc/a", v("1"), None).await.unwrap();
    let updated = s.set("svc/a", v("2"), created, None).await.unwrap();
    assert!(updated > created);
    let kv = s.get("svc/a").await.unwrap();
    assert_eq!(
        (kv.value, kv.create_revision, kv.mod_revision),
        (v("2"), created, updated)
    );

    let err = s.set("svc/a", v("3"), created, None).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(s.get("svc/a").await.unwrap().value, v("2"));

    let err = s
        .set("svc/missing", v("1"), created, None)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(s.get("svc/missing").await.unwrap_err().is_not_found());
}

pub(crate) async fn set_unconditional_creates_and_replaces(s: Arc<dyn Storage>) {
    let created = s
        .set_unconditional("status/n1", v("a"), None)
        .await
        .unwrap();
    let kv = s.get("status/n1").await.unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision), (created, created));
    let replaced = s
        .set_unconditional("status/n1", v("b"), None)
        .await
        .unwrap();
    assert!(replaced > created);
    let kv = s.get("status/n1").await.unwrap();
    assert_eq!(kv.value, v("b"));
    assert_eq!((kv.create_revision, kv.mod_revision), (created, replaced));
}

pub(crate) async fn del_removes_the_exact_key(s: Arc<dyn Storage>) {
    for key in ["node/n1", "node/n10", "node/n1/x"] {
        s.put(key, v(key), None).await.unwrap();
    }
    let before = s.revision().await.unwrap();
    let rev = s.del("node/n1", None).await.unwrap();
    assert!(rev > before);
    assert!(s.get("node/n1").await.unwrap_err().is_not_found());
    let left: Vec<_> = s
        .list("node/")
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(left, ["node/n1/x", "node/n10"]);

    let err = s.del("node/n1", None).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

pub(crate) async fn del_with_revision_guard(s: Arc<dyn Storage>) {
    let first = s.put("pod/p", v("1"), None).await.unwrap();
    let second = s.set("pod/p", v("2"), first, None).await.unwrap();
    let err = s.del("pod/p", Some(first)).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(s.get("pod/p").await.unwrap().value, v("2"));
    s.del("pod/p", Some(second)).await.unwrap();
    assert!(s.get("pod/p").await.unwrap_err().is_not_found());
    let err = s.del("pod/p", Some(second)).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

pub(crate) async fn list_by_prefix_sorted(s: Arc<dyn Storage>) {
    for key in ["ns/c", "ns/a", "nsx/z", "ns/b/1", "other/a"] {
        s.put(key, v(key), None).await.unwrap();
    }
    let last = s.set_unconditional("ns/a", v("again"), None).await.unwrap();
    let list = s.list("ns/").await.unwrap();
    let keys: Vec<_> = list.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["ns/a", "ns/b/1", "ns/c"]);
    assert_eq!(list.items[0].value, v("again"));
    assert!(list.revision >= last);
    assert_eq!(list.revision, s.revision().await.unwrap());
    assert!(s.list("none/").await.unwrap().items.is_empty());
    assert_eq!(s.list("").await.unwrap().items.len(), 5);
}

pub(crate) async fn txn_is_all_or_nothing(s: Arc<dyn Storage>) {
    let b = s.put("t/b", v("b0"), None).await.unwrap();
    s.put("t/c", v("c0"), None).await.unwrap();
    let before = s.revision().await.unwrap();

    let failing = Txn::new()
        .op(TxnOp::Create {
            key: "t/a".into(),
            value: v("a"),
            lease: None,
        })
        .op(TxnOp::Update {
            key: "t/b".into(),
            value: v("b1"),
            revision: b,
            lease: None,
        })
        .op(TxnOp::Create {
            key: "t/c".into(),
            value: v("c1"),
            lease: None,
        });
    let err = s.txn(failing).await.unwrap_err();
    assert!(err.is_exists(), "{err}");
    assert!(err.to_string().contains("t/c"), "{err}");
    assert!(s.get("t/a").await.unwrap_err().is_not_found());
    assert_eq!(s.get("t/b").await.unwrap().value, v("b0"));
    assert_eq!(s.revision().await.unwrap(), before);

    let stale = Txn::new()
        .op(TxnOp::Upsert {
            key: "t/d".into(),
            value: v("d"),
            lease: None,
        })
        .op(TxnOp::Update {
            key: "t/b".into(),
            value: v("b1"),
            revision: b + 1000,
            lease: None,
        });
    let err = s.txn(stale).await.unwrap_err();
    assert!(
        err.is_conflict() && err.to_string().contains("t/b"),
        "{err}"
    );
    assert!(s.get("t/d").await.unwrap_err().is_not_found());

    let good = Txn::new()
        .op(TxnOp::Create {
            key: "t/a".into(),
            value: v("a"),
            lease: None,
        })
        .op(TxnOp::Update {
            key: "t/b".into(),
            value: v("b1"),
            revision: b,
            lease: None,
        })
        .op(TxnOp::Delete {
            key: "t/c".into(),
            revision: None,
        })
        .op(TxnOp::Upsert {
            key: "t/d".into(),
            value: v("d"),
            lease: None,
        });
    let rev = s.txn(good).await.unwrap();
    assert!(rev > before);
    let list = s.list("t/").await.unwrap();
    let got: Vec<_> = list
        .items
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone(), kv.mod_revision))
        .collect();
    assert_eq!(
        got,
        [
            ("t/a", v("a"), rev),
            ("t/b", v("b1"), rev),
            ("t/d", v("d"), rev)
        ]
    );
}

pub(crate) async fn txn_check_guards(s: Arc<dyn Storage>) {
    let leader = s.put("leader", v("me"), None).await.unwrap();
    let fenced = |revision: Revision, key: &str| {
        Txn::new()
            .op(TxnOp::Check {
                key: "leader".into(),
                revision,
            })
            .op(TxnOp::Upsert {
                key: key.into(),
                value: v("x"),
                lease: None,
            })
    };
    let err = s.txn(fenced(leader + 1000, "w/1")).await.unwrap_err();
    assert!(
        err.is_conflict() && err.to_string().contains("leader"),
        "{err}"
    );
    assert!(s.get("w/1").await.unwrap_err().is_not_found());
    s.txn(fenced(leader, "w/1")).await.unwrap();
    assert_eq!(s.get("w/1").await.unwrap().value, v("x"));

    let missing = Txn::new()
        .op(TxnOp::Check {
            key: "absent".into(),
            revision: 0,
        })
        .op(TxnOp::Create {
            key: "w/2".into(),
            value: v("y"),
            lease: None,
        });
    s.txn(missing).await.unwrap();
    let err = s.txn(fenced(0, "w/3")).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
}

pub(crate) async fn txn_empty_and_duplicate_keys(s: Arc<dyn Storage>) {
    s.put("e/a", v("a"), None).await.unwrap();
    let now = s.revision().await.unwrap();
    assert_eq!(s.txn(Txn::new()).await.unwrap(), now);
    let twice = Txn::new()
        .op(TxnOp::Upsert {
            key: "e/b".into(),
            value: v("1"),
            lease: None,
        })
        .op(TxnOp::Upsert {
            key: "e/b".into(),
            value: v("2"),
            lease: None,
        });
    assert!(s.txn(twice).await.is_err());
    assert!(s.get("e/b").await.unwrap_err().is_not_found());
    assert_eq!(s.revision().await.unwrap(), now);
}

pub(crate) async fn revisions_increase(s: Arc<dyn Storage>) {
    let mut last = s.revision().await.unwrap();
    let a = s.put("r/a", v("1"), None).await.unwrap();
    let b = s.set("r/a", v("2"), a, None).await.unwrap();
    let c = s.set_unconditional("r/b", v("1"), None).await.unwrap();
    let d = s.del("r/b", None).await.unwrap();
    let e = s
        .txn(Txn::new().op(TxnOp::Upsert {
            key: "r/c".into(),
            value: v("1"),
            lease: None,
        }))
        .await
        .unwrap();
    for rev in [a, b, c, d, e] {
        assert!(rev > last, "{rev} after {last}");
        last = rev;
    }
    assert!(s.revision().await.unwrap() >= e);
    let kv = s.get("r/a").await.unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision), (a, b));
}

pub(crate) async fn watch_sees_changes_with_prev(s: Arc<dyn Storage>) {
    let mut watch = s.watch("w/", None).await.unwrap();
    let created = s.put("w/k", v("1"), None).await.unwrap();
    let updated = s.set("w/k", v("2"), created, None).await.unwrap();
    let deleted = s.del("w/k", None).await.unwrap();

    let e = next(&mut watch).await;
    assert_eq!(
        (e.kind, e.kv.key.as_str(), e.kv.value.clone(), e.revision()),
        (EventKind::Created, "w/k", v("1"), created)
    );
    assert_eq!(e.kv.create_revision, created);
    assert_eq!(e.prev, None);
    let e = next(&mut watch).await;
    assert_eq!(
        (e.kind, e.kv.value.clone(), e.revision()),
        (EventKind::Updated, v("2"), updated)
    );
    assert_eq!(e.kv.create_revision, created);
    let prev = e.prev.unwrap();
    assert_eq!((prev.value, prev.mod_revision), (v("1"), created));
    let e = next(&mut watch).await;
    assert_eq!(
        (e.kind, e.kv.key.as_str(), e.revision()),
        (EventKind::Deleted, "w/k", deleted)
    );
    let prev = e.prev.unwrap();
    assert_eq!(
        (prev.value, prev.mod_revision, prev.create_revision),
        (v("2"), updated, created)
    );
    quiet(&mut watch).await;
}

pub(crate) async fn watch_filters_by_prefix(s: Arc<dyn Storage>) {
    let mut watch = s.watch("pod/", None).await.unwrap();
    s.put("service/a", v("x"), None).await.unwrap();
    s.put("pod/a", v("1"), None).await.unwrap();
    s.put("podx/a", v("x"), None).await.unwrap();
    s.put("pod/b", v("2"), None).await.unwrap();
    assert_eq!(next(&mut watch).await.kv.key, "pod/a");
    assert_eq!(next(&mut watch).await.kv.key, "pod/b");
    quiet(&mut watch).await;
}

pub(crate) async fn watch_after_replays_missed_events(s: Arc<dyn Storage>) {
    let mut revs = Vec::new();
    for i in 0..5 {
        revs.push(s.put(&format!("h/{i}"), v("x"), None).await.unwrap());
    }
    s.put("other/x", v("x"), None).await.unwrap();
    let mut watch = s.watch("h/", Some(revs[1])).await.unwrap();
    let live = s.put("h/5", v("x"), None).await.unwrap();
    for (i, rev) in revs.iter().enumerate().skip(2) {
        let e = next(&mut watch).await;
        assert_eq!((e.kv.key.clone(), e.revision()), (format!("h/{i}"), *rev));
    }
    let e = next(&mut watch).await;
    assert_eq!((e.kv.key.as_str(), e.revision()), ("h/5", live));
    quiet(&mut watch).await;

    // After the current revision: nothing old, only what comes next.
    let mut watch = s.watch("h/", Some(live)).await.unwrap();
    let newer = s.put("h/6", v("x"), None).await.unwrap();
    assert_eq!(next(&mut watch).await.revision(), newer);
    quiet(&mut watch).await;
}

pub(crate) async fn watch_from_now_sees_only_new(s: Arc<dyn Storage>) {
    s.put("n/old", v("x"), None).await.unwrap();
    let mut watch = s.watch("n/", None).await.unwrap();
    let rev = s.put("n/new", v("x"), None).await.unwrap();
    let e = next(&mut watch).await;
    assert_eq!((e.kv.key.as_str(), e.revision()), ("n/new", rev));
    quiet(&mut watch).await;
}

pub(crate) async fn watch_txn_shares_revision(s: Arc<dyn Storage>) {
    s.put("x/b", v("0"), None).await.unwrap();
    let mut watch = s.watch("x/", None).await.unwrap();
    let rev = s
        .txn(
            Txn::new()
                .op(TxnOp::Create {
                    key: "x/a".into(),
                    value: v("1"),
                    lease: None,
                })
                .op(TxnOp::Delete {
                    key: "x/b".into(),
                    revision: None,
                })
                .op(TxnOp::Upsert {
                    key: "x/c".into(),
                    value: v("3"),
                    lease: None,
                }),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let e = next(&mut watch).await;
        assert_eq!(e.revision(), rev);
        seen.push((e.kv.key, e.kind));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("x/a".to_owned(), EventKind::Created),
            ("x/b".to_owned(), EventKind::Deleted),
            ("x/c".to_owned(), EventKind::Created),
        ]
    );
    quiet(&mut watch).await;
}

pub(crate) async fn lease_revoke_deletes_keys(s: Arc<dyn Storage>) {
    let lease = s.lease_grant(Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        s.lease_keep_alive(lease).await.unwrap(),
        Duration::from_secs(60)
    );
    s.put("hb/n1", v("alive"), Some(lease)).await.unwrap();
    s.set_unconditional("hb/n2", v("alive"), Some(lease))
        .await
        .unwrap();
    s.put("hb/n3", v("plain"), None).await.unwrap();
    assert_eq!(s.get("hb/n1").await.unwrap().lease, Some(lease));

    let mut watch = s.watch("hb/", None).await.unwrap();
    s.lease_revoke(lease).await.unwrap();
    let mut deleted = Vec::new();
    for _ in 0..2 {
        let e = next(&mut watch).await;
        assert_eq!(e.kind, EventKind::Deleted);
        assert_eq!(e.prev.as_ref().unwrap().value, v("alive"));
        deleted.push(e.kv.key);
    }
    deleted.sort();
    assert_eq!(deleted, ["hb/n1", "hb/n2"]);
    quiet(&mut watch).await;
    assert!(s.get("hb/n1").await.unwrap_err().is_not_found());
    assert!(s.get("hb/n2").await.unwrap_err().is_not_found());
    assert_eq!(s.get("hb/n3").await.unwrap().value, v("plain"));
}

pub(crate) async fn lease_ended_is_not_found(s: Arc<dyn Storage>) {
    let lease = s.lease_grant(Duration::from_secs(60)).await.unwrap();
    s.lease_revoke(lease).await.unwrap();
    let err = s.lease_keep_alive(lease).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = s.lease_revoke(lease).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = s.put("hb/x", v("x"), Some(lease)).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(s.get("hb/x").await.unwrap_err().is_not_found());
}

/// 16 tasks each increment one counter 500 times by read + compare-and-swap.
pub(crate) async fn no_lost_update(s: Arc<dyn Storage>) {
    const TASKS: u64 = 16;
    const INCREMENTS: u64 = 500;
    s.put("counter", v("0"), None).await.unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                let mut conflicts = 0u64;
                for _ in 0..INCREMENTS {
                    loop {
                        let kv = s.get("counter").await.unwrap();
                        let n: u64 = std::str::from_utf8(&kv.value).unwrap().parse().unwrap();
                        match s
                            .set("counter", v(&(n + 1).to_string()), kv.mod_revision, None)
                            .await
                        {
                            Ok(_) => break,
                            Err(e) if e.is_conflict() => conflicts += 1,
                            Err(e) => panic!("{e}"),
                        }
                        tokio::task::yield_now().await;
                    }
                    tokio::task::yield_now().await;
                }
                conflicts
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        s.get("counter").await.unwrap().value,
        v(&(TASKS * INCREMENTS).to_string())
    );
}

/// A watch after a revision older than the kept history fails with
/// `Compacted`; `s` keeps at most `history` events.
pub(crate) async fn compaction(s: Arc<dyn Storage>, history: usize) {
    let first = s.put("c/0", v("x"), None).await.unwrap();
    for i in 1..history + 10 {
        s.put(&format!("c/{i}"), v("x"), None).await.unwrap();
    }
    let err = s.watch("c/", Some(first)).await.err().expect("compacted");
    assert!(err.is_compacted(), "{err}");
    let last = s.revision().await.unwrap();
    let mut watch = s.watch("c/", Some(last - 1)).await.unwrap();
    assert_eq!(next(&mut watch).await.revision(), last);
}

/// A watcher that reads nothing while `writes` writes happen gets every one
/// of them afterwards, in order, exactly once.
pub(crate) async fn lagging_watcher_catches_up(s: Arc<dyn Storage>, writes: usize) {
    let mut watch = s.watch("lag/", None).await.unwrap();
    let mut revs = Vec::new();
    for i in 0..writes {
        revs.push(s.put(&format!("lag/{i}"), v("x"), None).await.unwrap());
    }
    for (i, rev) in revs.into_iter().enumerate() {
        let e = next(&mut watch).await;
        assert_eq!((e.revision(), e.kv.key), (rev, format!("lag/{i}")));
    }
    quiet(&mut watch).await;
}

/// A watcher that falls behind further than the kept history ends with a
/// `Compacted` item.
pub(crate) async fn lagging_watcher_past_history_is_compacted(s: Arc<dyn Storage>, writes: usize) {
    let mut watch = s.watch("lag/", None).await.unwrap();
    for i in 0..writes {
        s.put(&format!("lag/{i}"), v("x"), None).await.unwrap();
    }
    let mut seen = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap()
        {
            Some(Ok(_)) => seen += 1,
            Some(Err(e)) => {
                assert!(e.is_compacted(), "{e}");
                break;
            }
            None => panic!("the stream ended without an error"),
        }
    }
    assert!(seen < writes);
    assert!(watch.next().await.is_none());
}

/// Lease expiry on tokio's clock; run with time paused.
pub(crate) async fn lease_expiry(s: Arc<dyn Storage>) {
    let lease = s.lease_grant(Duration::from_secs(10)).await.unwrap();
    s.put("hb/n1", v("alive"), Some(lease)).await.unwrap();
    let mut watch = s.watch("hb/", None).await.unwrap();

    tokio::time::sleep(Duration::from_secs(5)).await;
    s.lease_keep_alive(lease).await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        s.get("hb/n1").await.unwrap().value,
        v("alive"),
        "keep-alive extends"
    );

    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(s.get("hb/n1").await.unwrap_err().is_not_found(), "expired");
    let e = next(&mut watch).await;
    assert_eq!(e.kind, EventKind::Deleted);
    assert_eq!(e.prev.unwrap().value, v("alive"));
    assert!(s.lease_keep_alive(lease).await.unwrap_err().is_not_found());
    assert!(s.lease_revoke(lease).await.unwrap_err().is_not_found());
}
