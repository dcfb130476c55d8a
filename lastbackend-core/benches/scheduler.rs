//! The scheduler's placement rate against a naive first fit.
//!
//! `cargo bench -p lastbackend-core --bench scheduler`
//!
//! For 1,000, 5,000, 10,000 and 50,000 nodes (capacities from 8 to 64 GiB and
//! 4 to 32 cores, zone labels on 30% and `ssd` on 10%, 3% offline, 1%
//! cordoned, two existing pods per node of which 10% publish host ports), one
//! thread places 10,000 pods of 500 services with `DefaultPolicy` and
//! `Snapshot::assume` after each: every filter and both scores run, and 10%
//! of the pods select a zone, 5% publish a host port, 1% name a node and 1%
//! follow a volume. The baseline places the same pods on the same nodes
//! (sorted by name) by first fit on free RAM alone, the original's
//! algorithm. Rounds repeat on a fresh copy of the snapshot until a second
//! has passed. Anchor: kube-scheduler's CI floor is 810 pods/s at 5,000
//! nodes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use lastbackend_core::model::{Container, Node, Pod, SelfLink};
use lastbackend_core::scheduler::{DefaultPolicy, PodRequest, Policy, Snapshot};
use lastbackend_core::units::{Cpu, PortMapping, Protocol, Ram};

const SIZES: [usize; 4] = [1_000, 5_000, 10_000, 50_000];
const PLACEMENTS: usize = 10_000;
const SERVICES: usize = 500;
const MIN_TIME: Duration = Duration::from_secs(1);
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// splitmix64: reproducible inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

fn node_name(i: u64) -> String {
    format!("node-{i:05}")
}

fn nodes(count: usize, rng: &mut Rng) -> Vec<Node> {
    (0..count as u64)
        .map(|i| {
            let mut node = Node::default();
            node.meta.name = node_name(i);
            if rng.percent(30) {
                let zone = format!("z{}", rng.below(4));
                node.meta.labels.insert("zone".into(), zone);
            }
            if rng.percent(10) {
                node.meta.labels.insert("ssd".into(), "true".into());
            }
            node.status.online = !rng.percent(3);
            node.spec.unschedulable = rng.percent(1);
            node.status.capacity.pods = 110;
            node.status.capacity.ram = Ram::from_bytes(rng.pick(&[8, 16, 32, 64]) * GIB);
            node.status.capacity.cpu = Cpu::from_millis(rng.pick(&[4, 8, 16, 32]) * 1000);
            node
        })
        .collect()
}

fn pod(service: usize, name: usize, ram: u64, cpu: u64, port: Option<(u16, Protocol)>) -> Pod {
    let mut pod = Pod::default();
    let name = format!("{name:07x}");
    pod.meta.self_link = SelfLink::pod("bench", format!("svc{service}"), "v1", &name).to_string();
    pod.meta.name = name;
    let mut container = Container::default();
    container.resources.request.ram = Some(Ram::from_bytes(ram));
    container.resources.request.cpu = Some(Cpu::from_millis(cpu));
    container.ports = port
        .map(|(port, protocol)| PortMapping {
            host_ip: None,
            host_port: Some(port),
            container_port: port,
            protocol,
        })
        .into_iter()
        .collect();
    pod.spec.template.containers = vec![container];
    pod
}

/// Two pods per node on average, on random nodes.
fn existing(nodes: usize, rng: &mut Rng) -> Vec<Pod> {
    (0..2 * nodes)
        .map(|i| {
            let port = rng.percent(10).then(|| {
                (
                    8000 + rng.below(20) as u16,
                    rng.pick(&[Protocol::Tcp, Protocol::Udp]),
                )
            });
            let mut pod = pod(
                rng.below(SERVICES as u64) as usize,
                i,
                rng.pick(&[256, 512, 1024, 2048]) * MIB,
                rng.pick(&[100, 250, 500, 1000]),
                port,
            );
            pod.spec.node = Some(node_name(rng.below(nodes as u64)));
            pod
        })
        .collect()
}

fn requests(nodes: usize, rng: &mut Rng) -> Vec<PodRequest> {
    (0..PLACEMENTS)
        .map(|i| {
            let port = rng
                .percent(5)
                .then(|| (8000 + (i % 10) as u16, Protocol::Tcp));
            let mut pod = pod(
                i % SERVICES,
                1_000_000 + i,
                rng.pick(&[128, 256, 512, 1024]) * MIB,
                rng.pick(&[100, 250, 500]),
                port,
            );
            if rng.percent(10) {
                let zone = format!("z{}", i % 4);
                pod.spec.selector.labels.insert("zone".into(), zone);
            }
            if rng.percent(1) {
                pod.spec.selector.node = Some(node_name(rng.below(nodes as u64)));
            }
            let request = PodRequest::from_pod(&pod);
            if rng.percent(1) {
                request.on_volume_node(node_name(rng.below(nodes as u64)))
            } else {
                request
            }
        })
        .collect()
}

/// Rounds of all placements until [`MIN_TIME`]: placements per second and,
/// from the last round, how many were placed.
fn rate<S: Clone>(
    initial: &S,
    mut place: impl FnMut(&mut S, &PodRequest) -> bool,
    requests: &[PodRequest],
) -> (f64, usize) {
    let (mut done, mut spent, mut placed) = (0usize, Duration::ZERO, 0);
    while spent < MIN_TIME {
        let mut state = initial.clone();
        let start = Instant::now();
        placed = requests.iter().filter(|r| place(&mut state, r)).count();
        spent += start.elapsed();
        done += requests.len();
        black_box(&state);
    }
    (done as f64 / spent.as_secs_f64(), placed)
}

/// The original's algorithm: the first node by name with enough free RAM.
#[derive(Clone)]
struct FirstFit(Vec<(String, u64)>);

impl FirstFit {
    fn new(nodes: &[Node], pods: &[Pod]) -> Self {
        let mut free: Vec<(String, u64)> = nodes
            .iter()
            .map(|n| (n.meta.name.clone(), n.status.capacity.ram.bytes()))
            .collect();
        free.sort();
        for pod in pods {
            let ram = pod.spec.template.requests().ram.map_or(0, Ram::bytes);
            let on = pod.spec.node.as_deref().unwrap_or_default();
            if let Ok(at) = free.binary_search_by(|(name, _)| name.as_str().cmp(on)) {
                free[at].1 = free[at].1.saturating_sub(ram);
            }
        }
        Self(free)
    }

    fn place(&mut self, request: &PodRequest) -> Option<String> {
        let ram = request.ram.bytes();
        let (name, free) = self.0.iter_mut().find(|(_, free)| *free >= ram)?;
        *free -= ram;
        Some(name.clone())
    }
}

fn main() {
    for size in SIZES {
        let mut rng = Rng(size as u64);
        let nodes = nodes(size, &mut rng);
        let pods = existing(size, &mut rng);
        let requests = requests(size, &mut rng);

        let start = Instant::now();
        let snapshot = Snapshot::new(&nodes, &pods);
        let build = start.elapsed();
        let (ours, placed) = rate(
            &snapshot,
            |snapshot, request| match DefaultPolicy.place(snapshot, request) {
                Ok(placement) => snapshot.assume(&placement.node, request).is_ok(),
                Err(why) => {
                    black_box(why);
                    false
                }
            },
            &requests,
        );
        let first_fit = FirstFit::new(&nodes, &pods);
        let (base, base_placed) = rate(
            &first_fit,
            |state, request| black_box(state.place(request)).is_some(),
            &requests,
        );
        println!(
            "{size} nodes: snapshot of {} pods built in {:.1} ms; placed {placed}/{PLACEMENTS} \
             (first fit {base_placed}/{PLACEMENTS})",
            pods.len(),
            build.as_secs_f64() * 1e3,
        );
        println!(
            "RESULT scheduler.placements_per_s_{size}_nodes={ours:.0} baseline={base:.0} ratio={:.3}",
            ours / base
        );
    }
}
