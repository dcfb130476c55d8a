//! Embed the cluster's DNS server in a program of your own: service names
//! answered from a store you write to.
//!
//! Run: `cargo run -p examples --example discovery_serve`
//!
//! An `EndpointWatch` keeps a `ServiceZone` current from a memory store, and
//! a `DnsServer` serves that zone on a free loopback port (UDP and TCP),
//! with no upstream resolvers, so names outside the zone are refused. The
//! program writes one endpoint (service `web` in namespace `demo`, VIP
//! 10.96.0.10, port 80), asks hickory's resolver for `web.demo.lb.local`
//! (A) and `_80._tcp.web.demo.lb.local` (SRV), prints the answers and stops
//! the server. Swap the memory store for the cluster's (etcd or embedded)
//! and the same code answers for every service in it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lastbackend_core::model::{Endpoint, EndpointSpec, Kind, Meta, SelfLink};
use lastbackend_core::storage::memory::MemoryStorage;
use lastbackend_core::store::Store;
use lastbackend_core::units::PortMapping;
use lastbackend_runtime::discovery::hickory_server::proto::rr::RecordType;
use lastbackend_runtime::discovery::hickory_server::resolver::config::{
    NameServerConfig, ResolverConfig,
};
use lastbackend_runtime::discovery::hickory_server::resolver::lookup::Lookup;
use lastbackend_runtime::discovery::hickory_server::resolver::net::runtime::TokioRuntimeProvider;
use lastbackend_runtime::discovery::hickory_server::resolver::{Resolver, TokioResolver};
use lastbackend_runtime::discovery::{DnsServer, EndpointWatch, ServiceZone, ZoneConfig};

const ZONE: &str = "lb.local";

/// A resolver that asks only `server`, over UDP.
fn resolver(server: SocketAddr) -> anyhow::Result<TokioResolver> {
    let mut name_server = NameServerConfig::udp(server.ip());
    name_server.connections[0].port = server.port();
    let config = ResolverConfig::from_parts(None, vec![], vec![name_server]);
    let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    // A negative answer cached before the endpoint reached the zone would
    // outlive it by the zone's TTL.
    builder.options_mut().cache_size = 0;
    Ok(builder.build()?)
}

/// Asks until the name exists: a store write reaches the zone through the
/// watch, a moment after the write returns.
async fn lookup(resolver: &TokioResolver, name: &str, rtype: RecordType) -> anyhow::Result<Lookup> {
    let answered = async {
        loop {
            match resolver.lookup(name, rtype).await {
                Err(error) if error.is_nx_domain() => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                answer => return answer,
            }
        }
    };
    let answer = tokio::time::timeout(Duration::from_secs(5), answered)
        .await
        .with_context(|| format!("{name} never appeared"))?;
    Ok(answer?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let zone = Arc::new(ServiceZone::new(ZoneConfig::new(ZONE)?));
    // Keeps the zone current until dropped.
    let _watch = EndpointWatch::start(store.clone(), zone.clone()).await?;
    let server = DnsServer::builder(zone)
        .bind("127.0.0.1:0".parse()?)
        .await?;
    let address = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    println!("serving {ZONE} on {address}");

    let link = SelfLink::namespaced(Kind::Endpoint, "demo", "web");
    store
        .create(&Endpoint {
            meta: Meta::new("web", &link),
            spec: EndpointSpec {
                ip: Some("10.96.0.10".parse()?),
                ports: vec![PortMapping::parse("80:8080/tcp")?],
                ..EndpointSpec::default()
            },
            ..Endpoint::default()
        })
        .await?;

    let resolver = resolver(address)?;
    for (name, rtype) in [
        ("web.demo.lb.local.", RecordType::A),
        ("_80._tcp.web.demo.lb.local.", RecordType::SRV),
    ] {
        for record in lookup(&resolver, name, rtype).await?.answers() {
            println!("{record}");
        }
    }

    let _ = stop.send(());
    serving.await??;
    Ok(())
}
