//! The driver-neutral view of what a proxy programs: endpoints flattened
//! into one virtual service per VIP, port and transport protocol, each with
//! the set of pod addresses behind it. Pure, so both drivers share it and
//! unit tests need no kernel.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use lastbackend_core::model::EndpointSpec;
use lastbackend_core::units::Protocol;

/// A transport protocol a virtual service listens on. `*` in a port
/// mapping becomes two services, one of each (the original made both UDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum L4 {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
}

impl L4 {
    /// The name nft and the docs use.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }

    /// Parses nft's protocol name.
    #[cfg(feature = "nftables")]
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "tcp" => Some(Self::Tcp),
            "udp" => Some(Self::Udp),
            _ => None,
        }
    }

    fn of(protocol: Protocol) -> &'static [Self] {
        match protocol {
            Protocol::Tcp => &[Self::Tcp],
            Protocol::Udp => &[Self::Udp],
            Protocol::Both => &[Self::Tcp, Self::Udp],
        }
    }
}

/// One virtual service: what a client connects to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct VirtualService {
    /// The service VIP.
    pub(crate) vip: Ipv4Addr,
    /// Its transport protocol.
    pub(crate) l4: L4,
    /// The port on the VIP.
    pub(crate) port: u16,
}

impl fmt::Display for VirtualService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.vip, self.port, self.l4.name())
    }
}

/// Where a virtual service sends connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Target {
    /// The port on the pods.
    pub(crate) port: u16,
    /// The pods' addresses.
    pub(crate) upstreams: BTreeSet<Ipv4Addr>,
}

/// The virtual services `endpoints` ask for. Endpoints without a VIP yet or
/// without ready upstreams program nothing (a connection to a service with
/// no pods has nowhere to go either way). IPv6 VIPs and upstreams are left
/// out: both drivers program IPv4 only. When two endpoints claim the same
/// VIP, port and protocol, the first by selflink wins, so the outcome does
/// not depend on map iteration.
pub(crate) fn desired(
    endpoints: &BTreeMap<String, EndpointSpec>,
) -> BTreeMap<VirtualService, Target> {
    let mut services = BTreeMap::new();
    for spec in endpoints.values() {
        for (service, target) in of(spec) {
            services.entry(service).or_insert(target);
        }
    }
    services
}

/// The virtual services one endpoint asks for (see [`desired`]).
pub(crate) fn of(spec: &EndpointSpec) -> Vec<(VirtualService, Target)> {
    let Some(IpAddr::V4(vip)) = spec.ip else {
        return Vec::new();
    };
    let upstreams: BTreeSet<Ipv4Addr> = spec
        .upstreams
        .iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(ip) => Some(*ip),
            IpAddr::V6(_) => None,
        })
        .collect();
    if upstreams.is_empty() {
        return Vec::new();
    }
    let mut services = Vec::new();
    for mapping in &spec.ports {
        for &l4 in L4::of(mapping.protocol) {
            let service = VirtualService {
                vip,
                l4,
                port: mapping.host_port.unwrap_or(mapping.container_port),
            };
            let target = Target {
                port: mapping.container_port,
                upstreams: upstreams.clone(),
            };
            services.push((service, target));
        }
    }
    services
}

/// More changed endpoints than this and [`changed_selflinks`] gives up: a
/// full [`desired`] is cheaper than a search per affected service.
#[cfg(feature = "nftables")]
const MAX_CHANGED: usize = 64;

/// The selflinks whose endpoint differs between `previous` and
/// `endpoints` (added, removed or changed), or `None` past [`MAX_CHANGED`].
/// One lockstep walk over both sorted maps: no per-key lookups, which at
/// 10,000 endpoints would cost milliseconds.
#[cfg(feature = "nftables")]
pub(crate) fn changed_selflinks<'a>(
    previous: &'a BTreeMap<String, EndpointSpec>,
    endpoints: &'a BTreeMap<String, EndpointSpec>,
) -> Option<Vec<&'a String>> {
    use std::cmp::Ordering;

    let mut changed = Vec::new();
    let (mut old, mut new) = (previous.iter().peekable(), endpoints.iter().peekable());
    loop {
        let step = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match step {
            Ordering::Less => changed.push(old.next()?.0),
            Ordering::Greater => changed.push(new.next()?.0),
            Ordering::Equal => {
                let ((key, was), (_, is)) = (old.next()?, new.next()?);
                if was != is {
                    changed.push(key);
                }
            }
        }
        if changed.len() > MAX_CHANGED {
            return None;
        }
    }
    Some(changed)
}

/// What the `changed` selflinks change, service by service: each affected
/// service mapped to its new target (`None`: no longer wanted).
#[cfg(feature = "nftables")]
pub(crate) fn changes(
    previous: &BTreeMap<String, EndpointSpec>,
    endpoints: &BTreeMap<String, EndpointSpec>,
    changed: &[&String],
) -> BTreeMap<VirtualService, Option<Target>> {
    let affected: BTreeSet<VirtualService> = changed
        .iter()
        .flat_map(|selflink| [previous.get(*selflink), endpoints.get(*selflink)])
        .flatten()
        .flat_map(of)
        .map(|(service, _)| service)
        .collect();
    affected
        .into_iter()
        .map(|service| {
            // The first endpoint (by selflink) claiming it wins, as in `desired`.
            let winner = endpoints
                .values()
                .filter(|spec| spec.ip == Some(IpAddr::V4(service.vip)))
                .find_map(|spec| of(spec).into_iter().find(|(s, _)| *s == service))
                .map(|(_, target)| target);
            (service, winner)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ip: &str, ports: &[&str], upstreams: &[&str]) -> EndpointSpec {
        EndpointSpec {
            ip: Some(ip.parse().unwrap()),
            domain: "s.ns.lb.local".into(),
            ports: ports.iter().map(|p| p.parse().unwrap()).collect(),
            upstreams: upstreams.iter().map(|u| u.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn star_is_one_tcp_and_one_udp_service() {
        let eps = BTreeMap::from([("a".into(), spec("10.96.0.1", &["53:5353/*"], &["10.0.0.1"]))]);
        let got = desired(&eps);
        let keys: Vec<_> = got.keys().map(ToString::to_string).collect();
        assert_eq!(keys, ["10.96.0.1:53/tcp", "10.96.0.1:53/udp"]);
        assert!(got.values().all(|t| t.port == 5353));
    }

    #[test]
    fn vip_port_defaults_to_the_pod_port_and_empty_or_v6_is_skipped() {
        let eps = BTreeMap::from([
            (
                "a".into(),
                spec("10.96.0.1", &["8080"], &["10.0.0.1", "fd00::1"]),
            ),
            ("b".into(), spec("10.96.0.2", &["80"], &[])),
            ("c".into(), spec("fd00::96", &["80"], &["10.0.0.3"])),
        ]);
        let got = desired(&eps);
        assert_eq!(got.len(), 1);
        let (service, target) = got.iter().next().unwrap();
        assert_eq!(service.to_string(), "10.96.0.1:8080/tcp");
        assert_eq!(target.port, 8080);
        assert_eq!(
            target.upstreams,
            BTreeSet::from(["10.0.0.1".parse().unwrap()])
        );
    }

    #[cfg(feature = "nftables")]
    #[test]
    fn changes_agree_with_a_full_recompute() {
        let before = BTreeMap::from([
            ("a".to_owned(), spec("10.96.0.1", &["80:1"], &["10.0.0.1"])),
            (
                "b".to_owned(),
                spec("10.96.0.1", &["80:2", "81"], &["10.0.0.2"]),
            ),
            ("c".to_owned(), spec("10.96.0.3", &["80"], &["10.0.0.3"])),
        ]);
        let mut after = before.clone();
        after.remove("a");
        after.insert(
            "c".into(),
            spec("10.96.0.3", &["80"], &["10.0.0.3", "10.0.0.4"]),
        );
        after.insert("d".into(), spec("10.96.0.4", &["53/*"], &["10.0.0.5"]));
        let changed = changed_selflinks(&before, &after).unwrap();
        assert_eq!(changed, ["a", "c", "d"]);
        let updates = changes(&before, &after, &changed);
        let mut patched = desired(&before);
        for (service, target) in updates {
            match target {
                Some(target) => patched.insert(service, target),
                None => patched.remove(&service),
            };
        }
        assert_eq!(patched, desired(&after));
        // b's port 81 was not affected by anything and is not in the updates.
        let updates = changes(&before, &after, &changed);
        assert!(updates.keys().all(|s| s.port != 81), "{updates:?}");
        assert_eq!(
            changed_selflinks(&after, &after).unwrap(),
            Vec::<&String>::new()
        );
    }

    #[test]
    fn the_first_selflink_wins_a_clash() {
        let eps = BTreeMap::from([
            ("b".into(), spec("10.96.0.1", &["80:2"], &["10.0.0.2"])),
            ("a".into(), spec("10.96.0.1", &["80:1"], &["10.0.0.1"])),
        ]);
        assert_eq!(desired(&eps).values().next().unwrap().port, 1);
    }
}
