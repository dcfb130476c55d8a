//! From a pod's template to what the runtime creates: resolved environment,
//! the files of secret and config volumes, container specs with their
//! labels, and the hash that tells a changed pod from an unchanged one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use lastbackend_core::manifest::internal::NodeManifest;
use lastbackend_core::model::{EnvSource, FilesRef, Kind, SelfLink, Template, VolumeSource};

use super::{LABEL_CONTAINER, LABEL_HASH, LABEL_NODE, LABEL_POD, LABEL_STATIC};
use crate::cii::RegistryAuth;
use crate::cri::{Bind, ContainerSpec, NetworkMode};
use crate::csi::VolumeFile;

/// A pod the agent should run: from the cluster's manifest or a static file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Wanted {
    /// Its selflink (`static:<name>` for a static pod).
    pub(crate) link: String,
    /// What it runs.
    pub(crate) template: Template,
    /// From the manifest directory: never reported.
    pub(crate) is_static: bool,
}

/// Everything resolved for one pod: what to create and what it mounts.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Stored on every container; a different hash means a changed pod.
    pub(crate) hash: String,
    /// Each container's resolved environment, in template order.
    pub(crate) env: Vec<BTreeMap<String, String>>,
    /// Volumes of files: template volume name → (CSI id, files).
    pub(crate) files: BTreeMap<String, (String, Vec<VolumeFile>)>,
    /// Persistent volumes: template volume name → (CSI id, sub-path).
    pub(crate) persistent: BTreeMap<String, (String, Option<String>)>,
    /// Registry credentials for each image that names a secret.
    pub(crate) auth: BTreeMap<String, RegistryAuth>,
}

/// Keeps what a file system and Docker accept in a name.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The CSI id of a pod's volume of files.
pub(crate) fn files_volume_id(pod: &str, volume: &str) -> String {
    format!("{}{}", files_volume_prefix(pod), sanitize(volume))
}

/// The prefix of every CSI id of a pod's volumes of files.
pub(crate) fn files_volume_prefix(pod: &str) -> String {
    format!("pod-{}-", sanitize(pod))
}

/// The CSI id of a persistent volume.
pub(crate) fn persistent_volume_id(link: &str) -> String {
    format!("pv-{}", sanitize(link))
}

/// The runtime name of one container of a pod:
/// `lb-<namespace>-<service>-<pod>-<container>`.
pub(crate) fn container_name(pod: &str, container: &str) -> String {
    let base = match SelfLink::parse(Kind::Pod, pod) {
        Ok(SelfLink::Pod {
            namespace,
            service,
            name,
            ..
        }) => format!("{namespace}-{service}-{name}"),
        _ => pod.replace(':', "-"),
    };
    sanitize(&format!("lb-{base}-{container}"))
}

/// The namespace of a cluster pod, where its secrets and configs live.
fn namespace(link: &str) -> Option<String> {
    SelfLink::parse(Kind::Pod, link)
        .ok()
        .and_then(|l| l.namespace_name().map(str::to_owned))
}

/// FNV-1a: stable across builds, unlike std's hasher, so a new agent binary
/// recognises the containers an older one made.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Resolves a pod against the manifest's secrets and configs; the error is
/// the pod's status message.
pub(crate) fn plan(wanted: &Wanted, manifest: &NodeManifest) -> Result<Plan, String> {
    let ns = namespace(&wanted.link);
    let link = |kind: Kind, name: &str| match &ns {
        Some(ns) => SelfLink::namespaced(kind, ns.clone(), name).to_string(),
        None => name.to_owned(),
    };
    let secret = |name: &str| {
        manifest
            .secrets
            .get(&link(Kind::Secret, name))
            .map(|s| &s.data)
            .ok_or_else(|| format!("secret {name} not found"))
    };
    let config = |name: &str| {
        manifest
            .configs
            .get(&link(Kind::Config, name))
            .map(|c| &c.data)
            .ok_or_else(|| format!("config {name} not found"))
    };
    let mut env = Vec::new();
    let mut auth = BTreeMap::new();
    for container in &wanted.template.containers {
        let mut vars = BTreeMap::new();
        for var in &container.env {
            let value = match &var.source {
                EnvSource::Value(v) => v.clone(),
                EnvSource::Secret(r) => secret(&r.name)?.get(&r.key).cloned().ok_or_else(|| {
                    format!("env {}: secret {} has no key {}", var.name, r.name, r.key)
                })?,
                EnvSource::Config(r) => config(&r.name)?.get(&r.key).cloned().ok_or_else(|| {
                    format!("env {}: config {} has no key {}", var.name, r.name, r.key)
                })?,
            };
            vars.insert(var.name.clone(), value);
        }
        env.push(vars);
        if let Some(r) = &container.image.secret {
            let data = secret(&r.name)?;
            let field = |key: &str| data.get(key).cloned().unwrap_or_default();
            auth.insert(
                container.image.name.clone(),
                RegistryAuth {
                    server: data.get("server").cloned(),
                    username: field("username"),
                    password: field("password"),
                },
            );
        }
    }
    let mut files = BTreeMap::new();
    let mut persistent = BTreeMap::new();
    for volume in &wanted.template.volumes {
        let id = files_volume_id(&wanted.link, &volume.name);
        match &volume.source {
            VolumeSource::Secret(r) => {
                files.insert(
                    volume.name.clone(),
                    (id, to_files(r, secret(&r.name)?, 0o400)?),
                );
            }
            VolumeSource::Config(r) => {
                files.insert(
                    volume.name.clone(),
                    (id, to_files(r, config(&r.name)?, 0o444)?),
                );
            }
            VolumeSource::Volume(r) => {
                let id = persistent_volume_id(&link(Kind::Volume, &r.name));
                persistent.insert(volume.name.clone(), (id, r.subpath.clone()));
            }
        }
    }
    // The template and the resolved environment: a changed secret value
    // read into env needs new containers, a changed file does not.
    let identity = serde_json::to_vec(&(&wanted.template, &env)).map_err(|e| e.to_string())?;
    Ok(Plan {
        hash: format!("{:016x}", fnv(&identity)),
        env,
        files,
        persistent,
        auth,
    })
}

/// The files of a secret or config volume: every key, or the bound ones.
fn to_files(
    r: &FilesRef,
    data: &BTreeMap<String, String>,
    mode: u32,
) -> Result<Vec<VolumeFile>, String> {
    let file = |key: &str, path: &str| {
        data.get(key)
            .map(|value| VolumeFile {
                path: path.to_owned(),
                data: Bytes::from(value.clone()),
                mode,
            })
            .ok_or_else(|| format!("volume {}: no key {key}", r.name))
    };
    if r.binds.is_empty() {
        data.keys().map(|k| file(k, k)).collect()
    } else {
        r.binds.iter().map(|(k, path)| file(k, path)).collect()
    }
}

/// What the runtime needs besides the plan to create a pod's containers.
pub(crate) struct Host<'a> {
    pub(crate) node: &'a str,
    /// The node's pod network, when there is one.
    pub(crate) network: Option<&'a str>,
    pub(crate) resolvers: &'a [SocketAddr],
}

/// The container specs of a pod, first (network owner) first. `paths` maps
/// template volume names to host paths.
pub(crate) fn specs(
    wanted: &Wanted,
    plan: &Plan,
    paths: &BTreeMap<String, PathBuf>,
    host: &Host<'_>,
) -> Vec<ContainerSpec> {
    let containers = &wanted.template.containers;
    let Some(first) = containers.first() else {
        return Vec::new();
    };
    let first_name = container_name(&wanted.link, &first.name);
    containers
        .iter()
        .zip(&plan.env)
        .enumerate()
        .map(|(i, (c, env))| {
            let mut spec = ContainerSpec::new(container_name(&wanted.link, &c.name), &c.image.name);
            spec.command.clone_from(&c.exec.command);
            spec.entrypoint.clone_from(&c.exec.entrypoint);
            spec.args.clone_from(&c.exec.args);
            spec.workdir.clone_from(&c.exec.workdir);
            spec.env.clone_from(env);
            spec.labels = BTreeMap::from([
                (LABEL_NODE.to_owned(), host.node.to_owned()),
                (LABEL_POD.to_owned(), wanted.link.clone()),
                (LABEL_CONTAINER.to_owned(), c.name.clone()),
                (LABEL_HASH.to_owned(), plan.hash.clone()),
            ]);
            if wanted.is_static {
                spec.labels
                    .insert(LABEL_STATIC.to_owned(), "true".to_owned());
            }
            spec.memory = c.resources.limits.ram.map(|r| r.bytes());
            spec.cpu_millis = c.resources.limits.cpu.map(|c| c.millis());
            spec.restart = c.restart.policy;
            spec.privileged = c.security.privileged;
            spec.binds = c
                .volumes
                .iter()
                .filter_map(|m| {
                    let path = paths.get(&m.name)?;
                    let path = match &m.sub_path {
                        Some(sub) => path.join(sub.trim_start_matches('/')),
                        None => path.clone(),
                    };
                    Some(Bind {
                        host: path,
                        container: m.path.clone(),
                        read_only: m.mode.as_deref() == Some("ro")
                            || plan.files.contains_key(&m.name),
                    })
                })
                .collect();
            if i == 0 {
                // The namespace owner publishes every container's ports and
                // holds the resolver settings: Docker refuses them on a
                // container that joins another's namespace.
                spec.network = host
                    .network
                    .map_or(NetworkMode::Default, |n| NetworkMode::Network(n.to_owned()));
                spec.ports = containers.iter().flat_map(|c| c.ports.clone()).collect();
                spec.dns = host
                    .resolvers
                    .iter()
                    .filter(|a| a.port() == 53)
                    .map(|a| a.ip().to_string())
                    .chain(containers.iter().flat_map(|c| c.dns.server.clone()))
                    .collect();
                spec.dns_search = containers
                    .iter()
                    .flat_map(|c| c.dns.search.clone())
                    .collect();
                spec.extra_hosts = containers
                    .iter()
                    .flat_map(|c| c.extra_hosts.clone())
                    .collect();
            } else {
                spec.network = NetworkMode::Container(first_name.clone());
            }
            spec
        })
        .collect()
}
