use std::collections::BTreeSet;

use super::*;
use crate::storage::MemoryStorage;

fn pool(cidr: &str) -> Ipam {
    Ipam::new(Arc::new(MemoryStorage::new()), cidr.parse().unwrap())
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn cidrs_parse_and_name_their_edges() {
    let cidr: Ipv4Cidr = "10.0.0.8/29".parse().unwrap();
    assert_eq!(cidr.to_string(), "10.0.0.8/29");
    assert_eq!(cidr.assignable(), (ip("10.0.0.9"), ip("10.0.0.14")));
    assert_eq!(cidr.size(), 6);
    assert!(cidr.contains(ip("10.0.0.15")));
    assert!(!cidr.is_assignable(ip("10.0.0.15")));
    assert!(!cidr.is_assignable(ip("10.0.0.8")));

    let p2p: Ipv4Cidr = "10.0.0.0/31".parse().unwrap();
    assert_eq!(p2p.size(), 2);
    let host: Ipv4Cidr = "10.0.0.7/32".parse().unwrap();
    assert_eq!(host.assignable(), (ip("10.0.0.7"), ip("10.0.0.7")));

    assert_eq!(Ipv4Cidr::default().to_string(), DEFAULT_SERVICES_CIDR);
    assert_eq!(
        DEFAULT_SERVICES_CIDR.parse::<Ipv4Cidr>().unwrap(),
        Ipv4Cidr::services_default()
    );
    let docker0: Ipv4Cidr = "172.17.0.0/16".parse().unwrap();
    assert!(!docker0.contains(Ipv4Cidr::default().network()));

    for bad in ["10.0.0.1/24", "10.0.0.0/33", "10.0.0.0", "fd00::/64", "x/8"] {
        let err = bad.parse::<Ipv4Cidr>().unwrap_err();
        assert!(err.to_string().contains(bad), "{err}");
    }
}

#[tokio::test]
async fn a_slash_29_hands_out_six_addresses_lowest_first_then_is_exhausted() {
    let ipam = pool("192.168.5.0/29");
    let mut got = Vec::new();
    for n in 0..6 {
        got.push(ipam.allocate(&format!("demo:s{n}")).await.unwrap());
    }
    let expected: Vec<_> = (1..=6).map(|n| Ipv4Addr::new(192, 168, 5, n)).collect();
    assert_eq!(
        got, expected,
        "network .0 and broadcast .7 are never handed out"
    );

    let err = ipam.allocate("demo:s6").await.unwrap_err();
    assert!(err.is_exhausted(), "{err}");
    assert!(err.to_string().contains("192.168.5.0/29"), "{err}");
}

#[tokio::test]
async fn allocating_again_for_an_owner_returns_its_address() {
    let ipam = pool("10.96.0.0/16");
    let web = ipam.allocate("demo:web").await.unwrap();
    assert_eq!(web, ip("10.96.0.1"));
    assert_eq!(ipam.allocate("demo:web").await.unwrap(), web);
    assert_eq!(ipam.allocate("demo:db").await.unwrap(), ip("10.96.0.2"));
    assert_eq!(ipam.lookup("demo:web").await.unwrap(), Some(web));
    assert_eq!(ipam.allocations().await.unwrap().len(), 2);

    let raw = ipam.storage.get("system/ipam/ip/10.96.0.1").await.unwrap();
    assert_eq!(raw.value, Bytes::from_static(br#"{"owner":"demo:web"}"#));
}

#[tokio::test]
async fn a_released_address_is_reused() {
    let ipam = pool("10.0.0.0/30");
    let a = ipam.allocate("demo:a").await.unwrap();
    let b = ipam.allocate("demo:b").await.unwrap();
    assert!(ipam.allocate("demo:c").await.unwrap_err().is_exhausted());

    assert_eq!(ipam.release("demo:a").await.unwrap(), Some(a));
    assert_eq!(ipam.release("demo:a").await.unwrap(), None, "idempotent");
    assert_eq!(ipam.lookup("demo:a").await.unwrap(), None);
    assert_eq!(ipam.allocate("demo:c").await.unwrap(), a);
    assert_eq!(
        ipam.allocations().await.unwrap(),
        [(a, "demo:c".to_owned()), (b, "demo:b".to_owned())]
    );
}

#[tokio::test]
async fn reserve_takes_a_requested_address_or_says_why_not() {
    let ipam = pool("10.0.0.0/24");
    ipam.reserve(ip("10.0.0.10"), "demo:web").await.unwrap();
    ipam.reserve(ip("10.0.0.10"), "demo:web").await.unwrap();
    assert_eq!(ipam.allocate("demo:web").await.unwrap(), ip("10.0.0.10"));

    let taken = ipam.reserve(ip("10.0.0.10"), "demo:db").await.unwrap_err();
    assert!(taken.is_taken(), "{taken}");
    assert!(taken.to_string().contains("demo:web"), "{taken}");

    for outside in ["10.0.1.1", "10.0.0.0", "10.0.0.255"] {
        let err = ipam.reserve(ip(outside), "demo:db").await.unwrap_err();
        assert!(err.is_out_of_range(), "{err}");
        assert!(err.to_string().contains("10.0.0.0/24"), "{err}");
    }

    let other = ipam.reserve(ip("10.0.0.11"), "demo:web").await.unwrap_err();
    assert!(matches!(other, Error::OwnerHasAddress { .. }), "{other}");

    assert_eq!(ipam.allocate("demo:db").await.unwrap(), ip("10.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_allocators_never_share_an_address() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let cidr: Ipv4Cidr = "10.96.0.0/24".parse().unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            // One allocator per task, as two controllers during a failover.
            let ipam = Ipam::new(Arc::clone(&storage), cidr);
            tokio::spawn(async move { (n, ipam.allocate(&format!("demo:s{n}")).await.unwrap()) })
        })
        .collect();
    let mut got = Vec::new();
    for task in tasks {
        got.push(task.await.unwrap());
    }
    let distinct: BTreeSet<_> = got.iter().map(|(_, ip)| *ip).collect();
    assert_eq!(distinct.len(), 16, "{got:?}");
    let expected: BTreeSet<_> = (1..=16).map(|n| Ipv4Addr::new(10, 96, 0, n)).collect();
    assert_eq!(distinct, expected, "the lowest sixteen, none lost");

    let stored = Ipam::new(storage, cidr).allocations().await.unwrap();
    let stored: BTreeSet<_> = stored.into_iter().map(|(ip, owner)| (owner, ip)).collect();
    let returned: BTreeSet<_> = got
        .into_iter()
        .map(|(n, ip)| (format!("demo:s{n}"), ip))
        .collect();
    assert_eq!(stored, returned);
}

#[tokio::test]
async fn pools_under_other_prefixes_are_independent() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let cidr: Ipv4Cidr = "10.0.0.0/29".parse().unwrap();
    let services = Ipam::new(Arc::clone(&storage), cidr);
    let other = Ipam::with_prefix(storage, cidr, "system/subnets/");
    assert_eq!(services.allocate("a").await.unwrap(), ip("10.0.0.1"));
    assert_eq!(other.allocate("b").await.unwrap(), ip("10.0.0.1"));
}
