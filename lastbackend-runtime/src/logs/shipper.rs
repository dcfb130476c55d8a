//! [`LogShipper`]: buffers records, keeps one connection to the exporter up
//! with backoff, sends, and forgets what the exporter acknowledges.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::backlog::Backlog;
use super::wire::{self, Frame, LogRecord, MAX_LINE, SourceKey, StreamKind, WireError};
use crate::{Cri, LogOptions};

/// How a [`LogShipper`] buffers and reconnects.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShipperConfig {
    /// Most bytes of unacknowledged records kept; past it the oldest are
    /// dropped and counted [default: 16 MiB].
    pub buffer_bytes: usize,
    /// First wait after a failed connect, doubled on each failure
    /// [default: 100 ms].
    pub backoff_min: Duration,
    /// Longest wait between connects [default: 5 s].
    pub backoff_max: Duration,
    /// Longest a connect may take [default: 5 s].
    pub connect_timeout: Duration,
    /// Records wait this long for an acknowledgement before the connection
    /// is taken for dead (a hung exporter, a silent partition) and made
    /// again [default: 30 s].
    pub ack_timeout: Duration,
}

impl Default for ShipperConfig {
    fn default() -> Self {
        Self {
            buffer_bytes: 16 << 20,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(30),
        }
    }
}

impl ShipperConfig {
    /// Keeps at most `bytes` of unacknowledged records.
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes;
        self
    }

    /// Reconnects when records wait `timeout` for an acknowledgement.
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// Waits between `min` and `max`, doubling, between failed connects.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max.max(min);
        self
    }
}

/// What a shipper has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShipperStats {
    /// Records waiting for an acknowledgement.
    pub buffered_records: usize,
    /// Their bytes on the wire.
    pub buffered_bytes: usize,
    /// Records the exporter acknowledged.
    pub acked_records: u64,
    /// Records dropped unacknowledged because the buffer was full.
    pub dropped_records: u64,
    /// Their bytes.
    pub dropped_bytes: u64,
    /// Whether a connection is up.
    pub connected: bool,
    /// Connections made so far.
    pub connects: u64,
}

/// Sends container log lines to the exporter. Cheap to clone; the
/// connection task ends when the last clone is dropped.
#[derive(Clone)]
pub struct LogShipper {
    inner: Arc<Inner>,
    _task: Arc<AbortOnDrop>,
}

struct Inner {
    backlog: Mutex<Backlog>,
    /// Woken when records are pushed.
    pushed: Notify,
    /// Counts acknowledgements, for [`LogShipper::flushed`].
    acked: watch::Sender<u64>,
    endpoint: watch::Sender<Option<SocketAddr>>,
    state: Mutex<(bool, u64)>,
    config: ShipperConfig,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for LogShipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogShipper")
            .field("endpoint", &*self.inner.endpoint.borrow())
            .field("stats", &self.stats())
            .finish()
    }
}

impl LogShipper {
    /// Starts shipping to the exporter's log listener at `endpoint` (none
    /// yet: records wait until [`set_endpoint`](Self::set_endpoint)). Must be
    /// called inside a tokio runtime.
    pub fn start(endpoint: Option<SocketAddr>, config: ShipperConfig) -> Self {
        let inner = Arc::new(Inner {
            backlog: Mutex::new(Backlog::new(config.buffer_bytes)),
            pushed: Notify::new(),
            acked: watch::channel(0).0,
            endpoint: watch::channel(endpoint).0,
            state: Mutex::new((false, 0)),
            config,
        });
        let task = tokio::spawn(connection(inner.clone()));
        Self {
            inner,
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// Ships to another exporter from now on (the node manifest names it);
    /// unacknowledged records are sent there.
    pub fn set_endpoint(&self, endpoint: Option<SocketAddr>) {
        self.inner.endpoint.send_if_modified(|current| {
            let changed = *current != endpoint;
            *current = endpoint;
            changed
        });
    }

    /// Queues one record. Records of one source must come in sequence order.
    pub fn ship(&self, record: LogRecord) -> Result<(), WireError> {
        let (key, seq) = (record.key.clone(), record.seq);
        let frame = wire::encode(&Frame::Record(record))?;
        self.inner.backlog().push(key, seq, frame);
        self.inner.pushed.notify_one();
        Ok(())
    }

    /// Follows container `container_id` of pod `pod` (selflink), named
    /// `container` in the pod's template, from its first line: every line is
    /// numbered from 1 in the order the runtime gives them, so a restarted
    /// agent that follows the same container again sends the same numbers
    /// and the exporter keeps each line once. Ends with the number of lines
    /// when the runtime ends the stream (the container stopped).
    pub fn follow(
        &self,
        cri: Arc<dyn Cri>,
        container_id: impl Into<String>,
        pod: impl Into<String>,
        container: impl Into<String>,
    ) -> JoinHandle<crate::Result<u64>> {
        let shipper = self.clone();
        let key = SourceKey {
            pod: pod.into(),
            container: container.into(),
            source: container_id.into(),
        };
        tokio::spawn(async move {
            let options = LogOptions {
                follow: true,
                ..LogOptions::default()
            };
            let mut chunks = cri.logs(&key.source, options).await?;
            let mut lines = Splitter::default();
            let mut seq = 0;
            let mut ship = |stream, line: String| {
                seq += 1;
                let record = LogRecord {
                    key: key.clone(),
                    stream,
                    time: Utc::now(),
                    seq,
                    line,
                };
                // A line is at most MAX_LINE bytes, far under a frame.
                if let Err(error) = shipper.ship(record) {
                    tracing::warn!(%error, "log line not shipped");
                }
            };
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                let stream = match chunk.stderr {
                    true => StreamKind::Stderr,
                    false => StreamKind::Stdout,
                };
                for line in lines.push(stream, &chunk.data) {
                    ship(stream, line);
                }
            }
            for (stream, line) in lines.finish() {
                ship(stream, line);
            }
            Ok(seq)
        })
    }

    /// Counters and buffer use.
    pub fn stats(&self) -> ShipperStats {
        let (connected, connects) = *self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let backlog = self.inner.backlog();
        ShipperStats {
            buffered_records: backlog.len(),
            buffered_bytes: backlog.bytes(),
            acked_records: backlog.acked_records,
            dropped_records: backlog.dropped_records,
            dropped_bytes: backlog.dropped_bytes,
            connected,
            connects,
        }
    }

    /// Completes when every record shipped so far is acknowledged or dropped.
    pub async fn flushed(&self) {
        let mut acked = self.inner.acked.subscribe();
        while self.inner.backlog().len() > 0 {
            if acked.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Inner {
    fn backlog(&self) -> MutexGuard<'_, Backlog> {
        // A panic while holding it cannot leave the queue half-changed.
        self.backlog.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_connected(&self, up: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 = up;
        state.1 += u64::from(up);
    }
}

/// Connects, runs a session, and reconnects with doubling backoff.
async fn connection(inner: Arc<Inner>) {
    let mut endpoint = inner.endpoint.subscribe();
    let config = inner.config.clone();
    let mut backoff = config.backoff_min;
    loop {
        let Some(address) = *endpoint.borrow_and_update() else {
            if endpoint.changed().await.is_err() {
                return;
            }
            continue;
        };
        match tokio::time::timeout(config.connect_timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                backoff = config.backoff_min;
                inner.set_connected(true);
                let ended = session(&inner, stream, &mut endpoint).await;
                inner.set_connected(false);
                match ended {
                    Ok(()) => continue,
                    Err(error) => tracing::debug!(%address, %error, "log connection ended"),
                }
            }
            Ok(Err(error)) => tracing::debug!(%address, %error, "exporter unreachable"),
            Err(_) => tracing::debug!(%address, "exporter connect timed out"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            changed = endpoint.changed() => if changed.is_err() { return },
        }
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

/// Sends everything unacknowledged, then new records as they come, while
/// applying acknowledgements. `Ok` when the endpoint changed.
async fn session(
    inner: &Inner,
    stream: TcpStream,
    endpoint: &mut watch::Receiver<Option<SocketAddr>>,
) -> Result<(), WireError> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let ack_timeout = inner.config.ack_timeout;
    let acks = async {
        let mut read = BufReader::new(read);
        loop {
            let frame = match tokio::time::timeout(ack_timeout, wire::read_frame(&mut read)).await {
                Ok(frame) => frame?,
                Err(_) if inner.backlog().len() > 0 => {
                    return Err(WireError::Io(std::io::ErrorKind::TimedOut.into()));
                }
                Err(_) => continue,
            };
            match frame {
                Some(Frame::Ack(ack)) => {
                    inner.backlog().ack(&ack);
                    inner.acked.send_modify(|n| *n += 1);
                }
                Some(Frame::Record(_)) => {}
                None => {
                    return Err(WireError::Io(std::io::ErrorKind::ConnectionReset.into()));
                }
            }
        }
    };
    let sends = async {
        // Everything unacknowledged goes out again on a new connection.
        let mut cursor = 0;
        loop {
            let pushed = inner.pushed.notified();
            let batch = inner.backlog().next_batch(cursor, 256 << 10);
            match batch {
                Some((bytes, next)) => {
                    write.write_all(&bytes).await?;
                    cursor = next;
                }
                None => pushed.await,
            }
        }
    };
    tokio::select! {
        result = acks => result,
        result = sends => result,
        _ = endpoint.changed() => Ok(()),
    }
}

/// Cuts a container's output into lines, per stream, at newlines and at
/// [`MAX_LINE`] bytes.
#[derive(Default)]
struct Splitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Splitter {
    fn push(&mut self, stream: StreamKind, data: &[u8]) -> Vec<String> {
        let buffer = match stream {
            StreamKind::Stdout => &mut self.stdout,
            StreamKind::Stderr => &mut self.stderr,
        };
        let mut lines = Vec::new();
        for &byte in data {
            if byte == b'\n' {
                lines.push(take_line(buffer));
            } else {
                buffer.push(byte);
                if buffer.len() >= MAX_LINE {
                    lines.push(take_line(buffer));
                }
            }
        }
        lines
    }

    /// What is left after the last newline, when the stream ends.
    fn finish(&mut self) -> Vec<(StreamKind, String)> {
        [
            (StreamKind::Stdout, &mut self.stdout),
            (StreamKind::Stderr, &mut self.stderr),
        ]
        .into_iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(s, b)| (s, take_line(b)))
        .collect()
    }
}

fn take_line(buffer: &mut Vec<u8>) -> String {
    let bytes = std::mem::take(buffer);
    let text = String::from_utf8_lossy(&bytes);
    text.strip_suffix('\r').unwrap_or(&text).to_owned()
}

#[cfg(test)]
mod tests;
