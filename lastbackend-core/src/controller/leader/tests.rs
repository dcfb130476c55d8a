use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::*;
use crate::controller::testing::Gate;
use crate::model::{Kind, Meta, Object, SelfLink, Service};
use crate::storage::MemoryStorage;

const TTL: Duration = DEFAULT_TTL;
const SLACK: Duration = Duration::from_millis(100);

fn candidates(memory: &MemoryStorage, names: &[&str]) -> Vec<(Arc<Gate>, Leadership)> {
    names
        .iter()
        .map(|name| {
            let gate = Gate::new(memory);
            let leadership = campaign(gate.clone(), LeaderConfig::new(*name));
            (gate, leadership)
        })
        .collect()
}

fn leaders(all: &[(Arc<Gate>, Leadership)]) -> Vec<usize> {
    (0..all.len()).filter(|i| all[*i].1.is_leader()).collect()
}

/// Waits for exactly one leader among `all` and returns its index and how
/// long it took.
async fn one_leader(all: &[(Arc<Gate>, Leadership)], within: Duration) -> (usize, Duration) {
    let start = Instant::now();
    loop {
        let now = leaders(all);
        assert!(now.len() <= 1, "two leaders at once: {now:?}");
        if let [leader] = now[..] {
            return (leader, start.elapsed());
        }
        assert!(start.elapsed() < within, "no leader within {within:?}");
        sleep(Duration::from_millis(1)).await;
    }
}

fn service(name: &str) -> Service {
    let link = SelfLink::namespaced(Kind::Service, "demo", name);
    Service {
        meta: Meta::new(name, &link),
        ..Service::default()
    }
}

#[tokio::test(start_paused = true)]
async fn three_candidates_have_exactly_one_leader_at_any_time() {
    let memory = MemoryStorage::new();
    let all = candidates(&memory, &["a", "b", "c"]);
    let (first, _) = one_leader(&all, SLACK).await;

    for _ in 0..400 {
        sleep(Duration::from_millis(250)).await;
        assert_eq!(leaders(&all), [first], "the term lasts while kept alive");
    }
    let lead: Lead = serde_json::from_slice(&memory.get(LEAD_KEY).await.unwrap().value).unwrap();
    assert_eq!(lead.holder, ["a", "b", "c"][first]);
    for (i, (_, candidate)) in all.iter().enumerate().filter(|(i, _)| *i != first) {
        assert_eq!(
            candidate.role(),
            Role::Follower {
                leader: Some(lead.holder.clone())
            },
            "candidate {i}"
        );
        assert_eq!(candidate.fence(), None);
    }
}

#[tokio::test(start_paused = true)]
async fn a_crashed_leader_is_replaced_within_the_ttl() {
    let memory = MemoryStorage::new();
    let mut all = candidates(&memory, &["a", "b", "c"]);
    let (first, _) = one_leader(&all, SLACK).await;
    sleep(TTL / 2).await;

    // Dropping the handle kills the campaign without revoking the lease.
    drop(all.remove(first));
    let (_, took) = one_leader(&all, TTL + SLACK).await;
    assert!(took <= TTL, "took {took:?}");
    assert!(
        took >= TTL / 3,
        "the old lease had to expire first: {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn re_election_works_again_and_again() {
    let memory = MemoryStorage::new();
    let mut all = candidates(&memory, &["a", "b", "c", "d"]);
    let mut fences = Vec::new();
    for _ in 0..3 {
        let (leader, _) = one_leader(&all, SLACK).await;
        fences.push(all[leader].1.fence().unwrap());
        let (_, resigned) = all.remove(leader);
        let clone = resigned.clone();
        let started = Instant::now();
        resigned.resign().await.unwrap();
        assert!(!clone.is_leader(), "every clone sees the resignation");
        assert_eq!(clone.fence(), None);
        let (_, _) = one_leader(&all, SLACK).await;
        assert!(
            started.elapsed() < SLACK,
            "a resignation hands over at once"
        );
    }
    fences.dedup();
    assert_eq!(fences.len(), 3, "each term has its own fence");

    // One candidate alone loses its key three times and wins it back each
    // time (the original crashed on the second campaign).
    let memory = MemoryStorage::new();
    let alone = candidates(&memory, &["e"]);
    let mut revisions = Vec::new();
    for _ in 0..3 {
        one_leader(&alone, SLACK).await;
        let Role::Leader { revision, .. } = alone[0].1.role() else {
            unreachable!()
        };
        revisions.push(revision);
        memory.del(LEAD_KEY, None).await.unwrap();
        sleep(Duration::from_millis(1)).await;
    }
    one_leader(&alone, SLACK).await;
    revisions.dedup();
    assert_eq!(revisions.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_deposed_leader_cannot_write_and_steps_down() {
    let memory = MemoryStorage::new();
    let store = Store::new(Arc::new(memory.clone()));
    let all = candidates(&memory, &["a", "b"]);
    let (first, _) = one_leader(&all, SLACK).await;
    let (gate, deposed) = &all[first];
    let (_, successor) = &all[1 - first];
    let mut watch = deposed.watch();

    let written = deposed
        .commit(&store, Writes::new().create(&service("web")).unwrap())
        .await
        .unwrap();
    assert!(written > 0);
    let stale = deposed.fence().unwrap();

    // The leader's process stops (a long GC pause, SIGSTOP): nothing it
    // sends reaches the store until its lease has long expired.
    gate.stall();
    let stalled_at = Instant::now();
    let mut sample = Instant::now();
    while !successor.is_leader() {
        assert!(stalled_at.elapsed() <= TTL + SLACK, "no successor");
        assert!(leaders(&all).len() <= 1);
        sleep(Duration::from_millis(10)).await;
        sample = Instant::now();
    }
    assert!(sample - stalled_at >= TTL / 2);

    // Whatever the deposed leader believes, its fence no longer holds.
    let err = store
        .commit_fenced(Writes::new().create(&service("db")).unwrap(), stale)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        store
            .find::<Service>(&service("db").self_link().unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // It has noticed: its keep-alive did not succeed within 2/3 of the TTL.
    assert!(!deposed.is_leader());
    assert!(!watch.borrow_and_update().is_leader());
    let err = deposed
        .commit(&store, Writes::new().create(&service("db")).unwrap())
        .await
        .unwrap_err();
    assert!(err.is_not_leader(), "{err}");

    // Back from its pause it follows the new leader.
    gate.resume();
    let followed = tokio::time::timeout(DEFAULT_RETRY + SLACK, async {
        loop {
            if let Role::Follower {
                leader: Some(leader),
            } = deposed.role()
            {
                return leader;
            }
            sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(followed, ["a", "b"][1 - first]);

    successor
        .commit(&store, Writes::new().create(&service("db")).unwrap())
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_held_key_is_never_taken_over_by_a_failed_create() {
    let memory = MemoryStorage::new();
    // Somebody outside this process holds the key for good.
    let lease = memory.lease_grant(Duration::from_secs(3600)).await.unwrap();
    let lead = Lead {
        holder: "elsewhere".to_owned(),
        since: Utc::now(),
    };
    memory
        .put(
            LEAD_KEY,
            serde_json::to_vec(&lead).unwrap().into(),
            Some(lease),
        )
        .await
        .unwrap();
    let all = candidates(&memory, &["a", "b"]);
    sleep(TTL * 4).await;
    assert!(leaders(&all).is_empty());
    assert_eq!(
        all[0].1.role(),
        Role::Follower {
            leader: Some("elsewhere".to_owned())
        }
    );

    let mut changes = all[0].1.clone();
    memory.lease_revoke(lease).await.unwrap();
    let (leader, took) = one_leader(&all, SLACK).await;
    assert!(took < SLACK, "followers watch the key: {took:?}");
    let role = tokio::time::timeout(SLACK, changes.changed())
        .await
        .unwrap();
    assert_eq!(role.is_leader(), leader == 0);
}

#[tokio::test(start_paused = true)]
async fn the_ttl_and_key_are_configurable() {
    let memory = MemoryStorage::new();
    let ttl = Duration::from_secs(3);
    let config = LeaderConfig::new("a").ttl(ttl).key("system/other/lead");
    let a = campaign(Arc::new(memory.clone()), config.clone());
    let b = campaign(
        Arc::new(memory.clone()),
        LeaderConfig {
            holder: "b".into(),
            ..config
        },
    );
    let all = [(Gate::new(&memory), a), (Gate::new(&memory), b)];
    let (first, _) = one_leader(&all, SLACK).await;
    assert!(memory.get("system/other/lead").await.is_ok());
    assert!(memory.get(LEAD_KEY).await.unwrap_err().is_not_found());

    let [(_, a), (_, b)] = all;
    let (leader, follower) = if first == 0 { (a, b) } else { (b, a) };
    drop(leader);
    let started = Instant::now();
    let mut follower = follower;
    follower.wait_until_leader().await;
    assert!(started.elapsed() <= ttl, "{:?}", started.elapsed());
}
