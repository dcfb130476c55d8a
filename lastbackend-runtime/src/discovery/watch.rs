//! [`EndpointWatch`]: the `endpoint/` collection into a [`ServiceZone`],
//! followed through core's one list → watch → relist stream
//! ([`object_watcher`]).

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use lastbackend_core::model::Endpoint;
use lastbackend_core::storage::watcher::{self, Event, object_watcher};
use lastbackend_core::store::Store;
use tokio::task::JoinHandle;

use super::{Error, Result, ServiceZone};

/// The endpoints as the watcher streams them.
type Items = BoxStream<'static, Result<Event<Endpoint>, watcher::Error>>;

/// Keeps a [`ServiceZone`] equal to the stored endpoints: a list, then a
/// watch from the list's revision, resumed after the last event seen when
/// it breaks and replaced by a new list when that history is compacted
/// (the watcher's retry policy, [`watcher::Config`]). Dropping it stops
/// the watch.
#[derive(Debug)]
pub struct EndpointWatch {
    task: JoinHandle<()>,
}

impl EndpointWatch {
    /// Loads every endpoint into `zone` (an error when that first list
    /// fails: nothing is served from an empty zone by mistake), then follows
    /// changes on a task of the current runtime.
    pub async fn start(store: Store, zone: Arc<ServiceZone>) -> Result<Self> {
        let mut items = object_watcher::<Endpoint>(&store, "", watcher::Config::default());
        match items.next().await {
            Some(Ok(event)) => apply(&zone, event),
            Some(Err(error)) => return Err(Error::ListFailed(error)),
            None => unreachable!("a watcher's stream never ends"),
        }
        let task = tokio::spawn(follow(items, zone));
        Ok(Self { task })
    }
}

impl Drop for EndpointWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn follow(mut items: Items, zone: Arc<ServiceZone>) {
    while let Some(item) = items.next().await {
        match item {
            Ok(event) => apply(&zone, event),
            Err(error) => match error.undecodable() {
                Some((self_link, revision)) => {
                    // A stale VIP is worse than none: the name goes.
                    tracing::warn!(%error, "an undecodable endpoint; its names are dropped");
                    zone.remove(self_link, revision);
                }
                None => tracing::warn!(%error, "the endpoint watch failed; retrying"),
            },
        }
    }
}

fn apply(zone: &ServiceZone, event: Event<Endpoint>) {
    match event {
        Event::Restarted { items, revision } => {
            zone.replace(&items, revision);
            tracing::debug!(endpoints = items.len(), revision, "endpoints listed");
        }
        Event::Applied {
            key,
            item,
            revision,
        } => {
            if item.meta.self_link == key {
                zone.upsert(&item, revision);
            } else {
                // The names follow the key, which is what a delete names.
                tracing::warn!(
                    key,
                    self_link = item.meta.self_link,
                    "an endpoint stored under another selflink; its names are dropped"
                );
                zone.remove(&key, revision);
            }
        }
        Event::Deleted { key, revision, .. } => zone.remove(&key, revision),
    }
}

#[cfg(test)]
mod tests;
