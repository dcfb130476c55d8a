//! What the agent tells the API: the machine's facts and capacity, and the
//! observed state of every pod and volume.

use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};

use lastbackend_core::api::types::NodeStatusReport;
use lastbackend_core::manifest::internal::NodeManifest;
use lastbackend_core::model::{
    ContainerStatus, DriverState, NodeDrivers, NodeInfo, NodeResources, PodNetwork, PodStatus,
    State, Status, Template, VolumeStatus,
};
use lastbackend_core::units::{Cpu, Ram};

use super::reconcile::Reconciler;
use super::{Drivers, LABEL_CONTAINER, plan};
use crate::cri::{ContainerInfo, ContainerState};

/// The machine: hostname, OS, kernel, architecture and addresses.
pub(crate) fn node_info(external_ip: Option<IpAddr>) -> NodeInfo {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let distro = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".to_owned());
    let ip = external_ip.or_else(default_route_address);
    NodeInfo {
        hostname: read("/proc/sys/kernel/hostname"),
        architecture: std::env::consts::ARCH.to_owned(),
        os_type: std::env::consts::OS.to_owned(),
        os_name: format!("{distro} {}", read("/proc/sys/kernel/osrelease")),
        external_ip: ip,
        internal_ip: ip,
        subnet: None,
    }
}

/// The address the kernel picks towards the outside: connecting a UDP
/// socket sends nothing but chooses the source address of the default route.
fn default_route_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// Memory from `/proc/meminfo`, cores × 1000 millicores, the pods limit.
pub(crate) fn capacity(pods: u32) -> NodeResources {
    let ram_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    NodeResources {
        pods,
        containers: 0,
        ram: Ram::from_bytes(ram_kib * 1024),
        cpu: Cpu::from_millis(cores * 1000),
        storage: Ram::default(),
    }
}

/// Each driver's name, version and health.
pub(crate) async fn drivers(drivers: &Drivers) -> NodeDrivers {
    let state = |kind: &str| DriverState {
        kind: kind.to_owned(),
        ready: true,
        ..DriverState::default()
    };
    let mut cri = state(drivers.cri.name());
    match drivers.cri.version().await {
        Ok(v) => cri.version = v,
        Err(e) => {
            cri.ready = false;
            cri.message = e.to_string();
        }
    }
    NodeDrivers {
        cri,
        csi: state(drivers.csi.name()),
        cni: drivers
            .cni
            .as_ref()
            .map_or_else(DriverState::default, |d| state(d.name())),
        cpi: drivers
            .cpi
            .as_ref()
            .map_or_else(DriverState::default, |d| state(d.name())),
    }
}

/// The state of one container as the API shows it.
fn container_status(c: &ContainerInfo, restarts: u32, ready: bool) -> ContainerStatus {
    let (state, exit_code) = match c.state {
        ContainerState::Created | ContainerState::Restarting => (State::Provision, None),
        ContainerState::Running | ContainerState::Paused => (State::Ready, None),
        ContainerState::Exited(0) => (State::Destroyed, Some(0)),
        ContainerState::Exited(code) => (State::Error, Some(code)),
        ContainerState::Dead => (State::Error, None),
    };
    ContainerStatus {
        id: c.id.clone(),
        image: c.image.clone(),
        state,
        message: c.error.clone(),
        exit_code,
        restarts: c.restart_count + restarts,
        ready: ready && c.state.is_running(),
        started: c.started,
    }
}

impl Reconciler {
    /// A pod's status from its observed containers.
    pub(crate) fn pod_status(
        &self,
        link: &str,
        template: &Template,
        host: Option<IpAddr>,
    ) -> PodStatus {
        let have = self
            .observed
            .get(link)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut containers = BTreeMap::new();
        for t in &template.containers {
            let Some(c) = have
                .iter()
                .find(|c| c.labels.get(LABEL_CONTAINER) == Some(&t.name))
            else {
                continue;
            };
            let restarts = self.restarts.get(&c.id).map_or(0, |r| r.count);
            let ready = self.probes.ready(&c.id, t);
            containers.insert(t.name.clone(), container_status(c, restarts, ready));
        }
        let complete =
            !template.containers.is_empty() && containers.len() == template.containers.len();
        let running = complete && containers.values().all(|c| c.state == State::Ready);
        let ready = running && containers.values().all(|c| c.ready);
        let status = if let Some(message) = self.errors.get(link) {
            Status::with_message(State::Error, message.clone())
        } else if running {
            Status::new(State::Ready)
        } else if let Some(failed) = containers.values().find(|c| c.state == State::Error) {
            let message = match failed.exit_code {
                Some(code) => format!("container exited with code {code}"),
                None => failed.message.clone(),
            };
            Status::with_message(State::Error, message)
        } else {
            Status::new(State::Provision)
        };
        let first = template.containers.first().and_then(|t| {
            have.iter()
                .find(|c| c.labels.get(LABEL_CONTAINER) == Some(&t.name))
        });
        PodStatus {
            status,
            running,
            ready,
            network: PodNetwork {
                host_ip: host,
                pod_ip: first.and_then(|c| c.ip),
            },
            containers,
        }
    }

    /// The full report for the cluster's pods and volumes.
    pub(crate) fn report(
        &self,
        manifest: &NodeManifest,
        capacity: NodeResources,
        drivers: NodeDrivers,
        host: Option<IpAddr>,
    ) -> NodeStatusReport {
        let mut allocated = NodeResources::default();
        let (mut ram, mut cpu) = (0, 0);
        let pods = manifest
            .pods
            .iter()
            .map(|(link, spec)| {
                if spec.state.destroy {
                    let gone = self.observed.get(link).is_none_or(Vec::is_empty);
                    let state = if gone {
                        State::Destroyed
                    } else {
                        State::Destroy
                    };
                    let status = PodStatus {
                        status: Status::new(state),
                        ..PodStatus::default()
                    };
                    return (link.clone(), status);
                }
                let status = self.pod_status(link, &spec.template, host);
                if status.running {
                    allocated.pods += 1;
                    allocated.containers += u32::try_from(status.containers.len()).unwrap_or(0);
                    let requests = spec.template.requests();
                    ram += requests.ram.map_or(0, Ram::bytes);
                    cpu += requests.cpu.map_or(0, Cpu::millis);
                }
                (link.clone(), status)
            })
            .collect();
        allocated.ram = Ram::from_bytes(ram);
        allocated.cpu = Cpu::from_millis(cpu);
        let volumes = manifest
            .volumes
            .iter()
            .map(|(link, spec)| {
                let path = self.volumes.get(&plan::persistent_volume_id(link));
                let status = match (spec.state.destroy, path) {
                    (true, Some(_)) => VolumeStatus {
                        status: Status::new(State::Destroy),
                        ..VolumeStatus::default()
                    },
                    (true, None) => VolumeStatus {
                        status: Status::new(State::Destroyed),
                        ..VolumeStatus::default()
                    },
                    (false, Some(path)) => VolumeStatus {
                        status: Status::new(State::Ready),
                        path: path.display().to_string(),
                        ready: true,
                    },
                    (false, None) => VolumeStatus {
                        status: Status::with_message(State::Provision, "not yet created"),
                        ..VolumeStatus::default()
                    },
                };
                (link.clone(), status)
            })
            .collect();
        NodeStatusReport {
            capacity,
            allocated,
            drivers,
            pods,
            volumes,
            subnet: self.network.reported.clone(),
        }
    }
}
