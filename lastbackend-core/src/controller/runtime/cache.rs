//! [`Cache`]: the objects of one kind as the last watch event left them.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::model::Object;
use crate::storage::Revision;

/// The objects of kind `T` under a watched prefix, by selflink, kept current
/// by the [`Controller`](super::Controller)'s watch, so reconcilers read them
/// without a storage round trip.
///
/// It is a view as of [`revision`](Self::revision): a reconciler that has to
/// be sure writes against the store, whose compare-and-swap catches a stale
/// read.
#[derive(Debug)]
pub struct Cache<T> {
    state: RwLock<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    objects: BTreeMap<String, T>,
    revision: Revision,
    synced: bool,
}

impl<T: Object> Cache<T> {
    pub(super) fn new() -> Self {
        Self {
            state: RwLock::new(State {
                objects: BTreeMap::new(),
                revision: 0,
                synced: false,
            }),
        }
    }

    // Writers only insert, remove or replace whole values: a panic cannot
    // leave the map half-changed.
    fn read(&self) -> RwLockReadGuard<'_, State<T>> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State<T>> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The object with this selflink.
    pub fn get(&self, self_link: &str) -> Option<T> {
        self.read().objects.get(self_link).cloned()
    }

    /// Whether an object has this selflink.
    pub fn contains(&self, self_link: &str) -> bool {
        self.read().objects.contains_key(self_link)
    }

    /// Every object, by selflink.
    pub fn list(&self) -> Vec<T> {
        self.read().objects.values().cloned().collect()
    }

    /// What `f` picks of every object, by selflink, read in place (nothing
    /// is cloned that `f` does not return).
    pub fn scan<R>(&self, mut f: impl FnMut(&T) -> Option<R>) -> Vec<R> {
        self.read().objects.values().filter_map(&mut f).collect()
    }

    /// The objects whose selflink starts with `prefix` (`"demo:"`: those in
    /// namespace `demo`), by selflink.
    pub fn list_prefix(&self, prefix: &str) -> Vec<T> {
        self.read()
            .objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(link, _)| link.starts_with(prefix))
            .map(|(_, obj)| obj.clone())
            .collect()
    }

    /// The selflinks, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.read().objects.keys().cloned().collect()
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    /// No objects.
    pub fn is_empty(&self) -> bool {
        self.read().objects.is_empty()
    }

    /// The store revision the cache reflects.
    pub fn revision(&self) -> Revision {
        self.read().revision
    }

    /// Whether the initial list has been loaded.
    pub fn is_synced(&self) -> bool {
        self.read().synced
    }

    /// Replaces everything with a fresh list; returns the objects that were
    /// cached but are not listed any more.
    pub(super) fn replace(&self, objects: Vec<T>, revision: Revision) -> Vec<T> {
        let fresh: BTreeMap<String, T> = objects
            .into_iter()
            .map(|obj| (obj.meta().self_link.clone(), obj))
            .collect();
        let mut state = self.write();
        let old = std::mem::replace(&mut state.objects, fresh);
        state.revision = revision;
        state.synced = true;
        old.into_iter()
            .filter(|(link, _)| !state.objects.contains_key(link))
            .map(|(_, obj)| obj)
            .collect()
    }

    /// Stores `obj`; returns what it replaced.
    pub(super) fn upsert(&self, obj: T, revision: Revision) -> Option<T> {
        let mut state = self.write();
        state.revision = revision;
        state.objects.insert(obj.meta().self_link.clone(), obj)
    }

    /// Drops the object with this selflink; returns it.
    pub(super) fn remove(&self, self_link: &str, revision: Revision) -> Option<T> {
        let mut state = self.write();
        state.revision = revision;
        state.objects.remove(self_link)
    }
}
