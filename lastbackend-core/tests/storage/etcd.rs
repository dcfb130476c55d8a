//! [`EtcdStorage`] against a real etcd on loopback: what only etcd can show
//! (restarts, compaction, real lease expiry, the key tree seen by `etcdctl`).
//!
//! Each test starts its own etcd or takes a private prefix on a shared one,
//! so they run in parallel. Without `etcd` installed they are skipped (but
//! fail under `CI=true`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use lastbackend_core::storage::etcd::{EtcdConfig, EtcdStorage, EtcdTls};
use lastbackend_core::storage::{EventKind, Revision, Storage, Txn, TxnOp, WatchStream};

#[path = "../support/etcd.rs"]
mod server;

use server::{EtcdServer, unique_prefix};

thread_local! {
    /// One etcd per test thread: each battery check runs on a thread of its
    /// own, so it gets a quiet store (some compare revisions before and
    /// after), while the model's cases, which run on one thread, share one
    /// etcd under fresh prefixes.
    /// `None` when etcd is not installed (then the tests skip, saying so).
    static THREAD_SERVER: Option<EtcdServer> = EtcdServer::start();
}

async fn make() -> Option<(Arc<dyn Storage>, ())> {
    let endpoint = THREAD_SERVER.with(|server| server.as_ref().map(EtcdServer::endpoint))?;
    let config = EtcdConfig::new([endpoint])
        .with_prefix(unique_prefix("battery"))
        .with_request_timeout(Duration::from_secs(5));
    let storage = EtcdStorage::connect(config).await.unwrap();
    Some((Arc::new(storage), ()))
}

battery!(etcd, make());

async fn connect(server: &EtcdServer, prefix: &str) -> EtcdStorage {
    let config = EtcdConfig::new([server.endpoint()])
        .with_prefix(prefix)
        .with_request_timeout(Duration::from_secs(2));
    EtcdStorage::connect(config).await.unwrap()
}

fn v(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn next(watch: &mut WatchStream) -> lastbackend_core::storage::Event {
    tokio::time::timeout(Duration::from_secs(15), watch.next())
        .await
        .expect("an event within 15s")
        .expect("the stream goes on")
        .expect("an event, not an error")
}

/// Asserts `watch` has nothing more before a marker written to `key` now:
/// events come in revision order, so an extra one would come first. (A
/// wait for silence would pass whenever the extra event came later.)
async fn quiet(storage: &EtcdStorage, watch: &mut WatchStream, key: &str) {
    let marker = storage.put(key, v("marker"), None).await.unwrap();
    let e = next(watch).await;
    assert_eq!(
        (e.kv.key.as_str(), e.revision()),
        (key, marker),
        "an unexpected event before the marker: {e:?}"
    );
}

/// Retries `op` while etcd comes back, for at most 60 s (a busy machine
/// restarts etcd slowly).
async fn eventually<T, F, Fut>(mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = lastbackend_core::storage::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match op().await {
            Ok(value) => return value,
            Err(e) if e.is_unavailable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn etcdctl_reads_the_json_key_tree() {
    let Some(server) = EtcdServer::shared() else {
        return;
    };
    let prefix = unique_prefix("etcdctl");
    let s = connect(server, &prefix).await;
    let node = r#"{"meta":{"name":"n1"},"status":{"online":true}}"#;
    s.put("node/info/n1", v(node), None).await.unwrap();
    s.put("node/info/n10", v(r#"{"meta":{"name":"n10"}}"#), None)
        .await
        .unwrap();

    let out = server.etcdctl(&["get", "--prefix", &format!("/{prefix}/")]);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        lines,
        [
            format!("/{prefix}/node/info/n1"),
            node.to_owned(),
            format!("/{prefix}/node/info/n10"),
            r#"{"meta":{"name":"n10"}}"#.to_owned(),
        ]
    );
    serde_json::from_str::<serde_json::Value>(&lines[1]).expect("JSON values");

    // Deleting `n1` leaves `n10`, unlike the original's prefix delete.
    s.del("node/info/n1", None).await.unwrap();
    let out = server.etcdctl(&["get", "--prefix", "--keys-only", &format!("/{prefix}/")]);
    let keys = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        keys.split_whitespace().collect::<Vec<_>>(),
        [format!("/{prefix}/node/info/n10")]
    );
}

#[tokio::test]
async fn keys_outside_the_prefix_never_leak() {
    let Some(server) = EtcdServer::shared() else {
        return;
    };
    let prefix = unique_prefix("leak");
    let ours = connect(server, &prefix).await;
    // A prefix that starts with ours, and a key right next to our root.
    let theirs = connect(server, &format!("{prefix}x")).await;
    let mut raw = ours.client();

    let mut watch = ours.watch("", None).await.unwrap();
    theirs.put("a", v("theirs"), None).await.unwrap();
    raw.put(format!("/{prefix}"), "root itself", None)
        .await
        .unwrap();
    let rev = ours.put("a", v("ours"), None).await.unwrap();

    let e = next(&mut watch).await;
    assert_eq!((e.kv.key.as_str(), e.revision()), ("a", rev));
    let list = ours.list("").await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].value, v("ours"));
    assert!(
        ours.get("")
            .await
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    quiet(&ours, &mut watch, "marker").await;
}

#[tokio::test]
async fn watch_resumes_across_an_etcd_restart() {
    let Some(mut server) = EtcdServer::start() else {
        return;
    };
    let s = connect(&server, "lastbackend").await;
    let created = s.put("pod/p0", v("0"), None).await.unwrap();
    let mut watch = s.watch("pod/", None).await.unwrap();

    // (key, kind, revision) of every write, in order.
    let mut expected: Vec<(String, EventKind, Revision)> = Vec::new();
    let rev = s.set("pod/p0", v("1"), created, None).await.unwrap();
    expected.push(("pod/p0".into(), EventKind::Updated, rev));
    for i in 1..10 {
        let key = format!("pod/p{i}");
        let rev = s.put(&key, v("x"), None).await.unwrap();
        expected.push((key, EventKind::Created, rev));
    }
    // Killed right after the writes: some events may not have been sent.
    server.stop();
    assert!(s.get("pod/p0").await.unwrap_err().is_unavailable());
    server.restart();

    let rev = eventually(|| s.del("pod/p1", None)).await;
    expected.push(("pod/p1".into(), EventKind::Deleted, rev));
    for i in 10..20 {
        let key = format!("pod/p{i}");
        let rev = eventually(|| s.put(&key, v("x"), None)).await;
        expected.push((key, EventKind::Created, rev));
    }

    let mut seen = Vec::new();
    for _ in 0..expected.len() {
        let e = next(&mut watch).await;
        seen.push((e.kv.key, e.kind, e.kv.mod_revision));
    }
    assert_eq!(seen, expected);
    quiet(&s, &mut watch, "pod/marker").await;
}

#[tokio::test]
async fn client_reconnects_after_an_etcd_restart() {
    let Some(mut server) = EtcdServer::start() else {
        return;
    };
    let s = connect(&server, "lastbackend").await;
    let rev = s.put("node/n1", v("1"), None).await.unwrap();
    server.stop();
    // An error, not a hang: the guard is far above the 2 s request timeout
    // so a busy machine cannot fail it; how long it took is only printed.
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(60), s.get("node/n1"))
        .await
        .expect("a read with etcd down returns instead of hanging")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    println!("a read with etcd down failed after {:?}", started.elapsed());

    server.restart();
    let kv = eventually(|| s.get("node/n1")).await;
    assert_eq!(kv.mod_revision, rev);
    s.set("node/n1", v("2"), rev, None).await.unwrap();
}

#[tokio::test]
async fn watch_after_a_compacted_revision_says_compacted() {
    let Some(server) = EtcdServer::start() else {
        return;
    };
    let s = connect(&server, "lastbackend").await;
    let first = s.put("c/0", v("x"), None).await.unwrap();
    let mut last = first;
    for i in 1..10 {
        last = s.put(&format!("c/{i}"), v("x"), None).await.unwrap();
    }
    let out = server.etcdctl(&["compact", &last.to_string()]);
    assert!(out.status.success(), "{out:?}");

    let err = s.watch("c/", Some(first)).await.err().expect("compacted");
    assert!(err.is_compacted(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("revision {first} is compacted")),
        "{text}"
    );
    assert!(text.contains(&format!("oldest kept: {last}")), "{text}");

    // From the compaction point on, history is there.
    let mut watch = s.watch("c/", Some(last)).await.unwrap();
    let rev = s.put("c/new", v("x"), None).await.unwrap();
    assert_eq!(next(&mut watch).await.revision(), rev);
}

#[tokio::test]
async fn a_watch_compacted_while_etcd_is_away_ends_with_compacted() {
    let Some(mut server) = EtcdServer::start() else {
        return;
    };
    let s = connect(&server, "lastbackend").await;
    let mut watch = s.watch("c/", None).await.unwrap();
    let rev = s.put("c/0", v("x"), None).await.unwrap();
    assert_eq!(next(&mut watch).await.revision(), rev);

    server.stop();
    server.restart();
    // While the watch reconnects, history it has not seen is compacted away.
    let mut raw = s.client();
    let mut last = 0;
    for i in 1..5 {
        let key = format!("c/{i}");
        last = eventually(|| s.put(&key, v("x"), None)).await;
    }
    raw.compact(last as i64, None).await.unwrap();

    loop {
        let item = tokio::time::timeout(Duration::from_secs(15), watch.next())
            .await
            .expect("an item within 15s")
            .expect("an error item before the end");
        match item {
            // Events it caught before the compaction are fine.
            Ok(e) => assert!(e.revision() <= last),
            Err(e) => {
                assert!(e.is_compacted(), "{e}");
                break;
            }
        }
    }
    assert!(watch.next().await.is_none(), "ends after Compacted");
}

#[tokio::test]
async fn lease_expires_for_real() {
    let Some(server) = EtcdServer::shared() else {
        return;
    };
    let s = connect(server, &unique_prefix("lease")).await;
    let lease = s.lease_grant(Duration::from_millis(1500)).await.unwrap();
    assert_eq!(
        s.lease_keep_alive(lease).await.unwrap(),
        Duration::from_secs(2),
        "rounded up to whole seconds"
    );
    s.put("node/lease/n1", v("alive"), Some(lease))
        .await
        .unwrap();
    let mut watch = s.watch("node/lease/", None).await.unwrap();

    let e = next(&mut watch).await;
    assert_eq!(
        (e.kind, e.kv.key.as_str()),
        (EventKind::Deleted, "node/lease/n1")
    );
    assert_eq!(e.prev.unwrap().lease, Some(lease));
    assert!(s.get("node/lease/n1").await.unwrap_err().is_not_found());
    assert!(s.lease_keep_alive(lease).await.unwrap_err().is_not_found());
    assert!(s.lease_revoke(lease).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn keep_alive_of_a_lease_granted_elsewhere() {
    let Some(server) = EtcdServer::shared() else {
        return;
    };
    let prefix = unique_prefix("lease-elsewhere");
    let granter = connect(server, &prefix).await;
    let keeper = connect(server, &prefix).await;
    let lease = granter.lease_grant(Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        keeper.lease_keep_alive(lease).await.unwrap(),
        Duration::from_secs(30)
    );
    keeper.lease_revoke(lease).await.unwrap();
    assert!(
        granter
            .lease_keep_alive(lease)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn unreachable_etcd_is_unavailable() {
    // Nothing listens on a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = EtcdConfig::new([format!("127.0.0.1:{port}")])
        .with_request_timeout(Duration::from_millis(500));
    let s = EtcdStorage::connect(config).await.unwrap();
    let err = s.get("node/n1").await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let err = s.watch("node/", None).await.err().unwrap();
    assert!(err.is_unavailable(), "{err}");
}

#[tokio::test]
async fn tls_files_that_cannot_be_read_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("client.pem");
    let key = dir.path().join("client-key.pem");
    std::fs::write(&key, "not really a key").unwrap();

    let config = EtcdConfig::new(["https://127.0.0.1:2379"])
        .with_tls(EtcdTls::new().with_client_cert(&missing, &key));
    let err = EtcdStorage::connect(config).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("--etcd-cert-file"), "{text}");
    assert!(text.contains(&missing.display().to_string()), "{text}");

    let config = EtcdConfig::new(["https://127.0.0.1:2379"])
        .with_tls(EtcdTls::new().with_ca_file(dir.path().join("ca.pem")));
    let err = EtcdStorage::connect(config).await.unwrap_err();
    assert!(err.to_string().contains("--etcd-ca-file"), "{err}");

    let mut tls = EtcdTls::new();
    tls.cert_file = Some(key.clone());
    let config = EtcdConfig::new(["https://127.0.0.1:2379"]).with_tls(tls);
    let err = EtcdStorage::connect(config).await.unwrap_err();
    assert!(err.to_string().contains("together"), "{err}");

    let config = EtcdConfig::default().with_prefix("/");
    let err = EtcdStorage::connect(config).await.unwrap_err();
    assert!(err.to_string().contains("prefix"), "{err}");
}

#[test]
fn config_reads_the_original_yaml_keys() {
    let yaml = "endpoints: [\"https://10.0.0.1:2379\"]\nprefix: prod\ntls:\n  cert: /c.pem\n  key: /k.pem\n  ca: /ca.pem\n";
    let config: EtcdConfig = yaml_serde::from_str(yaml).unwrap();
    let expected = EtcdConfig::new(["https://10.0.0.1:2379"])
        .with_prefix("prod")
        .with_tls(
            EtcdTls::new()
                .with_client_cert("/c.pem", "/k.pem")
                .with_ca_file("/ca.pem"),
        );
    assert_eq!(config, expected);
    let defaults: EtcdConfig = yaml_serde::from_str("{}").unwrap();
    assert_eq!(defaults.endpoints, ["127.0.0.1:2379"]);
    assert_eq!(defaults.prefix, "lastbackend");
}

#[tokio::test]
async fn shares_one_storage_across_tasks() {
    let Some(server) = EtcdServer::shared() else {
        return;
    };
    let s: Arc<dyn Storage> = Arc::new(connect(server, &unique_prefix("tasks")).await);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.put(&format!("k/{i}"), v("x"), None).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(s.list("k/").await.unwrap().items.len(), 8);
}

#[tokio::test]
async fn transactions_up_to_etcds_op_limit() {
    let Some(server) = EtcdServer::shared() else {
        return;
    };
    let s = connect(server, &unique_prefix("txn-limit")).await;
    // etcd takes at most 128 operations (and compares) per transaction.
    let mut create = Txn::new();
    for i in 0..128 {
        create = create.op(TxnOp::Create {
            key: format!("t/{i:03}"),
            value: v("0"),
            lease: None,
        });
    }
    let rev = s.txn(create).await.unwrap();
    let mut update = Txn::new();
    for i in 0..128 {
        update = update.op(TxnOp::Update {
            key: format!("t/{i:03}"),
            value: v("1"),
            revision: rev,
            lease: None,
        });
    }
    let updated = s.txn(update).await.unwrap();
    let list = s.list("t/").await.unwrap();
    assert!(list.items.iter().all(|kv| kv.mod_revision == updated));

    let mut too_big = Txn::new();
    for i in 0..129 {
        too_big = too_big.op(TxnOp::Upsert {
            key: format!("u/{i:03}"),
            value: v("x"),
            lease: None,
        });
    }
    let err = s.txn(too_big).await.unwrap_err();
    assert!(!err.is_unavailable(), "not worth retrying: {err}");
    assert!(err.to_string().contains("too many operations"), "{err}");
}
