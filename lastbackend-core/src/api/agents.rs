//! The agents' side: nodes, ingress, discovery and exporter servers
//! register, push their full status (which renews a heartbeat lease) and
//! long-poll their whole desired state.
//!
//! Everything lives in storage, nothing in the process, so any API server
//! can answer any agent: a node's heartbeat is a key `node/lease/<name>`
//! attached to a storage lease of `Settings::node_ttl`; when pushes stop the
//! lease ends, the key is deleted and the controller sees the node go.
//!
//! `nodes` holds the node operations, `members` the registry of the other
//! members (each a [`Member`]), `manifests` the members' long-polled
//! manifests over the watch machinery of `long_poll`; this file the
//! heartbeat they share.

mod long_poll;
mod manifests;
mod member;
mod members;
mod nodes;

use std::net::SocketAddr;

pub use member::Member;

use super::{Api, ApiError, CAS_ATTEMPTS, Result};
use crate::model::{Discovery, Exporter, Kind};

/// The heartbeat key of a node or member: `<kind>/lease/<name>`.
pub fn lease_key(kind: Kind, name: &str) -> String {
    format!("{kind}/lease/{name}")
}

/// Where pods and proxies resolve names: ready discovery servers.
fn resolvers(discoveries: &[Discovery]) -> Vec<SocketAddr> {
    discoveries.iter().filter_map(resolver).collect()
}

pub(super) fn resolver(d: &Discovery) -> Option<SocketAddr> {
    let p = d.status.presence;
    (p.ready && p.online).then_some(d.status.address).flatten()
}

pub(super) fn exporter_listener(e: &Exporter) -> Option<SocketAddr> {
    let p = e.status.presence;
    (p.ready && p.online).then_some(e.status.listener).flatten()
}

impl Api {
    /// Keeps the heartbeat key `key` alive, or grants a new lease and makes
    /// the key again when its lease has ended (the member came back).
    async fn heartbeat(&self, key: &str) -> Result<()> {
        let storage = self.store.storage();
        for _ in 0..CAS_ATTEMPTS {
            match storage.get(key).await {
                Ok(kv) => {
                    if let Some(lease) = kv.lease {
                        match storage.lease_keep_alive(lease).await {
                            Ok(_) => return Ok(()),
                            Err(e) if e.is_not_found() => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    // The lease ended but its key is still there: it is
                    // being deleted; replace it.
                    match storage.del(key, Some(kv.mod_revision)).await {
                        Ok(_) => {}
                        Err(e) if e.is_not_found() || e.is_conflict() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            let lease = storage.lease_grant(self.settings.node_ttl).await?;
            let value = serde_json::json!({ "lease": lease }).to_string();
            match storage.put(key, value.into(), Some(lease)).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_exists() => {
                    // Another API server made it first: keep theirs.
                    let _ = storage.lease_revoke(lease).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Conflict(format!(
            "heartbeat {key} keeps changing"
        )))
    }

    /// Deletes a heartbeat key and ends its lease, if any.
    async fn drop_heartbeat(&self, key: &str) -> Result<()> {
        let storage = self.store.storage();
        match storage.get(key).await {
            Ok(kv) => {
                if let Some(lease) = kv.lease {
                    match storage.lease_revoke(lease).await {
                        Ok(()) => return Ok(()),
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                match storage.del(key, None).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
