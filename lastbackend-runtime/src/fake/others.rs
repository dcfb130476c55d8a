//! In-memory image store, volumes, overlay network and proxy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use lastbackend_core::model::{EndpointSpec, SubnetSpec};

use super::Calls;
use crate::cii::{Cii, ImageInfo, RegistryAuth};
use crate::cni::Cni;
use crate::cpi::{Cpi, ProxySync};
use crate::csi::{Csi, VolumeFile};
use crate::{Error, Result};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An in-memory [`Cii`]: pulls succeed (unless told to fail) and store the
/// image; each pull's credentials are kept for a test to check.
#[derive(Default)]
pub struct FakeCii {
    images: Mutex<BTreeMap<String, ImageInfo>>,
    pulls: Mutex<Vec<(String, Option<RegistryAuth>)>>,
    fail_pull: Mutex<Option<String>>,
    calls: Calls,
}

impl FakeCii {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `reference` as if pulled earlier.
    pub fn add(&self, reference: &str) {
        lock(&self.images).insert(reference.to_owned(), image(reference));
    }

    /// Every pull: the reference and the credentials it carried.
    pub fn pulls(&self) -> Vec<(String, Option<RegistryAuth>)> {
        lock(&self.pulls).clone()
    }

    /// Makes later pulls fail saying `message` (`None`: succeed again).
    pub fn fail_pull(&self, message: Option<&str>) {
        *lock(&self.fail_pull) = message.map(str::to_owned);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.all()
    }
}

fn image(reference: &str) -> ImageInfo {
    ImageInfo {
        id: format!("sha256:{:064x}", reference.len()),
        tags: vec![reference.to_owned()],
        ..ImageInfo::default()
    }
}

#[async_trait]
impl Cii for FakeCii {
    fn name(&self) -> &str {
        "fake"
    }

    async fn pull(&self, reference: &str, auth: Option<&RegistryAuth>) -> Result<ImageInfo> {
        self.calls.record("pull", reference);
        lock(&self.pulls).push((reference.to_owned(), auth.cloned()));
        if let Some(message) = lock(&self.fail_pull).clone() {
            return Err(Error::backend("fake", message));
        }
        let info = image(reference);
        lock(&self.images).insert(reference.to_owned(), info.clone());
        Ok(info)
    }

    async fn list(&self) -> Result<Vec<ImageInfo>> {
        self.calls.record("list", "");
        Ok(lock(&self.images).values().cloned().collect())
    }

    async fn inspect(&self, reference: &str) -> Result<ImageInfo> {
        self.calls.record("inspect", reference);
        lock(&self.images)
            .get(reference)
            .cloned()
            .ok_or_else(|| Error::not_found("image", reference))
    }

    async fn remove(&self, reference: &str, _force: bool) -> Result<()> {
        self.calls.record("remove", reference);
        lock(&self.images)
            .remove(reference)
            .map(drop)
            .ok_or_else(|| Error::not_found("image", reference))
    }
}

/// The files of a fake volume: path → (content, mode).
pub type VolumeFiles = BTreeMap<String, (Bytes, u32)>;

/// An in-memory [`Csi`]: volumes are maps of files under a made-up root
/// (`/fake/volumes/<id>`); nothing touches the disk.
#[derive(Default)]
pub struct FakeCsi {
    volumes: Mutex<BTreeMap<String, VolumeFiles>>,
    calls: Calls,
}

impl FakeCsi {
    /// No volumes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The files of a volume: path → (content, mode); `None` when absent.
    pub fn files(&self, id: &str) -> Option<VolumeFiles> {
        lock(&self.volumes).get(id).cloned()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.all()
    }

    /// How many recorded calls start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.calls.count(prefix)
    }

    fn path(id: &str) -> PathBuf {
        Path::new("/fake/volumes").join(id)
    }
}

#[async_trait]
impl Csi for FakeCsi {
    fn name(&self) -> &str {
        "fake"
    }

    async fn create(&self, id: &str) -> Result<PathBuf> {
        self.calls.record("create", id);
        lock(&self.volumes).entry(id.to_owned()).or_default();
        Ok(Self::path(id))
    }

    async fn remove(&self, id: &str) -> Result<()> {
        self.calls.record("remove", id);
        lock(&self.volumes).remove(id);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<String>> {
        self.calls.record("list", "");
        Ok(lock(&self.volumes).keys().cloned().collect())
    }

    async fn write_files(&self, id: &str, files: &[VolumeFile]) -> Result<PathBuf> {
        self.calls.record("write_files", id);
        for file in files {
            if file.path.starts_with('/') || file.path.split('/').any(|part| part == "..") {
                return Err(Error::Invalid {
                    what: format!("file {}", file.path),
                    reason: "must stay inside the volume".to_owned(),
                });
            }
        }
        let content = files
            .iter()
            .map(|f| (f.path.clone(), (f.data.clone(), f.mode)))
            .collect();
        lock(&self.volumes).insert(id.to_owned(), content);
        Ok(Self::path(id))
    }
}

/// An in-memory [`Cni`]: remembers the local subnet and the peers.
#[derive(Default)]
pub struct FakeCni {
    local: Mutex<Option<SubnetSpec>>,
    peers: Mutex<BTreeMap<String, SubnetSpec>>,
    calls: Calls,
}

impl FakeCni {
    /// Nothing set up.
    pub fn new() -> Self {
        Self::default()
    }

    /// The subnet [`Cni::setup`] last prepared.
    pub fn local(&self) -> Option<SubnetSpec> {
        lock(&self.local).clone()
    }

    /// The peers [`Cni::sync_peers`] last set.
    pub fn peers(&self) -> BTreeMap<String, SubnetSpec> {
        lock(&self.peers).clone()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.all()
    }
}

#[async_trait]
impl Cni for FakeCni {
    fn name(&self) -> &str {
        "fake"
    }

    async fn setup(&self, local: &SubnetSpec) -> Result<SubnetSpec> {
        self.calls.record("setup", &local.cidr);
        let mut prepared = local.clone();
        prepared.iface.name = "fake0".to_owned();
        *lock(&self.local) = Some(prepared.clone());
        Ok(prepared)
    }

    async fn sync_peers(&self, peers: &BTreeMap<String, SubnetSpec>) -> Result<()> {
        self.calls.record("sync_peers", &peers.len().to_string());
        *lock(&self.peers) = peers.clone();
        Ok(())
    }

    async fn teardown(&self) -> Result<()> {
        self.calls.record("teardown", "");
        *lock(&self.local) = None;
        lock(&self.peers).clear();
        Ok(())
    }
}

/// An in-memory [`Cpi`]: keeps the endpoints of the last sync and counts
/// what changed as a real driver would.
#[derive(Default)]
pub struct FakeCpi {
    programmed: Mutex<BTreeMap<String, EndpointSpec>>,
    calls: Calls,
}

impl FakeCpi {
    /// Nothing programmed.
    pub fn new() -> Self {
        Self::default()
    }

    /// What is programmed.
    pub fn endpoints(&self) -> BTreeMap<String, EndpointSpec> {
        lock(&self.programmed).clone()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<String> {
        self.calls.all()
    }
}

#[async_trait]
impl Cpi for FakeCpi {
    fn name(&self) -> &str {
        "fake"
    }

    async fn sync(&self, endpoints: &BTreeMap<String, EndpointSpec>) -> Result<ProxySync> {
        self.calls.record("sync", &endpoints.len().to_string());
        let mut programmed = lock(&self.programmed);
        let mut change = ProxySync::default();
        for (link, spec) in endpoints {
            match programmed.get(link) {
                None => {
                    change.services_added += spec.ports.len();
                    change.backends_changed += spec.upstreams.len() * spec.ports.len();
                }
                Some(old) if old != spec => {
                    let gone = old.upstreams.iter().filter(|u| !spec.upstreams.contains(u));
                    let new = spec.upstreams.iter().filter(|u| !old.upstreams.contains(u));
                    change.backends_changed += gone.count() + new.count();
                }
                Some(_) => {}
            }
        }
        for (link, old) in programmed.iter() {
            if !endpoints.contains_key(link) {
                change.services_removed += old.ports.len();
            }
        }
        *programmed = endpoints.clone();
        Ok(change)
    }

    async fn teardown(&self) -> Result<()> {
        self.calls.record("teardown", "");
        lock(&self.programmed).clear();
        Ok(())
    }
}
