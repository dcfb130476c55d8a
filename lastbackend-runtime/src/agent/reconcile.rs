//! One level-triggered pass: list the node's containers, then create the
//! missing pods, recreate the changed ones, restart the stopped ones the
//! policy wants running, and remove the rest.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lastbackend_core::manifest::internal::NodeManifest;
use lastbackend_core::model::RestartPolicy;
use tokio::time::Instant;

use super::plan::{self, Host, Plan, Wanted};
use super::probe::Probes;
use super::{AgentSettings, Drivers, LABEL_CONTAINER, LABEL_HASH, LABEL_NODE, LABEL_POD};
use super::{LABEL_STATIC, network::Network};
use futures::StreamExt;

use crate::cri::{ContainerFilter, ContainerInfo, ContainerState, Cri};
use crate::csi::VolumeFile;

/// Restarts the agent made of one container, with the crash-loop backoff.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Restarts {
    /// Restarts so far (reported).
    pub(crate) count: u32,
    /// Restarts in the current crash loop (sets the delay).
    streak: u32,
    /// Not before then.
    not_before: Option<Instant>,
}

/// How many pods are removed at once.
const REMOVALS: usize = 8;

/// Stops and removes containers in reverse order (the pod's network owner
/// last), ignoring those already gone.
async fn stop_and_remove(cri: &dyn Cri, timeout: Duration, containers: &[ContainerInfo]) {
    for c in containers.iter().rev() {
        let _ = cri.stop(&c.id, timeout).await;
        if let Err(e) = cri.remove(&c.id, true).await
            && !e.is_not_found()
        {
            tracing::warn!(container = %c.name, error = %e, "cannot remove container");
        }
    }
}

/// The longest wait between restarts of a crash-looping container.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl Restarts {
    /// The delay before the next restart: none for the first, then the base
    /// doubling up to [`MAX_BACKOFF`].
    fn delay(&self, base: Duration) -> Duration {
        match self.streak {
            0 => Duration::ZERO,
            n => base.saturating_mul(1 << (n - 1).min(16)).min(MAX_BACKOFF),
        }
    }
}

/// What the agent knows between passes.
pub(crate) struct Reconciler {
    pub(crate) drivers: Drivers,
    pub(crate) settings: Arc<AgentSettings>,
    pub(crate) network: Network,
    /// Volumes of files written: CSI id → (the files, host path).
    files: HashMap<String, (Vec<VolumeFile>, PathBuf)>,
    /// Persistent volumes made: CSI id → host path.
    pub(crate) volumes: BTreeMap<String, PathBuf>,
    /// Agent restarts by container id.
    pub(crate) restarts: HashMap<String, Restarts>,
    /// Why a pod could not be run, by selflink.
    pub(crate) errors: BTreeMap<String, String>,
    /// The node's containers at the end of the last pass, by pod selflink.
    pub(crate) observed: BTreeMap<String, Vec<ContainerInfo>>,
    /// The probe runners.
    pub(crate) probes: Probes,
}

impl Reconciler {
    pub(crate) fn new(drivers: Drivers, settings: Arc<AgentSettings>, probes: Probes) -> Self {
        Self {
            drivers,
            settings,
            network: Network::default(),
            files: HashMap::new(),
            volumes: BTreeMap::new(),
            restarts: HashMap::new(),
            errors: BTreeMap::new(),
            observed: BTreeMap::new(),
            probes,
        }
    }

    /// One pass towards `wanted` (the cluster's pods when `manifest` is
    /// known, and the static ones); returns when the next is due at the
    /// latest (a restart waiting out its backoff).
    pub(crate) async fn reconcile(
        &mut self,
        manifest: Option<&NodeManifest>,
        wanted: &[Wanted],
    ) -> Option<Instant> {
        let empty = NodeManifest::default();
        let m = manifest.unwrap_or(&empty);
        if let Some(manifest) = manifest {
            self.network
                .sync(&self.drivers, &self.settings, manifest)
                .await;
            self.sync_volumes(manifest).await;
        }
        let mut actual = match self.list().await {
            Ok(actual) => actual,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list containers; retrying next pass");
                return None;
            }
        };
        let mut wake = None;
        for pod in wanted {
            let have = actual.remove(&pod.link).unwrap_or_default();
            if let Some(at) = self.pod(pod, have, m).await {
                wake = Some(wake.map_or(at, |w: Instant| w.min(at)));
            }
        }
        // What is left belongs to no wanted pod. Cluster pods go only once a
        // manifest says what the cluster wants; static ones at any time.
        let doomed: Vec<(String, Vec<ContainerInfo>)> = actual
            .into_iter()
            .filter(|(_, containers)| {
                manifest.is_some()
                    || containers
                        .iter()
                        .any(|c| c.labels.contains_key(LABEL_STATIC))
            })
            .collect();
        // Pods go in parallel: each stop may wait out its timeout.
        let (cri, timeout) = (self.drivers.cri.clone(), self.settings.stop_timeout);
        futures::stream::iter(&doomed)
            .for_each_concurrent(REMOVALS, |(link, containers)| {
                tracing::info!(pod = %link, "removing a pod the node should not run");
                stop_and_remove(&*cri, timeout, containers)
            })
            .await;
        for (link, containers) in &doomed {
            self.forget(containers);
            self.remove_files(link).await;
        }
        if manifest.is_some() {
            self.sweep_files(wanted).await;
        }
        self.observed
            .retain(|link, _| wanted.iter().any(|w| &w.link == link));
        self.errors
            .retain(|link, _| wanted.iter().any(|w| &w.link == link));
        wake
    }

    /// The node's containers by pod selflink.
    async fn list(&self) -> crate::Result<BTreeMap<String, Vec<ContainerInfo>>> {
        let filter = ContainerFilter {
            labels: BTreeMap::from([(LABEL_NODE.to_owned(), self.settings.node.clone())]),
            all: true,
        };
        let mut pods: BTreeMap<String, Vec<ContainerInfo>> = BTreeMap::new();
        for c in self.drivers.cri.list(&filter).await? {
            if let Some(link) = c.labels.get(LABEL_POD) {
                pods.entry(link.clone()).or_default().push(c);
            }
        }
        Ok(pods)
    }

    /// Brings one pod in line; returns when a restart is due.
    async fn pod(
        &mut self,
        pod: &Wanted,
        have: Vec<ContainerInfo>,
        manifest: &NodeManifest,
    ) -> Option<Instant> {
        let plan = match plan::plan(pod, manifest) {
            Ok(plan) => plan,
            Err(message) => {
                // Without its secrets the pod cannot be (re)made; running
                // containers are left alone until they can.
                self.errors.insert(pod.link.clone(), message);
                self.observed.insert(pod.link.clone(), have);
                return None;
            }
        };
        let paths = match self.mounts(&plan).await {
            Ok(paths) => paths,
            Err(message) => {
                self.errors.insert(pod.link.clone(), message);
                self.observed.insert(pod.link.clone(), have);
                return None;
            }
        };
        let same = !have.is_empty()
            && have.len() == pod.template.containers.len()
            && pod.template.containers.iter().all(|c| {
                have.iter().any(|h| {
                    h.labels.get(LABEL_CONTAINER) == Some(&c.name)
                        && h.labels.get(LABEL_HASH) == Some(&plan.hash)
                })
            });
        if same {
            self.errors.remove(&pod.link);
            let wake = self.restart_stopped(pod, &have).await;
            let have = self.refresh(have).await;
            self.observed.insert(pod.link.clone(), have);
            return wake;
        }
        if !have.is_empty() {
            tracing::info!(pod = %pod.link, "pod spec changed; recreating its containers");
            self.remove_containers(&have).await;
        }
        match self.create(pod, &plan, &paths, manifest).await {
            Ok(created) => {
                self.errors.remove(&pod.link);
                self.observed.insert(pod.link.clone(), created);
            }
            Err(message) => {
                tracing::warn!(pod = %pod.link, %message, "cannot create pod");
                self.errors.insert(pod.link.clone(), message);
                self.observed.insert(pod.link.clone(), Vec::new());
            }
        }
        None
    }

    /// Writes the pod's volumes of files (when changed) and makes its
    /// persistent volumes; returns host paths by template volume name.
    async fn mounts(&mut self, plan: &Plan) -> Result<BTreeMap<String, PathBuf>, String> {
        let mut paths = BTreeMap::new();
        for (name, (id, files)) in &plan.files {
            let path = match self.files.get(id) {
                Some((written, path)) if written == files => path.clone(),
                _ => {
                    let path = self
                        .drivers
                        .csi
                        .write_files(id, files)
                        .await
                        .map_err(|e| format!("volume {name}: {e}"))?;
                    self.files.insert(id.clone(), (files.clone(), path.clone()));
                    path
                }
            };
            paths.insert(name.clone(), path);
        }
        for (name, (id, _)) in &plan.persistent {
            let path = match self.volumes.get(id) {
                Some(path) => path.clone(),
                None => {
                    let path = self
                        .drivers
                        .csi
                        .create(id)
                        .await
                        .map_err(|e| format!("volume {name}: {e}"))?;
                    self.volumes.insert(id.clone(), path.clone());
                    path
                }
            };
            paths.insert(name.clone(), path);
        }
        Ok(paths)
    }

    /// Pulls missing images, then creates and starts the containers in
    /// order; on failure removes what it made.
    async fn create(
        &mut self,
        pod: &Wanted,
        plan: &Plan,
        paths: &BTreeMap<String, PathBuf>,
        manifest: &NodeManifest,
    ) -> Result<Vec<ContainerInfo>, String> {
        let host = Host {
            node: &self.settings.node,
            network: self.network.name(),
            resolvers: &manifest.resolvers,
        };
        let specs = plan::specs(pod, plan, paths, &host);
        let mut made = Vec::new();
        let result = async {
            for spec in &specs {
                if self.drivers.cii.inspect(&spec.image).await.is_err() {
                    let auth = plan.auth.get(&spec.image);
                    self.drivers
                        .cii
                        .pull(&spec.image, auth)
                        .await
                        .map_err(|e| format!("pull {}: {e}", spec.image))?;
                }
                let id = match self.drivers.cri.create(spec).await {
                    Ok(id) => id,
                    // A container left by a crashed pass: replace it.
                    Err(e) if e.is_exists() => {
                        let _ = self.drivers.cri.remove(&spec.name, true).await;
                        self.drivers
                            .cri
                            .create(spec)
                            .await
                            .map_err(|e| e.to_string())?
                    }
                    Err(e) => return Err(format!("create {}: {e}", spec.name)),
                };
                made.push(id.clone());
                self.drivers
                    .cri
                    .start(&id)
                    .await
                    .map_err(|e| format!("start {}: {e}", spec.name))?;
            }
            Ok(())
        }
        .await;
        if let Err(message) = result {
            for id in &made {
                let _ = self.drivers.cri.remove(id, true).await;
            }
            return Err(message);
        }
        let mut created = Vec::new();
        for id in &made {
            created.push(
                self.drivers
                    .cri
                    .inspect(id)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        tracing::info!(pod = %pod.link, containers = made.len(), "pod started");
        Ok(created)
    }

    /// Starts the stopped containers the restart policy wants running,
    /// each after its backoff; returns when the next one is due.
    async fn restart_stopped(&mut self, pod: &Wanted, have: &[ContainerInfo]) -> Option<Instant> {
        let mut wake = None;
        let now = Instant::now();
        for c in have {
            let ContainerState::Exited(code) = c.state else {
                if c.state.is_running()
                    && let Some(r) = self.restarts.get_mut(&c.id)
                    && c.started.is_some_and(|s| {
                        (chrono::Utc::now() - s).to_std().unwrap_or_default() > MAX_BACKOFF
                    })
                {
                    // Ran long enough: the crash loop is over.
                    r.streak = 0;
                }
                continue;
            };
            let Some(template) = pod
                .template
                .containers
                .iter()
                .find(|t| c.labels.get(LABEL_CONTAINER) == Some(&t.name))
            else {
                continue;
            };
            let restarts = self.restarts.entry(c.id.clone()).or_default();
            let wanted = match template.restart.policy {
                RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
                RestartPolicy::OnFailure => {
                    code != 0
                        && (template.restart.attempt == 0
                            || restarts.count + c.restart_count < template.restart.attempt)
                }
                RestartPolicy::Never => false,
            };
            if !wanted {
                continue;
            }
            let due = *restarts
                .not_before
                .get_or_insert(now + restarts.delay(self.settings.restart_backoff));
            if due > now {
                wake = Some(wake.map_or(due, |w: Instant| w.min(due)));
                continue;
            }
            tracing::info!(pod = %pod.link, container = %c.name, code, "restarting a stopped container");
            match self.drivers.cri.start(&c.id).await {
                Ok(()) => {
                    restarts.count += 1;
                    restarts.streak += 1;
                    restarts.not_before = None;
                    self.probes.restarted(&c.id);
                }
                Err(e) => tracing::warn!(container = %c.name, error = %e, "restart failed"),
            }
        }
        wake
    }

    /// The containers as they are now, for those this pass may have changed.
    async fn refresh(&self, have: Vec<ContainerInfo>) -> Vec<ContainerInfo> {
        let mut fresh = Vec::with_capacity(have.len());
        for c in have {
            if c.state.is_running() && c.ip.is_some() {
                fresh.push(c);
                continue;
            }
            fresh.push(self.drivers.cri.inspect(&c.id).await.unwrap_or(c));
        }
        fresh
    }

    /// Stops and removes containers, the pod's network owner last.
    async fn remove_containers(&mut self, containers: &[ContainerInfo]) {
        stop_and_remove(&*self.drivers.cri, self.settings.stop_timeout, containers).await;
        self.forget(containers);
    }

    /// Drops what the agent kept about removed containers.
    fn forget(&mut self, containers: &[ContainerInfo]) {
        for c in containers {
            self.restarts.remove(&c.id);
            self.probes.forget(&c.id);
        }
    }

    /// Removes a gone pod's volumes of files.
    async fn remove_files(&mut self, link: &str) {
        let prefix = plan::files_volume_prefix(link);
        let ids: Vec<String> = self
            .files
            .keys()
            .filter(|id| id.starts_with(&prefix))
            .cloned()
            .collect();
        for id in ids {
            if self.drivers.csi.remove(&id).await.is_ok() {
                self.files.remove(&id);
            }
        }
    }

    /// Removes volumes of files whose pod is gone (left by an earlier run).
    async fn sweep_files(&mut self, wanted: &[Wanted]) {
        let Ok(ids) = self.drivers.csi.list().await else {
            return;
        };
        let prefixes: Vec<String> = wanted
            .iter()
            .map(|w| plan::files_volume_prefix(&w.link))
            .collect();
        for id in ids {
            if id.starts_with("pod-")
                && !prefixes.iter().any(|p| id.starts_with(p.as_str()))
                && self.drivers.csi.remove(&id).await.is_ok()
            {
                self.files.remove(&id);
            }
        }
    }

    /// Makes the manifest's persistent volumes and removes those it asks to
    /// destroy; volumes merely absent keep their data.
    async fn sync_volumes(&mut self, manifest: &NodeManifest) {
        for (link, spec) in &manifest.volumes {
            let id = plan::persistent_volume_id(link);
            if spec.state.destroy {
                if self.drivers.csi.remove(&id).await.is_ok() {
                    self.volumes.remove(&id);
                }
            } else if !self.volumes.contains_key(&id) {
                match self.drivers.csi.create(&id).await {
                    Ok(path) => {
                        self.volumes.insert(id, path);
                    }
                    Err(e) => tracing::warn!(volume = %link, error = %e, "cannot create volume"),
                }
            }
        }
    }
}
