//! The ingress as a cluster member: registers, long-polls its manifest,
//! applies it with an [`IngressDriver`] and reports route states.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lastbackend_core::api::ControlPlane;
use lastbackend_core::api::types::MemberReport;
use lastbackend_core::model::{Kind, Presence};
use lastbackend_core::storage::Revision;

use super::IngressDriver;

/// How long a manifest long-poll waits; every answer is followed by a
/// status push, which is the member's heartbeat (the API's member TTL is
/// 15 s by default).
pub const POLL: Duration = Duration::from_secs(5);

/// Serves as ingress `name` until `shutdown` resolves, then stops the
/// driver. Control-plane failures are retried with backoff; a manifest the
/// driver could not apply is applied again on the next answer.
pub async fn run(
    plane: Arc<dyn ControlPlane>,
    name: &str,
    driver: Arc<dyn IngressDriver>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let serve = async {
        let mut backoff = Duration::from_millis(200);
        let mut registered = false;
        let mut applied: Option<Revision> = None;
        let mut report = MemberReport::default();
        loop {
            if !registered {
                report.presence = Presence {
                    ready: applied.is_some(),
                    online: true,
                };
                match plane
                    .register_member(Kind::Ingress, name, report.clone())
                    .await
                {
                    Ok(()) => registered = true,
                    Err(error) => {
                        tracing::warn!(%error, "registering the ingress failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        continue;
                    }
                }
            }
            let manifest = match plane.ingress_manifest(name, applied, POLL).await {
                Ok(manifest) => manifest,
                Err(error) => {
                    registered = !error.is_not_found();
                    tracing::warn!(%error, "reading the ingress manifest failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            backoff = Duration::from_millis(200);
            if applied != Some(manifest.revision) {
                match driver.apply(&manifest).await {
                    Ok(routes) => {
                        applied = Some(manifest.revision);
                        report.routes = routes;
                        tracing::info!(
                            revision = manifest.revision,
                            routes = report.routes.len(),
                            "ingress manifest applied"
                        );
                    }
                    Err(error) => {
                        tracing::error!(%error, "applying the ingress manifest failed; retrying");
                        applied = None;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            report.presence = Presence {
                ready: applied.is_some(),
                online: true,
            };
            if let Err(error) = plane
                .member_status(Kind::Ingress, name, report.clone())
                .await
            {
                registered = !error.is_not_found();
                tracing::warn!(%error, "pushing the ingress status failed");
            }
        }
    };
    tokio::select! {
        _ = serve => {}
        () = &mut shutdown => {}
    }
    driver.stop().await;
}
