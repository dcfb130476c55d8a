use std::collections::BTreeSet;

use super::*;
use crate::storage::MemoryStorage;

fn pool(storage: &Arc<dyn Storage>, cidr: &str, node_prefix: u8) -> SubnetPool {
    SubnetPool::new(
        Arc::clone(storage),
        PodCidr::new(cidr.parse().unwrap(), node_prefix).unwrap(),
    )
}

fn memory() -> Arc<dyn Storage> {
    Arc::new(MemoryStorage::new())
}

#[tokio::test]
async fn blocks_are_handed_out_lowest_first_once_per_node_then_exhausted() {
    let storage = memory();
    let pool = pool(&storage, "10.244.0.0/22", 24);
    assert_eq!(pool.blocks(), 4);
    let mut got = Vec::new();
    for n in 0..4 {
        got.push(
            pool.allocate(&format!("node-{n}"))
                .await
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        got,
        [
            "10.244.0.0/24",
            "10.244.1.0/24",
            "10.244.2.0/24",
            "10.244.3.0/24"
        ]
    );
    assert_eq!(
        pool.allocate("node-2").await.unwrap().to_string(),
        "10.244.2.0/24",
        "idempotent per node"
    );
    let err = pool.allocate("node-4").await.unwrap_err();
    assert!(err.is_exhausted(), "{err}");
    assert!(err.to_string().contains("--cluster-cidr"), "{err}");

    assert_eq!(
        pool.release("node-1").await.unwrap().map(|c| c.to_string()),
        Some("10.244.1.0/24".to_owned())
    );
    assert_eq!(pool.release("node-1").await.unwrap(), None, "released once");
    assert_eq!(
        pool.allocate("node-4").await.unwrap().to_string(),
        "10.244.1.0/24",
        "a released block is reused"
    );
}

#[tokio::test]
async fn a_restarted_allocator_sees_the_same_allocations() {
    let storage = memory();
    let first = pool(&storage, "10.244.0.0/16", 24);
    let a = first.allocate("a").await.unwrap();
    let b = first.allocate("b").await.unwrap();
    drop(first);
    let again = pool(&storage, "10.244.0.0/16", 24);
    assert_eq!(again.lookup("a").await.unwrap(), Some(a));
    assert_eq!(again.allocate("b").await.unwrap(), b);
    let c = again.allocate("c").await.unwrap();
    assert_eq!(c.to_string(), "10.244.2.0/24");
    assert_eq!(
        again.allocations().await.unwrap(),
        vec![
            (a, "a".to_owned()),
            (b, "b".to_owned()),
            (c, "c".to_owned())
        ]
    );
}

#[tokio::test]
async fn two_allocators_racing_never_share_a_block() {
    let storage = memory();
    let left = pool(&storage, "10.244.0.0/16", 24);
    let right = pool(&storage, "10.244.0.0/16", 24);
    let mut tasks = tokio::task::JoinSet::new();
    // Both allocators ask for the same 40 nodes at once, and 40 more each.
    for n in 0..40 {
        for (side, p) in [("l", left.clone()), ("r", right.clone())] {
            tasks.spawn(async move {
                let shared = p.allocate(&format!("shared-{n}")).await.unwrap();
                let own = p.allocate(&format!("{side}-{n}")).await.unwrap();
                (format!("shared-{n}"), shared, format!("{side}-{n}"), own)
            });
        }
    }
    let mut owner_of = std::collections::BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (shared, a, own, b) = done.unwrap();
        for (owner, cidr) in [(shared, a), (own, b)] {
            let prev = owner_of.insert(owner.clone(), cidr);
            assert!(
                prev.is_none_or(|p| p == cidr),
                "{owner} got two blocks: {prev:?} and {cidr}"
            );
        }
    }
    let blocks: BTreeSet<_> = owner_of.values().map(|c| c.network()).collect();
    assert_eq!(owner_of.len(), 120);
    assert_eq!(blocks.len(), 120, "every owner its own block");
    assert_eq!(left.allocations().await.unwrap().len(), 120);
}

#[test]
fn a_block_larger_than_the_cidr_is_refused_with_the_reason() {
    let err = PodCidr::new("10.244.0.0/16".parse().unwrap(), 8).unwrap_err();
    assert!(err.to_string().contains("between"), "{err}");
    let err = PodCidr::new("10.244.0.0/16".parse().unwrap(), 31).unwrap_err();
    assert!(err.to_string().contains("30"), "{err}");
    let default = PodCidr::default();
    assert_eq!(default.cidr().to_string(), DEFAULT_CLUSTER_CIDR);
    assert_eq!(default.blocks(), 256);
}
