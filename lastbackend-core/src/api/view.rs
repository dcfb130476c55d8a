//! One shared, watch-fed view of what node manifests are made of, per
//! [`Api`](super::Api) and its clones.
//!
//! Before it, every node's long-poll opened its own watches and re-listed
//! whole collections on each relevant event: an endpoint change woke every
//! node, which each listed and decoded every endpoint, pod and volume; a
//! pod's status write was decoded once per node. Now one task lists the
//! store once, follows a single watch of it, decodes each change once and
//! keeps pods and volumes indexed by node (endpoints, subnets, secrets,
//! configs and member addresses cluster-wide). A change bumps a revision
//! per node it concerns (or the shared one every node reads), and a
//! long-poll waits on its node's and the shared one only.
//!
//! Answers stay what a fresh read would give: before answering, the view
//! catches up with the store's current revision (read-your-writes), and a
//! long-poll after a revision older than what the view has followed from
//! the start answers at once, as a compacted watch did. When the view's
//! own watch falls off the store's history it lists again (the store's
//! [`watcher`](crate::storage::watcher) does) and wakes the nodes whose manifests differ between the
//! two states.
//!
//! The task starts with the first manifest asked for (an `Api` that never
//! serves agents pays nothing) and stops when the last clone of the `Api`
//! is dropped.

mod follow;
mod state;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ApiError, Result};
use crate::manifest::internal::NodeManifest;
use crate::storage::{self, Revision, Storage};
use follow::follow;
use state::State;

/// How long an answer waits for the view to reach the store's revision
/// when the view's watch works, and when it is broken (then 503).
const SETTLE: Duration = Duration::from_secs(1);
const CATCH_UP: Duration = Duration::from_secs(30);

/// The views of one `Api` and its clones, each started on first use.
#[derive(Default)]
pub(super) struct Views {
    agents: Mutex<Option<Running>>,
}

impl std::fmt::Debug for Views {
    /// Whether it runs, not its content (every pod of the cluster).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = self
            .agents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|r| !r.task.is_finished());
        f.debug_struct("Views")
            .field("agents_running", &running)
            .finish()
    }
}

impl Views {
    /// Whether the agents' view was started.
    #[cfg(test)]
    pub(super) fn started(&self) -> bool {
        self.agents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// The agents' view over `storage`, started now if it is not running
    /// (first use, or its runtime went away).
    pub(super) fn agents(&self, storage: &Arc<dyn Storage>) -> Arc<AgentsView> {
        let mut running = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = running.as_ref().filter(|r| !r.task.is_finished()) {
            return r.view.clone();
        }
        let view = Arc::new(AgentsView::default());
        let task = tokio::spawn(follow(view.clone(), storage.clone()));
        *running = Some(Running {
            view: view.clone(),
            task,
        });
        view
    }
}

/// A started view and its task, stopped when dropped.
#[derive(Debug)]
struct Running {
    view: Arc<AgentsView>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What node manifests are made of, and who to wake on a change.
#[derive(Debug)]
pub(super) struct AgentsView {
    state: RwLock<State>,
    /// Every change up to this revision is in `state`.
    applied: watch::Sender<Revision>,
    /// The revision of the last change every node's manifest shares.
    shared: watch::Sender<Revision>,
    /// The revision of the last change to each node's own part.
    nodes: Mutex<HashMap<String, watch::Sender<Revision>>>,
    /// The first listing's revision: changes after it are all known.
    base: AtomicU64,
    /// Why the task is retrying, if it is.
    error: Mutex<Option<String>>,
    /// How many times the store was listed.
    listings: AtomicU64,
}

impl Default for AgentsView {
    fn default() -> Self {
        Self {
            state: RwLock::default(),
            applied: watch::Sender::new(0),
            shared: watch::Sender::new(0),
            nodes: Mutex::default(),
            base: AtomicU64::new(0),
            error: Mutex::default(),
            listings: AtomicU64::new(0),
        }
    }
}

/// A node's long-poll: wakes on changes to its own part or the shared one.
pub(super) struct Subscription {
    own: watch::Receiver<Revision>,
    shared: watch::Receiver<Revision>,
}

impl Subscription {
    /// Waits until a change after `after` concerns the node (at once if
    /// one already did), or `wait` ends.
    pub(super) async fn changed_after(&mut self, after: Revision, wait: Duration) {
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            if *self.own.borrow_and_update() > after || *self.shared.borrow_and_update() > after {
                return;
            }
            tokio::select! {
                () = &mut deadline => return,
                r = self.own.changed() => if r.is_err() { return },
                r = self.shared.changed() => if r.is_err() { return },
            }
        }
    }
}

impl AgentsView {
    /// Waits until the view holds every change up to the store's current
    /// revision, which it returns.
    ///
    /// etcd counts revisions cluster-wide, so writes under another prefix
    /// (another cluster or application sharing the etcd) raise the store's
    /// revision without an event the view could see: after [`SETTLE`] with
    /// a healthy watch the view answers as it is (it holds everything the
    /// store delivered); with a broken one it waits up to [`CATCH_UP`],
    /// then answers 503.
    pub(super) async fn catch_up(&self, storage: &dyn Storage) -> Result<Revision> {
        let now = storage.revision().await?;
        let mut applied = self.applied.subscribe();
        if let Ok(Ok(_)) = tokio::time::timeout(SETTLE, applied.wait_for(|r| *r >= now)).await {
            return Ok(now);
        }
        let healthy = || {
            self.listings.load(Ordering::Relaxed) > 0
                && self
                    .error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_none()
        };
        if healthy() {
            return Ok(now);
        }
        let rest = CATCH_UP.saturating_sub(SETTLE);
        match tokio::time::timeout(rest, applied.wait_for(|r| *r >= now)).await {
            Ok(Ok(_)) => Ok(now),
            _ => {
                let why = self
                    .error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .unwrap_or_else(|| "it is still catching up".to_owned());
                Err(ApiError::Storage(storage::Error::unavailable(
                    "agents' view",
                    format!("behind the store's revision {now} after {CATCH_UP:?}: {why}"),
                )))
            }
        }
    }

    /// How many times the view listed the store (once, plus once per
    /// broken watch).
    #[cfg(test)]
    pub(super) fn listings(&self) -> u64 {
        self.listings.load(Ordering::Relaxed)
    }

    /// Changes after this revision are all known to the view.
    pub(super) fn base(&self) -> Revision {
        self.base.load(Ordering::Acquire)
    }

    /// Node `name`'s manifest as the view holds it now.
    pub(super) fn node_manifest(&self, name: &str) -> NodeManifest {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .node_manifest(name)
    }

    /// Starts following changes that concern node `name`.
    pub(super) fn subscribe(&self, name: &str) -> Subscription {
        let own = self
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_owned())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe();
        Subscription {
            own,
            shared: self.shared.subscribe(),
        }
    }

    /// Records that `nodes` (and every node, when `shared`) changed at
    /// `revision`, waking their long-polls.
    fn signal(&self, nodes: HashMap<String, Revision>, shared: Option<Revision>) {
        if !nodes.is_empty() {
            let mut senders = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
            for (node, revision) in nodes {
                senders
                    .entry(node)
                    .or_insert_with(|| watch::Sender::new(0))
                    .send_replace(revision);
            }
        }
        if let Some(revision) = shared {
            self.shared.send_replace(revision);
        }
    }

    /// Records why the view is behind; the watcher retries by itself.
    fn failed(&self, why: impl std::fmt::Display) {
        tracing::warn!(error = %why, "agents' view: retrying");
        *self.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.to_string());
    }

    /// The watcher delivers again.
    fn recovered(&self) {
        *self.error.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
