//! The `ipvs` proxy driver: one IPVS virtual service (round robin, NAT) per
//! VIP, port and protocol, over the kernel's generic netlink family `IPVS`
//! (the `ipvs` crate on crates.io is an empty placeholder). VIPs are bound
//! as /32 addresses to a dummy interface, `lb-ipvs`, so the host accepts
//! packets for them and IPVS sees them on input.
//!
//! Changes are incremental like the nftables driver's: a service's
//! destinations are added and removed one by one; nothing is flushed. The
//! netlink sockets are opened in the calling thread's network namespace.

mod message;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

use async_trait::async_trait;
use futures::{Stream, StreamExt, TryStreamExt};
use genetlink::GenetlinkHandle;
use lastbackend_core::model::EndpointSpec;
use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use netlink_packet_generic::GenlMessage;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use tokio::sync::Mutex;

use super::service::{self, L4, VirtualService};
use super::{Cpi, ProxySync};
use crate::{Error, Result};
use message::{IpvsMessage, Service};

/// The dummy interface that holds the VIPs.
pub const INTERFACE: &str = "lb-ipvs";

/// Whether this kernel has IPVS: `/proc/net/ip_vs` exists or the `IPVS`
/// generic netlink family resolves (which also loads the module when it
/// is available but not loaded).
pub async fn available() -> bool {
    if std::path::Path::new("/proc/net/ip_vs").exists() {
        return true;
    }
    let Ok((connection, handle, _)) = genetlink::new_connection() else {
        return false;
    };
    let task = tokio::spawn(connection);
    let resolved = handle.resolve_family::<IpvsMessage>().await.is_ok();
    task.abort();
    resolved
}

fn backend(err: impl std::fmt::Display) -> Error {
    Error::backend("ipvs", err)
}

/// What a service is programmed with: its destinations.
type Programmed = BTreeMap<VirtualService, BTreeSet<SocketAddrV4>>;

/// The IPVS driver.
#[derive(Debug)]
pub struct Ipvs {
    genl: GenetlinkHandle,
    route: rtnetlink::Handle,
    /// What the kernel holds; `None` until read back, and after a failure.
    state: Mutex<Option<Programmed>>,
}

impl Ipvs {
    /// A driver on this thread's network namespace; spawns the two netlink
    /// connections on the current tokio runtime.
    pub async fn host() -> Result<Self> {
        let (connection, genl, _) = genetlink::new_connection().map_err(backend)?;
        tokio::spawn(connection);
        let (connection, route, _) = rtnetlink::new_connection().map_err(backend)?;
        tokio::spawn(connection);
        Ok(Self {
            genl,
            route,
            state: Mutex::new(None),
        })
    }

    /// Sends one request; returns the replies of a dump, nothing for an ACK.
    async fn call(&self, message: IpvsMessage, dump: bool) -> Result<Vec<IpvsMessage>> {
        let what = format!("{:?}", message.command);
        let mut request = NetlinkMessage::from(GenlMessage::from_payload(message));
        request.header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        let mut handle = self.genl.clone();
        let mut replies = handle.request(request).await.map_err(backend)?;
        let mut out = Vec::new();
        while let Some(reply) = replies.next().await {
            match reply.map_err(backend)?.payload {
                NetlinkPayload::InnerMessage(genl) => out.push(genl.payload),
                NetlinkPayload::Error(err) if err.code.is_some() => {
                    return Err(backend(format!("{what}: {}", err.to_io())));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The services this driver programmed: those on a VIP bound to
    /// `lb-ipvs`, so another IPVS user's services are left alone.
    async fn read_back(&self) -> Result<Programmed> {
        let ours: BTreeSet<Ipv4Addr> = match self.find_interface().await {
            Some(index) => self.bound(index).await?.iter().filter_map(v4_of).collect(),
            None => BTreeSet::new(),
        };
        let mut programmed = Programmed::new();
        for reply in self.call(message::get_services(), true).await? {
            let Some(service) = Service::from_reply(&reply).filter(|s| ours.contains(&s.addr))
            else {
                continue;
            };
            let Some(l4) = [L4::Tcp, L4::Udp]
                .into_iter()
                .find(|l4| protocol(*l4) == service.protocol)
            else {
                continue;
            };
            let dests = self.call(service.get_dests(), true).await?;
            let dests = dests
                .iter()
                .filter_map(message::dest_of)
                .map(|(ip, port)| SocketAddrV4::new(ip, port));
            let key = VirtualService {
                vip: service.addr,
                l4,
                port: service.port,
            };
            programmed.insert(key, dests.collect());
        }
        Ok(programmed)
    }

    async fn apply(&self, current: &Programmed, desired: &Programmed) -> Result<ProxySync> {
        let mut sync = ProxySync::default();
        for (service, dests) in current.iter().filter(|(s, _)| !desired.contains_key(*s)) {
            self.call(ipvs_service(service).delete(), false).await?;
            sync.services_removed += 1;
            sync.backends_changed += dests.len();
        }
        let none = BTreeSet::new();
        for (service, want) in desired {
            let key = ipvs_service(service);
            let have = match current.get(service) {
                Some(have) => have,
                None => {
                    self.call(key.add(), false).await?;
                    sync.services_added += 1;
                    &none
                }
            };
            for gone in have.difference(want) {
                self.call(key.delete_dest(*gone.ip(), gone.port()), false)
                    .await?;
                sync.backends_changed += 1;
            }
            for new in want.difference(have) {
                self.call(key.add_dest(*new.ip(), new.port(), 1), false)
                    .await?;
                sync.backends_changed += 1;
            }
        }
        let vips = |p: &Programmed| p.keys().map(|s| s.vip).collect::<BTreeSet<_>>();
        self.bind_vips(&vips(desired)).await?;
        Ok(sync)
    }

    /// Makes the addresses of `lb-ipvs` exactly `vips`, creating it first.
    async fn bind_vips(&self, vips: &BTreeSet<Ipv4Addr>) -> Result<()> {
        let index = self.interface().await?;
        let mut have = BTreeSet::new();
        for address in self.bound(index).await? {
            match v4_of(&address) {
                Some(ip) if vips.contains(&ip) => {
                    have.insert(ip);
                }
                _ => self
                    .route
                    .address()
                    .del(address)
                    .execute()
                    .await
                    .map_err(backend)?,
            }
        }
        for vip in vips.difference(&have) {
            let add = self
                .route
                .address()
                .add(index, IpAddr::V4(*vip), 32)
                .replace();
            add.execute().await.map_err(backend)?;
        }
        Ok(())
    }

    async fn bound(&self, index: u32) -> Result<Vec<AddressMessage>> {
        let get = self.route.address().get().set_link_index_filter(index);
        get.execute().try_collect().await.map_err(backend)
    }

    async fn find_interface(&self) -> Option<u32> {
        first(self.route.link().get().match_name(INTERFACE).execute()).await
    }

    async fn interface(&self) -> Result<u32> {
        if let Some(index) = self.find_interface().await {
            return Ok(index);
        }
        let dummy = rtnetlink::LinkDummy::new(INTERFACE).up().build();
        self.route
            .link()
            .add(dummy)
            .execute()
            .await
            .map_err(backend)?;
        let created = self.find_interface().await;
        created.ok_or_else(|| backend(format!("{INTERFACE} vanished after it was created")))
    }
}

async fn first<S, E>(links: S) -> Option<u32>
where
    S: Stream<Item = Result<rtnetlink::packet_route::link::LinkMessage, E>>,
{
    let mut links = std::pin::pin!(links);
    links.next().await?.ok().map(|link| link.header.index)
}

fn v4_of(address: &AddressMessage) -> Option<Ipv4Addr> {
    address.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
        _ => None,
    })
}

const fn protocol(l4: L4) -> u8 {
    match l4 {
        L4::Tcp => 6,
        L4::Udp => 17,
    }
}

fn ipvs_service(service: &VirtualService) -> Service {
    Service {
        protocol: protocol(service.l4),
        addr: service.vip,
        port: service.port,
    }
}

#[async_trait]
impl Cpi for Ipvs {
    fn name(&self) -> &str {
        "ipvs"
    }

    async fn sync(&self, endpoints: &BTreeMap<String, EndpointSpec>) -> Result<ProxySync> {
        let desired: Programmed = service::desired(endpoints)
            .into_iter()
            .map(|(s, t)| {
                (
                    s,
                    t.upstreams
                        .iter()
                        .map(|ip| SocketAddrV4::new(*ip, t.port))
                        .collect(),
                )
            })
            .collect();
        let mut state = self.state.lock().await;
        let current = match state.take() {
            Some(current) => current,
            None => self.read_back().await?,
        };
        // On failure the state stays `None`: the next sync reads back.
        let sync = self.apply(&current, &desired).await?;
        *state = Some(desired);
        Ok(sync)
    }

    async fn teardown(&self) -> Result<()> {
        let mut state = self.state.lock().await;
        *state = None;
        let current = self.read_back().await?;
        for service in current.keys() {
            self.call(ipvs_service(service).delete(), false).await?;
        }
        if let Some(index) = self.find_interface().await {
            self.route
                .link()
                .del(index)
                .execute()
                .await
                .map_err(backend)?;
        }
        *state = Some(Programmed::new());
        Ok(())
    }
}
