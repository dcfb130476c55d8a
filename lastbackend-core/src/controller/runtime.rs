//! A reconcile framework, level-triggered, for the platform's own kinds and
//! for a library user's.
//!
//! - [`Controller`] watches kinds of objects and keeps a [`Cache`] of each;
//!   a mapper turns every change into the keys (selflinks) to reconcile;
//! - the keys go through a [`WorkQueue`]: one worker per key at a time,
//!   duplicates collapsed, a key changed while it is reconciled reconciled
//!   again, failures retried after a per-key exponential [`Backoff`];
//! - every known object is queued again at a resync interval, so a missed
//!   or failed side effect is retried even without a change;
//! - no reconcile runs before every watch has loaded its initial list (a
//!   reconciler never acts on a cold cache);
//! - shutdown stops handing out keys and waits, for a bounded time, for the
//!   reconciles in flight.
//!
//! A [`Reconciler`] gets a key, not an event: it reads the current state
//! (from the caches or the store) and makes the world match it, so running it
//! twice is harmless and a burst of changes costs one run.

mod cache;
mod queue;
mod runner;
mod source;

use std::time::Duration;

use async_trait::async_trait;

pub use cache::Cache;
pub use queue::{Backoff, Outcome, WorkQueue};
pub use runner::{Controller, DEFAULT_RESYNC, DEFAULT_SHUTDOWN_TIMEOUT};

use crate::storage::BoxError;

/// What to do with a key after a successful reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the next change (or resync).
    Done,
    /// Look again after this long (a timeout to check, a rollout step).
    RequeueAfter(Duration),
}

/// Makes the world match the desired state of one key.
///
/// Errors are any error type (`?` converts them); the key is retried after
/// its backoff. A panic counts as an error.
#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    /// Reconciles the object (or the set of objects) named by `key`.
    async fn reconcile(&self, key: &str) -> Result<Action, BoxError>;
}

/// Why [`Controller::run`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reconciles were still running when the shutdown timeout ran out;
    /// they were aborted.
    #[error("{in_flight} reconciles still running {timeout:?} after shutdown; aborted")]
    ShutdownTimedOut {
        /// How many.
        in_flight: usize,
        /// The timeout.
        timeout: Duration,
    },
    /// A reconciler's task ended before it was told to stop: it panicked
    /// outside a reconcile (a panic inside one is that key's error) or
    /// returned by itself.
    #[error("reconciler {reconciler} ended: {reason}")]
    Ended {
        /// The reconciler's name.
        reconciler: String,
        /// The panic, or what it did.
        reason: String,
    },
}

#[cfg(test)]
mod tests;
