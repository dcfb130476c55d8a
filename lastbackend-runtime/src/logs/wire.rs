//! The log protocol between node agents and the exporter, over TCP.
//!
//! A frame is a big-endian `u32` length followed by that many bytes of JSON:
//! a [`Frame::Record`] from the agent, or a [`Frame::Ack`] from the
//! exporter. JSON keeps the format readable with `tcpdump` and evolvable
//! (unknown fields are ignored); a line is small next to its framing cost
//! anyway. Frames over [`MAX_FRAME`] bytes are refused by both sides.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame either side accepts: 1 MiB.
pub const MAX_FRAME: usize = 1 << 20;

/// The longest line a record carries: longer output is split into lines of
/// this many bytes (Docker splits at the same 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;

/// Which output of a container a line came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    /// Standard output.
    #[default]
    Stdout,
    /// Standard error.
    Stderr,
}

/// Where a numbered run of lines comes from: one container of one pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceKey {
    /// The pod's selflink (`demo:web:d_v1:ab12cd3`).
    pub pod: String,
    /// The container's name in the pod's template.
    pub container: String,
    /// The runtime's id of the container; a recreated container is a new
    /// source numbered from 1 again.
    pub source: String,
}

/// One line a container wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Where it comes from.
    #[serde(flatten)]
    pub key: SourceKey,
    /// Its stream.
    pub stream: StreamKind,
    /// When the node read it.
    pub time: DateTime<Utc>,
    /// Its number within the source, from 1.
    pub seq: u64,
    /// The text, without its newline.
    pub line: String,
}

/// The exporter holds every record of `key` up to `seq` on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The source.
    #[serde(flatten)]
    pub key: SourceKey,
    /// The highest sequence held.
    pub seq: u64,
}

/// One message on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Frame {
    /// A line, agent to exporter.
    Record(LogRecord),
    /// An acknowledgement, exporter to agent.
    Ack(Ack),
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The connection failed.
    #[error("log connection: {0}")]
    Io(#[from] std::io::Error),
    /// A frame's length is over [`MAX_FRAME`].
    #[error("log frame of {len} bytes is over the {MAX_FRAME}-byte limit")]
    TooLarge {
        /// The announced or encoded length.
        len: usize,
    },
    /// A frame's body is not a frame.
    #[error("malformed log frame: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// The bytes of `frame` on the wire, length prefix included.
pub fn encode(frame: &Frame) -> Result<Vec<u8>, WireError> {
    let body = serde_json::to_vec(frame)?;
    if body.len() > MAX_FRAME {
        return Err(WireError::TooLarge { len: body.len() });
    }
    let mut bytes = Vec::with_capacity(4 + body.len());
    // Checked above: the length fits in a u32.
    bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &Frame,
) -> Result<(), WireError> {
    writer.write_all(&encode(frame)?).await?;
    Ok(())
}

/// Reads one frame; `None` when the peer closed the connection between
/// frames (a close inside a frame is an error).
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Frame>, WireError> {
    let mut prefix = [0u8; 4];
    match reader.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(WireError::TooLarge { len });
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(Some(serde_json::from_slice(&body)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, line: &str) -> LogRecord {
        LogRecord {
            key: SourceKey {
                pod: "demo:web:d_v1:ab12cd3".into(),
                container: "web".into(),
                source: "c0ffee".into(),
            },
            stream: StreamKind::Stderr,
            time: DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
            seq,
            line: line.into(),
        }
    }

    #[tokio::test]
    async fn frames_round_trip_back_to_back() {
        let frames = vec![
            Frame::Record(record(1, "hello")),
            Frame::Record(record(2, "ünïcode \"quoted\" \t tab")),
            Frame::Ack(Ack {
                key: record(0, "").key,
                seq: 2,
            }),
        ];
        let mut bytes = Vec::new();
        for frame in &frames {
            write_frame(&mut bytes, frame).await.unwrap();
        }
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        let first: serde_json::Value = serde_json::from_slice(&bytes[4..4 + len]).unwrap();
        assert_eq!(first["type"], "record");
        assert_eq!(first["pod"], "demo:web:d_v1:ab12cd3");
        assert_eq!(first["stream"], "stderr");
        assert_eq!(first["seq"], 1);

        let mut reader = bytes.as_slice();
        for frame in &frames {
            assert_eq!(read_frame(&mut reader).await.unwrap().as_ref(), Some(frame));
        }
        assert!(read_frame(&mut reader).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_frame_cut_short_or_too_large_is_an_error() {
        let bytes = encode(&Frame::Record(record(1, "hello"))).unwrap();
        let mut cut = &bytes[..bytes.len() - 1];
        assert!(matches!(read_frame(&mut cut).await, Err(WireError::Io(_))));

        let huge = ((MAX_FRAME + 1) as u32).to_be_bytes();
        let mut reader = &huge[..];
        assert!(matches!(
            read_frame(&mut reader).await,
            Err(WireError::TooLarge { .. })
        ));
        let line = "x".repeat(MAX_FRAME);
        assert!(matches!(
            encode(&Frame::Record(record(1, &line))),
            Err(WireError::TooLarge { .. })
        ));

        let mut junk = 3u32.to_be_bytes().to_vec();
        junk.extend_from_slice(b"{x}");
        assert!(matches!(
            read_frame(&mut junk.as_slice()).await,
            Err(WireError::Malformed(_))
        ));
    }
}
