use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use super::*;
use crate::api::types::NodeRegistration;
use crate::api::{Api, Settings as ApiSettings};
use crate::controller::fixtures::{Running, eventually, leading};
use crate::controller::manager::{Settings, Writer};
use crate::controller::testing::Gate;
use crate::storage::MemoryStorage;
use crate::store::Store;

fn registration(ip: &str) -> NodeRegistration {
    let mut reg = NodeRegistration::default();
    reg.info.external_ip = Some(ip.parse().unwrap());
    reg
}

/// Node name to (its `info.subnet`, the subnet object's cidr and address),
/// with the check that every node holds exactly one object and allocation.
async fn assignments(store: &Store) -> Vec<(String, Option<String>, String, Option<IpAddr>)> {
    let (nodes, _) = store.list::<Node>("").await.unwrap();
    let (subnets, _) = store.list::<Subnet>("").await.unwrap();
    nodes
        .into_iter()
        .map(|n| {
            let mine: Vec<_> = subnets.iter().filter(|s| s.node == n.meta.name).collect();
            let (cidr, addr) = match mine.as_slice() {
                [s] => (s.spec.cidr.clone(), s.spec.addr),
                _ => (format!("{} subnets", mine.len()), None),
            };
            (n.meta.name, n.info.subnet, cidr, addr)
        })
        .collect()
}

async fn converged(store: &Store, context: &Context, nodes: usize) -> bool {
    let all = assignments(store).await;
    let distinct: BTreeSet<_> = all.iter().map(|a| a.2.clone()).collect();
    let allocations = context.subnets.allocations().await.unwrap();
    let (subnets, _) = store.list::<Subnet>("").await.unwrap();
    all.len() == nodes
        && distinct.len() == nodes
        && subnets.len() == nodes
        && allocations.len() == nodes
        && all.iter().all(|(_, link, cidr, addr)| {
            link.as_deref() == Some(cidr.replace('/', ":").as_str()) && addr.is_some()
        })
}

#[tokio::test(start_paused = true)]
async fn nodes_get_distinct_subnets_which_go_with_the_node() {
    let (store, _leadership, context) = leading().await;
    let api = Api::new(store.clone(), ApiSettings::default());
    for (n, ip) in [
        ("n1", "192.168.0.1"),
        ("n2", "192.168.0.2"),
        ("n3", "192.168.0.3"),
    ] {
        api.register_node(n, registration(ip)).await.unwrap();
    }
    let running = Running::start(build(&context), 2);
    eventually("three subnets", Duration::from_secs(5), || async {
        converged(&store, &context, 3).await
    })
    .await;
    let all = assignments(&store).await;
    assert_eq!(
        all,
        [
            ("n1", "10.244.0.0:24", "10.244.0.0/24", "192.168.0.1"),
            ("n2", "10.244.1.0:24", "10.244.1.0/24", "192.168.0.2"),
            ("n3", "10.244.2.0:24", "10.244.2.0/24", "192.168.0.3"),
        ]
        .map(|(n, l, c, a)| (n.into(), Some(l.into()), c.into(), Some(a.parse().unwrap())))
    );
    // Every node's manifest carries every subnet, its own included.
    let manifest = api.node_manifest("n1", None, Duration::ZERO).await.unwrap();
    let links: Vec<_> = manifest.subnets.keys().cloned().collect();
    assert_eq!(links, ["10.244.0.0:24", "10.244.1.0:24", "10.244.2.0:24"]);
    assert_eq!(manifest.subnet.as_deref(), Some("10.244.0.0:24"), "its own");
    assert_eq!(
        manifest.subnets["10.244.1.0:24"].addr,
        Some("192.168.0.2".parse().unwrap())
    );

    // n2 is removed: its object and its allocation go, and a new node gets
    // the freed block.
    api.remove_node("n2").await.unwrap();
    eventually("n2's block released", Duration::from_secs(5), || async {
        context.subnets.lookup("n2").await.unwrap().is_none()
    })
    .await;
    api.register_node("n4", registration("192.168.0.4"))
        .await
        .unwrap();
    eventually("n4 placed", Duration::from_secs(5), || async {
        converged(&store, &context, 3).await
    })
    .await;
    let n4 = store
        .get::<Node>(&SelfLink::host(Kind::Node, "n4"))
        .await
        .unwrap();
    assert_eq!(n4.info.subnet.as_deref(), Some("10.244.1.0:24"));

    // The agent re-registering keeps the subnet.
    api.register_node("n4", registration("192.168.0.4"))
        .await
        .unwrap();
    let n4 = store
        .get::<Node>(&SelfLink::host(Kind::Node, "n4"))
        .await
        .unwrap();
    assert_eq!(n4.info.subnet.as_deref(), Some("10.244.1.0:24"));

    // n4's agent reports what its overlay driver set up: peers see its vtep
    // and tunnel address, never a CIDR of the agent's choosing.
    let spec = SubnetSpec {
        kind: "vxlan".into(),
        cidr: "10.99.0.0/24".into(),
        iface: crate::model::NetworkInterface {
            index: 7,
            name: "lb.vxlan".into(),
            addr: Some("10.244.1.0".parse().unwrap()),
            hardware_addr: "02:00:00:00:00:04".into(),
        },
        addr: Some("192.168.9.4".parse().unwrap()),
    };
    let report = crate::api::types::NodeStatusReport {
        subnet: Some(spec),
        ..Default::default()
    };
    api.node_status("n4", report).await.unwrap();
    let manifest = api.node_manifest("n1", None, Duration::ZERO).await.unwrap();
    let seen = &manifest.subnets["10.244.1.0:24"];
    assert_eq!(seen.cidr, "10.244.1.0/24");
    assert_eq!(seen.kind, "vxlan");
    assert_eq!(seen.iface.hardware_addr, "02:00:00:00:00:04");
    assert_eq!(seen.addr, Some("192.168.9.4".parse().unwrap()));
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn two_controllers_racing_give_each_node_one_block() {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let api = Api::new(store.clone(), ApiSettings::default());
    for n in 0..12 {
        api.register_node(&format!("n{n}"), registration(&format!("192.168.1.{n}")))
            .await
            .unwrap();
    }
    let context = |store: &Store| {
        Context::new(
            store.clone(),
            Arc::new(Settings::default()),
            Writer::unfenced(store.clone()),
        )
    };
    let (a, b) = (context(&store), context(&store));
    let first = Running::start(build(&a), 2);
    let second = Running::start(build(&b), 2);
    eventually("twelve subnets", Duration::from_secs(10), || async {
        converged(&store, &a, 12).await
    })
    .await;
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_crash_at_any_write_converges_without_duplicates_or_leaks() {
    let names = ["n1", "n2", "n3"];
    for budget in 0.. {
        let memory = MemoryStorage::new();
        let plain = Store::new(Arc::new(memory.clone()));
        let api = Api::new(plain.clone(), ApiSettings::default());
        for (i, n) in names.iter().enumerate() {
            api.register_node(n, registration(&format!("192.168.2.{i}")))
                .await
                .unwrap();
        }
        let gate = Gate::new(&memory);
        let doomed_store = Store::new(gate.clone());
        let doomed = Context::new(
            doomed_store.clone(),
            Arc::new(Settings::default()),
            Writer::unfenced(doomed_store),
        );
        gate.crash_after(budget);
        let reconciler = build(&doomed).reconciler;
        let mut crashed = false;
        for n in names {
            if let Err(e) = reconciler.reconcile(n).await {
                assert!(e.to_string().contains("crashed"), "{e}");
                crashed = true;
            }
        }
        // A node removed while the controller was down.
        api.remove_node("n3").await.unwrap();

        let fresh = Context::new(
            plain.clone(),
            Arc::new(Settings::default()),
            Writer::unfenced(plain.clone()),
        );
        let running = Running::start(build(&fresh), 1);
        eventually(
            "converged after restart",
            Duration::from_secs(10),
            || async { converged(&plain, &fresh, 2).await },
        )
        .await;
        running.stop().await;
        let held: Vec<_> = fresh
            .subnets
            .allocations()
            .await
            .unwrap()
            .into_iter()
            .map(|(_, owner)| owner)
            .collect();
        assert_eq!(held, ["n1", "n2"], "budget {budget}: n3's block leaked");
        if !crashed {
            assert!(budget >= 6, "only {budget} writes");
            break;
        }
        assert!(budget < 50, "never finishes");
    }
}
