//! The IPVS proxy driver against the real kernel, in a throwaway network
//! namespace: services and destinations programmed, read back by a fresh
//! driver, changed one destination at a time and torn down.
//!
//! Needs root and `ip` like the other kernel-facing tests: without them it
//! skips with a message, and fails under `CI=true`. A kernel without IPVS
//! is the one documented exception: the CI kernel has none, so there the
//! test skips even under `CI=true` and says so; the driver's netlink
//! messages are checked byte for byte by the unit tests either way.
#![cfg(feature = "ipvs")]

#[path = "support/netns.rs"]
mod netns;
#[path = "support/skip.rs"]
mod skip;

use std::collections::BTreeMap;

use lastbackend_runtime::Cpi;
use lastbackend_runtime::core::model::EndpointSpec;
use lastbackend_runtime::cpi::ipvs::{self, Ipvs};

use netns::{Namespaces, in_ns};

fn endpoint(upstreams: &[&str]) -> BTreeMap<String, EndpointSpec> {
    let spec = EndpointSpec {
        ip: Some("10.96.0.10".parse().unwrap()),
        domain: "a.demo.lb.local".into(),
        ports: vec!["80:8080".parse().unwrap(), "53/*".parse().unwrap()],
        upstreams: upstreams.iter().map(|u| u.parse().unwrap()).collect(),
    };
    BTreeMap::from([("demo:a".to_owned(), spec)])
}

async fn exercise() {
    let cpi = Ipvs::host().await.unwrap();
    assert_eq!(cpi.name(), "ipvs");
    let sync = cpi
        .sync(&endpoint(&["10.244.0.1", "10.244.0.2"]))
        .await
        .unwrap();
    assert_eq!(
        (sync.services_added, sync.backends_changed),
        (3, 6),
        "{sync:?}"
    );

    // A fresh driver finds the same services and destinations in the kernel.
    let restarted = Ipvs::host().await.unwrap();
    assert!(
        restarted
            .sync(&endpoint(&["10.244.0.1", "10.244.0.2"]))
            .await
            .unwrap()
            .is_empty()
    );

    let sync = restarted
        .sync(&endpoint(&["10.244.0.1", "10.244.0.3"]))
        .await
        .unwrap();
    assert_eq!(
        (
            sync.services_added,
            sync.services_removed,
            sync.backends_changed
        ),
        (0, 0, 6)
    );

    restarted.teardown().await.unwrap();
    let after = Ipvs::host().await.unwrap();
    assert!(
        after.sync(&BTreeMap::new()).await.unwrap().is_empty(),
        "teardown left services"
    );
}

#[test]
fn ipvs_programs_reads_back_and_tears_down() {
    if !netns::available() {
        return;
    }
    let mut namespaces = Namespaces::default();
    let ns = namespaces.add("ipvs");
    in_ns(&ns, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            if !ipvs::available().await {
                println!(
                    "skipped (allowed under CI): this kernel has no IPVS \
                     (/proc/net/ip_vs missing, no IPVS netlink family)"
                );
                return;
            }
            exercise().await;
        });
    });
}
