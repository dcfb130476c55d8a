//! [`Membership`]: the heartbeat of a cluster member (ingress, discovery
//! server, exporter), written once against `Arc<dyn ControlPlane>` so it
//! runs in process and over HTTP alike.
//!
//! The API counts a member online while its status pushes keep renewing a
//! lease (15 s by default); when the lease ends, or the API's store is
//! reset, the API forgets the member and answers 404 to its next push. So
//! a member registers, pushes its report every interval (and at once when
//! the report changes), registers again on a 404, and retries any other
//! failure after a backoff.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;

use super::ControlPlane;
use super::types::MemberReport;
use crate::controller::runtime::Backoff;
use crate::model::Kind;

/// How often a member pushes its report unless told otherwise: well within
/// the API's default member TTL of 15 s.
pub const DEFAULT_REPORT_EVERY: Duration = Duration::from_secs(5);

/// A member's registration and status pushes, run until a shutdown.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use lastbackend_core::api::{ControlPlane, Membership};
/// # use lastbackend_core::api::types::MemberReport;
/// # use lastbackend_core::model::{Kind, Presence};
/// # async fn run(plane: Arc<dyn ControlPlane>, stop: impl std::future::Future<Output = ()>) {
/// let ready = MemberReport {
///     presence: Presence { ready: true, online: true },
///     ..MemberReport::default()
/// };
/// // The sender changes the report (routes, readiness) while it runs.
/// let (report, reports) = tokio::sync::watch::channel(ready);
/// Membership::new(plane, Kind::Discovery, "dns-1").run(reports, stop).await;
/// # drop(report);
/// # }
/// ```
#[derive(Clone)]
pub struct Membership {
    plane: Arc<dyn ControlPlane>,
    kind: Kind,
    name: String,
    every: Duration,
    backoff: Backoff,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("every", &self.every)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl Membership {
    /// Member `name` of `kind` (ingress, discovery or exporter), pushing
    /// every [`DEFAULT_REPORT_EVERY`] and retrying failures 200 ms
    /// doubling up to 10 s after one another.
    pub fn new(plane: Arc<dyn ControlPlane>, kind: Kind, name: impl Into<String>) -> Self {
        Self {
            plane,
            kind,
            name: name.into(),
            every: DEFAULT_REPORT_EVERY,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
        }
    }

    /// Pushes the report this often.
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Retries a failed registration or push after these delays (the `n`-th
    /// failure in a row waits `backoff.delay(n)`).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Registers with the latest report of `reports`, then pushes it every
    /// interval and whenever it changes, until `shutdown` completes; then,
    /// if registered, pushes it once more marked not ready, so that
    /// clients stop using the member before its lease ends.
    ///
    /// A push the API answers with 404 (it forgot the member) registers
    /// again at once; any other failure is logged and retried after the
    /// backoff delay. A dropped sender leaves the last report in place.
    pub async fn run(
        self,
        mut reports: watch::Receiver<MemberReport>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let (kind, name) = (self.kind, self.name.as_str());
        let mut registered = false;
        let mut failures = 0_u32;
        let mut follow = true;
        loop {
            let report = reports.borrow_and_update().clone();
            let result = if registered {
                self.plane.member_status(kind, name, report).await.map(drop)
            } else {
                self.plane.register_member(kind, name, report).await
            };
            let wait = match result {
                Ok(()) => {
                    if !registered {
                        tracing::info!(%kind, name, "registered with the API");
                    }
                    registered = true;
                    failures = 0;
                    self.every
                }
                Err(error) if registered && error.is_not_found() => {
                    tracing::warn!(%kind, name, "the API forgot this member; registering again");
                    registered = false;
                    continue;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let delay = self.backoff.delay(failures);
                    tracing::warn!(%kind, name, %error, failures, ?delay, "reporting to the API failed; retrying");
                    delay
                }
            };
            let deadline = Instant::now() + wait;
            loop {
                tokio::select! {
                    () = &mut shutdown => {
                        if registered {
                            let last = reports.borrow().clone();
                            self.stopping(last).await;
                        }
                        return;
                    }
                    () = tokio::time::sleep_until(deadline) => break,
                    changed = reports.changed(), if follow => match changed {
                        Ok(()) => break,
                        Err(_) => follow = false,
                    },
                }
            }
        }
    }

    /// Runs [`Membership::run`] on a task of the current runtime until
    /// [`MembershipTask::stop`]: for a member whose report the caller
    /// changes through the sender of `reports`, or never (the receiver of
    /// a channel whose sender is dropped).
    pub fn spawn(self, reports: watch::Receiver<MemberReport>) -> MembershipTask {
        let (stop, mut stopping) = watch::channel(false);
        let task = tokio::spawn(self.run(reports, async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }));
        MembershipTask { stop, task }
    }

    /// Pushes `report` marked not ready; online ends with the lease.
    async fn stopping(&self, mut report: MemberReport) {
        report.presence.ready = false;
        if let Err(error) = self
            .plane
            .member_status(self.kind, &self.name, report)
            .await
        {
            tracing::warn!(kind = %self.kind, name = self.name, %error, "could not report stopping");
        }
    }
}

/// A [`Membership`] running on its own task, from [`Membership::spawn`].
#[derive(Debug)]
pub struct MembershipTask {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MembershipTask {
    /// Ends the heartbeat the way [`Membership::run`] ends at its shutdown
    /// (reporting not ready, when registered), and waits for it; an error
    /// only when the task panicked.
    pub async fn stop(self) -> Result<(), JoinError> {
        self.stop.send_replace(true);
        self.task.await
    }
}
