use super::*;
use crate::cpi::service::L4;

fn service(n: u8) -> VirtualService {
    VirtualService {
        vip: Ipv4Addr::new(10, 96, 0, n),
        l4: L4::Tcp,
        port: 80,
    }
}

fn target(upstreams: &[u8]) -> Target {
    Target {
        port: 8080,
        upstreams: upstreams
            .iter()
            .map(|&u| Ipv4Addr::new(10, 0, 0, u))
            .collect(),
    }
}

fn addr(u: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, u), 8080)
}

#[test]
fn reslot_keeps_survivors_in_place_and_fills_holes_from_the_tail() {
    let old = [addr(1), addr(2), addr(3), addr(4)];
    let want: BTreeSet<_> = [1, 3, 4].map(|u| Ipv4Addr::new(10, 0, 0, u)).into();
    assert_eq!(reslot(&old, 8080, &want), [addr(1), addr(4), addr(3)]);
    let want: BTreeSet<_> = [1, 2, 3, 4, 5].map(|u| Ipv4Addr::new(10, 0, 0, u)).into();
    assert_eq!(
        reslot(&old, 8080, &want),
        [addr(1), addr(2), addr(3), addr(4), addr(5)]
    );
    let want: BTreeSet<_> = [9, 3].map(|u| Ipv4Addr::new(10, 0, 0, u)).into();
    assert_eq!(reslot(&old, 8080, &want), [addr(9), addr(3)]);
    // A new pod port rewrites every slot.
    assert_eq!(
        reslot(&old, 81, &want)
            .iter()
            .map(|a| a.port())
            .collect::<Vec<_>>(),
        [81, 81]
    );
}

#[test]
fn from_nothing_the_batch_builds_the_table_and_a_second_plan_is_empty() {
    let desired = BTreeMap::from([(service(1), target(&[1, 2])), (service(2), target(&[3]))]);
    let first = plan(Table::Absent, &desired, Spread::Random);
    assert!(
        first.batch.starts_with("table ip lastbackend {"),
        "{}",
        first.batch
    );
    assert!(first.batch.contains("add chain ip lastbackend random-1\n"));
    assert!(first.batch.contains("add chain ip lastbackend random-2\n"));
    assert!(first.batch.contains(
        "add element ip lastbackend services { 10.96.0.1 . tcp . 80 : goto random-2, \
         10.96.0.2 . tcp . 80 : goto random-1 }"
    ));
    assert_eq!(
        first.sync,
        ProxySync {
            services_added: 2,
            services_removed: 0,
            backends_changed: 3
        }
    );
    let again = plan(first.next.clone(), &desired, Spread::Random);
    assert_eq!(again.batch, "");
    assert!(again.sync.is_empty());
}

#[test]
fn an_upstream_change_edits_only_that_services_elements() {
    let before = BTreeMap::from([(service(1), target(&[1, 2])), (service(2), target(&[3, 4]))]);
    let table = plan(Table::Absent, &before, Spread::Random).next;
    // Same count: one slot rewritten, no services element, no chain.
    let swapped = BTreeMap::from([(service(1), target(&[1, 5])), (service(2), target(&[3, 4]))]);
    let p = plan(table.clone(), &swapped, Spread::Random);
    assert_eq!(
        p.batch,
        "delete element ip lastbackend backends { 10.96.0.1 . tcp . 80 . 1 }\n\
         add element ip lastbackend backends { 10.96.0.1 . tcp . 80 . 1 : 10.0.0.5 . 8080 }\n"
    );
    assert_eq!(p.sync.backends_changed, 2);
    // One more upstream: a slot added and the service re-pointed at random-3.
    let grown = BTreeMap::from([
        (service(1), target(&[1, 2, 5])),
        (service(2), target(&[3, 4])),
    ]);
    let p = plan(table.clone(), &grown, Spread::Random);
    assert_eq!(
        p.batch,
        "add chain ip lastbackend random-3\n\
         add rule ip lastbackend random-3 meta mark set meta mark | 0x4000 dnat ip to ip daddr \
         . meta l4proto . th dport . numgen random mod 3 map @backends\n\
         delete element ip lastbackend services { 10.96.0.1 . tcp . 80 }\n\
         add element ip lastbackend backends { 10.96.0.1 . tcp . 80 . 2 : 10.0.0.5 . 8080 }\n\
         add element ip lastbackend services { 10.96.0.1 . tcp . 80 : goto random-3 }\n"
    );
}

#[test]
fn removing_the_last_user_of_a_chain_deletes_the_chain_after_its_elements() {
    let before = BTreeMap::from([(service(1), target(&[1]))]);
    let table = plan(Table::Absent, &before, Spread::RoundRobin).next;
    let p = plan(table.clone(), &BTreeMap::new(), Spread::RoundRobin);
    assert_eq!(
        p.batch,
        "delete element ip lastbackend services { 10.96.0.1 . tcp . 80 }\n\
         delete element ip lastbackend backends { 10.96.0.1 . tcp . 80 . 0 }\n\
         flush chain ip lastbackend rr-1\ndelete chain ip lastbackend rr-1\n"
    );
    assert_eq!(p.sync.services_removed, 1);
}

#[test]
fn a_foreign_table_is_dropped_and_rebuilt_in_one_batch() {
    let p = plan(Table::Foreign, &BTreeMap::new(), Spread::Random);
    assert!(
        p.batch
            .starts_with("delete table ip lastbackend\ntable ip lastbackend {")
    );
}

#[test]
fn spread_chain_names_round_trip() {
    for chain in [
        SpreadChain {
            spread: Spread::Random,
            upstreams: 7,
        },
        SpreadChain {
            spread: Spread::RoundRobin,
            upstreams: 1,
        },
    ] {
        assert_eq!(SpreadChain::parse(&chain.name()), Some(chain));
    }
    assert_eq!(SpreadChain::parse("random-0"), None);
    assert_eq!(SpreadChain::parse("prerouting"), None);
}
