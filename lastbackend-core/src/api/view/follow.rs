//! The view's task: the store's [`watcher`] into the [`State`], and the
//! long-polls it wakes.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};

use super::AgentsView;
use super::state::{State, Touched};
use crate::storage::watcher::{self, Event};
use crate::storage::{KeyValue, Revision, Storage};

/// The most events applied under one lock.
const CHUNK: usize = 4096;

/// Accumulates what a chunk of events touched, by the latest revision.
#[derive(Default)]
struct Changes {
    nodes: HashMap<String, Revision>,
    shared: Option<Revision>,
}

impl Changes {
    fn add(&mut self, touched: Touched, revision: Revision) {
        for node in touched.nodes {
            self.nodes.insert(node, revision);
        }
        if touched.global {
            self.shared = Some(revision);
        }
    }
}

type Item = Result<Event<KeyValue>, watcher::Error>;
type Items = BoxStream<'static, Item>;

/// The view's task: follows the store's [`watcher`]: a list (the first, or
/// again after a compaction) replaces the state, changes are applied in
/// chunks.
pub(super) async fn follow(view: Arc<AgentsView>, storage: Arc<dyn Storage>) {
    let mut items = watcher::watcher(storage, "", watcher::Config::default());
    let mut listed = false;
    let mut held = None;
    loop {
        let item = match held.take() {
            Some(item) => item,
            None => match items.next().await {
                Some(item) => item,
                None => return,
            },
        };
        match item {
            Err(e) => view.failed(e),
            Ok(Event::Restarted { items, revision }) => {
                view.relisted(items, revision, listed);
                listed = true;
            }
            Ok(change) => held = view.apply_chunk(change, &mut items),
        }
    }
}

impl AgentsView {
    /// Replaces the state by a listing at `revision`; after the first one,
    /// wakes the nodes whose manifests differ between the two.
    fn relisted(&self, items: Vec<KeyValue>, revision: Revision, listed_before: bool) {
        self.listings.fetch_add(1, Ordering::Relaxed);
        let fresh = State::from_list(&items, revision);
        // The raw listing goes before both states are held at once.
        drop(items);
        let touched = {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            let touched = listed_before.then(|| state.diff(&fresh));
            *state = fresh;
            touched
        };
        match touched {
            None => self.base.store(revision, Ordering::Release),
            Some(touched) => {
                let mut changes = Changes::default();
                changes.add(touched, revision);
                self.signal(changes.nodes, changes.shared);
            }
        }
        self.applied.send_replace(revision);
        self.recovered();
    }

    /// Applies `first` and the changes ready after it (up to [`CHUNK`])
    /// under one lock. Returns the item that ended the chunk when it is
    /// not a change, to be handled next.
    ///
    /// A backend delivers a revision's events together, so the last one's
    /// revision is complete when the stream pauses.
    fn apply_chunk(&self, first: Event<KeyValue>, items: &mut Items) -> Option<Item> {
        let mut chunk = vec![first];
        let mut held = None;
        let mut full = true;
        while chunk.len() < CHUNK {
            match items.next().now_or_never() {
                Some(Some(Ok(change))) if !matches!(change, Event::Restarted { .. }) => {
                    chunk.push(change);
                }
                Some(Some(other)) => {
                    held = Some(other);
                    full = false;
                    break;
                }
                _ => {
                    full = false;
                    break;
                }
            }
        }
        let mut changes = Changes::default();
        let revision = {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            for event in &chunk {
                changes.add(state.apply(event), event.revision());
            }
            state.revision
        };
        self.signal(changes.nodes, changes.shared);
        // A full chunk may have cut its last revision's events short.
        let complete = if full { revision - 1 } else { revision };
        self.applied.send_if_modified(|r| {
            let newer = complete > *r;
            *r = (*r).max(complete);
            newer
        });
        self.recovered();
        held
    }
}
