//! The hollow agent's loop: register, follow the manifest, report.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{HollowConfig, Knobs, Observed};
use crate::api::Api;
use crate::api::types::{NodeRegistration, NodeStatusReport};
use crate::manifest::internal::NodeManifest;
use crate::model::{
    ContainerStatus, DriverState, NodeDrivers, NodeInfo, NodeResources, PodNetwork, PodSpec,
    PodStatus, State, Status, VolumeStatus,
};
use crate::units::{Cpu, Ram};

/// What the agent makes of one pod of its manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Running,
    Failed,
    Destroyed,
}

/// A pod the agent holds.
struct Held {
    phase: Phase,
    /// The last octet of its address in the node's subnet.
    host: Option<u8>,
    status: PodStatus,
}

/// The simulated agent; owned by its task.
pub(super) struct Agent {
    api: Api,
    config: HollowConfig,
    knobs: watch::Receiver<Knobs>,
    observed: Arc<Observed>,
    /// The newest manifest seen.
    manifest: NodeManifest,
    pods: BTreeMap<String, Held>,
    /// Last octets handed out in the subnet.
    addresses: BTreeSet<u8>,
    /// Numbers fake container ids.
    containers: u64,
}

impl Agent {
    pub(super) fn new(
        api: Api,
        config: HollowConfig,
        knobs: watch::Receiver<Knobs>,
        observed: Arc<Observed>,
    ) -> Self {
        Self {
            api,
            config,
            knobs,
            observed,
            manifest: NodeManifest::default(),
            pods: BTreeMap::new(),
            addresses: BTreeSet::new(),
            containers: 0,
        }
    }

    /// Runs until stopped: (re)joins, then follows the manifest and reports,
    /// joining again if the node object disappears.
    pub(super) async fn run(mut self) {
        let beat = (self.api.settings().node_ttl / 3).max(Duration::from_millis(1));
        let retry = beat.min(Duration::from_secs(1));
        'join: loop {
            if self.wait_active().await.is_none() {
                return;
            }
            let registration = self.registration();
            if let Err(e) = self
                .api
                .register_node(&self.config.name, registration)
                .await
            {
                tracing::debug!(node = %self.config.name, error = %e, "hollow node: register failed");
                if !self.sleep(retry).await {
                    return;
                }
                continue;
            }
            let mut after = None;
            let mut due = Instant::now();
            let mut dirty = true;
            loop {
                let Some(was_paused) = self.wait_active().await else {
                    return;
                };
                if was_paused {
                    // Cut off for a while: start over from a full manifest
                    // and report at once.
                    after = None;
                    due = Instant::now();
                }
                dirty |= self.sync();
                if dirty || Instant::now() >= due {
                    let slow = self.knobs.borrow().slow;
                    if !slow.is_zero() && !self.sleep(slow).await {
                        continue;
                    }
                    match self.api.node_status(&self.config.name, self.report()).await {
                        Ok(_) => {
                            dirty = false;
                            due = Instant::now() + beat;
                            self.publish();
                        }
                        Err(e) if e.is_not_found() => continue 'join,
                        Err(e) => {
                            tracing::debug!(node = %self.config.name, error = %e, "hollow node: report failed");
                            self.sleep(retry).await;
                        }
                    }
                    continue;
                }
                let wait = due.saturating_duration_since(Instant::now());
                tokio::select! {
                    manifest = self.api.node_manifest(&self.config.name, after, wait) => {
                        match manifest {
                            Ok(m) => {
                                after = Some(m.revision);
                                self.manifest = m;
                            }
                            Err(e) if e.is_not_found() => continue 'join,
                            Err(e) => {
                                tracing::debug!(node = %self.config.name, error = %e, "hollow node: manifest failed");
                                self.sleep(retry).await;
                            }
                        }
                    }
                    changed = self.knobs.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Waits while paused: `None` once stopped, else whether it was paused.
    async fn wait_active(&mut self) -> Option<bool> {
        let was_paused = self.knobs.borrow().paused;
        match self.knobs.wait_for(|k| k.stopped || !k.paused).await {
            Ok(k) if !k.stopped => Some(was_paused),
            _ => None,
        }
    }

    /// Sleeps `d`; `false` when a knob changed first (the caller looks
    /// again at pause and stop).
    async fn sleep(&mut self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            _ = self.knobs.changed() => false,
        }
    }

    /// Brings the held pods in line with the manifest and the fault knobs;
    /// whether any pod's status changed.
    fn sync(&mut self) -> bool {
        let knobs = self.knobs.borrow().clone();
        let Self {
            config,
            manifest,
            pods,
            addresses,
            containers,
            ..
        } = self;
        let mut changed = false;
        pods.retain(|link, held| {
            let keep = manifest.pods.contains_key(link);
            if !keep {
                if let Some(host) = held.host {
                    addresses.remove(&host);
                }
                changed = true;
            }
            keep
        });
        for (link, spec) in &manifest.pods {
            let phase = if spec.state.destroy {
                Phase::Destroyed
            } else if knobs.fails(link) {
                Phase::Failed
            } else {
                Phase::Running
            };
            if pods.get(link).is_some_and(|held| held.phase == phase) {
                continue;
            }
            let mut held = pods.remove(link).map_or(
                Held {
                    phase,
                    host: None,
                    status: PodStatus::default(),
                },
                |held| Held { phase, ..held },
            );
            if phase != Phase::Running
                && let Some(host) = held.host.take()
            {
                addresses.remove(&host);
            }
            held.status = match phase {
                Phase::Destroyed => PodStatus {
                    status: Status::new(State::Destroyed),
                    ..PodStatus::default()
                },
                Phase::Failed => failed(spec, "hollow node: injected failure"),
                Phase::Running => {
                    let free = (2..=254).find(|h| !addresses.contains(h));
                    match free {
                        Some(host) => {
                            addresses.insert(host);
                            held.host = Some(host);
                            let [a, b, c, _] = config.subnet.octets();
                            *containers += 1;
                            running(
                                spec,
                                config.host_ip,
                                Ipv4Addr::new(a, b, c, host),
                                &format!("{}-{containers}", config.name),
                            )
                        }
                        None => failed(spec, "hollow node: no free address in its subnet"),
                    }
                }
            };
            pods.insert(link.clone(), held);
            changed = true;
        }
        changed
    }

    fn registration(&self) -> NodeRegistration {
        NodeRegistration {
            info: NodeInfo {
                hostname: self.config.name.clone(),
                architecture: std::env::consts::ARCH.to_owned(),
                os_type: "linux".to_owned(),
                os_name: "hollow".to_owned(),
                external_ip: Some(IpAddr::V4(self.config.host_ip)),
                internal_ip: Some(IpAddr::V4(self.config.host_ip)),
                subnet: None,
            },
            labels: self.config.labels.clone(),
            capacity: self.config.capacity,
            drivers: drivers(),
        }
    }

    /// The full observed state.
    fn report(&self) -> NodeStatusReport {
        let mut allocated = NodeResources::default();
        let (mut ram, mut cpu) = (0, 0);
        for (link, held) in &self.pods {
            if held.phase != Phase::Running {
                continue;
            }
            let Some(spec) = self.manifest.pods.get(link) else {
                continue;
            };
            allocated.pods += 1;
            allocated.containers += u32::try_from(spec.template.containers.len()).unwrap_or(0);
            let requests = spec.template.requests();
            ram += requests.ram.map_or(0, Ram::bytes);
            cpu += requests.cpu.map_or(0, Cpu::millis);
        }
        allocated.ram = Ram::from_bytes(ram);
        allocated.cpu = Cpu::from_millis(cpu);
        NodeStatusReport {
            capacity: self.config.capacity,
            allocated,
            drivers: drivers(),
            pods: self
                .pods
                .iter()
                .map(|(link, held)| (link.clone(), held.status.clone()))
                .collect(),
            volumes: self
                .manifest
                .volumes
                .keys()
                .map(|link| {
                    let status = VolumeStatus {
                        status: Status::new(State::Ready),
                        path: format!("/hollow/{link}"),
                        ready: true,
                    };
                    (link.clone(), status)
                })
                .collect(),
            // A hollow node has no overlay to report.
            subnet: None,
        }
    }

    /// Shows the handle what was just reported.
    fn publish(&self) {
        self.observed.reports.fetch_add(1, Ordering::Relaxed);
        *self
            .observed
            .pods
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = self
            .pods
            .iter()
            .map(|(link, held)| (link.clone(), held.status.clone()))
            .collect();
    }
}

fn drivers() -> NodeDrivers {
    let hollow = DriverState {
        kind: "hollow".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ready: true,
        message: String::new(),
    };
    NodeDrivers {
        cri: hollow.clone(),
        cni: hollow.clone(),
        cpi: hollow.clone(),
        csi: hollow,
    }
}

fn running(spec: &PodSpec, host_ip: Ipv4Addr, pod_ip: Ipv4Addr, id: &str) -> PodStatus {
    let started = Some(chrono::Utc::now());
    PodStatus {
        status: Status::new(State::Ready),
        running: true,
        ready: true,
        network: PodNetwork {
            host_ip: Some(IpAddr::V4(host_ip)),
            pod_ip: Some(IpAddr::V4(pod_ip)),
        },
        containers: spec
            .template
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let status = ContainerStatus {
                    id: format!("{id}-{i}"),
                    image: c.image.name.clone(),
                    state: State::Ready,
                    ready: true,
                    started,
                    ..ContainerStatus::default()
                };
                (c.name.clone(), status)
            })
            .collect(),
    }
}

fn failed(spec: &PodSpec, message: &str) -> PodStatus {
    PodStatus {
        status: Status::with_message(State::Error, message),
        containers: spec
            .template
            .containers
            .iter()
            .map(|c| {
                let status = ContainerStatus {
                    image: c.image.name.clone(),
                    state: State::Error,
                    message: message.to_owned(),
                    exit_code: Some(1),
                    ..ContainerStatus::default()
                };
                (c.name.clone(), status)
            })
            .collect(),
        ..PodStatus::default()
    }
}
