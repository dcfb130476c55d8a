//! [`ServiceZone`]: the zone's records, built from endpoints, answered
//! without IO.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hickory_server::proto::rr::rdata::{A, AAAA, NS, SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType};
use lastbackend_core::manifest::is_dns_label;
use lastbackend_core::model::Endpoint;
use lastbackend_core::storage::Revision;
use lastbackend_core::units::Protocol;

use super::Error;

/// The TTL a zone gives its records unless told otherwise, in seconds.
pub const DEFAULT_TTL: u32 = 30;

/// SRV priority and weight: one target per name, the VIP, so any value
/// would do; these are the customary ones.
const SRV_PRIORITY: u16 = 0;
const SRV_WEIGHT: u16 = 100;

/// What a [`ServiceZone`] serves: its name, TTL and nameserver address.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ZoneConfig {
    /// The zone, fully qualified (`lb.local.`).
    pub origin: Name,
    /// The TTL of every record, negative answers included, in seconds.
    pub ttl: u32,
    /// Where this server answers, served as `ns.<zone>` for the zone's NS
    /// record; without it the NS target has no address record.
    pub nameserver: Option<IpAddr>,
}

impl ZoneConfig {
    /// A zone named `zone` (`lb.local`, with or without the final dot) with
    /// the [`DEFAULT_TTL`].
    pub fn new(zone: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidZone {
            zone: zone.to_owned(),
            reason,
        };
        let trimmed = zone.trim_end_matches('.');
        if trimmed.is_empty() {
            return Err(invalid(
                "empty: give a domain such as lb.local (the root zone would capture every name)"
                    .into(),
            ));
        }
        let mut origin = Name::from_ascii(trimmed).map_err(|e| invalid(e.to_string()))?;
        origin.set_fqdn(true);
        // Core's one label rule (DNS-1123, the rule of the service and
        // namespace names below it), without case: DNS names have none.
        let label = |label: &[u8]| {
            std::str::from_utf8(label).is_ok_and(|l| is_dns_label(&l.to_ascii_lowercase()))
        };
        if !origin.iter().all(label) {
            return Err(invalid(
                "accepted: DNS-1123 labels (letters, digits and '-', starting and ending \
                 with a letter or digit, at most 63) separated by dots"
                    .into(),
            ));
        }
        Ok(Self {
            origin: origin.to_lowercase(),
            ttl: DEFAULT_TTL,
            nameserver: None,
        })
    }

    /// Sets the TTL in seconds.
    pub fn with_ttl(mut self, ttl: u32) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the address served for `ns.<zone>`.
    pub fn with_nameserver(mut self, address: IpAddr) -> Self {
        self.nameserver = Some(address);
        self
    }
}

/// The outcome of a lookup in a [`ServiceZone`].
#[derive(Clone, Debug)]
pub enum Answer {
    /// The name has records of the asked type.
    Records {
        /// The answer's record sets.
        answers: Vec<Arc<RecordSet>>,
        /// The address of the SRV target, for the additional section.
        additionals: Option<Arc<RecordSet>>,
    },
    /// The name exists but has no record of that type (NOERROR, no data).
    NoData,
    /// The name is in the zone and does not exist.
    NxDomain,
    /// The name is not in this zone.
    NotInZone,
}

/// The records at one name.
#[derive(Debug, Default)]
struct Node {
    sets: Vec<Arc<RecordSet>>,
    additionals: Option<Arc<RecordSet>>,
}

/// The names an endpoint owns, to drop them when it changes or goes.
#[derive(Debug)]
struct Owned {
    namespace: LowerName,
    names: Vec<LowerName>,
}

#[derive(Debug, Default)]
struct Table {
    names: HashMap<LowerName, Node>,
    /// `<namespace>.<zone>` with how many endpoints are below it: such a
    /// name exists (answers NOERROR) while the count is positive.
    namespaces: HashMap<LowerName, usize>,
    owners: HashMap<String, Owned>,
    revision: Revision,
    apex: Node,
}

/// The zone's records, by name, built from endpoints and kept current by
/// whoever feeds it (usually an [`EndpointWatch`](super::EndpointWatch)).
/// Lookups take a read lock and clone `Arc`s: no IO, no allocation of
/// records.
#[derive(Debug)]
pub struct ServiceZone {
    config: ZoneConfig,
    origin: LowerName,
    table: RwLock<Table>,
}

impl ServiceZone {
    /// An empty zone.
    pub fn new(config: ZoneConfig) -> Self {
        let zone = Self {
            origin: LowerName::new(&config.origin),
            config,
            table: RwLock::new(Table::default()),
        };
        let fresh = zone.empty_table(0);
        *zone.write() = fresh;
        zone
    }

    /// The zone's settings.
    pub fn config(&self) -> &ZoneConfig {
        &self.config
    }

    /// The zone's name.
    pub fn origin(&self) -> &LowerName {
        &self.origin
    }

    /// The store revision the records reflect (also the SOA serial, modulo
    /// 2^32).
    pub fn revision(&self) -> Revision {
        self.read().revision
    }

    /// How many endpoints have names in the zone.
    pub fn len(&self) -> usize {
        self.read().owners.len()
    }

    /// No endpoint has a name in the zone.
    pub fn is_empty(&self) -> bool {
        self.read().owners.is_empty()
    }

    // Writers replace whole entries: a panic cannot leave one half-made.
    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces every record with those of `endpoints`, as of `revision`.
    pub fn replace<'a>(
        &self,
        endpoints: impl IntoIterator<Item = &'a Endpoint>,
        revision: Revision,
    ) {
        let mut table = self.empty_table(revision);
        for endpoint in endpoints {
            self.insert(&mut table, endpoint);
        }
        *self.write() = table;
    }

    /// Adds or replaces the records of one endpoint, as of `revision`.
    pub fn upsert(&self, endpoint: &Endpoint, revision: Revision) {
        let mut table = self.write();
        Self::drop_owner(&mut table, &endpoint.meta.self_link);
        self.insert(&mut table, endpoint);
        self.set_revision(&mut table, revision);
    }

    /// Drops the records of the endpoint with this selflink
    /// (`<namespace>:<service>`), as of `revision`.
    pub fn remove(&self, self_link: &str, revision: Revision) {
        let mut table = self.write();
        Self::drop_owner(&mut table, self_link);
        self.set_revision(&mut table, revision);
    }

    /// Answers `rtype` for `name` (`ANY`: every type at the name).
    pub fn resolve(&self, name: &LowerName, rtype: RecordType) -> Answer {
        if !self.origin.zone_of(name) {
            return Answer::NotInZone;
        }
        let table = self.read();
        let node = if *name == self.origin {
            &table.apex
        } else if let Some(node) = table.names.get(name) {
            node
        } else if table.namespaces.contains_key(name) {
            return Answer::NoData;
        } else {
            return Answer::NxDomain;
        };
        let answers: Vec<_> = node
            .sets
            .iter()
            .filter(|set| rtype == RecordType::ANY || set.record_type() == rtype)
            .cloned()
            .collect();
        if answers.is_empty() {
            return Answer::NoData;
        }
        let additionals = node
            .additionals
            .clone()
            .filter(|_| matches!(rtype, RecordType::SRV | RecordType::ANY));
        Answer::Records {
            answers,
            additionals,
        }
    }

    fn empty_table(&self, revision: Revision) -> Table {
        let mut table = Table::default();
        if let Some(address) = self.config.nameserver {
            let name = self.nameserver_name();
            table.names.insert(
                LowerName::new(&name),
                Node {
                    sets: vec![self.address_set(&name, address)],
                    additionals: None,
                },
            );
        }
        self.set_revision(&mut table, revision);
        table
    }

    fn nameserver_name(&self) -> Name {
        Name::from_ascii("ns")
            .and_then(|ns| ns.append_domain(&self.config.origin))
            .expect("`ns` under a valid zone is a valid name")
    }

    /// Sets the revision and the SOA serial that follows it.
    fn set_revision(&self, table: &mut Table, revision: Revision) {
        table.revision = revision;
        let origin = &self.config.origin;
        let ttl = self.config.ttl;
        let nameserver = self.nameserver_name();
        let hostmaster = Name::from_ascii("hostmaster")
            .and_then(|h| h.append_domain(origin))
            .expect("`hostmaster` under a valid zone is a valid name");
        // The serial only has to grow with every change; the store revision
        // does (wrapping after 2^32 writes is what RFC 1982 arithmetic is for).
        let soa = SOA::new(
            nameserver.clone(),
            hostmaster,
            revision as u32,
            3600,
            600,
            86400,
            ttl,
        );
        table.apex = Node {
            sets: vec![
                single_set(origin, ttl, RData::SOA(soa)),
                single_set(origin, ttl, RData::NS(NS(nameserver))),
            ],
            additionals: None,
        };
    }

    fn drop_owner(table: &mut Table, self_link: &str) {
        let Some(owned) = table.owners.remove(self_link) else {
            return;
        };
        for name in &owned.names {
            table.names.remove(name);
        }
        if let Some(count) = table.namespaces.get_mut(&owned.namespace) {
            *count -= 1;
            if *count == 0 {
                table.namespaces.remove(&owned.namespace);
            }
        }
    }

    /// Adds an endpoint's names to a table it is not in.
    fn insert(&self, table: &mut Table, endpoint: &Endpoint) {
        let Some((namespace, nodes)) = self.nodes(endpoint) else {
            tracing::warn!(
                endpoint = endpoint.meta.self_link,
                "the endpoint's selflink is not <namespace>:<service> with DNS labels; it gets no name"
            );
            return;
        };
        let mut names = Vec::with_capacity(nodes.len());
        for (name, node) in nodes {
            names.push(name.clone());
            table.names.insert(name, node);
        }
        *table.namespaces.entry(namespace.clone()).or_default() += 1;
        table
            .owners
            .insert(endpoint.meta.self_link.clone(), Owned { namespace, names });
    }

    /// The names of one endpoint and the namespace name above them.
    fn nodes(&self, endpoint: &Endpoint) -> Option<(LowerName, Vec<(LowerName, Node)>)> {
        let (namespace, service) = endpoint.meta.self_link.split_once(':')?;
        if !is_dns_label(namespace) || !is_dns_label(service) {
            return None;
        }
        let namespace = child(&self.config.origin, namespace)?;
        let host = child(&namespace, service)?;
        let ttl = self.config.ttl;
        let address = endpoint.spec.ip.map(|ip| self.address_set(&host, ip));
        let mut nodes = vec![(
            LowerName::new(&host),
            Node {
                sets: address.iter().cloned().collect(),
                additionals: None,
            },
        )];
        for (protocol, label) in [(Protocol::Tcp, "_tcp"), (Protocol::Udp, "_udp")] {
            let ports: BTreeSet<u16> = endpoint
                .spec
                .ports
                .iter()
                .filter(|p| p.protocol == protocol || p.protocol == Protocol::Both)
                .map(|p| p.host_port.unwrap_or(p.container_port))
                .collect();
            if ports.is_empty() {
                continue;
            }
            let by_protocol = child(&host, label)?;
            let mut all = RecordSet::with_ttl(by_protocol.clone(), RecordType::SRV, ttl);
            for &port in &ports {
                let srv = RData::SRV(SRV::new(SRV_PRIORITY, SRV_WEIGHT, port, host.clone()));
                all.insert(Record::from_rdata(by_protocol.clone(), ttl, srv.clone()), 0);
                let by_port = child(&by_protocol, &format!("_{port}"))?;
                nodes.push((
                    LowerName::new(&by_port),
                    Node {
                        sets: vec![single_set(&by_port, ttl, srv)],
                        additionals: address.clone(),
                    },
                ));
            }
            nodes.push((
                LowerName::new(&by_protocol),
                Node {
                    sets: vec![Arc::new(all)],
                    additionals: address.clone(),
                },
            ));
        }
        Some((LowerName::new(&namespace), nodes))
    }

    fn address_set(&self, name: &Name, ip: IpAddr) -> Arc<RecordSet> {
        let rdata = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        single_set(name, self.config.ttl, rdata)
    }
}

/// `label.parent`, if `label` is one valid label (lowercased: names are
/// compared without case anyway, and answers then read the same).
fn child(parent: &Name, label: &str) -> Option<Name> {
    if label.is_empty() || label.contains('.') {
        return None;
    }
    Name::from_ascii(label.to_ascii_lowercase())
        .and_then(|name| name.append_domain(parent))
        .ok()
}

fn single_set(name: &Name, ttl: u32, rdata: RData) -> Arc<RecordSet> {
    let mut set = RecordSet::with_ttl(name.clone(), rdata.record_type(), ttl);
    set.insert(Record::from_rdata(name.clone(), ttl, rdata), 0);
    Arc::new(set)
}

#[cfg(test)]
mod tests;
