//! The battery on [`EmbeddedStorage`], and durability: across a reopen, and
//! across a writer killed with SIGKILL.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use lastbackend_core::storage::{EmbeddedStorage, EventKind, Storage};
use tempfile::TempDir;

use crate::battery::{next, quiet, v};

async fn make() -> Option<(Arc<dyn Storage>, TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStorage::open(dir.path().join("state.redb")).unwrap();
    Some((Arc::new(store), dir))
}

battery!(embedded, make());

#[tokio::test]
async fn compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStorage::open_with_history(dir.path().join("s.redb"), 8).unwrap();
    crate::battery::compaction(Arc::new(store), 8).await;
    // The trimmed history stays trimmed after a reopen.
    let store = EmbeddedStorage::open_with_history(dir.path().join("s.redb"), 8).unwrap();
    assert!(
        store
            .watch("c/", Some(1))
            .await
            .err()
            .unwrap()
            .is_compacted()
    );
}

#[tokio::test]
async fn lagging_watcher_past_history_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStorage::open_with_history(dir.path().join("s.redb"), 10).unwrap();
    // One write per batch: 4,096 batches fill the live channel.
    crate::battery::lagging_watcher_past_history_is_compacted(Arc::new(store), 4200).await;
}

#[tokio::test(start_paused = true)]
async fn lease_expiry() {
    let (store, _dir) = make().await.expect("a local store always opens");
    crate::battery::lease_expiry(store).await;
}

#[tokio::test]
async fn reopen_keeps_keys_revision_history_and_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let (a, mark, b, last, lease) = {
        let store = EmbeddedStorage::open(&path).unwrap();
        let a = store.put("k/a", v("1"), None).await.unwrap();
        let mark = store.set("k/a", v("2"), a, None).await.unwrap();
        let lease = store.lease_grant(Duration::from_secs(30)).await.unwrap();
        let b = store.put("k/b", v("leased"), Some(lease)).await.unwrap();
        store.put("k/c", v("3"), None).await.unwrap();
        let last = store.del("k/c", None).await.unwrap();
        (a, mark, b, last, lease)
    };

    let store = EmbeddedStorage::open(&path).unwrap();
    assert_eq!(store.revision().await.unwrap(), last);
    let kv = store.get("k/a").await.unwrap();
    assert_eq!(
        (kv.value, kv.create_revision, kv.mod_revision),
        (v("2"), a, mark)
    );
    assert_eq!(store.get("k/b").await.unwrap().lease, Some(lease));
    let list = store.list("k/").await.unwrap();
    assert_eq!((list.items.len(), list.revision), (2, last));

    // The watch resumes after a revision seen before the reopen.
    let mut watch = store.watch("k/", Some(mark)).await.unwrap();
    let e = next(&mut watch).await;
    assert_eq!(
        (e.kind, e.kv.key.as_str(), e.revision()),
        (EventKind::Created, "k/b", b)
    );
    assert_eq!(e.kv.lease, Some(lease));
    assert_eq!(next(&mut watch).await.kv.key, "k/c");
    let e = next(&mut watch).await;
    assert_eq!((e.kind, e.revision()), (EventKind::Deleted, last));
    assert_eq!(e.prev.unwrap().value, v("3"));
    quiet(&mut watch).await;

    // The lease came back with its keys; a new lease gets a new id.
    assert_eq!(
        store.lease_keep_alive(lease).await.unwrap(),
        Duration::from_secs(30)
    );
    assert!(store.lease_grant(Duration::from_secs(1)).await.unwrap() > lease);
    store.lease_revoke(lease).await.unwrap();
    assert!(store.get("k/b").await.unwrap_err().is_not_found());
    let e = next(&mut watch).await;
    assert_eq!((e.kind, e.kv.key.as_str()), (EventKind::Deleted, "k/b"));
}

const CRASH_PATH: &str = "LB_STORAGE_CRASH_WRITER";

/// Not a test on its own: when [`CRASH_PATH`] names a database, writes keys
/// there forever, printing `ack <i>` after each write returned, until killed.
#[tokio::test]
async fn crash_writer() {
    let Some(path) = std::env::var_os(CRASH_PATH) else {
        return;
    };
    let store = EmbeddedStorage::open(path).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        store
            .put(&format!("crash/{i:08}"), v(&i.to_string()), None)
            .await
            .unwrap();
        writeln!(out, "ack {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    const ACKS: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "embedded::crash_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_PATH, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest may print the test's name on the same line first.
        if let Some((_, i)) = line.rsplit_once("ack ") {
            let i: u64 = i.parse().unwrap();
            acked = Some(i);
            if i + 1 == ACKS {
                break;
            }
        }
    }
    // Kill it mid-stream: it is writing the next key right now.
    child.kill().unwrap();
    child.wait().unwrap();
    let acked = acked.expect("the writer acknowledged writes");
    assert_eq!(acked + 1, ACKS);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = EmbeddedStorage::open(&path).unwrap();
        for i in 0..=acked {
            let kv = store.get(&format!("crash/{i:08}")).await.unwrap();
            assert_eq!(kv.value, v(&i.to_string()));
        }
        assert!(store.revision().await.unwrap() > acked);
    });
}

/// Writers that arrive together share commits (group commit) yet keep their
/// own outcomes: a failing guard fails only its own transaction, every
/// success gets its own revision, and all of it is on disk after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_their_own_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = Arc::new(EmbeddedStorage::open(&path).unwrap());
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let key = if i % 2 == 0 {
                    "group/same".to_owned()
                } else {
                    format!("group/{i}")
                };
                (key.clone(), store.put(&key, v(&i.to_string()), None).await)
            })
        })
        .collect();
    let mut revisions = Vec::new();
    let mut same_won = 0;
    for task in tasks {
        let (key, result) = task.await.unwrap();
        match result {
            Ok(revision) => {
                revisions.push(revision);
                same_won += usize::from(key == "group/same");
            }
            Err(e) => assert!(key == "group/same" && e.is_exists(), "{key}: {e}"),
        }
    }
    assert_eq!(same_won, 1, "exactly one create of the shared key wins");
    assert_eq!(revisions.len(), 33);
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), 33, "every success has its own revision");

    drop(store);
    let store = EmbeddedStorage::open(&path).unwrap();
    let list = store.list("group/").await.unwrap();
    assert_eq!(list.items.len(), 33);
    assert_eq!(list.revision, *revisions.last().unwrap());
}
