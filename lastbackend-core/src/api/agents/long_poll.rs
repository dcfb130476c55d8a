//! The long-poll machinery of the members' manifests: answer at once, or
//! wait on watches for a change that matters to the caller.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;

use crate::api::{Api, Result};
use crate::manifest::internal::Revisioned;
use crate::storage::{Event, EventKind, KeyValue, Revision};

/// Decodes a watched value, `None` for a deletion's empty value or junk.
fn value_of<T: DeserializeOwned>(kv: Option<&KeyValue>) -> Option<T> {
    kv.filter(|kv| !kv.value.is_empty())
        .and_then(|kv| serde_json::from_slice(&kv.value).ok())
}

/// The object after and before an event.
pub(super) fn both<T: DeserializeOwned>(event: &Event) -> (Option<T>, Option<T>) {
    let new = match event.kind {
        EventKind::Deleted => None,
        _ => value_of(Some(&event.kv)),
    };
    (new, value_of(event.prev.as_ref()))
}

/// Whether the part `f` picks of an object changed in an event.
pub(super) fn changed<T: DeserializeOwned, V: PartialEq>(
    event: &Event,
    f: impl Fn(&T) -> V,
) -> bool {
    let (new, old) = both::<T>(event);
    new.as_ref().map(&f) != old.as_ref().map(&f)
}

/// The selflink of a watched key (`pod/demo:web:d_v1:abc` → `demo:web:d_v1:abc`).
pub(super) fn link_of(event: &Event, collection: &str) -> String {
    event
        .kv
        .key
        .strip_prefix(collection)
        .and_then(|k| k.strip_prefix('/'))
        .unwrap_or_default()
        .to_owned()
}

impl Api {
    /// Answers `compute()` at once, or, when `after` is given, once a
    /// relevant change after it shows on a watch of `prefixes` (or the
    /// history is compacted, or `wait` ends).
    pub(super) async fn long_poll<M, F, Fut>(
        &self,
        after: Option<Revision>,
        wait: Duration,
        prefixes: &[&str],
        compute: F,
        relevant: impl Fn(&Event, &M) -> bool,
    ) -> Result<M>
    where
        M: Revisioned,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<M>>,
    {
        let current = compute().await?;
        let Some(after) = after else {
            return Ok(current);
        };
        let storage = self.store.storage();
        if after > storage.revision().await? {
            // A revision from another store (the cluster was rebuilt).
            return Ok(current);
        }
        let mut watches = Vec::with_capacity(prefixes.len());
        for prefix in prefixes {
            match storage.watch(prefix, Some(after)).await {
                Ok(w) => watches.push(w),
                Err(e) if e.is_compacted() => return Ok(current),
                Err(e) => return Err(e.into()),
            }
        }
        let mut events = futures::stream::select_all(watches);
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return compute().await,
                event = events.next() => match event {
                    Some(Ok(event)) if relevant(&event, &current) => return compute().await,
                    Some(Ok(_)) => {}
                    Some(Err(e)) if e.is_compacted() => return compute().await,
                    Some(Err(e)) => return Err(e.into()),
                    None => return compute().await,
                },
            }
        }
    }
}
