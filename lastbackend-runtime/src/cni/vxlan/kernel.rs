//! The driver's netlink calls: one [`Kernel`] per network namespace, every
//! write counted so tests can prove a re-run writes nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteType,
};
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use super::peers::{Mac, Op, Programmed};
use crate::{Error, Result};

const DRIVER: &str = "vxlan";

fn nl(what: &str) -> impl Fn(rtnetlink::Error) -> Error + '_ {
    move |e| Error::backend(DRIVER, format!("{what}: {e}"))
}

/// Runs `f` on a thread inside the network namespace `netns` (a path such
/// as `/var/run/netns/<name>`), or here when `None`. Netlink sockets and
/// `/proc/sys/net` files belong to the namespace of the thread that opens
/// them, so opening them there is all it takes.
pub(super) fn in_netns<T: Send + 'static>(
    netns: Option<&Path>,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    let Some(path) = netns else {
        return f().map_err(|e| Error::backend(DRIVER, e));
    };
    let path: PathBuf = path.to_owned();
    let shown = path.display().to_string();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path)?;
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)?;
        f()
    })
    .join()
    .map_err(|_| Error::backend(DRIVER, format!("thread entering {shown} panicked")))?
    .map_err(|e| Error::backend(DRIVER, format!("in network namespace {shown}: {e}")))
}

/// A netlink connection into one network namespace.
#[derive(Debug)]
pub(super) struct Kernel {
    handle: Handle,
    writes: AtomicU64,
}

impl Kernel {
    /// Connects in `netns` (or this process's namespace); the connection
    /// runs on the current tokio runtime.
    pub(super) fn connect(netns: Option<&Path>) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::backend(DRIVER, format!("needs a tokio runtime: {e}")))?;
        let enter = runtime.clone();
        let (connection, handle, _) = in_netns(netns, move || {
            // The socket registers with the runtime's reactor as it opens.
            let _entered = enter.enter();
            rtnetlink::new_connection()
        })?;
        runtime.spawn(connection);
        Ok(Self {
            handle,
            writes: AtomicU64::new(0),
        })
    }

    /// How many writes this connection has made.
    pub(super) fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) async fn links(&self) -> Result<Vec<LinkMessage>> {
        let links = self.handle.link().get().execute();
        links.try_collect().await.map_err(nl("list links"))
    }

    pub(super) async fn link(&self, name: &str) -> Result<Option<LinkMessage>> {
        Ok(self
            .links()
            .await?
            .into_iter()
            .find(|l| link_name(l) == Some(name)))
    }

    pub(super) async fn add_link(&self, message: LinkMessage, what: &str) -> Result<()> {
        self.wrote();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(nl(what))
    }

    pub(super) async fn del_link(&self, index: u32) -> Result<()> {
        self.wrote();
        let del = self.handle.link().del(index).execute().await;
        del.map_err(nl("delete link"))
    }

    /// Sets the link up unless it is.
    pub(super) async fn ensure_up(&self, link: &LinkMessage) -> Result<()> {
        if link.header.flags.contains(LinkFlags::Up) {
            return Ok(());
        }
        self.wrote();
        let up = LinkUnspec::new_with_index(link.header.index).up().build();
        self.handle
            .link()
            .set(up)
            .execute()
            .await
            .map_err(nl("set link up"))
    }

    /// The IPv4 addresses of link `index` with their prefix lengths, and
    /// the messages they were read from.
    pub(super) async fn addresses(
        &self,
        index: u32,
    ) -> Result<Vec<(Ipv4Addr, u8, AddressMessage)>> {
        let all: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(nl("list addresses"))?;
        Ok(all
            .into_iter()
            .filter(|a| a.header.index == index)
            .filter_map(|a| {
                let ip = a.attributes.iter().find_map(|attr| match attr {
                    AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                })?;
                Some((ip, a.header.prefix_len, a))
            })
            .collect())
    }

    /// Makes `ip/prefix` the only IPv4 address of link `index`.
    pub(super) async fn ensure_only_address(
        &self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<()> {
        let mut present = false;
        for (have, len, message) in self.addresses(index).await? {
            if (have, len) == (ip, prefix) {
                present = true;
                continue;
            }
            self.wrote();
            let del = self.handle.address().del(message).execute().await;
            del.map_err(nl("delete address"))?;
        }
        if !present {
            self.wrote();
            let add = self.handle.address().add(index, IpAddr::V4(ip), prefix);
            add.execute().await.map_err(nl("add address"))?;
        }
        Ok(())
    }

    /// The main table's IPv4 routes.
    pub(super) async fn routes(&self) -> Result<Vec<RouteMessage>> {
        let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let all: Vec<RouteMessage> = self
            .handle
            .route()
            .get(query)
            .execute()
            .try_collect()
            .await
            .map_err(nl("list routes"))?;
        Ok(all
            .into_iter()
            .filter(|r| route_table(r) == u32::from(RouteHeader::RT_TABLE_MAIN))
            .collect())
    }

    /// Reads back what the driver owns on link `index`: its forwarding
    /// entries, permanent neighbours and main-table routes.
    pub(super) async fn programmed(&self, index: u32) -> Result<(Programmed, Vec<RouteMessage>)> {
        let mut now = Programmed::default();
        let fdb: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute()
            .try_collect()
            .await
            .map_err(nl("list forwarding entries"))?;
        for entry in fdb.iter().filter(|n| n.header.ifindex == index) {
            if let (Some(mac), Some(IpAddr::V4(dst))) = (neigh_mac(entry), neigh_dst(entry)) {
                // The all-zero MAC is a flood default nobody here sets.
                if mac != [0; 6] {
                    now.fdb.insert((mac, dst));
                }
            }
        }
        let neighbours: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet)
            .execute()
            .try_collect()
            .await
            .map_err(nl("list neighbours"))?;
        for entry in neighbours.iter().filter(|n| {
            // Only permanent ones are ours; the kernel manages the rest.
            n.header.ifindex == index && n.header.state == NeighbourState::Permanent
        }) {
            if let (Some(mac), Some(IpAddr::V4(ip))) = (neigh_mac(entry), neigh_dst(entry)) {
                now.neigh.insert(ip, mac);
            }
        }
        let routes: Vec<RouteMessage> = self
            .routes()
            .await?
            .into_iter()
            .filter(|r| route_oif(r) == Some(index) && r.header.kind == RouteType::Unicast)
            .collect();
        for route in &routes {
            let Some(dst) = route_addr(route, true) else {
                continue;
            };
            let key = (dst, route.header.destination_prefix_length);
            let onlink = route.header.flags.contains(RouteFlags::Onlink);
            now.routes.insert(key, (route_addr(route, false), onlink));
        }
        Ok((now, routes))
    }

    /// Carries out `ops` on link `index`; `routes` are the routes read with
    /// the state the ops were computed from (deleted as read).
    pub(super) async fn apply(
        &self,
        index: u32,
        ops: &[Op],
        routes: &[RouteMessage],
    ) -> Result<()> {
        for op in ops {
            let neighbours = self.handle.neighbours();
            let done = match *op {
                Op::RouteDel(dst, len) => {
                    let Some(route) = routes.iter().find(|r| {
                        route_addr(r, true) == Some(dst)
                            && r.header.destination_prefix_length == len
                    }) else {
                        continue;
                    };
                    self.handle.route().del(route.clone()).execute().await
                }
                Op::NeighDel(ip) => neighbours.del(neigh(index, ip)).execute().await,
                Op::FdbDel(mac, host) => neighbours.del(fdb(index, mac, host)).execute().await,
                Op::FdbSet(mac, host) => {
                    let mut add = neighbours.add_bridge(index, &mac).replace();
                    *add.message_mut() = fdb(index, mac, host);
                    add.execute().await
                }
                Op::NeighSet(ip, mac) => {
                    let add = neighbours.add(index, IpAddr::V4(ip));
                    add.link_layer_address(&mac).replace().execute().await
                }
                Op::RouteSet(cidr) => {
                    let route = RouteMessageBuilder::<Ipv4Addr>::new()
                        .destination_prefix(cidr.network(), cidr.prefix())
                        .gateway(cidr.network())
                        .output_interface(index)
                        .onlink()
                        .build();
                    self.handle.route().add(route).replace().execute().await
                }
            };
            self.wrote();
            done.map_err(|e| Error::backend(DRIVER, format!("{op:?}: {e}")))?;
        }
        Ok(())
    }
}

/// A forwarding entry of the VXLAN device: `mac dst host self permanent`.
fn fdb(index: u32, mac: Mac, host: Ipv4Addr) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.family = AddressFamily::Bridge;
    message.header.ifindex = index;
    message.header.state = NeighbourState::Permanent;
    message.header.flags = NeighbourFlags::Own;
    message.attributes = vec![
        NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
        NeighbourAttribute::Destination(NeighbourAddress::Inet(host)),
    ];
    message
}

/// A permanent neighbour entry, to delete.
fn neigh(index: u32, ip: Ipv4Addr) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.family = AddressFamily::Inet;
    message.header.ifindex = index;
    message.header.state = NeighbourState::Permanent;
    message.attributes = vec![NeighbourAttribute::Destination(NeighbourAddress::Inet(ip))];
    message
}

fn neigh_mac(n: &NeighbourMessage) -> Option<Mac> {
    n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(mac) => mac.as_slice().try_into().ok(),
        _ => None,
    })
}

fn neigh_dst(n: &NeighbourMessage) -> Option<IpAddr> {
    n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(IpAddr::V4(*ip)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => Some(IpAddr::V6(*ip)),
        // Bridge-family entries (VXLAN forwarding) carry the remote raw.
        NeighbourAttribute::Destination(NeighbourAddress::Other(raw)) => {
            <[u8; 4]>::try_from(raw.as_slice()).ok().map(IpAddr::from)
        }
        _ => None,
    })
}

fn route_table(r: &RouteMessage) -> u32 {
    r.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(r.header.table))
}

/// The route's output interface.
pub(super) fn route_oif(r: &RouteMessage) -> Option<u32> {
    r.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    })
}

/// The destination (`true`) or gateway (`false`) of an IPv4 route; a
/// default route has no destination attribute and reads as `0.0.0.0`.
pub(super) fn route_addr(r: &RouteMessage, destination: bool) -> Option<Ipv4Addr> {
    let found = r.attributes.iter().find_map(|a| match (a, destination) {
        (RouteAttribute::Destination(RouteAddress::Inet(ip)), true)
        | (RouteAttribute::Gateway(RouteAddress::Inet(ip)), false) => Some(*ip),
        _ => None,
    });
    match found {
        None if destination && r.header.destination_prefix_length == 0 => {
            Some(Ipv4Addr::UNSPECIFIED)
        }
        other => other,
    }
}

pub(super) fn link_name(l: &LinkMessage) -> Option<&str> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

pub(super) fn link_mac(l: &LinkMessage) -> Option<Mac> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(mac) => mac.as_slice().try_into().ok(),
        _ => None,
    })
}

/// The link's `linkinfo` entries (kind and driver data).
pub(super) fn link_info(l: &LinkMessage) -> &[LinkInfo] {
    l.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::LinkInfo(info) => Some(info.as_slice()),
            _ => None,
        })
        .unwrap_or_default()
}
