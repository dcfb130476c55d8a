//! [`EndpointWatch`]: the `endpoint/` collection into a [`ServiceZone`],
//! listed once and then followed by a revisioned watch.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lastbackend_core::model::{Endpoint, Kind};
use lastbackend_core::storage::{self, Event, EventKind, Revision};
use lastbackend_core::store::{self, Store};
use tokio::task::JoinHandle;

use super::{Result, ServiceZone};

/// How long the watch waits before it retries a failed list or watch.
const RETRY: Duration = Duration::from_secs(1);

/// Keeps a [`ServiceZone`] equal to the stored endpoints: a list, then a
/// watch from the list's revision, resumed after the last event seen when
/// it breaks and replaced by a new list when that history is compacted.
/// Dropping it stops the watch.
#[derive(Debug)]
pub struct EndpointWatch {
    task: JoinHandle<()>,
}

impl EndpointWatch {
    /// Loads every endpoint into `zone` (an error when that first list
    /// fails: nothing is served from an empty zone by mistake), then follows
    /// changes on a task of the current runtime.
    pub async fn start(store: Store, zone: Arc<ServiceZone>) -> Result<Self> {
        let revision = relist(&store, &zone).await?;
        let task = tokio::spawn(follow(store, zone, revision));
        Ok(Self { task })
    }
}

impl Drop for EndpointWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The watched prefix: `endpoint/`.
fn prefix() -> String {
    storage::key(Kind::Endpoint.collection(), "")
}

async fn relist(store: &Store, zone: &ServiceZone) -> storage::Result<Revision> {
    let (endpoints, revision) = store.list::<Endpoint>("").await?;
    zone.replace(&endpoints, revision);
    tracing::debug!(endpoints = endpoints.len(), revision, "endpoints listed");
    Ok(revision)
}

async fn follow(store: Store, zone: Arc<ServiceZone>, mut after: Revision) {
    let prefix = prefix();
    loop {
        let mut stream = match store.storage().watch(&prefix, Some(after)).await {
            Ok(stream) => stream,
            Err(error) if error.is_compacted() => {
                after = relist_until_done(&store, &zone).await;
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "the endpoint watch failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let mut progressed = false;
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => {
                    progressed = true;
                    after = event.revision();
                    apply(&zone, &prefix, event);
                }
                Err(error) if error.is_compacted() => {
                    tracing::debug!(%error, "the endpoint watch is compacted; relisting");
                    after = relist_until_done(&store, &zone).await;
                    progressed = true;
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "the endpoint watch broke; resuming");
                    break;
                }
            }
        }
        // Resumed at once after progress; a watch that ends without any
        // (an error, or a backend closing streams) waits before the next.
        if !progressed {
            tokio::time::sleep(RETRY).await;
        }
    }
}

async fn relist_until_done(store: &Store, zone: &ServiceZone) -> Revision {
    loop {
        match relist(store, zone).await {
            Ok(revision) => return revision,
            Err(error) => {
                tracing::warn!(%error, "listing the endpoints failed; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

fn apply(zone: &ServiceZone, prefix: &str, event: Event) {
    let revision = event.revision();
    let Some(self_link) = event.kv.key.strip_prefix(prefix) else {
        return;
    };
    match event.kind {
        EventKind::Deleted => zone.remove(self_link, revision),
        EventKind::Created | EventKind::Updated => {
            let self_link = self_link.to_owned();
            match store::decode::<Endpoint>(event.kv) {
                Ok(endpoint) if endpoint.meta.self_link == self_link => {
                    zone.upsert(&endpoint, revision)
                }
                Ok(endpoint) => {
                    // The names follow the key, which is what a delete names.
                    tracing::warn!(
                        key = self_link,
                        self_link = endpoint.meta.self_link,
                        "an endpoint stored under another selflink; its names are dropped"
                    );
                    zone.remove(&self_link, revision);
                }
                Err(error) => {
                    // A stale VIP is worse than none: the name goes.
                    tracing::warn!(%error, "an undecodable endpoint; its names are dropped");
                    zone.remove(&self_link, revision);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
