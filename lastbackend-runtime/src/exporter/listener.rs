//! The log listener: one task per agent connection reads records, stores
//! them in batches and acknowledges each batch once it is on disk.

use std::net::SocketAddr;

use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::Exporter;
use crate::logs::wire::{self, Frame};

/// Most records stored (and synced) at once.
const BATCH: usize = 1024;

pub(super) async fn serve(exporter: Exporter, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        tokio::spawn(connection(exporter.clone(), stream, peer));
    }
}

async fn connection(exporter: Exporter, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut write = BufWriter::new(write);
    let (records, mut incoming) = mpsc::channel(BATCH);
    // Reading goes on while a batch is written, so the next batch is ready.
    let reader = tokio::spawn(async move {
        let mut read = BufReader::new(read);
        loop {
            match wire::read_frame(&mut read).await {
                Ok(Some(Frame::Record(record))) => {
                    if records.send(record).await.is_err() {
                        return;
                    }
                }
                Ok(Some(Frame::Ack(_))) => {}
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(%peer, %error, "log connection dropped");
                    return;
                }
            }
        }
    });
    while let Some(first) = incoming.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match incoming.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        let appended = match exporter.append(batch).await {
            Ok(appended) => appended,
            Err(error) => {
                // Unacknowledged: the agent sends the batch again later.
                tracing::error!(%peer, %error, "cannot store logs; closing the connection");
                break;
            }
        };
        if appended.duplicates > 0 {
            tracing::debug!(%peer, duplicates = appended.duplicates, "resent lines dropped");
        }
        let mut sent = Ok(());
        for ack in appended.acks {
            sent = wire::write_frame(&mut write, &Frame::Ack(ack)).await;
            if sent.is_err() {
                break;
            }
        }
        if sent.is_err() || write.flush().await.is_err() {
            break;
        }
    }
    reader.abort();
}
