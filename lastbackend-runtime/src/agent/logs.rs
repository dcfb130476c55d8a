//! Ships the logs of the node's cluster pods to the exporter the manifest
//! names: one follower per running container, started when it runs (again
//! after a restart: the exporter keeps each numbered line once), dropped when
//! the container is gone. Static pods are the node's own and stay local.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::{LABEL_CONTAINER, LABEL_STATIC};
use crate::cri::{ContainerInfo, Cri};
use crate::logs::{LogShipper, ShipperConfig};

/// The shipper and its followers, by container id.
pub(crate) struct LogForwarder {
    shipper: LogShipper,
    exporter: Option<SocketAddr>,
    followers: HashMap<String, JoinHandle<crate::Result<u64>>>,
}

impl LogForwarder {
    pub(crate) fn new() -> Self {
        Self {
            shipper: LogShipper::start(None, ShipperConfig::default()),
            exporter: None,
            followers: HashMap::new(),
        }
    }

    /// Follows every running container of `observed` (containers by pod
    /// selflink) while there is an exporter to ship to.
    pub(crate) fn sync(
        &mut self,
        exporter: Option<SocketAddr>,
        cri: &Arc<dyn Cri>,
        observed: &BTreeMap<String, Vec<ContainerInfo>>,
    ) {
        if exporter != self.exporter {
            self.exporter = exporter;
            self.shipper.set_endpoint(exporter);
        }
        // A stream ends when its container stops; a restarted container is
        // followed again from its first line.
        self.followers.retain(|_, follower| !follower.is_finished());
        if exporter.is_none() {
            return;
        }
        let mut running = HashMap::new();
        for (pod, containers) in observed {
            for c in containers {
                if c.state.is_running() && !c.labels.contains_key(LABEL_STATIC) {
                    running.insert(c.id.as_str(), (pod, c));
                }
            }
        }
        self.followers.retain(|id, follower| {
            let keep = running.contains_key(id.as_str());
            if !keep {
                follower.abort();
            }
            keep
        });
        for (id, (pod, c)) in running {
            if !self.followers.contains_key(id) {
                let name = c.labels.get(LABEL_CONTAINER).cloned().unwrap_or_default();
                let follower = self.shipper.follow(cri.clone(), id, pod.as_str(), name);
                self.followers.insert(id.to_owned(), follower);
            }
        }
    }
}
