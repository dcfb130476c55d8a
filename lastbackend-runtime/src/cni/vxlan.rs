//! The `vxlan` [`Cni`] driver: one VXLAN device per host (`lb.vxlan`,
//! VNI 1, UDP 8472, over the external interface), holding the network
//! address of the host's pod subnet as `/32`; for each peer subnet a
//! forwarding entry (peer device MAC → peer host), a permanent neighbour
//! (peer `.0` → peer device MAC) and a route `peer-cidr via peer.0 dev
//! lb.vxlan onlink`. No learning and no multicast: the control plane is the
//! only source of peers.
//!
//! Every call reads the kernel's current state and writes only the
//! difference, so re-running on a configured host writes nothing and a
//! restarted agent picks up what its predecessor programmed (removing peers
//! that left meanwhile) without a blip. [`Vxlan::writes`] counts the writes.
//!
//! The pod bridge is the container runtime's (the agent creates a Docker
//! network on the node's subnet, gateway `.1`); [`Vxlan::ensure_bridge`]
//! makes a plain Linux bridge for runtimes without networks.
//!
//! ```no_run
//! use lastbackend_runtime::Cni;
//! use lastbackend_runtime::cni::vxlan::{Vxlan, VxlanConfig};
//! # async fn run(manifest: lastbackend_runtime::core::manifest::internal::NodeManifest)
//! #              -> lastbackend_runtime::Result<()> {
//! let cni = Vxlan::new(VxlanConfig::default().external_iface(Some("eth0".into())))?;
//! // The node's own subnet, once the controller has allocated it.
//! if let Some(own) = manifest.subnet.as_ref().and_then(|l| manifest.subnets.get(l)) {
//!     let reported = cni.setup(own).await?; // push it in NodeStatusReport.subnet
//!     cni.sync_peers(&manifest.subnets).await?; // its own subnet is skipped
//! #   let _ = reported;
//! }
//! # Ok(()) }
//! ```

mod kernel;
mod peers;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use lastbackend_core::ipam::Ipv4Cidr;
use lastbackend_core::model::{NetworkInterface, SubnetSpec};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVxlan, LinkInfo, LinkMessage};
use rtnetlink::{LinkBridge, LinkVxlan};

use self::kernel::{Kernel, in_netns, link_info, link_mac, route_addr, route_oif};
use self::peers::{Peer, diff, format_mac};
use crate::{Cni, Error, Result};

/// The device's name unless configured.
pub const DEFAULT_DEVICE: &str = "lb.vxlan";
/// The VXLAN network identifier unless configured.
pub const DEFAULT_VNI: u32 = 1;
/// The UDP port: Linux's VXLAN default, the one flannel uses too.
pub const DEFAULT_PORT: u16 = 8472;

/// How the driver is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VxlanConfig {
    /// The VXLAN device's name.
    pub device: String,
    /// The VXLAN network identifier (24 bits).
    pub vni: u32,
    /// The UDP port tunnels use.
    pub port: u16,
    /// The interface tunnels leave by, whose IPv4 address peers tunnel to
    /// (`--network-driver-iface-external`); `None`: the default route's.
    pub external_iface: Option<String>,
    /// The network namespace to work in (a path such as
    /// `/var/run/netns/<name>`); `None`: the agent's own.
    pub netns: Option<PathBuf>,
}

impl Default for VxlanConfig {
    fn default() -> Self {
        Self {
            device: DEFAULT_DEVICE.to_owned(),
            vni: DEFAULT_VNI,
            port: DEFAULT_PORT,
            external_iface: None,
            netns: None,
        }
    }
}

impl VxlanConfig {
    /// Sets the device name.
    pub fn device(mut self, name: impl Into<String>) -> Self {
        self.device = name.into();
        self
    }

    /// Sets the VNI.
    pub fn vni(mut self, vni: u32) -> Self {
        self.vni = vni;
        self
    }

    /// Sets the UDP port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the external interface.
    pub fn external_iface(mut self, name: Option<String>) -> Self {
        self.external_iface = name;
        self
    }

    /// Works inside the network namespace at `path`.
    pub fn netns(mut self, path: impl Into<PathBuf>) -> Self {
        self.netns = Some(path.into());
        self
    }

    fn check(&self) -> Result<()> {
        let invalid = |what: &str, reason: &str| {
            Err(Error::Invalid {
                what: format!("vxlan {what}"),
                reason: reason.to_owned(),
            })
        };
        let bad_char = |c: char| c == '/' || c == ':' || c.is_whitespace();
        if self.device.is_empty() || self.device.len() > 15 || self.device.contains(bad_char) {
            return invalid(
                "device name",
                "1 to 15 characters without '/', ':' or spaces (Linux interface names)",
            );
        }
        if self.vni == 0 || self.vni >= 1 << 24 {
            return invalid("VNI", "must be between 1 and 16777215");
        }
        if self.port == 0 {
            return invalid("port", "must not be 0");
        }
        Ok(())
    }
}

/// The driver. Needs a tokio runtime to be created (its netlink connection
/// runs there) and root (`CAP_NET_ADMIN`) to do anything.
#[derive(Debug)]
pub struct Vxlan {
    config: VxlanConfig,
    kernel: Kernel,
    /// The own subnet, once set up: peers with it are skipped.
    local: Mutex<Option<Ipv4Cidr>>,
}

impl Vxlan {
    /// Opens a netlink connection in the configured namespace.
    pub fn new(config: VxlanConfig) -> Result<Self> {
        config.check()?;
        let kernel = Kernel::connect(config.netns.as_deref())?;
        Ok(Self {
            config,
            kernel,
            local: Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VxlanConfig {
        &self.config
    }

    /// How many kernel writes this driver has made: unchanged by a call
    /// that found everything in place.
    pub fn writes(&self) -> u64 {
        self.kernel.writes()
    }

    /// Makes a Linux bridge `name` holding the gateway (`.1`) of `cidr`
    /// (`10.244.1.0/24`), up; returns its index. For runtimes that do not
    /// make their own pod bridge.
    pub async fn ensure_bridge(&self, name: &str, cidr: &str) -> Result<u32> {
        let cidr = parse_cidr("bridge cidr", cidr)?;
        let gateway = Ipv4Addr::from(u32::from(cidr.network()) + 1);
        let link = match self.kernel.link(name).await? {
            Some(link) => link,
            None => {
                let bridge = LinkBridge::new(name).build();
                self.kernel.add_link(bridge, "create bridge").await?;
                self.device(name).await?
            }
        };
        let index = link.header.index;
        self.kernel
            .ensure_only_address(index, gateway, cidr.prefix())
            .await?;
        self.kernel.ensure_up(&link).await?;
        Ok(index)
    }

    async fn device(&self, name: &str) -> Result<LinkMessage> {
        self.kernel
            .link(name)
            .await?
            .ok_or_else(|| Error::not_found("link", name))
    }

    /// The external interface's index and IPv4 address.
    async fn external(&self) -> Result<(u32, Ipv4Addr)> {
        let (index, shown) = match &self.config.external_iface {
            Some(name) => {
                let link = self
                    .kernel
                    .link(name)
                    .await?
                    .ok_or_else(|| Error::Invalid {
                        what: "--network-driver-iface-external".to_owned(),
                        reason: format!("no interface {name:?} on this host"),
                    })?;
                (link.header.index, name.clone())
            }
            None => {
                let routes = self.kernel.routes().await?;
                let index = routes
                    .iter()
                    .filter(|r| r.header.destination_prefix_length == 0)
                    .filter(|r| route_addr(r, true) == Some(Ipv4Addr::UNSPECIFIED))
                    .find_map(route_oif)
                    .ok_or_else(|| Error::Invalid {
                        what: "--network-driver-iface-external".to_owned(),
                        reason: "not set and this host has no IPv4 default route: name the \
                                 interface peers reach this host on"
                            .to_owned(),
                    })?;
                (index, format!("default route interface #{index}"))
            }
        };
        let addresses = self.kernel.addresses(index).await?;
        let ip = addresses
            .iter()
            .map(|(ip, _, _)| *ip)
            .find(|ip| !ip.is_loopback() && !ip.is_link_local())
            .ok_or_else(|| Error::Invalid {
                what: "--network-driver-iface-external".to_owned(),
                reason: format!("{shown} has no IPv4 address to tunnel from"),
            })?;
        Ok((index, ip))
    }

    /// The VXLAN device as configured: kept when it is, replaced when not.
    async fn ensure_device(&self, dev: u32, local: Ipv4Addr) -> Result<LinkMessage> {
        let name = &self.config.device;
        let wanted = [
            InfoVxlan::Id(self.config.vni),
            InfoVxlan::Link(dev),
            InfoVxlan::Local(local),
            InfoVxlan::Port(self.config.port),
            InfoVxlan::Learning(false),
        ];
        if let Some(link) = self.kernel.link(name).await? {
            let info = link_info(&link);
            let is_vxlan = info.contains(&LinkInfo::Kind(InfoKind::Vxlan));
            let data = info.iter().find_map(|i| match i {
                LinkInfo::Data(InfoData::Vxlan(data)) => Some(data.as_slice()),
                _ => None,
            });
            if is_vxlan && data.is_some_and(|d| wanted.iter().all(|w| d.contains(w))) {
                return Ok(link);
            }
            tracing::info!(device = %name, "vxlan device differs from the configuration: replacing it");
            self.kernel.del_link(link.header.index).await?;
        }
        let device = LinkVxlan::new(name, self.config.vni)
            .dev(dev)
            .local(local)
            .port(self.config.port)
            .learning(false)
            .build();
        self.kernel.add_link(device, "create vxlan device").await?;
        self.device(name).await
    }

    fn netns(&self) -> Option<&Path> {
        self.config.netns.as_deref()
    }
}

fn parse_cidr(what: &str, cidr: &str) -> Result<Ipv4Cidr> {
    cidr.parse().map_err(|e| Error::Invalid {
        what: what.to_owned(),
        reason: format!("{e}"),
    })
}

/// Turns IPv4 forwarding on in the driver's namespace: pods' packets cross
/// from the bridge to the VXLAN device.
fn enable_forwarding(netns: Option<&Path>) -> Result<()> {
    in_netns(netns, || {
        let path = "/proc/sys/net/ipv4/ip_forward";
        if std::fs::read_to_string(path)?.trim() != "1" {
            std::fs::write(path, "1")?;
        }
        Ok(())
    })
}

#[async_trait]
impl Cni for Vxlan {
    fn name(&self) -> &str {
        "vxlan"
    }

    async fn setup(&self, local: &SubnetSpec) -> Result<SubnetSpec> {
        let cidr = parse_cidr("subnet cidr", &local.cidr)?;
        let (dev, host) = self.external().await?;
        let link = self.ensure_device(dev, host).await?;
        let index = link.header.index;
        self.kernel
            .ensure_only_address(index, cidr.network(), 32)
            .await?;
        self.kernel.ensure_up(&link).await?;
        enable_forwarding(self.netns())?;
        *self.local.lock().unwrap_or_else(PoisonError::into_inner) = Some(cidr);
        Ok(SubnetSpec {
            kind: "vxlan".to_owned(),
            cidr: cidr.to_string(),
            iface: NetworkInterface {
                index,
                name: self.config.device.clone(),
                addr: Some(cidr.network().into()),
                hardware_addr: link_mac(&link).map(|m| format_mac(&m)).unwrap_or_default(),
            },
            addr: Some(host.into()),
        })
    }

    async fn sync_peers(&self, peers: &BTreeMap<String, SubnetSpec>) -> Result<()> {
        let local = *self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let local = local.ok_or_else(|| Error::Invalid {
            what: "vxlan sync_peers".to_owned(),
            reason: "setup has not run: set up the own subnet first".to_owned(),
        })?;
        let index = self.device(&self.config.device).await?.header.index;
        let mut wanted = Vec::new();
        for (link, spec) in peers {
            match Peer::from_spec(link, spec) {
                Ok(Some(peer)) if peer.cidr != local => wanted.push(peer),
                Ok(_) => {}
                // One bad subnet must not cut the others off.
                Err(e) => tracing::warn!(error = %e, "skipping peer"),
            }
        }
        let (now, routes) = self.kernel.programmed(index).await?;
        let ops = diff(&now, &wanted);
        if !ops.is_empty() {
            tracing::debug!(?ops, "vxlan peers changed");
        }
        self.kernel.apply(index, &ops, &routes).await
    }

    async fn teardown(&self) -> Result<()> {
        if let Some(link) = self.kernel.link(&self.config.device).await? {
            // Its forwarding entries, neighbours and routes go with it.
            self.kernel.del_link(link.header.index).await?;
        }
        *self.local.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
