//! Pure planning: from what the table holds and what the endpoints ask for,
//! the one `nft -f` batch that gets there and the view after it.
//!
//! The table is fixed-size in rules: two maps and a handful of shared chains.
//!
//! - `services`: `VIP . proto . port : goto <spread>-<n>`, one element per
//!   virtual service;
//! - `backends`: `VIP . proto . port . slot : pod-ip . pod-port`, one element
//!   per upstream, slots `0..n`;
//! - chain `<spread>-<n>` (one per backend count in use, shared by every
//!   service with that many upstreams): `dnat ip to ip daddr . meta l4proto
//!   . th dport . numgen random mod n map @backends`.
//!
//! So an endpoint change is element edits only: the changed slots of that
//! service and, when its upstream count changes, its one `services`
//! element. nft then needs no rule or chain cache, which is what keeps one
//! change at a few milliseconds with 10,000 services (per-service chains or
//! maps made nft load its cache of all of them, ~100 ms per change).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::Spread;
use crate::cpi::ProxySync;
use crate::cpi::service::{Target, VirtualService};

/// The table's name (family `ip`).
pub(crate) const TABLE: &str = "lastbackend";

/// The packet mark bit that tells postrouting to masquerade: connections
/// to a VIP may come from the very pod (or the bridge) they are sent to, or
/// from another host, and either way the reply must pass back through this
/// host's conntrack to be un-DNATed.
pub(crate) const MASQUERADE_MARK: u32 = 0x4000;

/// A shared DNAT chain: the spread and the number of upstreams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SpreadChain {
    pub(crate) spread: Spread,
    pub(crate) upstreams: usize,
}

impl SpreadChain {
    pub(crate) fn name(self) -> String {
        format!("{}-{}", self.spread.chain_prefix(), self.upstreams)
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        let (prefix, n) = name.rsplit_once('-')?;
        let spread = [Spread::Random, Spread::RoundRobin]
            .into_iter()
            .find(|s| s.chain_prefix() == prefix)?;
        let upstreams = n.parse().ok().filter(|&n| n > 0)?;
        Some(Self { spread, upstreams })
    }

    fn rule(self) -> String {
        let mode = match self.spread {
            Spread::Random => "random",
            Spread::RoundRobin => "inc",
        };
        format!(
            "meta mark set meta mark | {MASQUERADE_MARK:#x} dnat ip to ip daddr . meta l4proto \
             . th dport . numgen {mode} mod {} map @backends",
            self.upstreams
        )
    }
}

/// One programmed virtual service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Programmed {
    pub(crate) spread: Spread,
    /// Slot `i` holds upstream `backends[i]`.
    pub(crate) backends: Vec<SocketAddrV4>,
}

impl Programmed {
    fn chain(&self) -> SpreadChain {
        SpreadChain {
            spread: self.spread,
            upstreams: self.backends.len(),
        }
    }
}

/// What the kernel's table holds, as far as this driver knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// No table.
    Absent,
    /// A table this driver cannot make sense of (edited by hand, or from an
    /// incompatible version): it is dropped and rebuilt in the same batch.
    Foreign,
    /// A table in this driver's layout.
    Ours {
        services: BTreeMap<VirtualService, Programmed>,
        chains: BTreeSet<SpreadChain>,
    },
}

/// The outcome of [`plan`].
#[derive(Debug)]
pub(crate) struct Plan {
    /// The `nft -f` input; empty when nothing changes.
    pub(crate) batch: String,
    /// The table after the batch is applied.
    pub(crate) next: Table,
    /// What the batch changes.
    pub(crate) sync: ProxySync,
}

/// The table's skeleton: the two maps, the dispatch from prerouting
/// (traffic from pods, bridges and other hosts) and output (local
/// processes), and the masquerade in postrouting.
///
/// `backends` is declared with `tcp dport` although it holds UDP services
/// too: the key is only typed by it (an `inet_service`), and nft 1.0.6 cannot
/// read a map typed with `th dport` back from the kernel, failing every
/// later rule that names it with "conflicting protocols specified".
pub(crate) fn skeleton() -> String {
    format!(
        "table ip {TABLE} {{
  map services {{ type ipv4_addr . inet_proto . inet_service : verdict; }}
  map backends {{ typeof ip daddr . meta l4proto . tcp dport . numgen random mod 1 : ip daddr . tcp dport; }}
  chain prerouting {{ type nat hook prerouting priority dstnat; policy accept; ip daddr . meta l4proto . th dport vmap @services; }}
  chain output {{ type nat hook output priority -100; policy accept; ip daddr . meta l4proto . th dport vmap @services; }}
  chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; meta mark & {MASQUERADE_MARK:#x} == {MASQUERADE_MARK:#x} masquerade; }}
}}
"
    )
}

/// Upstream slots after a change: upstreams that stay keep their slot, new
/// ones fill the holes, and the tail moves into what is left, so only the
/// slots that really differ are rewritten.
pub(crate) fn reslot(
    old: &[SocketAddrV4],
    port: u16,
    want: &BTreeSet<Ipv4Addr>,
) -> Vec<SocketAddrV4> {
    let mut seen = BTreeSet::new();
    let mut slots: Vec<Option<SocketAddrV4>> = old
        .iter()
        .map(|a| (a.port() == port && want.contains(a.ip()) && seen.insert(*a.ip())).then_some(*a))
        .collect();
    let mut fresh = want
        .iter()
        .filter(|ip| !seen.contains(*ip))
        .map(|ip| SocketAddrV4::new(*ip, port));
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        *slot = fresh.next();
    }
    slots.extend(fresh.map(Some));
    loop {
        while slots.last().is_some_and(Option::is_none) {
            slots.pop();
        }
        match slots.iter().position(Option::is_none) {
            Some(hole) => slots[hole] = slots.pop().flatten(),
            None => break,
        }
    }
    slots.into_iter().flatten().collect()
}

fn service_key(s: &VirtualService) -> String {
    format!("{} . {} . {}", s.vip, s.l4.name(), s.port)
}

/// Element edits, grouped so a batch has one command per map and verb.
#[derive(Default)]
struct Edits {
    delete_services: Vec<String>,
    delete_backends: Vec<String>,
    add_backends: Vec<String>,
    add_services: Vec<String>,
}

impl Edits {
    fn slot(
        &mut self,
        s: &VirtualService,
        slot: usize,
        old: Option<&SocketAddrV4>,
        new: Option<&SocketAddrV4>,
    ) {
        if old == new {
            return;
        }
        let key = format!("{} . {slot}", service_key(s));
        if old.is_some() {
            self.delete_backends.push(key.clone());
        }
        if let Some(new) = new {
            self.add_backends
                .push(format!("{key} : {} . {}", new.ip(), new.port()));
        }
    }
}

/// Whether `programmed` already is `target` with `spread`: the common case,
/// checked without allocating so a sync over 10,000 unchanged services
/// costs microseconds.
fn unchanged(programmed: &Programmed, target: &Target, spread: Spread) -> bool {
    programmed.spread == spread
        && programmed.backends.len() == target.upstreams.len()
        && programmed
            .backends
            .iter()
            .all(|a| a.port() == target.port && target.upstreams.contains(a.ip()))
}

/// A batch in the making.
struct Planner {
    batch: String,
    services: BTreeMap<VirtualService, Programmed>,
    chains: BTreeSet<SpreadChain>,
    edits: Edits,
    sync: ProxySync,
    spread: Spread,
}

impl Planner {
    fn new(table: Table, spread: Spread) -> Self {
        let mut batch = String::new();
        let (services, chains) = match table {
            Table::Ours { services, chains } => (services, chains),
            Table::Absent => {
                batch.push_str(&skeleton());
                (BTreeMap::new(), BTreeSet::new())
            }
            Table::Foreign => {
                let _ = writeln!(batch, "delete table ip {TABLE}");
                batch.push_str(&skeleton());
                (BTreeMap::new(), BTreeSet::new())
            }
        };
        Self {
            batch,
            services,
            chains,
            edits: Edits::default(),
            sync: ProxySync::default(),
            spread,
        }
    }

    /// Makes `service` send to `target`.
    fn set(&mut self, service: &VirtualService, target: &Target) {
        let old = self.services.get(service);
        if old.is_some_and(|old| unchanged(old, target, self.spread)) {
            return;
        }
        let before = old.map_or(&[][..], |p| &p.backends[..]);
        let programmed = Programmed {
            spread: self.spread,
            backends: reslot(before, target.port, &target.upstreams),
        };
        for slot in 0..before.len().max(programmed.backends.len()) {
            let (was, is) = (before.get(slot), programmed.backends.get(slot));
            self.edits.slot(service, slot, was, is);
        }
        let was: BTreeSet<_> = before.iter().collect();
        let is: BTreeSet<_> = programmed.backends.iter().collect();
        self.sync.backends_changed += was.symmetric_difference(&is).count();
        match old {
            None => self.sync.services_added += 1,
            Some(old) if old.chain() == programmed.chain() => {}
            Some(_) => self.edits.delete_services.push(service_key(service)),
        }
        if old.is_none_or(|old| old.chain() != programmed.chain()) {
            let goto = programmed.chain().name();
            self.edits
                .add_services
                .push(format!("{} : goto {goto}", service_key(service)));
        }
        self.services.insert(*service, programmed);
    }

    /// Removes `service` if it is programmed.
    fn remove(&mut self, service: &VirtualService) {
        let Some(old) = self.services.remove(service) else {
            return;
        };
        self.sync.services_removed += 1;
        self.sync.backends_changed += old.backends.len();
        self.edits.delete_services.push(service_key(service));
        for (slot, backend) in old.backends.iter().enumerate() {
            self.edits.slot(service, slot, Some(backend), None);
        }
    }

    fn finish(self) -> Plan {
        let Self {
            mut batch,
            services,
            chains,
            edits,
            sync,
            ..
        } = self;
        let needed: BTreeSet<SpreadChain> = services.values().map(Programmed::chain).collect();
        for chain in needed.difference(&chains) {
            let name = chain.name();
            let _ = writeln!(batch, "add chain ip {TABLE} {name}");
            let _ = writeln!(batch, "add rule ip {TABLE} {name} {}", chain.rule());
        }
        for (verb, map, elements) in [
            ("delete", "services", &edits.delete_services),
            ("delete", "backends", &edits.delete_backends),
            ("add", "backends", &edits.add_backends),
            ("add", "services", &edits.add_services),
        ] {
            if !elements.is_empty() {
                let _ = writeln!(
                    batch,
                    "{verb} element ip {TABLE} {map} {{ {} }}",
                    elements.join(", ")
                );
            }
        }
        // A chain goes only after the elements that jump to it are gone.
        for chain in chains.difference(&needed) {
            let name = chain.name();
            let _ = writeln!(
                batch,
                "flush chain ip {TABLE} {name}\ndelete chain ip {TABLE} {name}"
            );
        }
        Plan {
            batch,
            next: Table::Ours {
                services,
                chains: needed,
            },
            sync,
        }
    }
}

/// Plans the batch that turns `table` into `desired` with `spread`.
pub(crate) fn plan(
    table: Table,
    desired: &BTreeMap<VirtualService, Target>,
    spread: Spread,
) -> Plan {
    let mut planner = Planner::new(table, spread);
    for (service, target) in desired {
        planner.set(service, target);
    }
    let gone: Vec<VirtualService> = planner
        .services
        .keys()
        .filter(|s| !desired.contains_key(*s))
        .copied()
        .collect();
    for service in &gone {
        planner.remove(service);
    }
    planner.finish()
}

/// Plans only `updates` (a service's new target, or `None` to remove it)
/// against a table of ours, leaving every other service as it is.
pub(crate) fn plan_changes(
    table: Table,
    updates: &BTreeMap<VirtualService, Option<Target>>,
    spread: Spread,
) -> Plan {
    let mut planner = Planner::new(table, spread);
    for (service, target) in updates {
        match target {
            Some(target) => planner.set(service, target),
            None => planner.remove(service),
        }
    }
    planner.finish()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
