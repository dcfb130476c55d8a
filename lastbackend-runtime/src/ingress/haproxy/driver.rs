//! [`Haproxy`]: applies an ingress manifest — plan, render, check with
//! `haproxy -c`, drop the routes HAProxy rejects, write atomically, reload.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use lastbackend_core::manifest::internal::IngressManifest;
use lastbackend_core::model::{State, Status};
use tokio::sync::{Mutex, watch};

use super::process::{self, Generation, Supervisor};
use super::render::render;
use super::{Error, HaproxySettings};
use crate::ingress::plan::{self, Layout, RoutePlan};
use crate::ingress::{self, IngressDriver};

/// The HAProxy driver: owns the configuration file, the certificates and
/// the supervised process.
#[derive(Debug)]
pub struct Haproxy {
    settings: Arc<HaproxySettings>,
    /// One apply at a time: each one checks and writes the same files.
    running: Mutex<Running>,
}

/// What the driver started and wrote.
#[derive(Debug, Default)]
struct Running {
    supervisor: Option<Supervisor>,
    /// The configuration HAProxy runs with.
    current: Option<String>,
    checks: u64,
}

impl Haproxy {
    /// A driver that has not started HAProxy yet; the first
    /// [`Haproxy::apply`] starts it.
    pub fn new(settings: HaproxySettings) -> Self {
        Self {
            settings: Arc::new(settings),
            running: Mutex::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &HaproxySettings {
        &self.settings
    }

    /// The supervised master's starts and pid, once started.
    pub async fn generation(&self) -> Option<watch::Receiver<Generation>> {
        self.running
            .lock()
            .await
            .supervisor
            .as_ref()
            .map(Supervisor::generation)
    }

    /// Makes HAProxy route `manifest`: every route that plans, fits on its
    /// port and passes `haproxy -c` is served; the others keep out of the
    /// file and get an error status with the reason (HAProxy's own message
    /// when it rejected them). Answers every route's status by selflink.
    pub async fn apply(
        &self,
        manifest: &IngressManifest,
    ) -> Result<BTreeMap<String, Status>, Error> {
        let mut running = self.running.lock().await;
        let (accepted, rejected) = plan::routes(manifest);
        let mut statuses: BTreeMap<String, Status> = rejected
            .into_iter()
            .map(|(link, why)| (link, Status::with_message(State::Error, why)))
            .collect();
        let certificates = self.write_certificates(&accepted)?;
        let (config, rejected) = self.checked(&mut running, &accepted, &certificates).await?;
        for (link, why) in rejected {
            statuses.insert(link, Status::with_message(State::Error, why));
        }
        for route in &accepted {
            statuses
                .entry(route.link.clone())
                .or_insert_with(|| served(route));
        }
        if running.current.as_deref() != Some(config.as_str()) {
            write_atomically(&self.settings.config_path, config.as_bytes(), 0o644)?;
            match &running.supervisor {
                Some(supervisor) => supervisor.reload().await?,
                None => running.supervisor = Some(Supervisor::start(self.settings.clone())),
            }
            running.current = Some(config);
        }
        let used: BTreeSet<PathBuf> = certificates.into_values().collect();
        remove_unused_certificates(&self.settings.certificates_dir(), &used);
        Ok(statuses)
    }

    /// The configuration of `routes` with the ones HAProxy rejects left out,
    /// and why each was.
    async fn checked(
        &self,
        running: &mut Running,
        routes: &[RoutePlan],
        certificates: &BTreeMap<String, PathBuf>,
    ) -> Result<(String, Vec<(String, String)>), Error> {
        let all = self.layout_of(routes.iter());
        let config = self.render(&all, certificates)?;
        if self.check(running, &config).await?.is_ok() {
            return Ok((config, Vec::new()));
        }
        // Each route alone, then the survivors one at a time: a route that
        // only fails next to another is the later one's fault.
        let mut rejected = Vec::new();
        let mut kept: Vec<&RoutePlan> = Vec::new();
        for route in routes {
            let mut trial = kept.clone();
            trial.push(route);
            let config = self.render(&self.layout_of(trial.iter().copied()), certificates)?;
            match self.check(running, &config).await? {
                Ok(()) => kept.push(route),
                Err(why) => rejected.push((
                    route.link.clone(),
                    format!("haproxy rejected the route: {why}"),
                )),
            }
        }
        let config = self.render(&self.layout_of(kept.into_iter()), certificates)?;
        if let Err(why) = self.check(running, &config).await? {
            return Err(Error::Invalid(why));
        }
        Ok((config, rejected))
    }

    fn layout_of<'a>(&self, routes: impl Iterator<Item = &'a RoutePlan>) -> Layout {
        let mut layout = Layout::default();
        for route in routes {
            // They fitted together before; a subset does too.
            let _ = layout.add(route.clone());
        }
        layout
    }

    fn render(
        &self,
        layout: &Layout,
        certificates: &BTreeMap<String, PathBuf>,
    ) -> Result<String, Error> {
        render(&self.settings, layout, certificates).map_err(|_| Error::Render)
    }

    async fn check(
        &self,
        running: &mut Running,
        config: &str,
    ) -> Result<Result<(), String>, Error> {
        running.checks += 1;
        let file = self.settings.config_path.with_extension(format!(
            "check-{}-{}",
            std::process::id(),
            running.checks
        ));
        write_atomically(&file, config.as_bytes(), 0o600)?;
        let result = process::check(&self.settings.exec, &file).await;
        let _ = std::fs::remove_file(&file);
        result
    }

    /// Writes each terminating route's PEM under a name from its content,
    /// so a candidate never overwrites a file the running HAProxy uses.
    fn write_certificates(&self, routes: &[RoutePlan]) -> Result<BTreeMap<String, PathBuf>, Error> {
        let dir = self.settings.certificates_dir();
        let mut files = BTreeMap::new();
        for route in routes {
            let Some(pem) = &route.certificate else {
                continue;
            };
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            pem.hash(&mut hasher);
            let file = dir.join(format!(
                "{}-{:016x}.pem",
                plan::sanitize(&route.link),
                hasher.finish()
            ));
            if !file.exists() {
                write_atomically(&file, pem.as_bytes(), 0o600)?;
            }
            files.insert(route.link.clone(), file);
        }
        Ok(files)
    }

    /// Stops HAProxy; a later [`Haproxy::apply`] starts it again.
    pub async fn stop(&self) {
        let mut running = self.running.lock().await;
        if let Some(supervisor) = running.supervisor.take() {
            supervisor.stop().await;
        }
        running.current = None;
    }
}

#[async_trait]
impl IngressDriver for Haproxy {
    async fn apply(
        &self,
        manifest: &IngressManifest,
    ) -> Result<BTreeMap<String, Status>, ingress::Error> {
        Ok(Haproxy::apply(self, manifest).await?)
    }

    async fn stop(&self) {
        Haproxy::stop(self).await;
    }
}

fn served(route: &RoutePlan) -> Status {
    if route.empty.is_empty() {
        Status::new(State::Ready)
    } else {
        Status::with_message(
            State::Ready,
            format!(
                "no ready pod behind {}: answered with 503 until one is",
                route.empty.join(", ")
            ),
        )
    }
}

/// Temp file in the same directory, then rename: readers see the old file
/// or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn remove_unused_certificates(dir: &Path, used: &BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pem") && !used.contains(&path) {
            let _ = std::fs::remove_file(path);
        }
    }
}
