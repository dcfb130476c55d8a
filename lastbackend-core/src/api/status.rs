//! Writing what a node agent reports about the pods and volumes placed on
//! it: one read per object, decoding only its placement and status, and
//! one transaction for every object whose status changed.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Api, Result};
use crate::model::{Object, Pod, PodStatus, SelfLink, Volume, VolumeStatus};
use crate::store::{Writes, decode};

/// An object a node reports the status of.
pub(super) trait Reported: Object {
    /// Its status.
    type Status: Clone + Default + PartialEq + DeserializeOwned + Send + Sync;
    /// The node it is placed on.
    fn node(&self) -> Option<&str>;
    /// Its status, to replace.
    fn status_mut(&mut self) -> &mut Self::Status;
}

impl Reported for Pod {
    type Status = PodStatus;
    fn node(&self) -> Option<&str> {
        self.spec.node.as_deref()
    }
    fn status_mut(&mut self) -> &mut PodStatus {
        &mut self.status
    }
}

impl Reported for Volume {
    type Status = VolumeStatus;
    fn node(&self) -> Option<&str> {
        self.spec.node.as_deref()
    }
    fn status_mut(&mut self) -> &mut VolumeStatus {
        &mut self.status
    }
}

/// Where an object is placed and its status, without the rest (a pod's
/// template is most of it).
#[derive(Deserialize)]
#[serde(bound = "S: Default + DeserializeOwned")]
struct Light<S> {
    #[serde(default)]
    spec: LightSpec,
    #[serde(default)]
    status: S,
}

#[derive(Default, Deserialize)]
struct LightSpec {
    #[serde(default)]
    node: Option<String>,
}

impl Api {
    /// Sets the reported status of each object of `T` that is placed on
    /// `node` and whose status differs; others are ignored.
    pub(super) async fn write_statuses<T: Reported>(
        &self,
        node: &str,
        reports: &BTreeMap<String, T::Status>,
    ) -> Result<()> {
        let storage = self.store.storage();
        let mut writes = Writes::new();
        let mut changed = Vec::new();
        for (link, status) in reports {
            let Ok(link) = SelfLink::parse(T::KIND, link) else {
                continue;
            };
            let kv = match storage.get(&link.key()).await {
                Ok(kv) => kv,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            if let Ok(light) = serde_json::from_slice::<Light<T::Status>>(&kv.value)
                && (light.spec.node.as_deref() != Some(node) || light.status == *status)
            {
                continue;
            }
            let mut obj: T = decode(kv)?;
            if obj.node() != Some(node) || *obj.status_mut() == *status {
                continue;
            }
            *obj.status_mut() = status.clone();
            obj.meta_mut().updated = chrono::Utc::now();
            writes = writes.update(&obj)?;
            changed.push((link, status));
        }
        if writes.is_empty() {
            return Ok(());
        }
        match self.store.commit(writes).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_conflict() || e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        // Someone wrote one of them meanwhile: each on its own, re-read.
        for (link, status) in changed {
            let written = self
                .modify(&link, None, |obj: &mut T| {
                    if obj.node() != Some(node) || *obj.status_mut() == *status {
                        return Ok(false);
                    }
                    *obj.status_mut() = status.clone();
                    Ok(true)
                })
                .await;
            match written {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
