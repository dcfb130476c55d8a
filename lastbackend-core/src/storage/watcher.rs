//! [`watcher`]: a prefix of the store as one stream of typed events, the
//! list → watch → relist loop written once for every consumer (the
//! controller's caches, the API's shared view, DNS discovery).
//!
//! The stream lists the prefix and emits [`Event::Restarted`] with
//! everything under it, then watches after the list's revision and emits
//! one [`Event::Applied`] or [`Event::Deleted`] per change. When the store
//! no longer holds the history to resume from ([`Compacted`]) it lists
//! again and emits the whole state in a new `Restarted`: a consumer
//! replaces what it knows and compares, it never misses a change. A watch
//! that breaks for another reason resumes after the last revision seen,
//! without a relist.
//!
//! Failures are items of the stream, never swallowed: a consumer logs them
//! or records them, and keeps polling; the stream retries by itself after
//! the [`Config::backoff`] delay (the one retry policy, see [`Config`]).
//! The stream never ends on its own; drop it to stop.
//!
//! [`watcher`] yields raw [`KeyValue`]s under a storage prefix;
//! [`object_watcher`] decodes the objects of one kind, reporting an
//! undecodable value as an [`Error::Decode`] item for that key alone.
//!
//! ```no_run
//! use futures::StreamExt;
//! use lastbackend_core::model::Service;
//! use lastbackend_core::storage::watcher::{self, Event};
//! use lastbackend_core::store::Store;
//!
//! # async fn run(store: Store) {
//! let mut services = watcher::object_watcher::<Service>(&store, "demo:", Default::default());
//! while let Some(item) = services.next().await {
//!     match item {
//!         Ok(Event::Restarted { items, .. }) => println!("{} services", items.len()),
//!         Ok(Event::Applied { key, .. }) => println!("{key} changed"),
//!         Ok(Event::Deleted { key, .. }) => println!("{key} deleted"),
//!         Err(error) => eprintln!("{error}"),
//!     }
//! }
//! # }
//! ```
//!
//! [`Compacted`]: super::Error::Compacted

mod raw;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};

use super::{KeyValue, Revision, Storage};
use crate::controller::runtime::Backoff;
use crate::model::Object;
use crate::store::{self, Store};

/// What changed under the watched prefix.
///
/// Keys are storage keys from [`watcher`] and selflinks from
/// [`object_watcher`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<K> {
    /// Everything under the prefix at `revision`, from a first list or a
    /// relist after compaction: it replaces whatever the consumer knew,
    /// and keys it knew that are not here are gone.
    Restarted {
        /// The items, sorted by key.
        items: Vec<K>,
        /// The revision of the list.
        revision: Revision,
    },
    /// `key` was created or replaced.
    Applied {
        /// Its key.
        key: String,
        /// Its new value.
        item: K,
        /// The revision of the change.
        revision: Revision,
    },
    /// `key` was deleted.
    Deleted {
        /// Its key.
        key: String,
        /// Its last value, when the backend reported it (and, typed, it
        /// decoded).
        previous: Option<K>,
        /// The revision of the deletion.
        revision: Revision,
    },
}

impl<K> Event<K> {
    /// The revision of the list or change.
    pub fn revision(&self) -> Revision {
        match self {
            Self::Restarted { revision, .. }
            | Self::Applied { revision, .. }
            | Self::Deleted { revision, .. } => *revision,
        }
    }
}

/// Why an item of a watcher's stream is an error. The stream goes on after
/// each one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Listing the prefix failed; listed again after the backoff delay.
    #[error("listing {prefix:?} failed: {source}")]
    ListFailed {
        /// The storage prefix.
        prefix: String,
        /// What the store said.
        #[source]
        source: super::Error,
    },
    /// Starting the watch failed; started again after the backoff delay.
    #[error("watching {prefix:?} failed: {source}")]
    WatchStartFailed {
        /// The storage prefix.
        prefix: String,
        /// What the store said.
        #[source]
        source: super::Error,
    },
    /// The watch broke; resumed after the last revision seen, after the
    /// backoff delay.
    #[error("the watch of {prefix:?} broke: {source}")]
    WatchFailed {
        /// The storage prefix.
        prefix: String,
        /// What the store said.
        #[source]
        source: super::Error,
    },
    /// A stored value is not the object its key names ([`object_watcher`]
    /// only): that key is skipped, in a `Restarted` or as a change.
    #[error("undecodable value at {key} (revision {revision}): {source}")]
    Decode {
        /// The selflink of the key.
        key: String,
        /// The revision of the list or change it came with.
        revision: Revision,
        /// What the decoder said.
        #[source]
        source: super::Error,
    },
}

impl Error {
    /// The selflink and revision of an undecodable value; `None` for the
    /// other errors, which concern the whole stream.
    pub fn undecodable(&self) -> Option<(&str, Revision)> {
        match self {
            Self::Decode { key, revision, .. } => Some((key, *revision)),
            _ => None,
        }
    }
}

/// A watcher's settings.
///
/// The retry policy: after a failed list, a failed watch start or a broken
/// watch, and after a watch that ended without delivering anything, the
/// stream waits `backoff.delay(n)` for the `n`-th failure in a row (50 ms
/// doubling up to 5 s by default) before it tries again; a list or an
/// event delivered resets the count. A compacted history is no failure:
/// the relist happens at once. [`Backoff`] is the same delay rule as the
/// controller's work queue uses per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The delays between retries.
    pub backoff: Backoff,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(5)),
        }
    }
}

impl Config {
    /// Retries after `backoff` delays.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
}

/// The raw keys under `prefix` (a storage key prefix, `""`: all) as a
/// stream of [`Event`]s. See the [module docs](self).
pub fn watcher(
    storage: Arc<dyn Storage>,
    prefix: impl Into<String>,
    config: Config,
) -> BoxStream<'static, Result<Event<KeyValue>, Error>> {
    let state = raw::Watcher::new(storage, prefix.into(), config.backoff);
    stream::unfold(state, |mut state| async move {
        let item = state.next().await;
        Some((item, state))
    })
    .boxed()
}

/// The objects of kind `T` whose selflink starts with `prefix` (`""`: all)
/// as a stream of [`Event`]s keyed by selflink. A value that does not
/// decode is reported as [`Error::Decode`] (before the `Restarted` it was
/// listed with, or in place of its change) and left out. See the
/// [module docs](self).
pub fn object_watcher<T: Object>(
    store: &Store,
    prefix: &str,
    config: Config,
) -> BoxStream<'static, Result<Event<T>, Error>> {
    let collection = format!("{}/", T::KIND.collection());
    let raw = watcher(
        store.storage().clone(),
        super::key(T::KIND.collection(), prefix),
        config,
    );
    raw.map_ok(move |event| stream::iter(decode_event::<T>(&collection, event)))
        .try_flatten()
        .boxed()
}

/// The typed items of one raw event: decode errors first, then the event.
fn decode_event<T: Object>(
    collection: &str,
    event: Event<KeyValue>,
) -> Vec<Result<Event<T>, Error>> {
    let link = |key: String| match key.strip_prefix(collection) {
        Some(link) => link.to_owned(),
        None => key,
    };
    let decode = |key: &str, kv: KeyValue, revision: Revision| {
        store::decode::<T>(kv).map_err(|source| Error::Decode {
            key: key.to_owned(),
            revision,
            source,
        })
    };
    match event {
        Event::Restarted { items, revision } => {
            let (mut out, mut objects) = (Vec::new(), Vec::with_capacity(items.len()));
            for kv in items {
                let key = link(kv.key.clone());
                match decode(&key, kv, revision) {
                    Ok(obj) => objects.push(obj),
                    Err(error) => out.push(Err(error)),
                }
            }
            out.push(Ok(Event::Restarted {
                items: objects,
                revision,
            }));
            out
        }
        Event::Applied {
            key,
            item,
            revision,
        } => {
            let key = link(key);
            let item = decode(&key, item, revision);
            vec![item.map(|item| Event::Applied {
                key,
                item,
                revision,
            })]
        }
        Event::Deleted {
            key,
            previous,
            revision,
        } => vec![Ok(Event::Deleted {
            key: link(key),
            previous: previous.and_then(|kv| store::decode(kv).ok()),
            revision,
        })],
    }
}
