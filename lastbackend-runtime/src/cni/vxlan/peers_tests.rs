use super::*;

fn peer(cidr: &str, mac: u8, host: &str) -> Peer {
    Peer {
        cidr: cidr.parse().unwrap(),
        mac: [2, 0, 0, 0, 0, mac],
        host: host.parse().unwrap(),
    }
}

/// What the kernel holds once `peers` are programmed.
fn programmed(peers: &[Peer]) -> Programmed {
    let mut now = Programmed::default();
    for p in peers {
        now.fdb.insert((p.mac, p.host));
        now.neigh.insert(p.vtep(), p.mac);
        now.routes
            .insert((p.cidr.network(), p.cidr.prefix()), (Some(p.vtep()), true));
    }
    now
}

#[test]
fn an_empty_host_gets_three_entries_per_peer_and_then_nothing() {
    let peers = [
        peer("10.244.1.0/24", 1, "192.168.0.1"),
        peer("10.244.2.0/24", 2, "192.168.0.2"),
    ];
    let ops = diff(&Programmed::default(), &peers);
    assert_eq!(ops.len(), 6, "{ops:?}");
    assert!(ops.contains(&Op::FdbSet(
        [2, 0, 0, 0, 0, 2],
        "192.168.0.2".parse().unwrap()
    )));
    assert!(ops.contains(&Op::NeighSet(
        "10.244.1.0".parse().unwrap(),
        [2, 0, 0, 0, 0, 1]
    )));
    assert!(ops.contains(&Op::RouteSet("10.244.2.0/24".parse().unwrap())));
    assert_eq!(
        diff(&programmed(&peers), &peers),
        [],
        "re-running changes nothing"
    );
}

#[test]
fn a_gone_peer_is_removed_route_first_and_others_are_left_alone() {
    let a = peer("10.244.1.0/24", 1, "192.168.0.1");
    let c = peer("10.244.3.0/24", 3, "192.168.0.3");
    let ops = diff(&programmed(&[a, c]), &[a]);
    assert_eq!(
        ops,
        [
            Op::RouteDel("10.244.3.0".parse().unwrap(), 24),
            Op::NeighDel("10.244.3.0".parse().unwrap()),
            Op::FdbDel([2, 0, 0, 0, 0, 3], "192.168.0.3".parse().unwrap()),
        ]
    );
    assert_eq!(diff(&programmed(&[a, c]), &[]).len(), 6);
}

#[test]
fn a_changed_peer_is_replaced() {
    let old = peer("10.244.1.0/24", 1, "192.168.0.1");
    // Its agent restarted with a new device (new MAC) on a new host address.
    let new = peer("10.244.1.0/24", 9, "192.168.0.9");
    let ops = diff(&programmed(&[old]), &[new]);
    assert_eq!(
        ops,
        [
            Op::FdbDel([2, 0, 0, 0, 0, 1], "192.168.0.1".parse().unwrap()),
            Op::FdbSet([2, 0, 0, 0, 0, 9], "192.168.0.9".parse().unwrap()),
            Op::NeighSet("10.244.1.0".parse().unwrap(), [2, 0, 0, 0, 0, 9]),
        ]
    );
    // A route added by hand without onlink is rewritten.
    let mut now = programmed(&[new]);
    now.routes
        .insert(("10.244.1.0".parse().unwrap(), 24), (None, false));
    assert_eq!(diff(&now, &[new]), [Op::RouteSet(new.cidr)]);
}

#[test]
fn specs_become_peers_once_reported_and_bad_ones_name_the_subnet() {
    let mut spec = SubnetSpec {
        cidr: "10.244.4.0/24".into(),
        ..SubnetSpec::default()
    };
    assert_eq!(Peer::from_spec("10.244.4.0:24", &spec).unwrap(), None);
    spec.addr = Some("192.168.0.4".parse().unwrap());
    assert_eq!(Peer::from_spec("10.244.4.0:24", &spec).unwrap(), None);
    spec.iface.hardware_addr = "02:00:00:00:00:0a".into();
    assert_eq!(
        Peer::from_spec("10.244.4.0:24", &spec).unwrap(),
        Some(peer("10.244.4.0/24", 10, "192.168.0.4"))
    );
    spec.iface.hardware_addr = "02:00:00".into();
    let err = Peer::from_spec("10.244.4.0:24", &spec).unwrap_err();
    assert!(err.to_string().contains("10.244.4.0:24"), "{err}");
    spec.addr = Some("fd00::1".parse().unwrap());
    assert!(Peer::from_spec("x", &spec).is_err());
    assert_eq!(format_mac(&[2, 0, 0, 0, 0, 10]), "02:00:00:00:00:0a");
    assert_eq!(parse_mac("02:00:00:00:00:0a:01"), None);
}
