//! Service discovery over DNS: the records of every service endpoint in one
//! zone, kept current by a storage watch and served by hickory-server.
//!
//! - [`ServiceZone`] is the record table: `<service>.<namespace>.<zone>` to
//!   the service VIP (A, or AAAA for an IPv6 VIP) and SRV records for its
//!   ports, built from [`Endpoint`](lastbackend_core::model::Endpoint)
//!   objects. Lookups never touch storage.
//! - [`EndpointWatch`] loads the `endpoint/` collection into a zone and keeps
//!   it current through core's
//!   [`object_watcher`](lastbackend_core::storage::watcher::object_watcher)
//!   (a revisioned watch, relisting when the history it needs is
//!   compacted).
//! - [`ServiceZoneHandler`] answers for the zone as a hickory
//!   [`ZoneHandler`](hickory_server::zone_handler::ZoneHandler), so it can be
//!   put in any [`Catalog`](hickory_server::zone_handler::Catalog).
//! - [`DnsServer`] serves the zone on UDP and TCP and forwards other names
//!   to upstream resolvers (or refuses them when there are none).
//!
//! Record scheme, with zone `lb.local` and a service `web` in namespace
//! `demo` whose ports are `80:8080/tcp` and `53/udp`:
//!
//! | name | type | answer |
//! |---|---|---|
//! | `web.demo.lb.local` | A / AAAA | the VIP |
//! | `_tcp.web.demo.lb.local` | SRV | `0 100 80 web.demo.lb.local.` (every TCP port) |
//! | `_80._tcp.web.demo.lb.local` | SRV | `0 100 80 web.demo.lb.local.` |
//! | `_53._udp.web.demo.lb.local` | SRV | `0 100 53 web.demo.lb.local.` |
//! | `lb.local` | SOA, NS | the zone's own records |
//! | `demo.lb.local` | any | NOERROR without records (it has names below) |
//! | anything else in the zone | any | NXDOMAIN |
//!
//! Ports are the VIP ports clients connect to. A known name asked for
//! another type answers NOERROR with no records; negative answers carry the
//! SOA. Every record has the zone's TTL.
//!
//! ```no_run
//! # async fn run(store: lastbackend_core::store::Store) -> Result<(), lastbackend_runtime::discovery::Error> {
//! use std::sync::Arc;
//! use lastbackend_runtime::discovery::{DnsServer, EndpointWatch, ServiceZone, ZoneConfig};
//!
//! let zone = Arc::new(ServiceZone::new(ZoneConfig::new("lb.local")?));
//! let _watch = EndpointWatch::start(store, zone.clone()).await?;
//! let server = DnsServer::builder(zone)
//!     .upstreams(vec!["1.1.1.1:53".parse().unwrap()])
//!     .bind("127.0.0.1:5353".parse().unwrap())
//!     .await?;
//! server.run_until(std::future::pending()).await
//! # }
//! ```

mod handler;
mod records;
mod server;
mod udp;
mod watch;

use std::net::SocketAddr;

pub use handler::ServiceZoneHandler;
/// The hickory-server this module is built on: its record and zone-handler
/// types are in this module's API (a [`ServiceZoneHandler`] goes into a
/// caller's own `Catalog`), so callers need the same version.
pub use hickory_server;
pub use records::{Answer, DEFAULT_TTL, ServiceZone, ZoneConfig};
pub use server::{DnsServer, DnsServerBuilder, advertised_ip, system_upstreams};
pub use watch::EndpointWatch;

/// Why discovery could not start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The zone name is not a valid DNS name.
    #[error("invalid zone {zone:?}: {reason}")]
    InvalidZone {
        /// The name given.
        zone: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The first list of endpoints failed (or held an undecodable one).
    #[error("cannot list the endpoints: {0}")]
    ListFailed(#[from] lastbackend_core::storage::watcher::Error),
    /// A UDP or TCP socket could not be bound.
    #[error("cannot listen on {address} ({protocol})")]
    BindFailed {
        /// Where.
        address: SocketAddr,
        /// `udp` or `tcp`.
        protocol: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The forwarder to the upstream resolvers could not be built.
    #[error("cannot forward to the upstream resolvers: {0}")]
    UpstreamFailed(String),
    /// The server stopped with an error.
    #[error("the DNS server failed: {0}")]
    ServeFailed(String),
}

/// Result of a discovery operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
