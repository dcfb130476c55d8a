use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;
use crate::{ContainerEvent, ContainerFilter, ContainerInfo, ContainerSpec, LogLine, LogStream};

fn record(seq: u64) -> LogRecord {
    LogRecord {
        key: SourceKey {
            pod: "demo:web:d_v1:ab12cd3".into(),
            container: "web".into(),
            source: "c1".into(),
        },
        stream: StreamKind::Stdout,
        time: Utc::now(),
        seq,
        line: format!("line {seq}"),
    }
}

fn quick() -> ShipperConfig {
    ShipperConfig::default().backoff(Duration::from_millis(10), Duration::from_millis(50))
}

/// Reads records from one connection; acks each one when `ack`.
async fn receive(listener: &TcpListener, count: usize, ack: bool) -> Vec<LogRecord> {
    let (stream, _) = listener.accept().await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut got = Vec::new();
    while got.len() < count {
        let Some(Frame::Record(record)) = wire::read_frame(&mut read).await.unwrap() else {
            panic!("expected a record");
        };
        if ack {
            let frame = Frame::Ack(wire::Ack {
                key: record.key.clone(),
                seq: record.seq,
            });
            wire::write_frame(&mut write, &frame).await.unwrap();
        }
        got.push(record);
    }
    got
}

fn seqs(records: &[LogRecord]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

#[tokio::test]
async fn unacknowledged_records_are_sent_again_after_a_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shipper = LogShipper::start(Some(listener.local_addr().unwrap()), quick());
    for seq in 1..=3 {
        shipper.ship(record(seq)).unwrap();
    }
    // The first exporter reads everything, acknowledges nothing and dies.
    assert_eq!(seqs(&receive(&listener, 3, false).await), [1, 2, 3]);
    shipper.ship(record(4)).unwrap();
    let again = receive(&listener, 4, true).await;
    assert_eq!(seqs(&again), [1, 2, 3, 4]);
    tokio::time::timeout(Duration::from_secs(10), shipper.flushed())
        .await
        .unwrap();
    let stats = shipper.stats();
    assert_eq!((stats.buffered_records, stats.acked_records), (0, 4));
    assert!(stats.connects >= 2, "{stats:?}");
}

#[tokio::test]
async fn while_unreachable_records_wait_and_the_oldest_overflow_is_counted() {
    // Reserve a port, then close it: connects are refused until it listens.
    let address = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let one = wire::encode(&Frame::Record(record(1))).unwrap().len();
    let shipper = LogShipper::start(Some(address), quick().buffer_bytes(one * 5 + one / 2));
    for seq in 1..=8 {
        shipper.ship(record(seq)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = shipper.stats();
    assert_eq!((stats.buffered_records, stats.dropped_records), (5, 3));
    assert!(!stats.connected);

    let listener = TcpListener::bind(address).await.unwrap();
    assert_eq!(seqs(&receive(&listener, 5, true).await), [4, 5, 6, 7, 8]);
    tokio::time::timeout(Duration::from_secs(10), shipper.flushed())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_exporter_that_never_acknowledges_is_reconnected() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = quick().ack_timeout(Duration::from_millis(200));
    let shipper = LogShipper::start(Some(listener.local_addr().unwrap()), config);
    shipper.ship(record(1)).unwrap();
    // The first connection stays open and silent.
    let (_silent, _) = listener.accept().await.unwrap();
    assert_eq!(seqs(&receive(&listener, 1, true).await), [1]);
    tokio::time::timeout(Duration::from_secs(10), shipper.flushed())
        .await
        .unwrap();
}

#[tokio::test]
async fn records_wait_for_an_endpoint_and_follow_a_change() {
    let shipper = LogShipper::start(None, quick());
    shipper.ship(record(1)).unwrap();
    let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
    shipper.set_endpoint(Some(first.local_addr().unwrap()));
    assert_eq!(seqs(&receive(&first, 1, false).await), [1]);
    let second = TcpListener::bind("127.0.0.1:0").await.unwrap();
    shipper.set_endpoint(Some(second.local_addr().unwrap()));
    assert_eq!(seqs(&receive(&second, 1, true).await), [1]);
}

/// A runtime whose only container writes what the test sends.
struct ScriptedLogs(Mutex<Option<mpsc::UnboundedReceiver<LogLine>>>);

#[async_trait]
impl Cri for ScriptedLogs {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn version(&self) -> crate::Result<String> {
        Ok("1".into())
    }
    async fn create(&self, _: &ContainerSpec) -> crate::Result<String> {
        Err(crate::Error::unsupported("scripted", "create"))
    }
    async fn start(&self, _: &str) -> crate::Result<()> {
        Ok(())
    }
    async fn stop(&self, _: &str, _: Duration) -> crate::Result<()> {
        Ok(())
    }
    async fn remove(&self, _: &str, _: bool) -> crate::Result<()> {
        Ok(())
    }
    async fn inspect(&self, id: &str) -> crate::Result<ContainerInfo> {
        Err(crate::Error::not_found("container", id))
    }
    async fn list(&self, _: &ContainerFilter) -> crate::Result<Vec<ContainerInfo>> {
        Ok(Vec::new())
    }
    async fn logs(&self, id: &str, options: LogOptions) -> crate::Result<LogStream> {
        assert_eq!((id, options.follow, options.tail), ("c1", true, None));
        let rx = self.0.lock().unwrap().take().expect("one follower");
        Ok(tokio_stream_of(rx).map(Ok).boxed())
    }
    async fn events(&self) -> crate::Result<BoxStream<'static, crate::Result<ContainerEvent>>> {
        Ok(futures::stream::empty().boxed())
    }
    async fn wait(&self, _: &str) -> crate::Result<i64> {
        Ok(0)
    }
}

fn tokio_stream_of(rx: mpsc::UnboundedReceiver<LogLine>) -> impl futures::Stream<Item = LogLine> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|l| (l, rx)) })
}

#[tokio::test]
async fn follow_numbers_whole_lines_per_container_across_chunks() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let cri = Arc::new(ScriptedLogs(Mutex::new(Some(rx))));
    let shipper = LogShipper::start(Some(listener.local_addr().unwrap()), quick());
    let following = shipper.follow(cri, "c1", "demo:web:d_v1:ab12cd3", "web");
    let chunk = |stderr, data: &'static str| LogLine {
        stderr,
        data: Bytes::from_static(data.as_bytes()),
    };
    tx.send(chunk(false, "one\ntw")).unwrap();
    tx.send(chunk(true, "oops\r\n")).unwrap();
    tx.send(chunk(false, "o\nthree")).unwrap();
    drop(tx);
    assert_eq!(following.await.unwrap().unwrap(), 4);
    let got = receive(&listener, 4, true).await;
    let lines: Vec<_> = got
        .iter()
        .map(|r| (r.seq, r.stream, r.line.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (1, StreamKind::Stdout, "one"),
            (2, StreamKind::Stderr, "oops"),
            (3, StreamKind::Stdout, "two"),
            (4, StreamKind::Stdout, "three"),
        ]
    );
    assert!(
        got.iter()
            .all(|r| r.key.container == "web" && r.key.source == "c1")
    );
}

#[test]
fn long_output_is_cut_into_lines_of_the_wire_limit() {
    let mut splitter = Splitter::default();
    let long = vec![b'x'; MAX_LINE * 2 + 3];
    let lines = splitter.push(StreamKind::Stdout, &long);
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l.len() == MAX_LINE));
    assert_eq!(splitter.finish(), [(StreamKind::Stdout, "xxx".to_owned())]);
}
