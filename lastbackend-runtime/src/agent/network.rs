//! The node's overlay and service proxy, kept in line with each manifest:
//! the CNI driver prepares the node's own subnet and tunnels to the others,
//! the runtime gets a pod network on that subnet, the CPI driver programs
//! the endpoints.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use lastbackend_core::manifest::internal::NodeManifest;
use lastbackend_core::model::{EndpointSpec, SubnetSpec};

use super::{AgentSettings, Drivers};

/// What the agent last programmed.
#[derive(Default)]
pub(crate) struct Network {
    /// The pod network, once the runtime has it.
    ready: Option<String>,
    /// The local subnet's CIDR set up.
    local: Option<String>,
    peers: Option<BTreeMap<String, SubnetSpec>>,
    endpoints: Option<BTreeMap<String, EndpointSpec>>,
    /// The node's subnet selflink, from its registration.
    pub(crate) subnet: Option<String>,
    /// What the CNI driver answered for the local subnet (interface, tunnel
    /// and hardware addresses); reported so peers can reach this node.
    pub(crate) reported: Option<SubnetSpec>,
}

/// The gateway of a pod subnet: its first address.
fn gateway(cidr: &str) -> Option<IpAddr> {
    let (addr, _) = cidr.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(u32::from(addr) + 1)))
}

impl Network {
    /// The pod network's name, once it exists.
    pub(crate) fn name(&self) -> Option<&str> {
        self.ready.as_deref()
    }

    /// Programs what changed since the last manifest.
    pub(crate) async fn sync(
        &mut self,
        drivers: &Drivers,
        settings: &AgentSettings,
        manifest: &NodeManifest,
    ) {
        if let Some(cni) = &drivers.cni {
            let own = manifest.subnet.as_ref().or(self.subnet.as_ref());
            let mine = |link: &String, spec: &SubnetSpec| {
                Some(link) == own || (spec.addr.is_some() && spec.addr == settings.external_ip)
            };
            let local = manifest.subnets.iter().find(|(l, s)| mine(l, s));
            if let Some((_, spec)) = local
                && self.local.as_deref() != Some(spec.cidr.as_str())
            {
                match cni.setup(spec).await {
                    Ok(reported) => {
                        self.reported = Some(reported);
                        self.local = Some(spec.cidr.clone());
                        self.ready = None;
                    }
                    Err(e) => tracing::warn!(error = %e, "cni: cannot set up the node's subnet"),
                }
            }
            if let Some(cidr) = self.local.clone()
                && self.ready.is_none()
                && let Some(gw) = gateway(&cidr)
            {
                let name = settings.pod_network.clone();
                match drivers.cri.ensure_network(&name, &cidr, gw).await {
                    Ok(()) => self.ready = Some(name),
                    Err(e) => tracing::warn!(error = %e, "cannot make the pod network"),
                }
            }
            let peers: BTreeMap<String, SubnetSpec> = manifest
                .subnets
                .iter()
                .filter(|(l, s)| !mine(l, s))
                .map(|(l, s)| (l.clone(), s.clone()))
                .collect();
            // Tunnels start from the node's own subnet: none before it is
            // set up (the controller has not allocated it yet).
            if self.local.is_some() && self.peers.as_ref() != Some(&peers) {
                match cni.sync_peers(&peers).await {
                    Ok(()) => self.peers = Some(peers),
                    Err(e) => tracing::warn!(error = %e, "cni: cannot program peers"),
                }
            }
        }
        if let Some(cpi) = &drivers.cpi
            && self.endpoints.as_ref() != Some(&manifest.endpoints)
        {
            match cpi.sync(&manifest.endpoints).await {
                Ok(change) => {
                    tracing::debug!(?change, "proxy synced");
                    self.endpoints = Some(manifest.endpoints.clone());
                }
                Err(e) => tracing::warn!(error = %e, "cpi: cannot program endpoints"),
            }
        }
    }
}
