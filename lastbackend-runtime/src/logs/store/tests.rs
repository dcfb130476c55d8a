use super::*;

const POD: &str = "demo:web:d_v1:ab12cd3";

fn record(source: &str, seq: u64, line: &str) -> LogRecord {
    LogRecord {
        key: SourceKey {
            pod: POD.into(),
            container: "web".into(),
            source: source.into(),
        },
        stream: StreamKind::Stdout,
        time: Utc::now(),
        seq,
        line: line.into(),
    }
}

fn texts(lines: &[StoredLine]) -> Vec<&str> {
    lines.iter().map(|l| l.line.as_str()).collect()
}

#[test]
fn duplicates_are_dropped_but_acknowledged_even_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path(), 1 << 20, 2);
    let mut store = LogStore::open(config.clone()).unwrap();
    let first = store
        .append(vec![record("a", 1, "one"), record("a", 2, "two")])
        .unwrap();
    assert_eq!((first.lines.len(), first.duplicates), (2, 0));
    assert_eq!(first.acks.len(), 1);
    assert_eq!(first.acks[0].seq, 2);
    drop(store);

    // A restarted exporter gets the whole backlog again and keeps only
    // what is new.
    let mut store = LogStore::open(config).unwrap();
    let again = store
        .append(vec![
            record("a", 1, "one"),
            record("a", 2, "two"),
            record("a", 3, "three"),
            record("b", 1, "other source"),
        ])
        .unwrap();
    assert_eq!(again.duplicates, 2);
    assert_eq!(again.lines.len(), 2);
    let acks: Vec<_> = again
        .acks
        .iter()
        .map(|a| (a.key.source.as_str(), a.seq))
        .collect();
    assert_eq!(acks, [("a", 3), ("b", 1)]);
    let lines = store.read(POD, "web", None).unwrap();
    assert_eq!(texts(&lines), ["one", "two", "three", "other source"]);
    assert_eq!(store.read(POD, "web", Some(2)).unwrap().len(), 2);
    assert_eq!(store.pods("demo:web:").unwrap(), [POD]);
    assert!(store.pods("demo:api:").unwrap().is_empty());
    assert_eq!(store.containers(POD).unwrap(), ["web"]);
}

#[test]
fn rotation_keeps_the_size_bound_and_the_retention_count() {
    let dir = tempfile::tempdir().unwrap();
    let rotate = 4096;
    let retention = 3;
    let config = StoreConfig::new(dir.path(), rotate, retention);
    let mut store = LogStore::open(config.clone()).unwrap();
    for seq in 1..=2000 {
        let line = format!("line {seq:05} {}", "x".repeat(seq as usize % 50));
        store.append(vec![record("a", seq, &line)]).unwrap();
        let usage = store.usage(POD, "web");
        assert!(
            usage <= rotate * (retention as u64 + 1),
            "{usage} bytes at line {seq}"
        );
    }
    let pod_dir = dir.path().join(POD);
    let mut files: Vec<String> = fs::read_dir(&pod_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "web.log",
            "web.log.1",
            "web.log.2",
            "web.log.3",
            "web.offsets"
        ]
    );
    for name in &files[..4] {
        let size = fs::metadata(pod_dir.join(name)).unwrap().len();
        assert!(size <= rotate, "{name}: {size}");
    }
    // What is kept is the newest lines, contiguous and in order.
    let lines = store.read(POD, "web", None).unwrap();
    let seqs: Vec<u64> = lines.iter().map(|l| l.seq).collect();
    assert_eq!(*seqs.last().unwrap(), 2000);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gap in {seqs:?}");
    assert!(seqs[0] > 1);

    // Rotated-away lines are still known to be held after a reopen.
    drop(store);
    let mut store = LogStore::open(config).unwrap();
    let old = store.append(vec![record("a", 5, "line 5 again")]).unwrap();
    assert_eq!((old.duplicates, old.acks[0].seq), (1, 2000));
}

#[test]
fn a_line_torn_by_a_crash_is_cut_off_and_taken_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path(), 1 << 20, 1);
    let mut store = LogStore::open(config.clone()).unwrap();
    store.append(vec![record("a", 1, "one")]).unwrap();
    drop(store);
    let path = dir.path().join(POD).join("web.log");
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(br#"{"time":"2026-01-01T00:00:00Z","stream":"stdout","source":"a","seq":2,"li"#)
        .unwrap();
    drop(file);

    let mut store = LogStore::open(config).unwrap();
    let appended = store
        .append(vec![record("a", 2, "two"), record("a", 3, "three")])
        .unwrap();
    assert_eq!(appended.duplicates, 0);
    let lines = store.read(POD, "web", None).unwrap();
    assert_eq!(texts(&lines), ["one", "two", "three"]);
}

#[test]
fn names_that_would_escape_the_work_dir_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::open(StoreConfig::new(dir.path(), 1 << 20, 1)).unwrap();
    let mut bad = record("a", 1, "x");
    bad.key.pod = "../etc".into();
    let appended = store.append(vec![bad]).unwrap();
    assert!(appended.lines.is_empty());
    assert_eq!(
        appended.acks.len(),
        1,
        "acknowledged so it is not sent forever"
    );
    assert!(!dir.path().join("etc").exists());
    assert!(matches!(
        store.read("a/b", "web", None),
        Err(StoreError::InvalidName { what: "pod", .. })
    ));
    assert!(matches!(
        store.read(POD, "..", None),
        Err(StoreError::InvalidName {
            what: "container",
            ..
        })
    ));
}
