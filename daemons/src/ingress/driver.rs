//! [`Haproxy`]: applies an ingress manifest — plan, render, check with
//! `haproxy -c`, drop the routes HAProxy rejects, write atomically, reload.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lastbackend_core::manifest::internal::IngressManifest;
use lastbackend_core::model::{State, Status};
use tokio::sync::watch;

use super::plan::{self, Layout, RoutePlan};
use super::process::{self, Generation, Supervisor};
use super::render::render;
use super::{Error, HaproxySettings};

/// The HAProxy driver: owns the configuration file, the certificates and
/// the supervised process.
#[derive(Debug)]
pub struct Haproxy {
    settings: Arc<HaproxySettings>,
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
            supervisor: None,
            current: None,
            checks: 0,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &HaproxySettings {
        &self.settings
    }

    /// The supervised master's starts and pid, once started.
    pub fn generation(&self) -> Option<watch::Receiver<Generation>> {
        self.supervisor.as_ref().map(Supervisor::generation)
    }

    /// Makes HAProxy route `manifest`: every route that plans, fits on its
    /// port and passes `haproxy -c` is served; the others keep out of the
    /// file and get an error status with the reason (HAProxy's own message
    /// when it rejected them). Answers every route's status by selflink.
    pub async fn apply(
        &mut self,
        manifest: &IngressManifest,
    ) -> Result<BTreeMap<String, Status>, Error> {
        let mut statuses = BTreeMap::new();
        let mut candidates = Vec::new();
        for (link, planned) in plan::plan(manifest) {
            match planned {
                Ok(route) => candidates.push(route),
                Err(why) => {
                    statuses.insert(link, Status::with_message(State::Error, why));
                }
            }
        }
        let mut layout = Layout::default();
        let mut accepted = Vec::new();
        for route in candidates {
            match layout.add(route.clone()) {
                Ok(()) => accepted.push(route),
                Err(why) => {
                    statuses.insert(route.link, Status::with_message(State::Error, why));
                }
            }
        }
        let certificates = self.write_certificates(&accepted)?;
        let (config, rejected) = self.checked(&accepted, &certificates).await?;
        for (link, why) in rejected {
            statuses.insert(link, Status::with_message(State::Error, why));
        }
        for route in &accepted {
            statuses
                .entry(route.link.clone())
                .or_insert_with(|| served(route));
        }
        if self.current.as_deref() != Some(config.as_str()) {
            write_atomically(&self.settings.config_path, config.as_bytes(), 0o644)?;
            match &self.supervisor {
                Some(supervisor) => supervisor.reload().await?,
                None => self.supervisor = Some(Supervisor::start(self.settings.clone())),
            }
            self.current = Some(config);
        }
        let used: BTreeSet<PathBuf> = certificates.into_values().collect();
        remove_unused_certificates(&self.settings.certificates_dir(), &used);
        Ok(statuses)
    }

    /// The configuration of `routes` with the ones HAProxy rejects left out,
    /// and why each was.
    async fn checked(
        &mut self,
        routes: &[RoutePlan],
        certificates: &BTreeMap<String, PathBuf>,
    ) -> Result<(String, Vec<(String, String)>), Error> {
        let all = self.layout_of(routes.iter());
        let config = self.render(&all, certificates)?;
        if self.check(&config).await?.is_ok() {
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
            match self.check(&config).await? {
                Ok(()) => kept.push(route),
                Err(why) => rejected.push((
                    route.link.clone(),
                    format!("haproxy rejected the route: {why}"),
                )),
            }
        }
        let config = self.render(&self.layout_of(kept.into_iter()), certificates)?;
        if let Err(why) = self.check(&config).await? {
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

    async fn check(&mut self, config: &str) -> Result<Result<(), String>, Error> {
        self.checks += 1;
        let file = self.settings.config_path.with_extension(format!(
            "check-{}-{}",
            std::process::id(),
            self.checks
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

    /// Stops HAProxy.
    pub async fn stop(mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.stop().await;
        }
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
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
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
