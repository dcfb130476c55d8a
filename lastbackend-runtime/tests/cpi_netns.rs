//! The nftables proxy driver against the real kernel, inside throwaway
//! network namespaces (root, `nft` and `ip`): a "node" namespace with three
//! backends on a dummy interface, each a TCP server answering its own id,
//! and a "remote" namespace joined by a veth pair. Clients in both connect
//! to a service VIP: the node's own through the output hook, the remote's
//! through prerouting.
//!
//! Without root, `nft` or `ip` the tests skip with a message, except under
//! `CI=true`, where they fail.
#![cfg(feature = "nftables")]

#[path = "support/nft_lab.rs"]
mod lab;
#[path = "support/skip.rs"]
mod skip;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lab::{Lab, hits, prerequisites};
use lastbackend_runtime::cpi::nftables::{NftCommand, NftRunner, Nftables, Spread};
use lastbackend_runtime::{Cpi, core::model::EndpointSpec};

fn endpoint(vip: &str, port: &str, upstreams: &[u8]) -> EndpointSpec {
    EndpointSpec {
        ip: Some(vip.parse().unwrap()),
        domain: "svc.demo.lb.local".into(),
        ports: vec![port.parse().unwrap()],
        upstreams: upstreams
            .iter()
            .map(|u| format!("10.244.0.{u}").parse().unwrap())
            .collect(),
    }
}

fn driver(lab: &Lab, spread: Spread) -> Nftables {
    Nftables::new(Arc::new(NftCommand::in_netns(&lab.node)), spread)
}

/// The `backends` elements of one VIP, as nft lists them.
async fn elements_of(lab: &Lab, vip: &str) -> BTreeSet<String> {
    let runner = NftCommand::in_netns(&lab.node);
    let listing = runner
        .run(&["list", "table", "ip", "lastbackend"], None)
        .await
        .unwrap();
    listing
        .split([',', '{', '}', '\n'])
        .map(str::trim)
        .filter(|e| e.starts_with(&format!("{vip} . ")))
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn random_spread_reaches_every_backend_and_follows_changes() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    let cpi = driver(&lab, Spread::Random);
    assert_eq!(cpi.name(), "nftables");
    let mut endpoints = BTreeMap::from([
        (
            "demo:a".to_owned(),
            endpoint("10.96.0.10", "80:8080", &[1, 2, 3]),
        ),
        (
            "demo:b".to_owned(),
            endpoint("10.96.0.11", "81:8080", &[1, 2]),
        ),
        (
            "demo:c".to_owned(),
            endpoint("10.96.0.12", "53:8080/*", &[3]),
        ),
    ]);
    let sync = cpi.sync(&endpoints).await.unwrap();
    assert_eq!(
        (sync.services_added, sync.backends_changed),
        (4, 7),
        "{sync:?}"
    );

    let n = 60;
    for (from, count) in [(&lab.remote, n), (&lab.node, n)] {
        let counts = hits(from, "10.96.0.10:80", count);
        for id in ["b1", "b2", "b3"] {
            let got = counts.get(id).copied().unwrap_or(0);
            assert!(
                got > 0 && got * 10 <= count * 6,
                "{id} got {got} of {count} from {from}: {counts:?}"
            );
        }
    }
    let b = elements_of(&lab, "10.96.0.11").await;
    let c = elements_of(&lab, "10.96.0.12").await;
    assert_eq!(c.len(), 4, "`*` is one tcp and one udp service: {c:?}");
    assert!(c.iter().any(|e| e.contains(" . udp . 53")), "{c:?}");

    endpoints.insert("demo:a".into(), endpoint("10.96.0.10", "80:8080", &[1, 2]));
    let sync = cpi.sync(&endpoints).await.unwrap();
    assert_eq!(
        (
            sync.services_added,
            sync.services_removed,
            sync.backends_changed
        ),
        (0, 0, 1)
    );
    let counts = hits(&lab.remote, "10.96.0.10:80", 30);
    assert!(
        !counts.contains_key("b3"),
        "a removed backend still gets traffic: {counts:?}"
    );
    assert_eq!(counts.values().sum::<usize>(), 30, "{counts:?}");
    assert_eq!(
        elements_of(&lab, "10.96.0.11").await,
        b,
        "service b was touched"
    );
    assert_eq!(
        elements_of(&lab, "10.96.0.12").await,
        c,
        "service c was touched"
    );

    // A restarted agent adopts the table: the same input changes nothing.
    let restarted = driver(&lab, Spread::Random);
    assert!(restarted.sync(&endpoints).await.unwrap().is_empty());
    assert_eq!(
        hits(&lab.node, "10.96.0.11:81", 10).values().sum::<usize>(),
        10
    );

    restarted.teardown().await.unwrap();
    let runner = NftCommand::in_netns(&lab.node);
    let ruleset = runner.run(&["list", "ruleset"], None).await.unwrap();
    assert_eq!(ruleset.trim(), "", "teardown left: {ruleset}");
    restarted.teardown().await.unwrap();
}

#[tokio::test]
async fn round_robin_spread_is_exact() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    let cpi = driver(&lab, Spread::RoundRobin);
    let endpoints = BTreeMap::from([(
        "demo:a".to_owned(),
        endpoint("10.96.0.20", "80:8080", &[1, 2, 3]),
    )]);
    cpi.sync(&endpoints).await.unwrap();
    let counts = hits(&lab.node, "10.96.0.20:80", 30);
    assert_eq!(
        counts,
        BTreeMap::from([("b1".into(), 10), ("b2".into(), 10), ("b3".into(), 10)])
    );
    // Switching the spread rewrites the service's dispatch, not its slots.
    let random = driver(&lab, Spread::Random);
    let sync = random.sync(&endpoints).await.unwrap();
    assert_eq!((sync.services_added, sync.backends_changed), (0, 0));
    let ruleset = NftCommand::in_netns(&lab.node)
        .run(&["list", "ruleset"], None)
        .await
        .unwrap();
    assert!(
        !ruleset.contains("chain rr-3"),
        "unused chain left: {ruleset}"
    );
    random.teardown().await.unwrap();
}

#[tokio::test]
async fn a_foreign_table_is_replaced_not_merged() {
    if !prerequisites() {
        return;
    }
    let lab = Lab::new();
    let runner = NftCommand::in_netns(&lab.node);
    let stray = "table ip lastbackend { chain stray { type nat hook output priority 0; }; }\n";
    runner.run(&["-f", "-"], Some(stray)).await.unwrap();
    let cpi = driver(&lab, Spread::Random);
    let endpoints =
        BTreeMap::from([("demo:a".to_owned(), endpoint("10.96.0.30", "80:8080", &[2]))]);
    cpi.sync(&endpoints).await.unwrap();
    let ruleset = runner.run(&["list", "ruleset"], None).await.unwrap();
    assert!(!ruleset.contains("stray"), "{ruleset}");
    assert_eq!(
        hits(&lab.node, "10.96.0.30:80", 5),
        BTreeMap::from([("b2".into(), 5)])
    );
}
