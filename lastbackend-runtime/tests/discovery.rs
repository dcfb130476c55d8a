//! The discovery DNS server against real clients: `dig` (package dnsutils)
//! over UDP and TCP, hickory-resolver, and raw queries following storage
//! writes into answers (how fast is `cargo bench -p lastbackend --bench
//! dns`'s figure; here the delays are only printed). Each test serves a
//! memory store on 127.0.0.1 with a free port, in process; the `lastbackend
//! discovery` binary is tested in the daemons crate.
//!
//! Without `dig` the dig tests skip with a message, and fail under
//! `CI=true`.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use lastbackend_core::model::{Endpoint, EndpointSpec, Kind, Meta, SelfLink};
use lastbackend_core::storage::MemoryStorage;
use lastbackend_core::store::Store;
use lastbackend_core::units::PortMapping;
use lastbackend_runtime::discovery::{DnsServer, EndpointWatch, ServiceZone, ZoneConfig};

const TTL: u32 = 42;
/// How long a test waits for an answer or a change to show in answers: a
/// guard against hanging, far above what even a busy machine takes.
const ANSWERED: Duration = Duration::from_secs(30);

/// A discovery server over a memory store; stops with the test's runtime.
struct Server {
    store: Store,
    address: SocketAddr,
    _watch: EndpointWatch,
    _zone: Arc<ServiceZone>,
}

async fn discovery(upstreams: Vec<SocketAddr>) -> Server {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let zone = Arc::new(ServiceZone::new(
        ZoneConfig::new("lb.local").unwrap().with_ttl(TTL),
    ));
    let watch = EndpointWatch::start(store.clone(), zone.clone())
        .await
        .unwrap();
    let server = DnsServer::builder(zone.clone())
        .upstreams(upstreams)
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let address = server.local_addr();
    // A server that fails says why (then no query is answered).
    tokio::spawn(async move {
        server
            .run_until(std::future::pending())
            .await
            .expect("the DNS server failed")
    });
    Server {
        store,
        address,
        _watch: watch,
        _zone: zone,
    }
}

fn endpoint(ns: &str, svc: &str, ip: &str, ports: &[&str]) -> Endpoint {
    let link = SelfLink::namespaced(Kind::Endpoint, ns, svc);
    Endpoint {
        meta: Meta::new(svc, &link),
        spec: EndpointSpec {
            ip: Some(ip.parse().unwrap()),
            domain: format!("{svc}.{ns}.lb.local"),
            ports: ports
                .iter()
                .map(|p| PortMapping::parse(p).unwrap())
                .collect(),
            ..EndpointSpec::default()
        },
        ..Endpoint::default()
    }
}

/// What `dig` printed: the status, the header flags and the answer lines
/// as `name ttl type data`.
#[derive(Debug)]
struct Dig {
    status: String,
    flags: String,
    answers: Vec<String>,
    authority: Vec<String>,
}

/// Whether `dig` is here: skips (false) with a reason, or panics under CI.
fn have_dig() -> bool {
    let found = Command::new("dig")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "dig is missing (package dnsutils) and CI=true"
        );
        eprintln!("skipping: dig is not installed (package dnsutils)");
    }
    found
}

async fn dig(server: SocketAddr, args: &[&str]) -> Dig {
    let mut command = Command::new("dig");
    command
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string()])
        .args(["+tries=3", "+time=3", "+nocookie"])
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "dig {args:?}: {text}");
    parse_dig(&text)
}

fn parse_dig(text: &str) -> Dig {
    let mut dig = Dig {
        status: String::new(),
        flags: String::new(),
        answers: Vec::new(),
        authority: Vec::new(),
    };
    let mut section = "";
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            dig.status = rest.split(',').next().unwrap().to_owned();
        } else if let Some(rest) = line.strip_prefix(";; flags: ") {
            dig.flags = rest.split(';').next().unwrap().to_owned();
        } else if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
        } else if line.is_empty() || line.starts_with(";;") {
            section = "";
        } else if !line.starts_with(';') {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // name ttl class type data...
            let record = format!(
                "{} {} {} {}",
                fields[0],
                fields[1],
                fields[3],
                fields[4..].join(" ")
            );
            match section {
                "answer" => dig.answers.push(record),
                "authority" => dig.authority.push(record),
                _ => {}
            }
        }
    }
    dig
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_sees_a_srv_nxdomain_and_the_ttl_over_udp_and_tcp() {
    if !have_dig() {
        return;
    }
    let server = discovery(Vec::new()).await;
    server
        .store
        .create(&endpoint(
            "demo",
            "web",
            "10.96.0.10",
            &["80:8080/tcp", "53/udp"],
        ))
        .await
        .unwrap();
    // The watch is fast, but not synchronous with the write.
    let deadline = Instant::now() + ANSWERED;
    while dig(server.address, &["web.demo.lb.local", "A"])
        .await
        .status
        != "NOERROR"
    {
        assert!(Instant::now() < deadline, "the endpoint never showed up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for transport in ["+notcp", "+tcp"] {
        let a = dig(server.address, &[transport, "WEB.demo.lb.local", "A"]).await;
        assert_eq!(a.status, "NOERROR", "{transport}");
        assert!(a.flags.split(' ').any(|f| f == "aa"), "{a:?}");
        // Names compare without case; answers carry the stored spelling.
        assert_eq!(
            a.answers,
            ["web.demo.lb.local. 42 A 10.96.0.10"],
            "{transport}"
        );
    }
    let srv = dig(server.address, &["_80._tcp.web.demo.lb.local", "SRV"]).await;
    assert_eq!(
        srv.answers,
        ["_80._tcp.web.demo.lb.local. 42 SRV 0 100 80 web.demo.lb.local."]
    );
    let srv = dig(server.address, &["+tcp", "_udp.web.demo.lb.local", "SRV"]).await;
    assert_eq!(
        srv.answers,
        ["_udp.web.demo.lb.local. 42 SRV 0 100 53 web.demo.lb.local."]
    );

    let missing = dig(server.address, &["nope.demo.lb.local", "A"]).await;
    assert_eq!(missing.status, "NXDOMAIN");
    assert!(missing.answers.is_empty());
    assert!(
        missing.authority[0].starts_with("lb.local. 42 SOA "),
        "{missing:?}"
    );
    let missing = dig(server.address, &["+tcp", "web.nowhere.lb.local", "A"]).await;
    assert_eq!(missing.status, "NXDOMAIN");

    let nodata = dig(server.address, &["web.demo.lb.local", "AAAA"]).await;
    assert_eq!(
        (nodata.status.as_str(), nodata.answers.len()),
        ("NOERROR", 0)
    );
    let soa = dig(server.address, &["lb.local", "SOA"]).await;
    assert!(
        soa.answers[0].starts_with("lb.local. 42 SOA ns.lb.local. "),
        "{soa:?}"
    );

    // No upstream configured: other names are refused, not guessed at.
    let outside = dig(server.address, &["example.com", "A"]).await;
    assert_eq!(outside.status, "REFUSED");
}

fn resolver(server: SocketAddr) -> hickory_resolver::TokioResolver {
    let mut name_server = NameServerConfig::udp(server.ip());
    name_server.connections[0].port = server.port();
    let config = ResolverConfig::from_parts(None, vec![], vec![name_server]);
    let mut builder =
        hickory_resolver::Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    // Each lookup must reach the server, not the resolver's cache.
    builder.options_mut().cache_size = 0;
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hickory_resolver_sees_the_same_records() {
    let server = discovery(Vec::new()).await;
    server
        .store
        .create(&endpoint("demo", "api", "10.96.0.11", &["443/tcp"]))
        .await
        .unwrap();
    server
        .store
        .create(&endpoint("demo", "v6", "fd00::11", &[]))
        .await
        .unwrap();
    let resolver = resolver(server.address);

    // Each create reaches the zone through the watch, after the write.
    let a = eventually("api.demo.lb.local", || {
        resolver.lookup("api.demo.lb.local.", RecordType::A)
    })
    .await;
    let records: Vec<_> = a
        .answers()
        .iter()
        .map(|r| (r.ttl, r.data.clone()))
        .collect();
    assert_eq!(records, [(TTL, RData::A(A("10.96.0.11".parse().unwrap())))]);

    let srv = resolver
        .lookup("_443._tcp.api.demo.lb.local.", RecordType::SRV)
        .await
        .unwrap();
    let RData::SRV(srv) = &srv.answers()[0].data else {
        panic!("not an SRV: {srv:?}")
    };
    assert_eq!(srv.port, 443);
    assert_eq!(srv.target.to_string(), "api.demo.lb.local.");

    let ips: Vec<IpAddr> = eventually("v6.demo.lb.local", || {
        resolver.lookup_ip("v6.demo.lb.local.")
    })
    .await
    .iter()
    .collect();
    assert_eq!(ips, ["fd00::11".parse::<IpAddr>().unwrap()]);

    let error = resolver
        .lookup("gone.demo.lb.local.", RecordType::A)
        .await
        .unwrap_err();
    assert!(error.is_nx_domain(), "{error}");
}

/// Retries `lookup` until it succeeds: a name written to the store shows up
/// in answers once the watch has delivered it.
async fn eventually<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    lookup: impl Fn() -> F,
) -> T {
    let deadline = Instant::now() + ANSWERED;
    loop {
        match lookup().await {
            Ok(answer) => return answer,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(error) => panic!("{what} never resolved: {error}"),
        }
    }
}

/// Asks `server` directly over UDP, as a stub resolver does, no cache.
async fn query(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    socket
        .send_to(&message.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buffer = [0_u8; 4096];
    loop {
        let (len, _) = tokio::time::timeout(ANSWERED, socket.recv_from(&mut buffer))
            .await
            .expect("the server answers")
            .unwrap();
        let answer = Message::from_vec(&buffer[..len]).unwrap();
        if answer.metadata.id == message.metadata.id {
            return answer;
        }
    }
}

fn rand_id() -> u16 {
    uuid::Uuid::new_v4().as_u128() as u16
}

fn first_a(message: &Message) -> Option<IpAddr> {
    message.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        _ => None,
    })
}

/// Polls until `done` holds for an answer; returns how long after `since`.
async fn first_seen(
    server: SocketAddr,
    name: &str,
    since: Instant,
    done: impl Fn(&Message) -> bool,
) -> Duration {
    let deadline = since + ANSWERED;
    loop {
        let answer = query(server, name, RecordType::A).await;
        if done(&answer) {
            return since.elapsed();
        }
        assert!(Instant::now() < deadline, "{name}: never changed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_storage_write_shows_in_the_answers() {
    let server = discovery(Vec::new()).await;
    let name = "db.demo.lb.local.";
    let mut delays = Vec::new();

    let written = Instant::now();
    let mut db = server
        .store
        .create(&endpoint("demo", "db", "10.96.0.20", &["5432/tcp"]))
        .await
        .unwrap();
    delays.push(
        first_seen(server.address, name, written, |m| {
            first_a(m) == Some("10.96.0.20".parse().unwrap())
        })
        .await,
    );
    for last in 21..=25 {
        let vip: IpAddr = format!("10.96.0.{last}").parse().unwrap();
        db.spec.ip = Some(vip);
        let written = Instant::now();
        db = server.store.update(&db).await.unwrap();
        delays.push(first_seen(server.address, name, written, |m| first_a(m) == Some(vip)).await);
    }
    let written = Instant::now();
    server.store.delete(&db).await.unwrap();
    delays.push(
        first_seen(server.address, name, written, |m| {
            m.metadata.response_code == ResponseCode::NXDomain
        })
        .await,
    );
    // Printed, not asserted: a test is never timed. The figure is
    // `cargo bench -p lastbackend --bench dns` (dns_update_p50_ms).
    println!("storage write to answer: {delays:?}");
}

/// Asks `server` over TCP (two-byte length prefix), where hickory's catalog
/// answers.
async fn query_tcp(server: SocketAddr, message: &Message) -> Message {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    let bytes = message.to_vec().unwrap();
    stream.write_u16(bytes.len() as u16).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let len = stream.read_u16().await.unwrap();
    let mut answer = vec![0_u8; len.into()];
    stream.read_exact(&mut answer).await.unwrap();
    Message::from_vec(&answer).unwrap()
}

async fn query_udp(server: SocketAddr, message: &Message) -> Message {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&message.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buffer = [0_u8; 4096];
    let (len, _) = tokio::time::timeout(ANSWERED, socket.recv_from(&mut buffer))
        .await
        .expect("the server answers")
        .unwrap();
    Message::from_vec(&buffer[..len]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_answers_the_zone_as_the_catalog_does_over_tcp() {
    let server = discovery(Vec::new()).await;
    server
        .store
        .create(&endpoint("demo", "web", "10.96.0.30", &["80/tcp", "53/*"]))
        .await
        .unwrap();
    let deadline = Instant::now() + ANSWERED;
    while first_a(&query(server.address, "web.demo.lb.local.", RecordType::A).await).is_none() {
        assert!(Instant::now() < deadline, "the endpoint never showed up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let questions = [
        ("web.demo.lb.local.", RecordType::A),
        ("WEB.Demo.LB.local.", RecordType::A),
        ("web.demo.lb.local.", RecordType::AAAA),
        ("web.demo.lb.local.", RecordType::ANY),
        ("_tcp.web.demo.lb.local.", RecordType::SRV),
        ("_53._udp.web.demo.lb.local.", RecordType::SRV),
        ("demo.lb.local.", RecordType::A),
        ("nope.demo.lb.local.", RecordType::A),
        ("lb.local.", RecordType::SOA),
        ("lb.local.", RecordType::NS),
    ];
    for (name, rtype) in questions {
        for edns in [false, true] {
            let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Query);
            message.metadata.recursion_desired = true;
            message.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
            if edns {
                let mut options = hickory_server::proto::op::Edns::new();
                options.set_max_payload(1232);
                message.edns = Some(options);
            }
            let udp = query_udp(server.address, &message).await;
            let tcp = query_tcp(server.address, &message).await;
            let what = format!("{name} {rtype} edns={edns}");
            assert_eq!(udp.metadata.id, message.metadata.id, "{what}");
            assert_eq!(udp.metadata, tcp.metadata, "{what}");
            assert_eq!(udp.queries, tcp.queries, "{what}");
            assert_eq!(udp.answers, tcp.answers, "{what}");
            assert_eq!(udp.authorities, tcp.authorities, "{what}");
            assert_eq!(udp.additionals, tcp.additionals, "{what}");
            assert_eq!(udp.edns.is_some(), edns, "{what}");
            assert_eq!(
                udp.edns.as_ref().map(|e| e.max_payload()),
                tcp.edns.as_ref().map(|e| e.max_payload()),
                "{what}"
            );
        }
    }
    // A query whose body does not parse: FORMERR, not silence.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let garbage = [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xff];
    socket.send_to(&garbage, server.address).await.unwrap();
    let mut buffer = [0_u8; 512];
    let (len, _) = tokio::time::timeout(ANSWERED, socket.recv_from(&mut buffer))
        .await
        .expect("an answer to a malformed query")
        .unwrap();
    let answer = Message::from_vec(&buffer[..len]).unwrap();
    assert_eq!(answer.metadata.id, 0x1234);
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr);
}

/// A stand-in upstream resolver: answers `A` for `example.test.` with
/// 192.0.2.77 and NXDOMAIN for anything else, counting queries.
async fn fake_upstream() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        let mut buffer = [0_u8; 4096];
        loop {
            let Ok((len, from)) = socket.recv_from(&mut buffer).await else {
                return;
            };
            let Ok(request) = Message::from_vec(&buffer[..len]) else {
                continue;
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut response = Message::response(request.metadata.id, OpCode::Query);
            response.metadata.recursion_desired = request.metadata.recursion_desired;
            response.metadata.recursion_available = true;
            let query = request.queries[0].clone();
            if query
                .name()
                .to_ascii()
                .eq_ignore_ascii_case("example.test.")
                && query.query_type() == RecordType::A
            {
                response.answers.push(Record::from_rdata(
                    query.name().clone(),
                    60,
                    RData::A(A("192.0.2.77".parse().unwrap())),
                ));
            } else {
                response.metadata.response_code = ResponseCode::NXDomain;
            }
            response.add_query(query);
            let _ = socket.send_to(&response.to_vec().unwrap(), from).await;
        }
    });
    (address, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_zone_go_to_the_upstream() {
    let (upstream, seen) = fake_upstream().await;
    let server = discovery(vec![upstream]).await;

    let answer = query(server.address, "example.test.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(first_a(&answer), Some("192.0.2.77".parse().unwrap()));
    assert!(!answer.metadata.authoritative);
    assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let missing = query(server.address, "missing.test.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);

    // The zone's own names never go out.
    let before = seen.load(std::sync::atomic::Ordering::SeqCst);
    let inside = query(server.address, "x.demo.lb.local.", RecordType::A).await;
    assert_eq!(inside.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), before);

    if have_dig() {
        let dig = dig(server.address, &["example.test", "A"]).await;
        assert_eq!(dig.status, "NOERROR");
        assert_eq!(dig.answers.len(), 1, "{dig:?}");
        assert!(dig.answers[0].ends_with(" A 192.0.2.77"), "{dig:?}");
    }
}

/// A server bound to `0.0.0.0` answers from the address each query was
/// sent to: a client that asked 127.0.0.2 from 127.0.0.1 (as a pod asks the
/// node's external address from its bridge) accepts only an answer from
/// 127.0.0.2, where a route-chosen source would be 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_server_answers_from_the_address_that_was_asked() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let zone = Arc::new(ServiceZone::new(ZoneConfig::new("lb.local").unwrap()));
    let _watch = EndpointWatch::start(store.clone(), zone.clone())
        .await
        .unwrap();
    let server = DnsServer::builder(zone)
        .bind("0.0.0.0:0".parse().unwrap())
        .await
        .unwrap();
    let port = server.local_addr().port();
    // A server that fails says why (then no query is answered).
    tokio::spawn(async move {
        server
            .run_until(std::future::pending())
            .await
            .expect("the DNS server failed")
    });
    store
        .create(&endpoint("demo", "web", "10.96.0.7", &["80:80/tcp"]))
        .await
        .unwrap();

    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Connected: the kernel drops datagrams from any other source.
    client.connect(("127.0.0.2", port)).await.unwrap();
    let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(
        Name::from_ascii("web.demo.lb.local.").unwrap(),
        RecordType::A,
    ));
    let mut buffer = [0_u8; 512];
    // Asked again until the endpoint, written just before, is in the zone.
    // Any answer at all already came from 127.0.0.2: no other would arrive.
    let deadline = Instant::now() + ANSWERED;
    loop {
        client.send(&message.to_vec().unwrap()).await.unwrap();
        let len = tokio::time::timeout(ANSWERED, client.recv(&mut buffer))
            .await
            .expect("an answer from 127.0.0.2, the address asked")
            .unwrap();
        let answer = Message::from_vec(&buffer[..len]).unwrap();
        if first_a(&answer) == Some("10.96.0.7".parse().unwrap()) {
            break;
        }
        assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
        assert!(
            Instant::now() < deadline,
            "web.demo.lb.local never showed up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
