use std::str::FromStr;

use lastbackend_core::model::{EndpointSpec, Kind, Meta, SelfLink};
use lastbackend_core::units::PortMapping;

use super::*;

fn endpoint(ns: &str, svc: &str, ip: &str, ports: &[&str]) -> Endpoint {
    let link = SelfLink::namespaced(Kind::Endpoint, ns, svc);
    Endpoint {
        meta: Meta::new(svc, &link),
        spec: EndpointSpec {
            ip: Some(ip.parse().unwrap()),
            ports: ports
                .iter()
                .map(|p| PortMapping::parse(p).unwrap())
                .collect(),
            ..EndpointSpec::default()
        },
        ..Endpoint::default()
    }
}

fn name(s: &str) -> LowerName {
    LowerName::from_str(s).unwrap()
}

fn zone() -> ServiceZone {
    ServiceZone::new(ZoneConfig::new("lb.local").unwrap().with_ttl(7))
}

/// The answer's records as `type data` strings.
fn records(answer: &Answer) -> Vec<String> {
    match answer {
        Answer::Records { answers, .. } => answers
            .iter()
            .flat_map(|set| set.records_without_rrsigs())
            .map(|r| format!("{} {} {}", r.record_type(), r.ttl, r.data))
            .collect(),
        other => panic!("expected records, got {other:?}"),
    }
}

#[test]
fn a_service_answers_its_vip_and_ports() {
    let zone = zone();
    zone.upsert(
        &endpoint(
            "demo",
            "web",
            "10.96.0.5",
            &["80:8080/tcp", "53/udp", "9000/*"],
        ),
        3,
    );
    let a = zone.resolve(&name("WEB.demo.lb.local."), RecordType::A);
    assert_eq!(records(&a), ["A 7 10.96.0.5"]);
    let tcp = zone.resolve(&name("_tcp.web.demo.lb.local."), RecordType::SRV);
    assert_eq!(
        records(&tcp),
        [
            "SRV 7 0 100 80 web.demo.lb.local.",
            "SRV 7 0 100 9000 web.demo.lb.local."
        ]
    );
    let Answer::Records { additionals, .. } = &tcp else {
        unreachable!()
    };
    assert_eq!(additionals.as_ref().unwrap().record_type(), RecordType::A);
    let udp = zone.resolve(&name("_53._udp.web.demo.lb.local."), RecordType::SRV);
    assert_eq!(records(&udp), ["SRV 7 0 100 53 web.demo.lb.local."]);
    let both = zone.resolve(&name("_9000._udp.web.demo.lb.local."), RecordType::SRV);
    assert_eq!(records(&both), ["SRV 7 0 100 9000 web.demo.lb.local."]);
    assert_eq!(zone.revision(), 3);
}

#[test]
fn unknown_names_are_nxdomain_and_known_names_of_another_type_nodata() {
    let zone = zone();
    zone.upsert(&endpoint("demo", "web", "10.96.0.5", &["80/tcp"]), 1);
    for unknown in [
        "db.demo.lb.local.",
        "web.other.lb.local.",
        "x.web.demo.lb.local.",
        "_81._tcp.web.demo.lb.local.",
        "_udp.web.demo.lb.local.",
        "ns.lb.local.",
    ] {
        assert!(
            matches!(
                zone.resolve(&name(unknown), RecordType::A),
                Answer::NxDomain
            ),
            "{unknown}"
        );
    }
    for (known, rtype) in [
        ("web.demo.lb.local.", RecordType::AAAA),
        ("web.demo.lb.local.", RecordType::TXT),
        ("_80._tcp.web.demo.lb.local.", RecordType::A),
        ("demo.lb.local.", RecordType::A),
        ("lb.local.", RecordType::A),
    ] {
        assert!(
            matches!(zone.resolve(&name(known), rtype), Answer::NoData),
            "{known} {rtype}"
        );
    }
    assert!(matches!(
        zone.resolve(&name("example.com."), RecordType::A),
        Answer::NotInZone
    ));
}

#[test]
fn the_apex_has_soa_and_ns_and_the_serial_follows_the_revision() {
    let zone = ServiceZone::new(
        ZoneConfig::new("cluster.test.")
            .unwrap()
            .with_nameserver("10.0.0.53".parse().unwrap()),
    );
    zone.upsert(&endpoint("demo", "web", "10.96.0.5", &[]), 42);
    let soa = zone.resolve(&name("cluster.test."), RecordType::SOA);
    let soa = records(&soa);
    assert_eq!(soa.len(), 1);
    assert!(
        soa[0].starts_with("SOA 30 ns.cluster.test. hostmaster.cluster.test. 42 "),
        "{soa:?}"
    );
    let ns = zone.resolve(&name("cluster.test."), RecordType::NS);
    assert_eq!(records(&ns), ["NS 30 ns.cluster.test."]);
    let glue = zone.resolve(&name("ns.cluster.test."), RecordType::A);
    assert_eq!(records(&glue), ["A 30 10.0.0.53"]);
}

#[test]
fn an_ipv6_vip_is_aaaa_only() {
    let zone = zone();
    zone.upsert(&endpoint("demo", "v6", "fd00::5", &[]), 1);
    let aaaa = zone.resolve(&name("v6.demo.lb.local."), RecordType::AAAA);
    assert_eq!(records(&aaaa), ["AAAA 7 fd00::5"]);
    assert!(matches!(
        zone.resolve(&name("v6.demo.lb.local."), RecordType::A),
        Answer::NoData
    ));
}

#[test]
fn changes_replace_and_remove_names_and_namespaces() {
    let zone = zone();
    zone.upsert(&endpoint("demo", "web", "10.96.0.5", &["80/tcp"]), 1);
    zone.upsert(&endpoint("demo", "web", "10.96.0.6", &["81/tcp"]), 2);
    let a = zone.resolve(&name("web.demo.lb.local."), RecordType::A);
    assert_eq!(records(&a), ["A 7 10.96.0.6"]);
    assert!(matches!(
        zone.resolve(&name("_80._tcp.web.demo.lb.local."), RecordType::SRV),
        Answer::NxDomain
    ));
    zone.upsert(&endpoint("demo", "db", "10.96.0.7", &[]), 3);
    zone.remove("demo:web", 4);
    assert!(matches!(
        zone.resolve(&name("web.demo.lb.local."), RecordType::A),
        Answer::NxDomain
    ));
    assert!(matches!(
        zone.resolve(&name("demo.lb.local."), RecordType::A),
        Answer::NoData
    ));
    zone.remove("demo:db", 5);
    assert!(matches!(
        zone.resolve(&name("demo.lb.local."), RecordType::A),
        Answer::NxDomain
    ));
    assert!(zone.is_empty());

    let all = [
        endpoint("a", "x", "10.96.0.1", &[]),
        endpoint("b", "y", "10.96.0.2", &[]),
    ];
    zone.replace(&all, 9);
    assert_eq!((zone.len(), zone.revision()), (2, 9));
    zone.replace(&all[1..], 10);
    assert!(matches!(
        zone.resolve(&name("x.a.lb.local."), RecordType::A),
        Answer::NxDomain
    ));
}

#[test]
fn endpoints_without_a_dns_name_are_skipped() {
    let zone = zone();
    let mut bad = endpoint("demo", "web", "10.96.0.5", &[]);
    bad.meta.self_link = "demo:*".into();
    zone.upsert(&bad, 1);
    bad.meta.self_link = "demo:_x".into();
    zone.upsert(&bad, 2);
    assert!(zone.is_empty());
}

#[test]
fn zone_names_are_checked() {
    assert_eq!(
        ZoneConfig::new("LB.Local").unwrap().origin.to_string(),
        "lb.local."
    );
    for bad in ["", ".", "a..b", "_x.local", "a b"] {
        assert!(ZoneConfig::new(bad).is_err(), "{bad:?}");
    }
}
