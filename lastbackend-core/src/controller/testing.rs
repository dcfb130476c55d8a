//! A storage wrapper for the controller's tests: a candidate or watch whose
//! storage can be stalled (a paused process), have its watches cut (a
//! dropped connection) or its lists slowed down (a big cold start).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{broadcast, watch};

use crate::storage::{
    Error, KeyValue, LeaseId, List, MemoryStorage, Result, Revision, Storage, Txn, WatchStream,
};

#[derive(Debug)]
pub(crate) struct Gate {
    inner: MemoryStorage,
    stalled: watch::Sender<bool>,
    cut: broadcast::Sender<()>,
    slow_lists: Mutex<Option<(String, Duration)>>,
    writes_left: Mutex<Option<usize>>,
}

impl Gate {
    pub(crate) fn new(inner: &MemoryStorage) -> Arc<Self> {
        Arc::new(Self {
            inner: inner.clone(),
            stalled: watch::channel(false).0,
            cut: broadcast::channel(1).0,
            slow_lists: Mutex::new(None),
            writes_left: Mutex::new(None),
        })
    }

    /// Every call from now on waits until [`Self::resume`].
    pub(crate) fn stall(&self) {
        self.stalled.send_replace(true);
    }

    pub(crate) fn resume(&self) {
        self.stalled.send_replace(false);
    }

    /// Ends every open watch with an `Unavailable` error.
    pub(crate) fn cut_watches(&self) {
        let _ = self.cut.send(());
    }

    /// Lists of keys under `prefix` take `delay`.
    pub(crate) fn slow_lists(&self, prefix: &str, delay: Duration) {
        *self
            .slow_lists
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((prefix.to_owned(), delay));
    }

    /// After `writes` more writes, every write fails as if the process had
    /// died in the middle of its work.
    pub(crate) fn crash_after(&self, writes: usize) {
        *self
            .writes_left
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(writes);
    }

    fn write(&self) -> Result<()> {
        let mut left = self
            .writes_left
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match left.as_mut() {
            Some(0) => Err(Error::unavailable("gate", "crashed")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    async fn pass(&self) {
        let _ = self.stalled.subscribe().wait_for(|stalled| !stalled).await;
    }
}

#[async_trait]
impl Storage for Gate {
    async fn revision(&self) -> Result<Revision> {
        self.pass().await;
        self.inner.revision().await
    }

    async fn get(&self, key: &str) -> Result<KeyValue> {
        self.pass().await;
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<List> {
        self.pass().await;
        let delay = self
            .slow_lists
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .filter(|(slow, _)| prefix.starts_with(slow.as_str()))
            .map(|(_, delay)| delay);
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        self.inner.list(prefix).await
    }

    async fn put(&self, key: &str, value: Bytes, lease: Option<LeaseId>) -> Result<Revision> {
        self.pass().await;
        self.write()?;
        self.inner.put(key, value, lease).await
    }

    async fn set(
        &self,
        key: &str,
        value: Bytes,
        revision: Revision,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        self.pass().await;
        self.write()?;
        self.inner.set(key, value, revision, lease).await
    }

    async fn set_unconditional(
        &self,
        key: &str,
        value: Bytes,
        lease: Option<LeaseId>,
    ) -> Result<Revision> {
        self.pass().await;
        self.write()?;
        self.inner.set_unconditional(key, value, lease).await
    }

    async fn del(&self, key: &str, revision: Option<Revision>) -> Result<Revision> {
        self.pass().await;
        self.write()?;
        self.inner.del(key, revision).await
    }

    async fn txn(&self, txn: Txn) -> Result<Revision> {
        self.pass().await;
        self.write()?;
        self.inner.txn(txn).await
    }

    async fn watch(&self, prefix: &str, after: Option<Revision>) -> Result<WatchStream> {
        self.pass().await;
        let inner = self.inner.watch(prefix, after).await?;
        let cut = self.cut.subscribe();
        let stream = futures::stream::unfold(
            (inner, cut, false),
            |(mut inner, mut cut, ended)| async move {
                if ended {
                    return None;
                }
                tokio::select! {
                    item = inner.next() => item.map(|item| (item, (inner, cut, false))),
                    _ = cut.recv() => {
                        let error = Error::unavailable("gate", "watch cut");
                        Some((Err(error), (inner, cut, true)))
                    }
                }
            },
        );
        Ok(stream.boxed())
    }

    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId> {
        self.pass().await;
        self.inner.lease_grant(ttl).await
    }

    async fn lease_keep_alive(&self, lease: LeaseId) -> Result<Duration> {
        self.pass().await;
        self.inner.lease_keep_alive(lease).await
    }

    async fn lease_revoke(&self, lease: LeaseId) -> Result<()> {
        self.pass().await;
        self.inner.lease_revoke(lease).await
    }
}
