//! One active controller at a time: leader election over a storage lease,
//! with a fence for the leader's writes.
//!
//! A candidate campaigns by *creating* the lead key ([`LEAD_KEY`], value a
//! [`Lead`]) attached to a fresh lease. Creation is the only way to win: a
//! create that fails because the key exists means somebody else leads (the
//! original took that failure for a win and ran two leaders). The leader
//! keeps its lease alive every TTL/3; it steps down when a keep-alive fails
//! for good, when none has succeeded for 2/3 of the TTL (its lease may be
//! about to end in the store), or when the key is gone or holds somebody
//! else, and then campaigns again, as often as it takes (the original crashed
//! on re-election). Followers watch the key and campaign as soon as it is
//! deleted, so a crashed leader is replaced within the TTL, one that
//! [resigns](Leadership::resign) at once.
//!
//! A leader can be deposed without knowing it yet (a process paused past its
//! TTL). Its writes are therefore fenced: [`Leadership::fence`] is a
//! [`TxnOp::Check`] that the lead key is still at the revision that created
//! it, and [`Leadership::commit`] commits a [`Writes`] batch behind it, so a
//! deposed leader's writes fail with a conflict instead of racing the new
//! leader's.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::storage::{self, Event, LeaseId, Revision, Storage, TxnOp, WatchStream};
use crate::store::{Store, Writes};

/// The key the leader holds, as in the original.
pub const LEAD_KEY: &str = "system/controller/lead";

/// The lease TTL unless told otherwise, as in the original.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15);

/// How often a follower looks at the lead key even without a watch event,
/// unless told otherwise.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(2);

/// Why a leadership operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Only the leader may do this.
    #[error("not the leader")]
    NotLeader,
    /// The storage failed; a fenced write of a deposed leader fails with a
    /// conflict on the lead key ([`Error::is_conflict`]).
    #[error(transparent)]
    Storage(#[from] storage::Error),
}

impl Error {
    /// This candidate does not lead (as far as it knows).
    pub fn is_not_leader(&self) -> bool {
        matches!(self, Self::NotLeader)
    }

    /// The write lost a compare-and-swap, or its fence: the writer was
    /// deposed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Storage(e) if e.is_conflict())
    }
}

/// How to campaign.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LeaderConfig {
    /// Who campaigns, as other candidates see it (`<host>:<pid>`, say).
    pub holder: String,
    /// The lead key.
    pub key: String,
    /// The lease TTL: how long a crashed leader keeps the others waiting.
    pub ttl: Duration,
    /// How often a follower looks at the lead key without a watch event,
    /// and how long a candidate waits after a storage error.
    pub retry: Duration,
}

impl LeaderConfig {
    /// Campaigns as `holder` for [`LEAD_KEY`] with [`DEFAULT_TTL`].
    pub fn new(holder: impl Into<String>) -> Self {
        Self {
            holder: holder.into(),
            key: LEAD_KEY.to_owned(),
            ttl: DEFAULT_TTL,
            retry: DEFAULT_RETRY,
        }
    }

    /// With another lease TTL.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// With another lead key (one per independent group of candidates).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// With another follower poll and error retry interval.
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }
}

/// The lead key's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    /// Who leads.
    pub holder: String,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// A candidate's role as it knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// Somebody else leads (`leader`, when known), or nobody yet.
    Follower {
        /// The holder of the lead key, as last read.
        leader: Option<String>,
    },
    /// This candidate leads.
    Leader {
        /// The revision that created the lead key: the fence.
        revision: Revision,
        /// The lease the key is attached to.
        lease: LeaseId,
    },
}

impl Role {
    /// Whether this is [`Role::Leader`].
    pub fn is_leader(&self) -> bool {
        matches!(self, Self::Leader { .. })
    }
}

/// Starts campaigning in a background task (call inside a tokio runtime) and
/// returns the handle to follow it. The task runs until
/// [`Leadership::resign`] or until every clone of the handle is dropped;
/// dropping, unlike resigning, leaves the lease to expire, as a crash would.
pub fn campaign(storage: Arc<dyn Storage>, config: LeaderConfig) -> Leadership {
    let (role_tx, role_rx) = watch::channel(Role::Follower { leader: None });
    let held = Arc::new(Mutex::new(None));
    let candidate = Candidate {
        storage: Arc::clone(&storage),
        config: config.clone(),
        role: role_tx.clone(),
        held: Arc::clone(&held),
    };
    let task = tokio::spawn(candidate.run());
    Leadership {
        role: role_rx,
        shared: Arc::new(Shared {
            task,
            role: role_tx,
            storage,
            key: config.key,
            held,
        }),
    }
}

/// A handle on a campaign: the current [`Role`], its changes, and the fence
/// for the leader's writes. Cheap to clone; clones share one campaign.
#[derive(Clone, Debug)]
pub struct Leadership {
    role: watch::Receiver<Role>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    task: JoinHandle<()>,
    /// Kept here too, so the role says "follower" once the task is gone.
    role: watch::Sender<Role>,
    storage: Arc<dyn Storage>,
    key: String,
    /// The lease of the current attempt or term, for `resign`.
    held: Arc<Mutex<Option<LeaseId>>>,
}

impl Shared {
    fn stop(&self) {
        self.task.abort();
        self.role.send_if_modified(|role| {
            let was_leader = role.is_leader();
            *role = Role::Follower { leader: None };
            was_leader
        });
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Leadership {
    /// The current role.
    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    /// Whether this candidate leads, as far as it knows. A leader deposed
    /// while paused may still say so for a moment: write with
    /// [`fence`](Self::fence) or [`commit`](Self::commit).
    pub fn is_leader(&self) -> bool {
        self.role.borrow().is_leader()
    }

    /// A receiver of every role change.
    pub fn watch(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    /// Waits for the role to change from the one this handle last saw and
    /// returns the new one.
    pub async fn changed(&mut self) -> Role {
        // The sender lives as long as the campaign, which lives as long as
        // this handle: the wait cannot fail.
        let _ = self.role.changed().await;
        self.role.borrow_and_update().clone()
    }

    /// Waits until this candidate leads.
    pub async fn wait_until_leader(&mut self) {
        let _ = self.role.wait_for(Role::is_leader).await;
    }

    /// Waits until this candidate does not lead.
    pub async fn wait_until_follower(&mut self) {
        let _ = self.role.wait_for(|role| !role.is_leader()).await;
    }

    /// The guard for the leader's writes: the lead key must still be at the
    /// revision that created it. `None` when not leading.
    pub fn fence(&self) -> Option<TxnOp> {
        match *self.role.borrow() {
            Role::Leader { revision, .. } => Some(TxnOp::Check {
                key: self.shared.key.clone(),
                revision,
            }),
            Role::Follower { .. } => None,
        }
    }

    /// Commits `writes` behind the [`fence`](Self::fence): all of them, only
    /// while this candidate's term lasts. [`Error::NotLeader`] when not
    /// leading; a conflict ([`Error::is_conflict`]) when deposed.
    pub async fn commit(&self, store: &Store, writes: Writes) -> Result<Revision, Error> {
        let fence = self.fence().ok_or(Error::NotLeader)?;
        Ok(store.commit_fenced(writes, fence).await?)
    }

    /// Stops campaigning (for every clone of this handle) and, when leading,
    /// gives the leadership up at once (revokes the lease, so the followers
    /// take over without waiting for the TTL).
    pub async fn resign(self) -> Result<(), Error> {
        self.shared.stop();
        let lease = self
            .shared
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(lease) = lease {
            match self.shared.storage.lease_revoke(lease).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The campaign task's state.
struct Candidate {
    storage: Arc<dyn Storage>,
    config: LeaderConfig,
    role: watch::Sender<Role>,
    held: Arc<Mutex<Option<LeaseId>>>,
}

impl Candidate {
    async fn run(self) {
        loop {
            let (revision, lease, granted) = self.acquire().await;
            self.role.send_replace(Role::Leader { revision, lease });
            tracing::info!(holder = self.config.holder, revision, "leading");
            let reason = self.lead(revision, lease, granted).await;
            self.role.send_replace(Role::Follower { leader: None });
            tracing::warn!(
                holder = self.config.holder,
                reason,
                "stepped down; campaigning again"
            );
            self.release(lease).await;
        }
    }

    fn set_held(&self, lease: Option<LeaseId>) {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = lease;
    }

    async fn release(&self, lease: LeaseId) {
        self.set_held(None);
        // Best effort: an ended lease is what we want anyway, and a lease we
        // cannot revoke ends at its TTL.
        let _ = self.storage.lease_revoke(lease).await;
    }

    async fn pause(&self, what: &str, error: &storage::Error) {
        tracing::warn!(holder = self.config.holder, %error, "{what} failed; retrying");
        tokio::time::sleep(self.config.retry).await;
    }

    /// Campaigns until it wins; returns the lead key's revision, the lease
    /// and when the lease was granted.
    async fn acquire(&self) -> (Revision, LeaseId, Instant) {
        let key = &self.config.key;
        loop {
            match self.storage.get(key).await {
                Ok(kv) => {
                    let leader = serde_json::from_slice::<Lead>(&kv.value)
                        .ok()
                        .map(|lead| lead.holder);
                    self.role.send_if_modified(|role| {
                        let follower = Role::Follower { leader };
                        let changed = *role != follower;
                        *role = follower;
                        changed
                    });
                    self.wait_for_change(kv.mod_revision).await;
                    continue;
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    self.pause("reading the lead key", &e).await;
                    continue;
                }
            }
            let granted = Instant::now();
            let lease = match self.storage.lease_grant(self.config.ttl).await {
                Ok(lease) => lease,
                Err(e) => {
                    self.pause("granting a lease", &e).await;
                    continue;
                }
            };
            self.set_held(Some(lease));
            let lead = Lead {
                holder: self.config.holder.clone(),
                since: Utc::now(),
            };
            let value = Bytes::from(serde_json::to_vec(&lead).unwrap_or_default());
            match self.storage.put(key, value, Some(lease)).await {
                Ok(revision) => return (revision, lease, granted),
                // Somebody else created it first: they lead, not us.
                Err(e) if e.is_exists() => self.release(lease).await,
                // The create may have happened: revoking the lease deletes
                // the key if so.
                Err(e) => {
                    self.release(lease).await;
                    self.pause("creating the lead key", &e).await;
                }
            }
        }
    }

    /// Waits until the lead key changes after `revision`, or for the retry
    /// interval.
    async fn wait_for_change(&self, revision: Revision) {
        let key = &self.config.key;
        let mut watch = match self.storage.watch(key, Some(revision)).await {
            Ok(watch) => watch,
            Err(e) => return self.pause("watching the lead key", &e).await,
        };
        let changed = async {
            while let Some(item) = watch.next().await {
                match item {
                    Ok(event) if event.kv.key != *key => {}
                    _ => return,
                }
            }
        };
        let _ = tokio::time::timeout(self.config.retry, changed).await;
    }

    /// Holds the leadership until it is lost; returns why.
    async fn lead(&self, revision: Revision, lease: LeaseId, granted: Instant) -> &'static str {
        let key = &self.config.key;
        let interval = self.config.ttl / 3;
        let renew_deadline = self.config.ttl * 2 / 3;
        let mut watch = self.storage.watch(key, Some(revision)).await.ok();
        // The lease ends `ttl` after its last renewal was *handled*; counting
        // from when it was *sent* errs on the safe side.
        let mut renewed = granted;
        let mut next = renewed + interval;
        loop {
            tokio::select! {
                item = next_event(&mut watch) => match item {
                    Some(Ok(event)) if event.kv.key == *key => return "the lead key changed",
                    Some(Ok(_)) => continue,
                    // A broken watch: the keep-alive's read still checks.
                    Some(Err(_)) | None => {
                        watch = None;
                        continue;
                    }
                },
                () = tokio::time::sleep_until(next) => {}
            }
            let deadline = renewed + renew_deadline;
            let sent = Instant::now();
            match tokio::time::timeout_at(deadline, self.storage.lease_keep_alive(lease)).await {
                Err(_) => return "no keep-alive succeeded within 2/3 of the TTL",
                Ok(Err(e)) if e.is_not_found() => return "the lease ended",
                Ok(Err(error)) => {
                    tracing::warn!(holder = self.config.holder, %error, "keep-alive failed");
                    next = (Instant::now() + interval / 5).min(deadline);
                    continue;
                }
                Ok(Ok(_)) => renewed = sent,
            }
            next = renewed + interval;
            match self.storage.get(key).await {
                Ok(kv) if kv.mod_revision == revision && kv.lease == Some(lease) => {}
                Ok(_) => return "somebody else holds the lead key",
                Err(e) if e.is_not_found() => return "the lead key is gone",
                Err(error) => {
                    tracing::warn!(holder = self.config.holder, %error, "reading the lead key failed");
                }
            }
        }
    }
}

/// The next item of `watch`; never, when there is none.
async fn next_event(watch: &mut Option<WatchStream>) -> Option<storage::Result<Event>> {
    match watch {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
