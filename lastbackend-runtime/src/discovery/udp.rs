//! The UDP path: one receive loop per socket that answers names of the zone
//! inline and hands other names (which wait on an upstream) to a task.
//!
//! hickory's own UDP loop spawns a task per packet and sends each answer
//! back through a channel to the loop, and its catalog copies every record
//! into an intermediate message; for answers that are a table lookup that
//! costs more than the answer. So a plain query for the zone (one question,
//! class IN, EDNS version 0 or none) is answered here from the table, as
//! the catalog answers it (the tests ask the same over TCP, which the catalog
//! serves); anything else for the zone goes to the catalog inline, and names
//! outside the zone to the catalog on a task, as they wait on an upstream.
//!
//! A socket bound to `0.0.0.0` asks for each query's destination address
//! (`IP_PKTINFO`) and answers from that address: otherwise the kernel picks
//! the source by route, and a pod that asked the node's external address
//! gets its answer from the bridge's and drops it.

use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{
    Edns, Header, Message, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::rdata::opt::EdnsCode;
use hickory_server::proto::rr::{DNSClass, Record, RecordType};
use hickory_server::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{Catalog, MessageResponse, MessageResponseBuilder};
use nix::libc::{in_addr, in_pktinfo};
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrStorage, recvmsg, sendmsg,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::{Answer, ServiceZone};

/// The largest query read; queries are small, EDNS ones included.
const MAX_QUERY: usize = 4096;

/// Answers queries arriving on `socket` until the task is aborted.
pub(super) async fn serve(socket: Arc<UdpSocket>, catalog: Arc<Catalog>, zone: Arc<ServiceZone>) {
    let mut buffer = vec![0_u8; MAX_QUERY];
    let mut control = nix::cmsg_space!(in_pktinfo);
    loop {
        let (len, src, local) = match receive(&socket, &mut buffer, &mut control).await {
            Ok(received) => received,
            // ICMP errors from earlier sends surface here: nothing to do.
            Err(error) => {
                tracing::debug!(%error, "receiving on a UDP socket");
                continue;
            }
        };
        if src.port() == 0 || src.ip().is_unspecified() {
            continue;
        }
        let raw = buffer[..len].to_vec();
        let request = match Request::from_bytes(raw, src, Protocol::Udp) {
            Ok(request) => request,
            Err(_) => {
                form_error(&socket, &buffer[..len], src, local).await;
                continue;
            }
        };
        if request.metadata.message_type == MessageType::Response {
            // Never answer an answer: that is how reflection loops start.
            continue;
        }
        let in_zone = request
            .request_info()
            .is_ok_and(|info| zone.origin().zone_of(info.query.name()));
        if in_zone && let Some(bytes) = answer(&zone, &request) {
            if let Err(error) = send(&socket, &bytes, src, local).await {
                tracing::debug!(%error, %src, "sending an answer");
            }
            continue;
        }
        let responder = Responder {
            socket: socket.clone(),
            destination: src,
            local,
        };
        if in_zone {
            catalog
                .handle_request::<_, TokioTime>(&request, responder)
                .await;
        } else {
            let catalog = catalog.clone();
            tokio::spawn(async move {
                catalog
                    .handle_request::<_, TokioTime>(&request, responder)
                    .await;
            });
        }
    }
}

/// Receives one datagram: its length, its sender and, on a socket with
/// `IP_PKTINFO`, the local address it was sent to (`control` holds room for
/// that message, reused across calls).
async fn receive(
    socket: &UdpSocket,
    buffer: &mut [u8],
    control: &mut [u8],
) -> std::io::Result<(usize, SocketAddr, Option<Ipv4Addr>)> {
    socket
        .async_io(Interest::READABLE, || {
            let mut iov = [IoSliceMut::new(buffer)];
            let message = recvmsg::<SockaddrStorage>(
                socket.as_raw_fd(),
                &mut iov,
                Some(&mut *control),
                MsgFlags::MSG_DONTWAIT,
            )?;
            let local = message
                .cmsgs()
                .into_iter()
                .flatten()
                .find_map(|control| match control {
                    ControlMessageOwned::Ipv4PacketInfo(info) => {
                        Some(Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr)))
                    }
                    _ => None,
                });
            let source = message.address.and_then(|address| {
                address
                    .as_sockaddr_in()
                    .map(|v4| SocketAddr::V4((*v4).into()))
                    .or_else(|| {
                        address
                            .as_sockaddr_in6()
                            .map(|v6| SocketAddr::V6((*v6).into()))
                    })
            });
            let source =
                source.ok_or_else(|| std::io::Error::other("a datagram without a sender"))?;
            Ok((message.bytes, source, local))
        })
        .await
}

/// Sends `bytes` to `peer`, from `local` when the query named it.
async fn send(
    socket: &UdpSocket,
    bytes: &[u8],
    peer: SocketAddr,
    local: Option<Ipv4Addr>,
) -> std::io::Result<()> {
    let (Some(local), SocketAddr::V4(peer)) = (local, peer) else {
        return socket.send_to(bytes, peer).await.map(drop);
    };
    let info = in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: in_addr {
            s_addr: u32::from(local).to_be(),
        },
        ipi_addr: in_addr { s_addr: 0 },
    };
    let peer = SockaddrIn::from(peer);
    socket
        .async_io(Interest::WRITABLE, || {
            sendmsg(
                socket.as_raw_fd(),
                &[IoSlice::new(bytes)],
                &[ControlMessage::Ipv4PacketInfo(&info)],
                MsgFlags::MSG_DONTWAIT,
                Some(&peer),
            )
            .map(drop)
            .map_err(std::io::Error::from)
        })
        .await
}

/// The encoded answer to a plain query for the zone, the same as the
/// catalog's: authoritative, SOA in the authority section of negative
/// answers, NS there for SOA. `None` for what the catalog must handle.
fn answer(zone: &ServiceZone, request: &Request) -> Option<Vec<u8>> {
    if request.metadata.op_code != OpCode::Query {
        return None;
    }
    let query = request.request_info().ok()?.query;
    let rtype = query.query_type();
    if query.query_class() != DNSClass::IN || matches!(rtype, RecordType::AXFR | RecordType::IXFR) {
        return None;
    }
    let edns = match &request.edns {
        // BADVERS and NSID are the catalog's business.
        Some(asked) if asked.version() > 0 || asked.option(EdnsCode::NSID).is_some() => {
            return None;
        }
        Some(asked) => {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload().max(512));
            edns.set_version(0);
            Some(edns)
        }
        None => None,
    };
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.authoritative = true;
    let apex = |rtype| match zone.resolve(zone.origin(), rtype) {
        Answer::Records { answers, .. } => answers.into_iter().next(),
        _ => None,
    };
    let (answers, additionals, authority) = match zone.resolve(query.name(), rtype) {
        Answer::Records {
            answers,
            additionals,
        } => {
            let authority = (rtype == RecordType::SOA)
                .then(|| apex(RecordType::NS))
                .flatten();
            (answers, additionals, authority)
        }
        Answer::NoData => (Vec::new(), None, apex(RecordType::SOA)),
        Answer::NxDomain => {
            metadata.response_code = ResponseCode::NXDomain;
            (Vec::new(), None, apex(RecordType::SOA))
        }
        Answer::NotInZone => return None,
    };
    let response = MessageResponseBuilder::new(&request.queries, edns.as_ref()).build(
        metadata,
        answers.iter().flat_map(|set| set.records_without_rrsigs()),
        authority
            .iter()
            .flat_map(|set| set.records_without_rrsigs()),
        std::iter::empty(),
        additionals
            .iter()
            .flat_map(|set| set.records_without_rrsigs()),
    );
    Some(encode(response).1)
}

/// The response as UDP carries it: 512 bytes unless EDNS offers more
/// (RFC 1035 §4.2.1), SERVFAIL when it cannot be encoded.
fn encode<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> (ResponseInfo, Vec<u8>) {
    let id = response.metadata().id;
    let max = response
        .edns()
        .map_or(512, |edns| edns.max_payload().max(512));
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(max);
    match response.destructive_emit(&mut encoder) {
        Ok(info) => (info, bytes),
        Err(error) => {
            tracing::error!(%error, "cannot encode a response; answering SERVFAIL");
            bytes.clear();
            let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
            metadata.response_code = ResponseCode::ServFail;
            let header = Header {
                metadata,
                counts: Default::default(),
            };
            // Twelve bytes into a vector: cannot fail.
            let _ = header.emit(&mut BinEncoder::new(&mut bytes));
            (ResponseInfo::from(header), bytes)
        }
    }
}

/// FORMERR for a query whose header reads but whose body does not, as
/// hickory's own loop answers.
async fn form_error(socket: &UdpSocket, packet: &[u8], src: SocketAddr, local: Option<Ipv4Addr>) {
    let Ok(header) = Header::read(&mut BinDecoder::new(packet)) else {
        return;
    };
    if header.metadata.message_type != MessageType::Query {
        return;
    }
    let reply = Message::error_msg(
        header.metadata.id,
        header.metadata.op_code,
        ResponseCode::FormErr,
    );
    if let Ok(bytes) = reply.to_vec() {
        let _ = send(socket, &bytes, src, local).await;
    }
}

/// Sends one response straight to the client from the socket it came in on.
#[derive(Clone)]
struct Responder {
    socket: Arc<UdpSocket>,
    destination: SocketAddr,
    /// The address the query was sent to, when the socket is a wildcard.
    local: Option<Ipv4Addr>,
}

#[async_trait::async_trait]
impl ResponseHandler for Responder {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let (info, bytes) = encode(response);
        send(&self.socket, &bytes, self.destination, self.local).await?;
        Ok(info)
    }
}
