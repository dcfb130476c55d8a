//! The ingress as a cluster member: registered and heartbeated by core's
//! [`Membership`], it long-polls its manifest, applies it with an
//! [`IngressDriver`] and publishes route states and readiness to the
//! membership's report.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lastbackend_core::api::types::MemberReport;
use lastbackend_core::api::{ControlPlane, Membership};
use lastbackend_core::controller::runtime::Backoff;
use lastbackend_core::model::{Kind, Presence};
use lastbackend_core::storage::Revision;
use tokio::sync::watch;

use super::IngressDriver;

/// How long a manifest long-poll waits.
pub const POLL: Duration = Duration::from_secs(5);

/// Serves as ingress `name` until `shutdown` resolves, then reports not
/// ready and stops the driver. Registration and status pushes are the
/// [`Membership`]'s (re-registering when the API forgot the member); a
/// failed manifest poll (a 404 before the registration is in, too) is
/// retried after the same backoff; a manifest the driver could not apply
/// is applied again on the next answer.
pub async fn run(
    plane: Arc<dyn ControlPlane>,
    name: &str,
    driver: Arc<dyn IngressDriver>,
    shutdown: impl Future<Output = ()>,
) {
    let backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    let (report, reports) = watch::channel(MemberReport {
        presence: Presence {
            ready: false,
            online: true,
        },
        ..MemberReport::default()
    });
    let (stop, mut stopping) = watch::channel(false);
    let heartbeat = Membership::new(plane.clone(), Kind::Ingress, name)
        .backoff(backoff)
        .run(reports, async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        });
    let serve = async {
        tokio::select! {
            () = follow(plane.as_ref(), name, driver.as_ref(), &report, backoff) => {}
            () = shutdown => {}
        }
        stop.send_replace(true);
    };
    tokio::join!(heartbeat, serve);
    driver.stop().await;
}

/// Long-polls the manifest and applies each new revision, publishing the
/// outcome to `report`; never returns.
async fn follow(
    plane: &dyn ControlPlane,
    name: &str,
    driver: &dyn IngressDriver,
    report: &watch::Sender<MemberReport>,
    backoff: Backoff,
) {
    let mut failures = 0_u32;
    let mut applied: Option<Revision> = None;
    loop {
        let manifest = match plane.ingress_manifest(name, applied, POLL).await {
            Ok(manifest) => manifest,
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::warn!(%error, "reading the ingress manifest failed; retrying");
                tokio::time::sleep(backoff.delay(failures)).await;
                continue;
            }
        };
        failures = 0;
        if applied == Some(manifest.revision) {
            continue;
        }
        match driver.apply(&manifest).await {
            Ok(routes) => {
                applied = Some(manifest.revision);
                tracing::info!(
                    revision = manifest.revision,
                    routes = routes.len(),
                    "ingress manifest applied"
                );
                report.send_if_modified(|report| {
                    let changed = report.routes != routes || !report.presence.ready;
                    report.routes = routes;
                    report.presence.ready = true;
                    changed
                });
            }
            Err(error) => {
                tracing::error!(%error, "applying the ingress manifest failed; retrying");
                applied = None;
                report.send_if_modified(|report| {
                    std::mem::replace(&mut report.presence.ready, false)
                });
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
