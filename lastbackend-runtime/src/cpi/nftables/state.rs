//! Reading the table back from `nft -j list table`, so a restarted agent
//! adopts what it programmed before instead of reprogramming it or leaving
//! leftovers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use serde_json::Value;

use super::plan::{Programmed, SpreadChain, Table};
use crate::cpi::service::{L4, VirtualService};

const BASE_CHAINS: [&str; 3] = ["prerouting", "output", "postrouting"];

/// The table in `listing` (nft's JSON). Anything that does not fit this
/// driver's layout makes it [`Table::Foreign`], to be rebuilt.
pub(crate) fn parse(listing: &str) -> Table {
    let Ok(json) = serde_json::from_str::<Value>(listing) else {
        return Table::Foreign;
    };
    parse_value(&json).unwrap_or(Table::Foreign)
}

fn parse_value(json: &Value) -> Option<Table> {
    let objects = json.get("nftables")?.as_array()?;
    let mut chains = BTreeSet::new();
    let mut base = 0;
    let mut services = None;
    let mut backends = None;
    for object in objects {
        if let Some(chain) = object.get("chain") {
            let name = chain.get("name")?.as_str()?;
            if BASE_CHAINS.contains(&name) {
                base += 1;
            } else {
                chains.insert(SpreadChain::parse(name)?);
            }
        } else if let Some(map) = object.get("map") {
            let elements = map.get("elem").and_then(Value::as_array);
            let elements = elements.map_or(&[][..], Vec::as_slice);
            match map.get("name")?.as_str()? {
                "services" => services = Some(parse_services(elements)?),
                "backends" => backends = Some(parse_backends(elements)?),
                _ => return None,
            }
        }
    }
    if base != BASE_CHAINS.len() {
        return None;
    }
    let (services, mut backends) = (services?, backends?);
    let mut programmed = BTreeMap::new();
    for (service, chain) in services {
        if !chains.contains(&chain) {
            return None;
        }
        let slots = backends.remove(&service)?;
        // Slots must be exactly 0..n, as many as the chain spreads over.
        if slots.len() != chain.upstreams || slots.keys().copied().ne(0..chain.upstreams) {
            return None;
        }
        let backends = slots.into_values().collect();
        programmed.insert(
            service,
            Programmed {
                spread: chain.spread,
                backends,
            },
        );
    }
    // Backends of no service are leftovers this layout never writes.
    backends.is_empty().then_some(Table::Ours {
        services: programmed,
        chains,
    })
}

fn concat(value: &Value) -> Option<&[Value]> {
    value.get("concat")?.as_array().map(Vec::as_slice)
}

fn service(parts: &[Value]) -> Option<VirtualService> {
    Some(VirtualService {
        vip: parts.first()?.as_str()?.parse().ok()?,
        l4: L4::from_name(parts.get(1)?.as_str()?)?,
        port: u16::try_from(parts.get(2)?.as_u64()?).ok()?,
    })
}

fn pair(element: &Value) -> Option<(&Value, &Value)> {
    match element.as_array()?.as_slice() {
        [key, value] => Some((key, value)),
        _ => None,
    }
}

fn parse_services(elements: &[Value]) -> Option<BTreeMap<VirtualService, SpreadChain>> {
    elements
        .iter()
        .map(|element| {
            let (key, verdict) = pair(element)?;
            let target = verdict.get("goto")?.get("target")?.as_str()?;
            Some((service(concat(key)?)?, SpreadChain::parse(target)?))
        })
        .collect()
}

type Slots = BTreeMap<usize, SocketAddrV4>;

fn parse_backends(elements: &[Value]) -> Option<BTreeMap<VirtualService, Slots>> {
    let mut backends: BTreeMap<VirtualService, Slots> = BTreeMap::new();
    for element in elements {
        let (key, value) = pair(element)?;
        let key = concat(key)?;
        let slot = usize::try_from(key.get(3)?.as_u64()?).ok()?;
        let upstream = concat(value)?;
        let ip: Ipv4Addr = upstream.first()?.as_str()?.parse().ok()?;
        let port = u16::try_from(upstream.get(1)?.as_u64()?).ok()?;
        let slots = backends.entry(service(key)?).or_default();
        slots.insert(slot, SocketAddrV4::new(ip, port));
    }
    Some(backends)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpi::nftables::Spread;

    /// Trimmed from `nft -j list table ip lastbackend` (nftables 1.0.6).
    const LISTING: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
      {"table": {"family": "ip", "name": "lastbackend", "handle": 1}},
      {"map": {"family": "ip", "name": "services", "table": "lastbackend", "type": ["ipv4_addr", "inet_proto", "inet_service"], "handle": 1, "map": "verdict",
        "elem": [[{"concat": ["10.96.0.1", "tcp", 80]}, {"goto": {"target": "random-2"}}]]}},
      {"map": {"family": "ip", "name": "backends", "table": "lastbackend", "type": ["ipv4_addr", "inet_proto", "inet_service", "integer"], "handle": 2, "map": ["ipv4_addr", "inet_service"],
        "elem": [[{"concat": ["10.96.0.1", "tcp", 80, 1]}, {"concat": ["10.0.0.2", 8080]}], [{"concat": ["10.96.0.1", "tcp", 80, 0]}, {"concat": ["10.0.0.1", 8080]}]]}},
      {"chain": {"family": "ip", "table": "lastbackend", "name": "prerouting", "handle": 3}},
      {"chain": {"family": "ip", "table": "lastbackend", "name": "output", "handle": 4}},
      {"chain": {"family": "ip", "table": "lastbackend", "name": "postrouting", "handle": 5}},
      {"chain": {"family": "ip", "table": "lastbackend", "name": "random-2", "handle": 6}}]}"#;

    #[test]
    fn a_listing_in_our_layout_is_adopted() {
        let Table::Ours { services, chains } = parse(LISTING) else {
            panic!("not adopted");
        };
        let (service, programmed) = services.into_iter().next().unwrap();
        assert_eq!(service.to_string(), "10.96.0.1:80/tcp");
        assert_eq!(programmed.spread, Spread::Random);
        let backends: Vec<String> = programmed
            .backends
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(backends, ["10.0.0.1:8080", "10.0.0.2:8080"]);
        assert_eq!(chains.len(), 1);
    }

    #[test]
    fn missing_slots_orphans_or_strangers_make_it_foreign() {
        let slot_0 =
            r#", [{"concat": ["10.96.0.1", "tcp", 80, 0]}, {"concat": ["10.0.0.1", 8080]}]"#;
        assert!(LISTING.contains(slot_0));
        let missing_slot = LISTING.replace(slot_0, "");
        assert!(serde_json::from_str::<Value>(&missing_slot).is_ok());
        assert_eq!(parse(&missing_slot), Table::Foreign);
        let orphan = LISTING.replace(
            r#""elem": [[{"concat": ["10.96.0.1", "tcp", 80]}, {"goto": {"target": "random-2"}}]]"#,
            r#""elem": []"#,
        );
        assert_eq!(parse(&orphan), Table::Foreign);
        let stranger = LISTING.replace(r#""name": "random-2""#, r#""name": "mine""#);
        assert_eq!(parse(&stranger), Table::Foreign);
        assert_eq!(parse("not json"), Table::Foreign);
    }
}
