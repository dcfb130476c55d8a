//! What the kernel should hold for a set of peers, and the fewest writes
//! that get it there from what it holds: pure, so the diff is unit-tested
//! apart from netlink.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use lastbackend_core::ipam::Ipv4Cidr;
use lastbackend_core::model::SubnetSpec;

use crate::{Error, Result};

/// A hardware address.
pub(super) type Mac = [u8; 6];

/// One peer's subnet as the overlay reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Peer {
    /// Its pod subnet.
    pub(super) cidr: Ipv4Cidr,
    /// Its VXLAN device's hardware address.
    pub(super) mac: Mac,
    /// Its host's tunnel address.
    pub(super) host: Ipv4Addr,
}

impl Peer {
    /// The peer's VXLAN device address: the subnet's network address.
    pub(super) fn vtep(&self) -> Ipv4Addr {
        self.cidr.network()
    }

    /// The peer of a subnet spec; `Ok(None)` while the peer's agent has not
    /// reported its device yet (no hardware or tunnel address).
    pub(super) fn from_spec(link: &str, spec: &SubnetSpec) -> Result<Option<Self>> {
        let invalid = |reason: String| Error::Invalid {
            what: format!("subnet {link}"),
            reason,
        };
        let cidr: Ipv4Cidr = spec
            .cidr
            .parse()
            .map_err(|e| invalid(format!("cidr: {e}")))?;
        let host = match spec.addr {
            None => return Ok(None),
            Some(std::net::IpAddr::V4(host)) => host,
            Some(other) => {
                return Err(invalid(format!(
                    "tunnel address {other} is not IPv4 (the overlay is IPv4 only)"
                )));
            }
        };
        if spec.iface.hardware_addr.is_empty() {
            return Ok(None);
        }
        let mac = parse_mac(&spec.iface.hardware_addr)
            .ok_or_else(|| invalid(format!("haddr {:?}", spec.iface.hardware_addr)))?;
        Ok(Some(Self { cidr, mac, host }))
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub(super) fn parse_mac(s: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// `aa:bb:cc:dd:ee:ff`.
pub(super) fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The entries on the VXLAN device the driver owns, as read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Programmed {
    /// Forwarding entries: hardware address → remote host (one MAC may have
    /// several remotes after a hand edit; all are listed).
    pub(super) fdb: BTreeSet<(Mac, Ipv4Addr)>,
    /// Permanent neighbours: VTEP address → hardware address.
    pub(super) neigh: BTreeMap<Ipv4Addr, Mac>,
    /// Routes of the main table through the device: subnet → (gateway,
    /// on-link).
    pub(super) routes: BTreeMap<(Ipv4Addr, u8), (Option<Ipv4Addr>, bool)>,
}

/// One kernel write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    /// Drop a route (before the neighbours it goes through).
    RouteDel(Ipv4Addr, u8),
    /// Drop a neighbour.
    NeighDel(Ipv4Addr),
    /// Drop one remote of a forwarding entry.
    FdbDel(Mac, Ipv4Addr),
    /// Add or replace a forwarding entry.
    FdbSet(Mac, Ipv4Addr),
    /// Add or replace a neighbour.
    NeighSet(Ipv4Addr, Mac),
    /// Add or replace `subnet via vtep onlink`.
    RouteSet(Ipv4Cidr),
}

/// The writes turning `now` into exactly `peers`, removals first (so a
/// peer that moved never has two paths), each kind in address order.
pub(super) fn diff(now: &Programmed, peers: &[Peer]) -> Vec<Op> {
    let mut ops = Vec::new();
    let fdb: BTreeSet<(Mac, Ipv4Addr)> = peers.iter().map(|p| (p.mac, p.host)).collect();
    let neigh: BTreeMap<Ipv4Addr, Mac> = peers.iter().map(|p| (p.vtep(), p.mac)).collect();
    let routes: BTreeMap<(Ipv4Addr, u8), Ipv4Addr> = peers
        .iter()
        .map(|p| ((p.cidr.network(), p.cidr.prefix()), p.vtep()))
        .collect();

    for key in now.routes.keys().filter(|k| !routes.contains_key(k)) {
        ops.push(Op::RouteDel(key.0, key.1));
    }
    for ip in now.neigh.keys().filter(|ip| !neigh.contains_key(ip)) {
        ops.push(Op::NeighDel(*ip));
    }
    // A peer whose host moved loses its old remote and gains the new one.
    for (mac, host) in now.fdb.difference(&fdb) {
        ops.push(Op::FdbDel(*mac, *host));
    }
    for (mac, host) in fdb.difference(&now.fdb) {
        ops.push(Op::FdbSet(*mac, *host));
    }
    for (ip, mac) in &neigh {
        if now.neigh.get(ip) != Some(mac) {
            ops.push(Op::NeighSet(*ip, *mac));
        }
    }
    for peer in peers {
        let key = (peer.cidr.network(), peer.cidr.prefix());
        if now.routes.get(&key) != Some(&(Some(peer.vtep()), true)) {
            ops.push(Op::RouteSet(peer.cidr));
        }
    }
    ops
}

#[cfg(test)]
#[path = "peers_tests.rs"]
mod tests;
