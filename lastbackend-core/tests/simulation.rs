//! Whole-cluster simulations: the API and the `ControllerManager` over the
//! memory store with hollow nodes as agents, under faults (controller
//! crashes during a rollout, a node lost, slow agents). After each: every
//! service converges to exactly its replicas, ready, in its endpoint, with
//! no duplicate and no orphaned object (see `support/sim.rs`).
//!
//! Time is paused (leases end on tokio's clock), so the TTLs are real
//! seconds of virtual time and the tests run in a moment.

#[path = "support/sim.rs"]
mod sim;

use std::sync::Arc;
use std::time::Duration;

use lastbackend_core::model::{Pod, State};
use lastbackend_core::storage::MemoryStorage;
use sim::{Sim, check, desired, services_yaml};

const TTL: Duration = Duration::from_secs(3);
const CONVERGE: Duration = Duration::from_secs(120);

fn cluster(nodes: usize) -> Sim {
    Sim::new(Arc::new(MemoryStorage::new()), nodes, 20, TTL)
}

/// A small deterministic generator for the points of failure (xorshift).
struct Points(u64);

impl Points {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

async fn revision(sim: &Sim) -> u64 {
    sim.api.store().storage().revision().await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn applied_services_are_placed_ready_and_in_their_endpoints() {
    let mut sim = cluster(8);
    sim.start_controller();
    sim.apply("demo", &services_yaml(6, 3, "nginx")).await;
    sim.converge(&desired("demo", 6, 3), CONVERGE).await;
    // Every node that got pods runs them itself.
    let held: usize = sim.nodes.iter().map(|n| n.pods().len()).sum();
    assert_eq!(held, 18);
    sim.stop_controller().await;
}

#[tokio::test(start_paused = true)]
async fn controller_restarts_during_a_rollout_converge() {
    let mut sim = cluster(8);
    sim.start_controller();
    let start = revision(&sim).await;
    sim.apply("demo", &services_yaml(6, 3, "nginx")).await;
    let want = desired("demo", 6, 3);
    sim.converge(&want, CONVERGE).await;

    // The first rollout's length in store revisions: crash points are
    // drawn from it, so they fall while the second one is under way.
    let span = revision(&sim).await - start;
    let seed = 0x5eed_2048;
    let mut points = Points(seed);
    sim.apply("demo", &services_yaml(6, 3, "nginx:2")).await;
    let mut mid_rollout = 0;
    for _ in 0..5 {
        let at = revision(&sim).await + points.next(span / 3);
        let mut spins = 0u32;
        let give_up = tokio::time::Instant::now() + TTL;
        while revision(&sim).await < at && tokio::time::Instant::now() < give_up {
            // Yielding lets the cluster run step by step; when it idles
            // (waiting on timers only), time has to move.
            spins += 1;
            if spins.is_multiple_of(1000) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
        sim.crash_controller();
        // The invariants hold at the moment of the crash too.
        match check(sim.api.store(), &want).await {
            Err(sim::Problem::Broken(e)) => panic!("seed {seed:#x}: {e}"),
            Err(sim::Problem::NotYet(_)) => mid_rollout += 1,
            Ok(()) => {}
        }
        tokio::time::sleep(Duration::from_millis(points.next(500))).await;
        sim.start_controller();
    }
    assert!(mid_rollout > 0, "seed {seed:#x}: no crash fell mid-rollout");
    sim.converge(&want, CONVERGE).await;
    let (pods, _) = sim.api.store().list::<Pod>("").await.unwrap();
    assert!(
        pods.iter()
            .all(|p| p.spec.template.containers[0].image.name == "nginx:2"),
        "every pod runs the new template"
    );
    sim.stop_controller().await;
}

#[tokio::test(start_paused = true)]
async fn a_lost_node_has_its_pods_rescheduled_and_dropped_from_endpoints() {
    let mut sim = cluster(6);
    sim.start_controller();
    sim.apply("demo", &services_yaml(4, 3, "nginx")).await;
    let want = desired("demo", 4, 3);
    sim.converge(&want, CONVERGE).await;
    let lost = sim
        .nodes
        .iter()
        .position(|n| !n.pods().is_empty())
        .expect("some node runs pods");
    let name = sim.nodes[lost].name().to_owned();
    sim.nodes[lost].pause();
    sim.offline(&name, CONVERGE).await;
    // `check` wants every pod on an online node: the lost node's pods are
    // replaced elsewhere and their addresses leave the endpoints.
    sim.converge(&want, CONVERGE).await;
    let (pods, _) = sim.api.store().list::<Pod>("").await.unwrap();
    assert!(pods.iter().all(|p| p.spec.node.as_deref() != Some(&name)));

    // It comes back empty-handed and takes no part in what runs.
    sim.nodes[lost].resume();
    tokio::time::sleep(TTL).await;
    assert!(sim.api.node(&name).await.unwrap().status.online);
    sim.converge(&want, CONVERGE).await;
    sim.stop_controller().await;
}

#[tokio::test(start_paused = true)]
async fn slow_agents_still_converge() {
    let mut sim = cluster(6);
    for (i, node) in sim.nodes.iter().enumerate() {
        // Up to two thirds of a heartbeat period late: slow, still alive.
        node.slow(Duration::from_millis(200 * (i as u64 % 4) + 100));
    }
    sim.start_controller();
    sim.apply("demo", &services_yaml(5, 3, "nginx")).await;
    sim.converge(&desired("demo", 5, 3), CONVERGE).await;
    sim.apply("demo", &services_yaml(5, 2, "nginx")).await;
    sim.converge(&desired("demo", 5, 2), CONVERGE).await;
    sim.stop_controller().await;
}

#[tokio::test(start_paused = true)]
async fn failing_pods_of_a_rollout_leave_the_old_deployment_serving() {
    let mut sim = cluster(4);
    sim.start_controller();
    sim.apply("demo", &services_yaml(2, 2, "nginx")).await;
    let want = desired("demo", 2, 2);
    sim.converge(&want, CONVERGE).await;
    for node in &sim.nodes {
        node.fail_pods(|link| link.contains(":d_v2:"));
    }
    sim.apply("demo", &services_yaml(2, 2, "broken")).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (pods, _) = sim.api.store().list::<Pod>("").await.unwrap();
    let serving = pods
        .iter()
        .filter(|p| p.meta.self_link.contains(":d_v1:") && p.status.ready)
        .count();
    assert_eq!(serving, 4, "the old deployment still serves");
    assert!(
        pods.iter()
            .any(|p| p.meta.self_link.contains(":d_v2:") && p.status.status.state == State::Error),
        "the new one fails"
    );
    for node in &sim.nodes {
        node.heal_pods();
    }
    sim.converge(&want, CONVERGE).await;
    sim.stop_controller().await;
}
