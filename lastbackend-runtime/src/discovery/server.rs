//! [`DnsServer`]: a [`ServiceZone`] and a forwarder in a hickory catalog,
//! served on UDP and TCP.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverOpts};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::rr::LowerName;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::forwarder::{ForwardConfig, ForwardZoneHandler};
use hickory_server::zone_handler::Catalog;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::task::JoinSet;

use super::{Error, Result, ServiceZone, ServiceZoneHandler, udp};

/// How long a TCP client may stay silent before its connection is closed.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;
/// Bytes of queued queries per UDP socket.
const UDP_RECEIVE_BUFFER: usize = 4 << 20;
/// How long the forwarder waits for an upstream answer per attempt.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The upstream resolvers of `/etc/resolv.conf`, port 53 unless it says
/// otherwise; empty when it lists none.
pub fn system_upstreams() -> Result<Vec<SocketAddr>> {
    let (config, _) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| Error::UpstreamFailed(format!("cannot read /etc/resolv.conf: {e}")))?;
    let mut upstreams = Vec::new();
    for server in config.name_servers() {
        if let Some(connection) = server.connections.first() {
            let address = SocketAddr::new(server.ip, connection.port);
            if !upstreams.contains(&address) {
                upstreams.push(address);
            }
        }
    }
    Ok(upstreams)
}

/// Builds a [`DnsServer`]: see [`DnsServer::builder`].
#[derive(Debug)]
pub struct DnsServerBuilder {
    zone: Arc<ServiceZone>,
    upstreams: Vec<SocketAddr>,
    udp_sockets: usize,
}

impl DnsServerBuilder {
    /// Forwards names outside the zone to these resolvers, in order (UDP,
    /// TCP when an answer is truncated). None (the default): such names are
    /// REFUSED.
    pub fn upstreams(mut self, upstreams: Vec<SocketAddr>) -> Self {
        self.upstreams = upstreams;
        self
    }

    /// How many UDP sockets share the port (`SO_REUSEPORT`), each with its
    /// own receive loop so queries spread over the runtime's threads
    /// [default: the available parallelism].
    pub fn udp_sockets(mut self, count: usize) -> Self {
        self.udp_sockets = count.max(1);
        self
    }

    /// Binds UDP and TCP on `address` (port 0: a free port, the same for
    /// both) and builds the catalog. Upstreams that are this very server are
    /// dropped with a warning: forwarding to itself would loop.
    pub async fn bind(self, address: SocketAddr) -> Result<DnsServer> {
        let (udp, tcp) = bind_sockets(address, self.udp_sockets)?;
        let local = tcp.local_addr().map_err(|source| Error::BindFailed {
            address,
            protocol: "tcp",
            source,
        })?;
        let upstreams: Vec<SocketAddr> = self
            .upstreams
            .into_iter()
            .filter(|upstream| {
                let own = is_self(*upstream, local);
                if own {
                    tracing::warn!(%upstream, "an upstream resolver is this server; skipped");
                }
                !own
            })
            .collect();

        let mut catalog = Catalog::new();
        let handler = ServiceZoneHandler::new(self.zone.clone());
        catalog.upsert(self.zone.origin().clone(), vec![Arc::new(handler)]);
        if !upstreams.is_empty() {
            catalog.upsert(
                LowerName::from(hickory_server::proto::rr::Name::root()),
                vec![Arc::new(forwarder(&upstreams)?)],
            );
        }
        let catalog = Arc::new(catalog);
        let mut udp_loops = JoinSet::new();
        for socket in udp {
            udp_loops.spawn(udp::serve(
                Arc::new(socket),
                catalog.clone(),
                self.zone.clone(),
            ));
        }
        let mut server = Server::new(SharedCatalog(catalog));
        server.register_listener(tcp, TCP_TIMEOUT, TCP_RESPONSE_BUFFER);
        tracing::info!(
            address = %local,
            zone = %self.zone.origin(),
            upstreams = ?upstreams,
            "DNS listening on udp and tcp"
        );
        Ok(DnsServer {
            server,
            udp_loops,
            local,
            upstreams,
        })
    }
}

/// The discovery DNS server: the zone's names from its table, other names
/// forwarded or refused, on UDP and TCP.
pub struct DnsServer {
    /// TCP (hickory's loop: a task per connection).
    server: Server<SharedCatalog>,
    /// UDP: see [`udp`].
    udp_loops: JoinSet<()>,
    local: SocketAddr,
    upstreams: Vec<SocketAddr>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("local", &self.local)
            .field("upstreams", &self.upstreams)
            .finish_non_exhaustive()
    }
}

impl DnsServer {
    /// A server for `zone`, without upstreams.
    pub fn builder(zone: Arc<ServiceZone>) -> DnsServerBuilder {
        DnsServerBuilder {
            zone,
            upstreams: Vec::new(),
            udp_sockets: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Where it answers (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The resolvers names outside the zone go to.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// Serves until `shutdown` completes, then stops reading UDP, stops
    /// accepting TCP and lets the TCP queries in flight finish.
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let result = tokio::select! {
            result = self.server.block_until_done() => {
                result.map_err(|e| Error::ServeFailed(e.to_string()))
            }
            Some(ended) = self.udp_loops.join_next() => Err(Error::ServeFailed(format!(
                "a UDP receive loop ended: {}",
                ended.err().map_or_else(|| "no error".to_owned(), |e| e.to_string())
            ))),
            () = shutdown => self
                .server
                .shutdown_gracefully()
                .await
                .map_err(|e| Error::ServeFailed(e.to_string())),
        };
        self.udp_loops.abort_all();
        result
    }
}

/// The catalog shared by the UDP loops and hickory's TCP server.
struct SharedCatalog(Arc<Catalog>);

#[async_trait::async_trait]
impl RequestHandler for SharedCatalog {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        self.0
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

/// `upstream` is `local` itself (or loopback while `local` listens on every
/// address): forwarding there would send queries back here.
fn is_self(upstream: SocketAddr, local: SocketAddr) -> bool {
    upstream.port() == local.port()
        && (upstream.ip() == local.ip() || local.ip().is_unspecified() && is_local(upstream.ip()))
}

fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
}

fn forwarder(upstreams: &[SocketAddr]) -> Result<ForwardZoneHandler> {
    let name_servers = upstreams
        .iter()
        .map(|upstream| {
            let mut udp = ConnectionConfig::udp();
            udp.port = upstream.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = upstream.port();
            NameServerConfig::new(upstream.ip(), true, vec![udp, tcp])
        })
        .collect();
    let mut options = ResolverOpts::default();
    options.timeout = UPSTREAM_TIMEOUT;
    options.attempts = 2;
    ForwardZoneHandler::builder_tokio(ForwardConfig {
        name_servers,
        options: Some(options),
    })
    .build()
    .map_err(Error::UpstreamFailed)
}

/// `count` UDP sockets sharing one port and a TCP listener on it. With port
/// 0 the first UDP socket picks the port; should TCP find it taken, the
/// whole set is tried again on another.
fn bind_sockets(
    address: SocketAddr,
    count: usize,
) -> Result<(Vec<tokio::net::UdpSocket>, tokio::net::TcpListener)> {
    const ATTEMPTS: usize = 16;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let first = udp_socket(address)?;
        let port = first
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(address.port());
        let shared = SocketAddr::new(address.ip(), port);
        let mut sockets = vec![first];
        for _ in 1..count {
            sockets.push(udp_socket(shared)?);
        }
        match tcp_listener(shared) {
            Ok(tcp) => return Ok((sockets, tcp)),
            Err(Error::BindFailed { source, .. })
                if address.port() == 0
                    && source.kind() == std::io::ErrorKind::AddrInUse
                    && attempt < ATTEMPTS => {}
            Err(error) => return Err(error),
        }
    }
}

fn udp_socket(address: SocketAddr) -> Result<tokio::net::UdpSocket> {
    let bind_failed = |source| Error::BindFailed {
        address,
        protocol: "udp",
        source,
    };
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .map_err(bind_failed)?;
    socket.set_reuse_port(true).map_err(bind_failed)?;
    // Room for bursts while a loop is busy; the kernel caps it at
    // net.core.rmem_max.
    socket
        .set_recv_buffer_size(UDP_RECEIVE_BUFFER)
        .map_err(bind_failed)?;
    socket.set_nonblocking(true).map_err(bind_failed)?;
    if address.ip() == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
        // Each query's destination, to answer from it (see `udp`).
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Ipv4PacketInfo, &true)
            .map_err(|errno| bind_failed(errno.into()))?;
    }
    socket.bind(&address.into()).map_err(bind_failed)?;
    tokio::net::UdpSocket::from_std(socket.into()).map_err(bind_failed)
}

fn tcp_listener(address: SocketAddr) -> Result<tokio::net::TcpListener> {
    let bind_failed = |source| Error::BindFailed {
        address,
        protocol: "tcp",
        source,
    };
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(bind_failed)?;
    socket.set_reuseaddr(true).map_err(bind_failed)?;
    socket.bind(address).map_err(bind_failed)?;
    socket.listen(1024).map_err(bind_failed)
}

/// The address clients should query for a server bound to `bound`: that
/// one, or when every address is bound the one this host's traffic leaves
/// from (a connected UDP socket sends nothing), loopback as a last resort.
pub fn advertised_ip(bound: IpAddr) -> IpAddr {
    if !bound.is_unspecified() {
        return bound;
    }
    let outbound = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| {
            socket.connect((Ipv4Addr::new(192, 0, 2, 1), 53))?;
            socket.local_addr()
        })
        .map(|local| local.ip());
    match outbound {
        Ok(ip) if !ip.is_unspecified() => ip,
        _ => {
            tracing::warn!("no outbound address; advertising 127.0.0.1");
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_that_is_this_server_is_recognised() {
        let local: SocketAddr = "0.0.0.0:53".parse().unwrap();
        assert!(is_self("127.0.0.1:53".parse().unwrap(), local));
        assert!(!is_self("127.0.0.1:5353".parse().unwrap(), local));
        assert!(!is_self("10.0.0.1:53".parse().unwrap(), local));
        let local: SocketAddr = "10.0.0.1:53".parse().unwrap();
        assert!(is_self("10.0.0.1:53".parse().unwrap(), local));
        assert!(!is_self("127.0.0.1:53".parse().unwrap(), local));
    }
}
