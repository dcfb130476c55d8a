//! The agents' view behind `Api::node_manifest`: the same content as a
//! fresh read of the store under random changes, a relisting when its watch
//! falls off the history, long-polls woken only by what concerns their
//! node, and its lifetime.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::api::types::{MemberReport, NodeRegistration};
use crate::manifest::internal::NodeManifest;
use crate::model::{
    Config, Container, Discovery, Endpoint, EnvSource, EnvVar, Exporter, Image, KeyRef, Kind, Meta,
    Object, Pod, PodStatus, Presence, Secret, SelfLink, State, Status, Subnet, Volume,
};

const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn node(&mut self) -> Option<String> {
        let i = self.below(NODES.len() as u64 + 1) as usize;
        NODES.get(i).map(|n| (*n).to_owned())
    }
}

async fn with_nodes() -> Api {
    let api = with_demo().await;
    for node in NODES {
        let mut reg = NodeRegistration::default();
        reg.capacity.pods = 10;
        api.register_node(node, reg).await.unwrap();
    }
    api
}

/// Writes `obj` whatever is stored at its key.
async fn put<T: Object>(api: &Api, mut obj: T) {
    let link = SelfLink::parse(T::KIND, &obj.meta().self_link).unwrap();
    match api.store().find::<T>(&link).await.unwrap() {
        Some(old) => {
            obj.meta_mut().revision = old.meta().revision;
            api.store().update(&obj).await.unwrap();
        }
        None => {
            api.store().create(&obj).await.unwrap();
        }
    }
}

async fn remove<T: Object + Default>(api: &Api, link: &SelfLink) {
    if let Some(obj) = api.store().find::<T>(link).await.unwrap() {
        api.store().delete(&obj).await.unwrap();
    }
}

/// A pod of `demo:web:v1` on `node` reading the given secrets and configs.
fn pod(name: &str, node: Option<&str>, secrets: &[&str], configs: &[&str]) -> Pod {
    let link = SelfLink::pod("demo", "web", "v1", name);
    let mut pod = Pod {
        meta: Meta::new(name, &link),
        ..Pod::default()
    };
    pod.spec.node = node.map(str::to_owned);
    let env = secrets
        .iter()
        .map(|s| (s, false))
        .chain(configs.iter().map(|c| (c, true)))
        .map(|(name, config)| {
            let r = KeyRef {
                name: (*name).to_owned(),
                key: "k".into(),
            };
            EnvVar {
                name: format!("E_{name}"),
                source: if config {
                    EnvSource::Config(r)
                } else {
                    EnvSource::Secret(r)
                },
            }
        })
        .collect();
    pod.spec.template.containers.push(Container {
        name: "web".into(),
        image: Image {
            name: "nginx".into(),
            ..Image::default()
        },
        env,
        ..Container::default()
    });
    pod
}

fn endpoint(name: &str, upstream: u8) -> Endpoint {
    let link = SelfLink::namespaced(Kind::Endpoint, "demo", name);
    let mut e = Endpoint {
        meta: Meta::new(name, &link),
        ..Endpoint::default()
    };
    e.spec.domain = format!("{name}.demo.lb.local");
    e.spec.upstreams = vec![format!("10.0.0.{upstream}").parse().unwrap()];
    e
}

fn secret(name: &str, value: u64) -> Secret {
    let link = SelfLink::namespaced(Kind::Secret, "demo", name);
    let mut s = Secret {
        meta: Meta::new(name, &link),
        ..Secret::default()
    };
    s.spec.data.insert("k".into(), value.to_string());
    s
}

fn config(name: &str, value: u64) -> Config {
    let link = SelfLink::namespaced(Kind::Config, "demo", name);
    let mut c = Config {
        meta: Meta::new(name, &link),
        ..Config::default()
    };
    c.spec.data.insert("k".into(), value.to_string());
    c
}

fn volume(name: &str, node: Option<String>) -> Volume {
    let link = SelfLink::namespaced(Kind::Volume, "demo", name);
    let mut v = Volume {
        meta: Meta::new(name, &link),
        ..Volume::default()
    };
    v.spec.node = node;
    v
}

fn subnet(third: u64, node: &str) -> Subnet {
    let name = format!("10.0.{third}.0:24");
    let link = SelfLink::parse(Kind::Subnet, &name).unwrap();
    let mut s = Subnet {
        meta: Meta::new(name, &link),
        node: node.to_owned(),
        ..Subnet::default()
    };
    s.spec.cidr = format!("10.0.{third}.0/24");
    s
}

/// Node `node`'s manifest read straight from the store, as before the
/// view (the oracle), without its revision.
async fn fresh(api: &Api, node: &str) -> NodeManifest {
    let store = api.store();
    let (pods, _) = store.list::<Pod>("").await.unwrap();
    let (volumes, _) = store.list::<Volume>("").await.unwrap();
    let (endpoints, _) = store.list::<Endpoint>("").await.unwrap();
    let (subnets, _) = store.list::<Subnet>("").await.unwrap();
    let (secrets, _) = store.list::<Secret>("").await.unwrap();
    let (configs, _) = store.list::<Config>("").await.unwrap();
    let (discoveries, _) = store.list::<Discovery>("").await.unwrap();
    let (exporters, _) = store.list::<Exporter>("").await.unwrap();
    let here = Some(node);
    let pods: BTreeMap<_, _> = pods
        .into_iter()
        .filter(|p| p.spec.node.as_deref() == here)
        .map(|p| (p.meta.self_link, p.spec))
        .collect();
    let read = |configs: bool| -> Vec<String> {
        pods.iter()
            .flat_map(|(link, p)| {
                let ns = link.split(':').next().unwrap().to_owned();
                let names = if configs {
                    p.template.configs()
                } else {
                    p.template.secrets()
                };
                names.into_iter().map(move |n| format!("{ns}:{n}"))
            })
            .collect()
    };
    let (read_secrets, read_configs) = (read(false), read(true));
    let ready = |p: Presence| p.ready && p.online;
    NodeManifest {
        revision: 0,
        resolvers: discoveries
            .iter()
            .filter(|d| ready(d.status.presence))
            .filter_map(|d| d.status.address)
            .collect(),
        exporter: exporters
            .iter()
            .filter(|e| ready(e.status.presence))
            .find_map(|e| e.status.listener),
        subnet: subnets
            .iter()
            .find(|s| s.node == node)
            .map(|s| s.meta.self_link.clone()),
        subnets: subnets
            .into_iter()
            .map(|s| (s.meta.self_link, s.spec))
            .collect(),
        volumes: volumes
            .into_iter()
            .filter(|v| v.spec.node.as_deref() == here)
            .map(|v| (v.meta.self_link, v.spec))
            .collect(),
        endpoints: endpoints
            .into_iter()
            .map(|e| (e.meta.self_link, e.spec))
            .collect(),
        secrets: secrets
            .into_iter()
            .filter(|s| read_secrets.contains(&s.meta.self_link))
            .map(|s| (s.meta.self_link, s.spec))
            .collect(),
        configs: configs
            .into_iter()
            .filter(|c| read_configs.contains(&c.meta.self_link))
            .map(|c| (c.meta.self_link, c.spec))
            .collect(),
        pods,
    }
}

/// One random change to anything a node manifest is made of (or not).
async fn random_change(api: &Api, rng: &mut Rng, step: u64) {
    let pods = ["p0", "p1", "p2", "p3", "p4", "p5"];
    let secrets = ["s0", "s1", "s2"];
    let configs = ["c0", "c1"];
    match rng.below(12) {
        0..=2 => {
            let reads: Vec<&str> = secrets
                .iter()
                .copied()
                .filter(|_| rng.below(3) == 0)
                .collect();
            let conf: Vec<&str> = configs
                .iter()
                .copied()
                .filter(|_| rng.below(3) == 0)
                .collect();
            let node = rng.node();
            let mut p = pod(rng.pick(&pods), node.as_deref(), &reads, &conf);
            p.spec.state.destroy = rng.below(4) == 0;
            put(api, p).await;
        }
        3 => {
            let name = rng.pick(&pods);
            remove::<Pod>(api, &SelfLink::pod("demo", "web", "v1", name)).await;
        }
        4 => {
            // A status write: changes nothing a manifest holds.
            let link = SelfLink::pod("demo", "web", "v1", rng.pick(&pods));
            if let Some(mut p) = api.store().find::<Pod>(&link).await.unwrap() {
                p.status = PodStatus {
                    status: Status::new(State::Ready),
                    running: true,
                    ..PodStatus::default()
                };
                p.status.status.message = step.to_string();
                api.store().update(&p).await.unwrap();
            }
        }
        5 => put(api, secret(rng.pick(&secrets), rng.below(3))).await,
        6 => {
            let name = rng.pick(&secrets);
            remove::<Secret>(api, &SelfLink::namespaced(Kind::Secret, "demo", name)).await;
        }
        7 => put(api, config(rng.pick(&configs), rng.below(3))).await,
        8 => {
            let name = rng.pick(&["e0", "e1"]);
            if rng.below(3) == 0 {
                remove::<Endpoint>(api, &SelfLink::namespaced(Kind::Endpoint, "demo", name)).await;
            } else {
                put(api, endpoint(name, rng.below(4) as u8)).await;
            }
        }
        9 => {
            let name = rng.pick(&["v0", "v1"]);
            put(api, volume(name, rng.node())).await;
        }
        10 => {
            let third = rng.below(2);
            if rng.below(3) == 0 {
                let link = SelfLink::parse(Kind::Subnet, &format!("10.0.{third}.0:24")).unwrap();
                remove::<Subnet>(api, &link).await;
            } else {
                put(api, subnet(third, rng.pick(&NODES))).await;
            }
        }
        _ => {
            let report = MemberReport {
                presence: Presence {
                    ready: rng.below(2) == 0,
                    online: true,
                },
                address: Some(format!("10.0.9.{}:53", rng.below(3)).parse().unwrap()),
                listener: Some("10.0.9.9:2963".parse().unwrap()),
                ..MemberReport::default()
            };
            if rng.below(2) == 0 {
                api.register_discovery(rng.pick(&["d0", "d1"]), report)
                    .await
                    .unwrap();
            } else {
                api.register_exporter("x0", report).await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn the_view_matches_a_fresh_read_under_random_changes() {
    for seed in [1_u64, 0x5eed, 0xdead_beef] {
        let api = with_nodes().await;
        let mut rng = Rng(seed);
        for step in 0..150 {
            random_change(&api, &mut rng, step).await;
            let written = api.store().storage().revision().await.unwrap();
            for node in NODES {
                let mut m = api.node_manifest(node, None, Duration::ZERO).await.unwrap();
                assert!(m.revision >= written, "seed {seed} step {step}: stale view");
                m.revision = 0;
                assert_eq!(m, fresh(&api, node).await, "seed {seed} step {step} {node}");
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn long_polls_wake_only_for_changes_that_concern_their_node() {
    let api = with_nodes().await;
    put(&api, secret("s0", 0)).await;
    put(&api, pod("a", Some("n1"), &["s0"], &[])).await;
    put(&api, pod("b", Some("n2"), &[], &[])).await;
    let revision = api
        .node_manifest("n1", None, Duration::ZERO)
        .await
        .unwrap()
        .revision;
    let poll = |node: &'static str| {
        let api = api.clone();
        tokio::spawn(async move {
            api.node_manifest(node, Some(revision), Duration::from_secs(60))
                .await
                .unwrap()
        })
    };
    let settle = || tokio::time::sleep(Duration::from_millis(100));

    // A secret n1's pod reads wakes n1 only.
    let (p1, p2, p3) = (poll("n1"), poll("n2"), poll("n3"));
    settle().await;
    put(&api, secret("s0", 1)).await;
    let m = p1.await.unwrap();
    assert_eq!(m.secrets["demo:s0"].data["k"], "1");
    settle().await;
    assert!(!p2.is_finished() && !p3.is_finished());

    // A pod's status write wakes nobody; its move from n2 to n3 wakes both.
    let link = SelfLink::pod("demo", "web", "v1", "b");
    let mut b: Pod = api.store().get(&link).await.unwrap();
    b.status.running = true;
    let b = api.store().update(&b).await.unwrap();
    settle().await;
    assert!(!p2.is_finished() && !p3.is_finished());
    let mut moved = b.clone();
    moved.spec.node = Some("n3".into());
    api.store().update(&moved).await.unwrap();
    let (m2, m3) = (p2.await.unwrap(), p3.await.unwrap());
    assert!(m2.pods.is_empty());
    assert!(m3.pods.contains_key(&link.to_string()));

    // An endpoint wakes every node.
    let after = api.store().storage().revision().await.unwrap();
    let polls: Vec<_> = NODES
        .iter()
        .map(|node| {
            let api = api.clone();
            tokio::spawn(async move {
                api.node_manifest(node, Some(after), Duration::from_secs(60))
                    .await
                    .unwrap()
            })
        })
        .collect();
    settle().await;
    assert!(polls.iter().all(|p| !p.is_finished()));
    put(&api, endpoint("e0", 1)).await;
    for p in polls {
        assert!(p.await.unwrap().endpoints.contains_key("demo:e0"));
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_watch_off_the_history_relists_and_wakes_the_changed_nodes() {
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::with_history(2));
    let api = api_over(storage);
    api.create_namespace(namespace_m("demo", "")).await.unwrap();
    for node in NODES {
        api.register_node(node, NodeRegistration::default())
            .await
            .unwrap();
    }
    put(&api, pod("a", Some("n1"), &[], &[])).await;
    let first = api.node_manifest("n1", None, Duration::ZERO).await.unwrap();
    let view = api.views.agents(api.store().storage());
    assert_eq!(view.listings(), 1);
    let poll = |node: &'static str| {
        let api = api.clone();
        tokio::spawn(async move {
            api.node_manifest(node, Some(first.revision), Duration::from_secs(60))
                .await
                .unwrap()
        })
    };
    let (p1, p2) = (poll("n1"), poll("n2"));
    tokio::time::sleep(Duration::from_millis(100)).await;

    // More writes than a watcher may fall behind, without letting the view
    // run (one thread): its watch breaks and it lists again. Net effect: a
    // pod moved to n2, n1's pod unchanged.
    for i in 0..5000 {
        let p = pod(&format!("x{i}"), None, &[], &[]);
        api.store().create(&p).await.unwrap();
    }
    put(&api, pod("b", Some("n2"), &[], &[])).await;
    let m2 = p2.await.unwrap();
    let b = SelfLink::pod("demo", "web", "v1", "b").to_string();
    assert!(m2.pods.contains_key(&b));
    assert_eq!(view.listings(), 2, "the view listed again");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!p1.is_finished(), "n1's manifest did not change");
    let m1 = p1.await.unwrap();
    assert_eq!(m1.pods, first.pods);
}

#[tokio::test]
async fn the_view_starts_on_first_use_and_stops_with_the_last_clone() {
    let api = with_nodes().await;
    let clone = api.clone();
    assert!(!api.views.started(), "not started by CRUD");
    clone
        .node_manifest("n1", None, Duration::ZERO)
        .await
        .unwrap();
    let view = Arc::downgrade(&api.views.agents(api.store().storage()));
    drop(api);
    tokio::task::yield_now().await;
    assert!(view.upgrade().is_some(), "a clone still uses it");
    drop(clone);
    for _ in 0..100 {
        if view.upgrade().is_none() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the view's task outlived every Api clone");
}

/// A store whose revision also counts writes the view cannot see, as
/// etcd's does when another prefix of the same etcd is written.
#[derive(Debug)]
struct Shared(MemoryStorage);

#[async_trait::async_trait]
impl Storage for Shared {
    async fn revision(&self) -> crate::storage::Result<crate::storage::Revision> {
        Ok(self.0.revision().await? + 1000)
    }
    async fn get(&self, key: &str) -> crate::storage::Result<crate::storage::KeyValue> {
        self.0.get(key).await
    }
    async fn list(&self, prefix: &str) -> crate::storage::Result<crate::storage::List> {
        self.0.list(prefix).await
    }
    async fn txn(&self, txn: crate::storage::Txn) -> crate::storage::Result<u64> {
        self.0.txn(txn).await
    }
    async fn watch(
        &self,
        prefix: &str,
        after: Option<u64>,
    ) -> crate::storage::Result<crate::storage::WatchStream> {
        self.0.watch(prefix, after).await
    }
    async fn lease_grant(&self, ttl: Duration) -> crate::storage::Result<i64> {
        self.0.lease_grant(ttl).await
    }
    async fn lease_keep_alive(&self, lease: i64) -> crate::storage::Result<Duration> {
        self.0.lease_keep_alive(lease).await
    }
    async fn lease_revoke(&self, lease: i64) -> crate::storage::Result<()> {
        self.0.lease_revoke(lease).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_store_revision_raised_by_others_still_gets_answers() {
    let api = api_over(Arc::new(Shared(MemoryStorage::new())));
    api.register_node("n1", NodeRegistration::default())
        .await
        .unwrap();
    api.create_namespace(namespace_m("demo", "")).await.unwrap();
    put(&api, pod("a", Some("n1"), &[], &[])).await;
    let start = tokio::time::Instant::now();
    let m = api.node_manifest("n1", None, Duration::ZERO).await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(m.pods.len(), 1);
}
