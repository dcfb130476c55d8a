//! The IPVS generic netlink family's messages, encoded after the kernel's
//! uapi header `linux/ip_vs.h` (command and attribute numbers) and the
//! attribute policies in `net/netfilter/ipvs/ip_vs_ctl.c` (which attributes
//! a full service or destination needs, and their types).

use std::net::Ipv4Addr;

use netlink_packet_core::{
    DecodeError, Emitable, Nla, NlaBuffer, NlasIterator, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

/// `IPVS_GENL_NAME` and `IPVS_GENL_VERSION`.
pub(crate) const FAMILY: &str = "IPVS";
const VERSION: u8 = 1;

/// `IPVS_CMD_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    NewService = 1,
    DelService = 3,
    GetService = 4,
    NewDest = 5,
    DelDest = 7,
    GetDest = 8,
}

impl Command {
    fn parse(cmd: u8) -> Result<Self, DecodeError> {
        Ok(match cmd {
            1 => Self::NewService,
            3 => Self::DelService,
            4 => Self::GetService,
            5 => Self::NewDest,
            7 => Self::DelDest,
            8 => Self::GetDest,
            other => return Err(DecodeError::from(format!("unknown IPVS command {other}"))),
        })
    }
}

const CMD_ATTR_SERVICE: u16 = 1;
const CMD_ATTR_DEST: u16 = 2;

const SVC_ATTR_AF: u16 = 1;
const SVC_ATTR_PROTOCOL: u16 = 2;
const SVC_ATTR_ADDR: u16 = 3;
const SVC_ATTR_PORT: u16 = 4;
const SVC_ATTR_SCHED_NAME: u16 = 6;
const SVC_ATTR_FLAGS: u16 = 7;
const SVC_ATTR_TIMEOUT: u16 = 8;
const SVC_ATTR_NETMASK: u16 = 9;

const DEST_ATTR_ADDR: u16 = 1;
const DEST_ATTR_PORT: u16 = 2;
const DEST_ATTR_FWD_METHOD: u16 = 3;
const DEST_ATTR_WEIGHT: u16 = 4;
const DEST_ATTR_U_THRESH: u16 = 5;
const DEST_ATTR_L_THRESH: u16 = 6;
const DEST_ATTR_ADDR_FAMILY: u16 = 11;

const AF_INET: u16 = 2;
/// `IP_VS_CONN_F_MASQ`: NAT, the pods answer through this host.
const FWD_MASQ: u32 = 0;

/// One attribute of a service (`IPVS_SVC_ATTR_*`) or destination
/// (`IPVS_DEST_ATTR_*`), both nested in a command attribute, with its value
/// already encoded as its number calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attr {
    kind: u16,
    value: Vec<u8>,
}

impl Attr {
    fn u16(kind: u16, value: u16) -> Self {
        Self {
            kind,
            value: value.to_ne_bytes().to_vec(),
        }
    }

    fn u32(kind: u16, value: u32) -> Self {
        Self {
            kind,
            value: value.to_ne_bytes().to_vec(),
        }
    }

    /// Ports are `__be16` in IPVS attributes, without the byte-order flag.
    fn port(kind: u16, port: u16) -> Self {
        Self {
            kind,
            value: port.to_be_bytes().to_vec(),
        }
    }

    /// Addresses are a `union nf_inet_addr`: 16 bytes, IPv4 first (as
    /// ipvsadm sends them).
    fn addr(kind: u16, ip: Ipv4Addr) -> Self {
        let mut value = vec![0; 16];
        value[..4].copy_from_slice(&ip.octets());
        Self { kind, value }
    }
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        self.value.len()
    }

    fn kind(&self) -> u16 {
        self.kind
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        buffer.copy_from_slice(&self.value);
    }
}

/// A command attribute: a nested service or destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Nested {
    Service(Vec<Attr>),
    Dest(Vec<Attr>),
}

impl Nested {
    fn attrs(&self) -> &[Attr] {
        match self {
            Self::Service(attrs) | Self::Dest(attrs) => attrs,
        }
    }
}

impl Nla for Nested {
    fn value_len(&self) -> usize {
        self.attrs().buffer_len()
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Service(_) => CMD_ATTR_SERVICE,
            Self::Dest(_) => CMD_ATTR_DEST,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        self.attrs().emit(buffer);
    }

    fn is_nested(&self) -> bool {
        true
    }
}

/// One IPVS request or reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IpvsMessage {
    pub(crate) command: Command,
    pub(crate) attrs: Vec<Nested>,
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        FAMILY
    }

    fn command(&self) -> u8 {
        self.command as u8
    }

    fn version(&self) -> u8 {
        VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer);
    }
}

fn parse_attrs(buf: &[u8]) -> Result<Vec<Attr>, DecodeError> {
    NlasIterator::new(buf)
        .map(|nla| {
            let nla = nla?;
            Ok(Attr {
                kind: nla.kind(),
                value: nla.value().to_vec(),
            })
        })
        .collect()
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let mut attrs = Vec::new();
        for nla in NlasIterator::new(buf) {
            let nla: NlaBuffer<&[u8]> = nla?;
            match nla.kind() {
                CMD_ATTR_SERVICE => attrs.push(Nested::Service(parse_attrs(nla.value())?)),
                CMD_ATTR_DEST => attrs.push(Nested::Dest(parse_attrs(nla.value())?)),
                _ => {}
            }
        }
        Ok(Self {
            command: Command::parse(header.cmd)?,
            attrs,
        })
    }
}

/// An IPv4 virtual service: `(protocol number, VIP, port)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Service {
    pub(crate) protocol: u8,
    pub(crate) addr: Ipv4Addr,
    pub(crate) port: u16,
}

impl Service {
    /// The attributes that name the service.
    fn key(self) -> Vec<Attr> {
        vec![
            Attr::u16(SVC_ATTR_AF, AF_INET),
            Attr::u16(SVC_ATTR_PROTOCOL, u16::from(self.protocol)),
            Attr::addr(SVC_ATTR_ADDR, self.addr),
            Attr::port(SVC_ATTR_PORT, self.port),
        ]
    }

    /// `IPVS_CMD_NEW_SERVICE` with round-robin, no persistence, no flags.
    pub(crate) fn add(self) -> IpvsMessage {
        let mut attrs = self.key();
        let mut sched = b"rr".to_vec();
        sched.push(0);
        attrs.push(Attr {
            kind: SVC_ATTR_SCHED_NAME,
            value: sched,
        });
        // struct ip_vs_flags { __u32 flags; __u32 mask; }
        attrs.push(Attr {
            kind: SVC_ATTR_FLAGS,
            value: vec![0; 8],
        });
        attrs.push(Attr::u32(SVC_ATTR_TIMEOUT, 0));
        attrs.push(Attr::u32(SVC_ATTR_NETMASK, u32::MAX));
        IpvsMessage {
            command: Command::NewService,
            attrs: vec![Nested::Service(attrs)],
        }
    }

    /// `IPVS_CMD_DEL_SERVICE`; the kernel drops its destinations with it.
    pub(crate) fn delete(self) -> IpvsMessage {
        IpvsMessage {
            command: Command::DelService,
            attrs: vec![Nested::Service(self.key())],
        }
    }

    /// `IPVS_CMD_NEW_DEST`: NAT to `upstream:port` with `weight`.
    pub(crate) fn add_dest(self, upstream: Ipv4Addr, port: u16, weight: u32) -> IpvsMessage {
        let dest = vec![
            Attr::addr(DEST_ATTR_ADDR, upstream),
            Attr::port(DEST_ATTR_PORT, port),
            Attr::u32(DEST_ATTR_FWD_METHOD, FWD_MASQ),
            Attr::u32(DEST_ATTR_WEIGHT, weight),
            Attr::u32(DEST_ATTR_U_THRESH, 0),
            Attr::u32(DEST_ATTR_L_THRESH, 0),
            Attr::u16(DEST_ATTR_ADDR_FAMILY, AF_INET),
        ];
        IpvsMessage {
            command: Command::NewDest,
            attrs: vec![Nested::Service(self.key()), Nested::Dest(dest)],
        }
    }

    /// `IPVS_CMD_DEL_DEST`.
    pub(crate) fn delete_dest(self, upstream: Ipv4Addr, port: u16) -> IpvsMessage {
        let dest = vec![
            Attr::addr(DEST_ATTR_ADDR, upstream),
            Attr::port(DEST_ATTR_PORT, port),
        ];
        IpvsMessage {
            command: Command::DelDest,
            attrs: vec![Nested::Service(self.key()), Nested::Dest(dest)],
        }
    }

    /// `IPVS_CMD_GET_DEST` (a dump) for this service.
    pub(crate) fn get_dests(self) -> IpvsMessage {
        IpvsMessage {
            command: Command::GetDest,
            attrs: vec![Nested::Service(self.key())],
        }
    }

    /// The IPv4 service a `GET_SERVICE` reply describes; `None` for IPv6 or
    /// firewall-mark services, which this driver never programs.
    pub(crate) fn from_reply(message: &IpvsMessage) -> Option<Self> {
        let attrs = message.attrs.iter().find_map(|n| match n {
            Nested::Service(attrs) => Some(attrs),
            Nested::Dest(_) => None,
        })?;
        if u16_of(attrs, SVC_ATTR_AF)? != AF_INET {
            return None;
        }
        Some(Self {
            protocol: u8::try_from(u16_of(attrs, SVC_ATTR_PROTOCOL)?).ok()?,
            addr: addr_of(attrs, SVC_ATTR_ADDR)?,
            port: port_of(attrs, SVC_ATTR_PORT)?,
        })
    }
}

/// `IPVS_CMD_GET_SERVICE`, dumped.
pub(crate) fn get_services() -> IpvsMessage {
    IpvsMessage {
        command: Command::GetService,
        attrs: Vec::new(),
    }
}

/// The `(address, port)` of a `GET_DEST` reply.
pub(crate) fn dest_of(message: &IpvsMessage) -> Option<(Ipv4Addr, u16)> {
    let attrs = message.attrs.iter().find_map(|n| match n {
        Nested::Dest(attrs) => Some(attrs),
        Nested::Service(_) => None,
    })?;
    Some((
        addr_of(attrs, DEST_ATTR_ADDR)?,
        port_of(attrs, DEST_ATTR_PORT)?,
    ))
}

fn value(attrs: &[Attr], kind: u16) -> Option<&[u8]> {
    attrs.iter().find(|a| a.kind == kind).map(|a| &a.value[..])
}

fn u16_of(attrs: &[Attr], kind: u16) -> Option<u16> {
    Some(u16::from_ne_bytes(value(attrs, kind)?.try_into().ok()?))
}

fn port_of(attrs: &[Attr], kind: u16) -> Option<u16> {
    Some(u16::from_be_bytes(value(attrs, kind)?.try_into().ok()?))
}

fn addr_of(attrs: &[Attr], kind: u16) -> Option<Ipv4Addr> {
    let bytes: [u8; 4] = value(attrs, kind)?.get(..4)?.try_into().ok()?;
    Some(Ipv4Addr::from(bytes))
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
