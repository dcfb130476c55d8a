//! The agent's loop: one task follows the control plane (register, then
//! long-poll the manifest, registering again if the node disappears); the
//! main loop reconciles on every new manifest, container event, probe
//! result, due restart and tick, and reports what it observes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use lastbackend_core::api::ControlPlane;
use lastbackend_core::api::types::{NodeRegistration, NodeStatusReport};
use lastbackend_core::manifest::internal::NodeManifest;
use lastbackend_core::model::{NodeInfo, NodeResources};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::logs::LogForwarder;
use super::plan::Wanted;
use super::probe::Probes;
use super::reconcile::Reconciler;
use super::{Agent, AgentSettings, Drivers, LABEL_CONTAINER, LABEL_NODE, report, static_pods};
use crate::cri::ContainerEvent;

/// The newest manifest and the node's subnet from its registration.
type Followed = Option<(NodeManifest, Option<String>)>;

type Events = BoxStream<'static, crate::Result<ContainerEvent>>;

/// The first retry delay.
const RETRY_MIN: Duration = Duration::from_millis(100);

impl Agent {
    /// Runs until `shutdown` completes. It never gives up: an unreachable
    /// API or runtime is retried with backoff while running pods stay as
    /// they are. Containers are left running on shutdown; the next agent
    /// adopts them.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let settings = Arc::new(self.settings);
        let info = report::node_info(settings.external_ip);
        let host_ip = info.external_ip;
        let capacity = report::capacity(settings.pods_limit);
        let (manifest_tx, mut manifest_rx) = watch::channel::<Followed>(None);
        let follower = tokio::spawn(follow(
            self.control.clone(),
            settings.clone(),
            self.drivers.clone(),
            info,
            capacity,
            manifest_tx,
        ));
        let (probe_tx, mut probe_rx) = mpsc::unbounded_channel();
        let mut r = Reconciler::new(
            self.drivers.clone(),
            settings.clone(),
            Probes::new(probe_tx),
        );
        let mut drivers = report::drivers(&self.drivers).await;
        let mut events: Option<Events> = None;
        let mut tick = tokio::time::interval(settings.status_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut manifest: Option<NodeManifest> = None;
        let mut wanted = Vec::new();
        let mut statics = Vec::new();
        let mut wake: Option<Instant> = None;
        let mut sent: Option<(NodeStatusReport, Instant)> = None;
        let mut logs = LogForwarder::new();
        let shutdown = shutdown.fuse();
        futures::pin_mut!(shutdown);
        loop {
            if events.is_none() {
                events = self.drivers.cri.events().await.ok();
            }
            let wake_at = wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                changed = manifest_rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    if let Some((m, subnet)) = manifest_rx.borrow_and_update().clone() {
                        manifest = Some(m);
                        r.network.subnet = subnet;
                    }
                }
                Some(outcome) = probe_rx.recv() => {
                    let (failed, changed) = r.probes.record(&outcome);
                    if failed {
                        tracing::info!(container = %outcome.id, "liveness probe failed; stopping the container");
                        let _ = self.drivers.cri.stop(&outcome.id, settings.stop_timeout).await;
                        r.probes.restarted(&outcome.id);
                    } else if !changed {
                        continue;
                    }
                }
                event = next_event(&mut events) => match event {
                    Some(event) => {
                        let mut ours = is_ours(&Ok(event), &settings);
                        // Coalesce a burst (a pod's containers starting)
                        // into one pass.
                        while let Some(Some(more)) = events.as_mut().and_then(|e| e.next().now_or_never()) {
                            ours |= is_ours(&more, &settings);
                        }
                        if !ours {
                            continue;
                        }
                    }
                    None => events = None,
                },
                () = tokio::time::sleep_until(wake_at), if wake.is_some() => {}
                _ = tick.tick() => {
                    drivers = report::drivers(&self.drivers).await;
                    statics = load_statics(&settings);
                }
            }
            wanted.clear();
            if let Some(m) = &manifest {
                wanted.extend(m.pods.iter().filter(|(_, spec)| !spec.state.destroy).map(
                    |(link, spec)| Wanted {
                        link: link.clone(),
                        template: spec.template.clone(),
                        is_static: false,
                    },
                ));
            }
            wanted.extend(statics.iter().cloned());
            wake = r.reconcile(manifest.as_ref(), &wanted).await;
            ensure_probes(&mut r, &wanted);
            let exporter = manifest.as_ref().and_then(|m| m.exporter);
            logs.sync(exporter, &self.drivers.cri, &r.observed);
            if let Some(m) = &manifest {
                let report = r.report(m, capacity, drivers.clone(), host_ip);
                let due = sent.as_ref().is_none_or(|(last, at)| {
                    *last != report || at.elapsed() >= settings.status_interval
                });
                if due {
                    match self
                        .control
                        .node_status(&settings.node, report.clone())
                        .await
                    {
                        Ok(_) => sent = Some((report, Instant::now())),
                        Err(e) => tracing::warn!(error = %e, "cannot report the node's status"),
                    }
                }
            }
        }
        follower.abort();
    }
}

/// The next event, or never when there is no stream.
async fn next_event(events: &mut Option<Events>) -> Option<ContainerEvent> {
    match events {
        Some(stream) => match stream.next().await {
            Some(Ok(event)) => Some(event),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "container events failed; resubscribing");
                None
            }
            None => None,
        },
        None => std::future::pending().await,
    }
}

fn is_ours(event: &crate::Result<ContainerEvent>, settings: &AgentSettings) -> bool {
    event
        .as_ref()
        .is_ok_and(|e| e.labels.get(LABEL_NODE) == Some(&settings.node))
}

fn load_statics(settings: &AgentSettings) -> Vec<Wanted> {
    let Some(dir) = &settings.manifest_dir else {
        return Vec::new();
    };
    let (pods, errors) = static_pods::load(dir);
    for error in errors {
        tracing::warn!(%error, "static pod skipped");
    }
    pods
}

/// Starts the probes of every running container that declares some, and
/// stops those of containers not running.
fn ensure_probes(r: &mut Reconciler, wanted: &[Wanted]) {
    let cri = r.drivers.cri.clone();
    for pod in wanted {
        let Some(have) = r.observed.get(&pod.link) else {
            continue;
        };
        let ip = pod
            .template
            .containers
            .first()
            .and_then(|t| {
                have.iter()
                    .find(|c| c.labels.get(LABEL_CONTAINER) == Some(&t.name))
            })
            .and_then(|c| c.ip);
        let mut stopped = Vec::new();
        for c in have {
            let Some(t) = pod
                .template
                .containers
                .iter()
                .find(|t| c.labels.get(LABEL_CONTAINER) == Some(&t.name))
            else {
                continue;
            };
            if c.state.is_running() {
                r.probes.ensure(&cri, &c.id, t, ip);
            } else {
                stopped.push(c.id.clone());
            }
        }
        for id in stopped {
            r.probes.restarted(&id);
        }
    }
}

/// Registers (again whenever the node disappears) and publishes each newer
/// manifest, backing off on errors.
async fn follow(
    control: Arc<dyn ControlPlane>,
    settings: Arc<AgentSettings>,
    drivers: Drivers,
    info: NodeInfo,
    capacity: NodeResources,
    tx: watch::Sender<Followed>,
) {
    let mut delay = RETRY_MIN;
    let backoff = |delay: &mut Duration| {
        let now = *delay;
        *delay = (*delay * 2).min(settings.retry_max);
        tokio::time::sleep(now)
    };
    'join: loop {
        let registration = NodeRegistration {
            info: info.clone(),
            labels: settings.labels.clone(),
            capacity,
            drivers: report::drivers(&drivers).await,
        };
        let node = match control.register_node(&settings.node, registration).await {
            Ok(node) => node,
            Err(e) => {
                tracing::warn!(error = %e, "cannot register the node; retrying");
                backoff(&mut delay).await;
                continue;
            }
        };
        tracing::info!(node = %settings.node, "registered");
        delay = RETRY_MIN;
        let mut after = None;
        loop {
            match control
                .node_manifest(&settings.node, after, settings.manifest_wait)
                .await
            {
                Ok(m) => {
                    delay = RETRY_MIN;
                    if after != Some(m.revision) {
                        after = Some(m.revision);
                        tx.send_replace(Some((m, node.info.subnet.clone())));
                    }
                }
                Err(e) if e.is_not_found() => {
                    tracing::info!(node = %settings.node, "the node was removed; registering again");
                    continue 'join;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot get the node's manifest; retrying");
                    backoff(&mut delay).await;
                }
            }
        }
    }
}
