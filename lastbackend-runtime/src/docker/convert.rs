//! Our types to Docker's and back; pure, so unit tests cover the mapping.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, HostConfig,
    PortBinding, RestartPolicy as DockerRestart, RestartPolicyNameEnum,
};
use chrono::{DateTime, Utc};
use lastbackend_core::model::RestartPolicy;
use lastbackend_core::units::Protocol;

use crate::{ContainerInfo, ContainerSpec, ContainerState, Error, NetworkMode, Result};

/// The create request for `spec`; bad input is [`Error::Invalid`] naming
/// the field.
pub(super) fn create_body(spec: &ContainerSpec) -> Result<ContainerCreateBody> {
    if spec.image.is_empty() {
        return Err(invalid("image", "empty; name an image reference"));
    }
    if let NetworkMode::Container(owner) = &spec.network {
        // Docker refuses these on a container that joins another's network
        // namespace: they belong to the namespace's owner.
        for (field, set) in [
            ("dns", !spec.dns.is_empty()),
            ("dns_search", !spec.dns_search.is_empty()),
            ("extra_hosts", !spec.extra_hosts.is_empty()),
            ("ports", !spec.ports.is_empty()),
        ] {
            if set {
                return Err(invalid(
                    field,
                    format!("set it on container {owner}, whose network namespace this one joins"),
                ));
            }
        }
    }
    let mut env = Vec::with_capacity(spec.env.len());
    for (key, value) in &spec.env {
        if key.is_empty() || key.contains('=') {
            return Err(invalid(
                "env",
                format!("name {key:?} is empty or holds '='"),
            ));
        }
        env.push(format!("{key}={value}"));
    }
    // Args extend the command. Without a command they replace the image's
    // CMD (as Kubernetes' args do): Docker cannot append to a CMD it owns.
    let cmd: Vec<String> = spec.command.iter().chain(&spec.args).cloned().collect();
    let (exposed, bindings) = ports(spec);
    let binds = spec
        .binds
        .iter()
        .map(|bind| {
            if !bind.host.is_absolute() {
                return Err(invalid(
                    "binds",
                    format!("host path {} is not absolute", bind.host.display()),
                ));
            }
            if !bind.container.starts_with('/') {
                return Err(invalid(
                    "binds",
                    format!("container path {:?} is not absolute", bind.container),
                ));
            }
            let mode = if bind.read_only { ":ro" } else { "" };
            Ok(format!("{}:{}{mode}", bind.host.display(), bind.container))
        })
        .collect::<Result<Vec<_>>>()?;
    let memory = spec
        .memory
        .map(|bytes| i64::try_from(bytes).map_err(|_| invalid("memory", "too large")))
        .transpose()?;
    let nano_cpus = spec
        .cpu_millis
        .map(|millis| {
            millis
                .checked_mul(1_000_000)
                .and_then(|nanos| i64::try_from(nanos).ok())
                .ok_or_else(|| invalid("cpu", "too large"))
        })
        .transpose()?;
    let host_config = HostConfig {
        binds: non_empty(binds),
        memory,
        nano_cpus,
        restart_policy: Some(restart_policy(spec.restart)),
        privileged: Some(spec.privileged),
        network_mode: network_mode(&spec.network),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        dns: non_empty(spec.dns.clone()),
        dns_search: non_empty(spec.dns_search.clone()),
        extra_hosts: non_empty(spec.extra_hosts.clone()),
        ..HostConfig::default()
    };
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: non_empty(cmd),
        entrypoint: non_empty(spec.entrypoint.clone()),
        working_dir: spec.workdir.clone(),
        env: non_empty(env),
        labels: Some(spec.labels.clone().into_iter().collect()),
        exposed_ports: non_empty(exposed),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    })
}

/// Exposed ports and host bindings; `*` is both protocols, a mapping with
/// neither host address nor port is exposed but not published.
fn ports(spec: &ContainerSpec) -> (Vec<String>, HashMap<String, Option<Vec<PortBinding>>>) {
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &spec.ports {
        let protocols: &[&str] = match port.protocol {
            Protocol::Tcp => &["tcp"],
            Protocol::Udp => &["udp"],
            Protocol::Both => &["tcp", "udp"],
        };
        for protocol in protocols {
            let key = format!("{}/{protocol}", port.container_port);
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            if port.host_ip.is_none() && port.host_port.is_none() {
                continue;
            }
            let binding = PortBinding {
                host_ip: port.host_ip.map(|ip| ip.to_string()),
                host_port: Some(port.host_port.map(|p| p.to_string()).unwrap_or_default()),
            };
            bindings
                .entry(key)
                .or_default()
                .get_or_insert_with(Vec::new)
                .push(binding);
        }
    }
    (exposed, bindings)
}

fn restart_policy(policy: RestartPolicy) -> DockerRestart {
    let name = match policy {
        RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
        RestartPolicy::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
        RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
        RestartPolicy::Never => RestartPolicyNameEnum::NO,
    };
    DockerRestart {
        name: Some(name),
        // Zero is unlimited; the agent bounds attempts itself.
        maximum_retry_count: None,
    }
}

fn network_mode(mode: &NetworkMode) -> Option<String> {
    match mode {
        NetworkMode::Default => None,
        NetworkMode::Network(name) => Some(name.clone()),
        NetworkMode::Container(id) => Some(format!("container:{id}")),
        NetworkMode::Host => Some("host".into()),
        NetworkMode::None => Some("none".into()),
    }
}

/// What [`Cri::inspect`](crate::Cri::inspect) reports.
pub(super) fn container_info(inspect: ContainerInspectResponse) -> ContainerInfo {
    let state = inspect.state.unwrap_or_default();
    let config = inspect.config.unwrap_or_default();
    let mode = inspect
        .host_config
        .and_then(|host| host.network_mode)
        .unwrap_or_default();
    let networks = inspect
        .network_settings
        .and_then(|settings| settings.networks)
        .unwrap_or_default();
    // The address on the network it was created on; `default` is `bridge`.
    let own = match mode.as_str() {
        "" | "default" => Some("bridge"),
        mode if mode.contains(':') || mode == "host" || mode == "none" => None,
        mode => Some(mode),
    };
    let ip = own
        .and_then(|name| networks.get(name))
        .and_then(|endpoint| endpoint.ip_address.as_deref())
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    ContainerInfo {
        id: inspect.id.unwrap_or_default(),
        name: inspect
            .name
            .map(|name| name.trim_start_matches('/').to_owned())
            .unwrap_or_default(),
        image: config.image.unwrap_or_default(),
        labels: labels(config.labels),
        state: match state.status {
            Some(ContainerStateStatusEnum::RUNNING) => ContainerState::Running,
            Some(ContainerStateStatusEnum::PAUSED) => ContainerState::Paused,
            Some(ContainerStateStatusEnum::RESTARTING) => ContainerState::Restarting,
            Some(ContainerStateStatusEnum::EXITED) => {
                ContainerState::Exited(state.exit_code.unwrap_or_default())
            }
            Some(ContainerStateStatusEnum::DEAD | ContainerStateStatusEnum::REMOVING) => {
                ContainerState::Dead
            }
            _ => ContainerState::Created,
        },
        error: state.error.unwrap_or_default(),
        restart_count: inspect
            .restart_count
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or_default(),
        started: state.started_at.as_deref().and_then(timestamp),
        finished: state.finished_at.as_deref().and_then(timestamp),
        ip,
    }
}

/// Docker's RFC 3339 instants; its zero time (`0001-01-01…`) means never.
pub(super) fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    let at = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    (at.timestamp() > 0).then_some(at)
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// Labels as the traits carry them.
pub(super) fn labels(map: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    map.unwrap_or_default().into_iter().collect()
}

pub(super) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests;
