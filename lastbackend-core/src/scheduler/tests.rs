use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::model::{Container, ContainerResources, Node, Pod, Resources, SelfLink, State, Status};
use crate::units::{Cpu, PortMapping, Protocol, Ram};

const GIB: u64 = 1 << 30;

fn node(name: &str) -> Node {
    let mut node = Node::default();
    node.meta.name = name.into();
    node.status.online = true;
    node.status.capacity.pods = 110;
    node.status.capacity.ram = Ram::from_bytes(4 * GIB);
    node.status.capacity.cpu = Cpu::from_millis(4000);
    node
}

fn labelled(name: &str, labels: &[(&str, &str)]) -> Node {
    let mut node = node(name);
    node.meta.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    node
}

fn with(mut node: Node, change: impl FnOnce(&mut Node)) -> Node {
    change(&mut node);
    node
}

fn container(ram: u64, cpu: u64, ports: &[(u16, Protocol)]) -> Container {
    Container {
        name: "main".into(),
        resources: ContainerResources {
            request: Resources {
                ram: Some(Ram::from_bytes(ram)),
                cpu: Some(Cpu::from_millis(cpu)),
                storage: None,
            },
            ..ContainerResources::default()
        },
        ports: ports
            .iter()
            .map(|&(port, protocol)| PortMapping {
                host_ip: None,
                host_port: Some(port),
                container_port: port,
                protocol,
            })
            .collect(),
        ..Container::default()
    }
}

/// A pod of `demo:<service>` placed on `on` (if any).
fn pod(service: &str, name: &str, on: Option<&str>, container: Container) -> Pod {
    let mut pod = Pod::default();
    pod.meta.name = name.into();
    pod.meta.self_link = SelfLink::pod("demo", service, "v1", name).to_string();
    pod.spec.node = on.map(str::to_owned);
    pod.spec.template.containers = vec![container];
    pod
}

fn request(ram: u64, cpu: u64) -> PodRequest {
    PodRequest {
        ram: Ram::from_bytes(ram),
        cpu: Cpu::from_millis(cpu),
        ..PodRequest::default()
    }
}

fn ports(ports: &[(u16, Protocol)]) -> PodRequest {
    let mut request = request(0, 0);
    request.host_ports = ports
        .iter()
        .map(|&(port, protocol)| HostPort { port, protocol })
        .collect();
    request
}

fn selecting(node: Option<&str>, labels: &[(&str, &str)]) -> PodRequest {
    let mut request = request(0, 0);
    request.node = node.map(str::to_owned);
    request.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    request
}

fn for_service(service: &str, ram: u64) -> PodRequest {
    let mut request = request(ram, 0);
    request.service = Some(format!("demo:{service}"));
    request
}

/// The names of the nodes that pass every filter.
fn feasible(snapshot: &Snapshot, request: &PodRequest) -> (Vec<String>, Unschedulable) {
    let mut names = Vec::new();
    let why = snapshot.filter(request, |node| names.push(node.name().to_owned()));
    (names, why)
}

struct Case {
    name: &'static str,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    request: PodRequest,
    excluded: &'static [(Filter, usize)],
    feasible: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let tcp = Protocol::Tcp;
    let udp = Protocol::Udp;
    let both = Protocol::Both;
    let abc = || vec![node("a"), node("b"), node("c")];
    let ports_cluster = || {
        (
            vec![node("a"), node("b"), node("c"), node("d")],
            vec![
                pod("s", "p1", Some("a"), container(0, 0, &[(80, tcp)])),
                pod("s", "p2", Some("b"), container(0, 0, &[(80, udp)])),
                pod("s", "p3", Some("c"), container(0, 0, &[(80, both)])),
                pod("s", "p4", Some("d"), container(0, 0, &[(81, tcp)])),
            ],
        )
    };
    let zones = || {
        vec![
            labelled("a", &[("zone", "a"), ("ssd", "true")]),
            labelled("b", &[("zone", "a")]),
            labelled("c", &[("zone", "b")]),
            node("d"),
        ]
    };
    vec![
        Case {
            name: "no constraints",
            nodes: abc(),
            pods: vec![],
            request: request(GIB, 1000),
            excluded: &[],
            feasible: &["a", "b", "c"],
        },
        Case {
            name: "offline",
            nodes: vec![
                node("a"),
                with(node("b"), |n| n.status.online = false),
                node("c"),
            ],
            pods: vec![],
            request: request(0, 0),
            excluded: &[(Filter::Offline, 1)],
            feasible: &["a", "c"],
        },
        Case {
            name: "cordoned",
            nodes: vec![with(node("a"), |n| n.spec.unschedulable = true), node("b")],
            pods: vec![],
            request: request(0, 0),
            excluded: &[(Filter::Unschedulable, 1)],
            feasible: &["b"],
        },
        Case {
            name: "a label excludes nodes without labels too",
            nodes: zones(),
            pods: vec![],
            request: selecting(None, &[("zone", "a")]),
            excluded: &[(Filter::NodeSelector, 2)],
            feasible: &["a", "b"],
        },
        Case {
            name: "all labels must match",
            nodes: zones(),
            pods: vec![],
            request: selecting(None, &[("zone", "a"), ("ssd", "true")]),
            excluded: &[(Filter::NodeSelector, 3)],
            feasible: &["a"],
        },
        Case {
            name: "a label on no node",
            nodes: zones(),
            pods: vec![],
            request: selecting(None, &[("zone", "z")]),
            excluded: &[(Filter::NodeSelector, 4)],
            feasible: &[],
        },
        Case {
            name: "hostname",
            nodes: zones(),
            pods: vec![],
            request: selecting(Some("c"), &[]),
            excluded: &[(Filter::NodeSelector, 3)],
            feasible: &["c"],
        },
        Case {
            name: "hostname and labels both",
            nodes: zones(),
            pods: vec![],
            request: selecting(Some("c"), &[("zone", "a")]),
            excluded: &[(Filter::NodeSelector, 4)],
            feasible: &[],
        },
        Case {
            name: "unknown hostname",
            nodes: abc(),
            pods: vec![],
            request: selecting(Some("zz"), &[]),
            excluded: &[(Filter::NodeSelector, 3)],
            feasible: &[],
        },
        Case {
            name: "ram: exact fit places, one byte over does not",
            nodes: vec![
                with(node("a"), |n| n.status.capacity.ram = Ram::from_bytes(GIB)),
                with(node("b"), |n| {
                    n.status.capacity.ram = Ram::from_bytes(GIB - 1)
                }),
                with(node("c"), |n| {
                    n.status.capacity.ram = Ram::from_bytes(2 * GIB)
                }),
                with(node("d"), |n| {
                    n.status.capacity.ram = Ram::from_bytes(2 * GIB)
                }),
            ],
            pods: vec![
                pod("s", "p1", Some("c"), container(GIB + 1, 0, &[])),
                pod("s", "p2", Some("d"), container(GIB, 0, &[])),
            ],
            request: request(GIB, 0),
            excluded: &[(Filter::Ram, 2)],
            feasible: &["a", "d"],
        },
        Case {
            name: "ram: the store's pods count, not the agent's lagging report",
            nodes: vec![
                with(node("a"), |n| {
                    n.status.allocated.ram = Ram::from_bytes(4 * GIB)
                }),
                node("b"),
            ],
            pods: vec![
                pod("s", "p1", Some("a"), container(GIB, 0, &[])),
                pod("s", "p2", Some("b"), container(3 * GIB + 1, 0, &[])),
            ],
            request: request(3 * GIB, 0),
            excluded: &[(Filter::Ram, 1)],
            feasible: &["a"],
        },
        Case {
            name: "cpu: exact fit places, one millicore over does not",
            nodes: vec![
                with(node("a"), |n| n.status.capacity.cpu = Cpu::from_millis(500)),
                with(node("b"), |n| n.status.capacity.cpu = Cpu::from_millis(499)),
                node("c"),
            ],
            pods: vec![pod("s", "p1", Some("c"), container(0, 3501, &[]))],
            request: request(0, 500),
            excluded: &[(Filter::Cpu, 2)],
            feasible: &["a"],
        },
        Case {
            name: "host port tcp",
            nodes: ports_cluster().0,
            pods: ports_cluster().1,
            request: ports(&[(80, tcp)]),
            excluded: &[(Filter::HostPorts, 2)],
            feasible: &["b", "d"],
        },
        Case {
            name: "host port udp",
            nodes: ports_cluster().0,
            pods: ports_cluster().1,
            request: ports(&[(80, udp)]),
            excluded: &[(Filter::HostPorts, 2)],
            feasible: &["a", "d"],
        },
        Case {
            name: "host port both",
            nodes: ports_cluster().0,
            pods: ports_cluster().1,
            request: ports(&[(80, both)]),
            excluded: &[(Filter::HostPorts, 3)],
            feasible: &["d"],
        },
        Case {
            name: "host port: any clash of several",
            nodes: ports_cluster().0,
            pods: ports_cluster().1,
            request: ports(&[(90, tcp), (81, tcp)]),
            excluded: &[(Filter::HostPorts, 1)],
            feasible: &["a", "b", "c"],
        },
        Case {
            name: "pod count",
            nodes: vec![
                with(node("a"), |n| n.status.capacity.pods = 2),
                with(node("b"), |n| n.status.capacity.pods = 3),
                with(node("c"), |n| n.status.capacity.pods = 0),
            ],
            pods: vec![
                pod("s", "p1", Some("a"), container(0, 0, &[])),
                pod("s", "p2", Some("a"), container(0, 0, &[])),
                pod("s", "p3", Some("b"), container(0, 0, &[])),
                pod("s", "p4", Some("b"), container(0, 0, &[])),
            ],
            request: request(0, 0),
            excluded: &[(Filter::Pods, 2)],
            feasible: &["b"],
        },
        Case {
            name: "destroyed pods hold nothing",
            nodes: vec![with(node("a"), |n| n.status.capacity.pods = 1)],
            pods: vec![with_status(
                pod("s", "p1", Some("a"), container(4 * GIB, 0, &[(80, tcp)])),
                State::Destroyed,
            )],
            request: {
                let mut r = ports(&[(80, tcp)]);
                r.ram = Ram::from_bytes(4 * GIB);
                r
            },
            excluded: &[],
            feasible: &["a"],
        },
        Case {
            name: "volume affinity",
            nodes: abc(),
            pods: vec![],
            request: request(0, 0).on_volume_node("b"),
            excluded: &[(Filter::VolumeAffinity, 2)],
            feasible: &["b"],
        },
        Case {
            name: "volume on a node that is gone",
            nodes: abc(),
            pods: vec![],
            request: request(0, 0).on_volume_node("zz"),
            excluded: &[(Filter::VolumeAffinity, 3)],
            feasible: &[],
        },
        Case {
            name: "a node counts under its first failing filter only",
            nodes: vec![
                with(node("a"), |n| {
                    n.status.online = false;
                    n.status.capacity.ram = Ram::from_bytes(0);
                }),
                with(node("b"), |n| {
                    n.spec.unschedulable = true;
                    n.status.capacity.pods = 0;
                }),
                with(node("c"), |n| n.status.capacity.ram = Ram::from_bytes(0)),
                with(labelled("d", &[("zone", "a")]), |n| {
                    n.status.capacity.cpu = Cpu::from_millis(0)
                }),
            ],
            pods: vec![],
            request: {
                let mut r = request(GIB, 1000);
                r.labels = [("zone".to_string(), "a".to_string())].into();
                r
            },
            excluded: &[
                (Filter::Offline, 1),
                (Filter::Unschedulable, 1),
                (Filter::NodeSelector, 1),
                (Filter::Cpu, 1),
            ],
            feasible: &[],
        },
    ]
}

fn with_status(mut pod: Pod, state: State) -> Pod {
    pod.status.status = Status::new(state);
    pod
}

#[test]
fn each_filter_excludes_exactly_what_it_should_and_counts_it() {
    for case in cases() {
        let snapshot = Snapshot::new(&case.nodes, &case.pods);
        let (names, why) = feasible(&snapshot, &case.request);
        assert_eq!(names, case.feasible, "{}: feasible nodes", case.name);
        for filter in Filter::ALL {
            let want = case
                .excluded
                .iter()
                .find(|(f, _)| *f == filter)
                .map_or(0, |&(_, n)| n);
            assert_eq!(why.excluded(filter), want, "{}: {filter}", case.name);
        }
        assert_eq!(why.nodes(), case.nodes.len(), "{}", case.name);
        assert_eq!(why.available(), case.feasible.len(), "{}", case.name);

        let placed = DefaultPolicy.place(&snapshot, &case.request);
        match case.feasible {
            [] => assert_eq!(placed.unwrap_err(), why, "{}", case.name),
            some => assert!(
                some.contains(&placed.unwrap().node.as_str()),
                "{}",
                case.name
            ),
        }
    }
}

#[test]
fn the_message_names_each_filter_with_its_count_in_order() {
    let nodes = vec![
        with(labelled("a", &[("zone", "a")]), |n| n.status.online = false),
        with(node("b"), |n| n.status.online = false),
        node("c"),
        labelled("d", &[("zone", "a")]),
        with(labelled("e", &[("zone", "a")]), |n| {
            n.status.capacity.ram = Ram::from_bytes(GIB)
        }),
    ];
    let pods = vec![pod("s", "p1", Some("d"), container(3 * GIB + 1, 0, &[]))];
    let mut request = selecting(None, &[("zone", "a")]);
    request.ram = Ram::from_bytes(GIB + 1);
    let why = DefaultPolicy
        .place(&Snapshot::new(&nodes, &pods), &request)
        .unwrap_err();
    assert_eq!(
        why.to_string(),
        "0/5 nodes available: 2 offline, 1 node selector mismatch, 2 insufficient ram"
    );
    let none = DefaultPolicy
        .place(&Snapshot::new(&[], &[]), &request)
        .unwrap_err();
    assert_eq!(
        none.to_string(),
        "0/0 nodes available: the cluster has no nodes"
    );
}

#[test]
fn every_filter_has_its_own_words() {
    let mut why = Unschedulable::new(Filter::ALL.len());
    Filter::ALL.iter().for_each(|&f| why.exclude(f));
    assert_eq!(
        why.to_string(),
        "0/8 nodes available: 1 offline, 1 unschedulable, 1 node selector mismatch, \
         1 insufficient ram, 1 insufficient cpu, 1 host port in use, 1 too many pods, \
         1 volume on another node"
    );
}

#[test]
fn prefers_the_least_allocated_node() {
    let nodes = vec![
        with(node("a"), |n| {
            n.status.capacity.ram = Ram::from_bytes(8 * GIB)
        }),
        node("b"),
        node("c"),
    ];
    // a: 6 of 8 GiB free (75%); b: all free; c: 3 of 4 GiB and half its CPU.
    let pods = vec![
        pod("x", "p1", Some("a"), container(2 * GIB, 0, &[])),
        pod("y", "p2", Some("c"), container(GIB, 2000, &[])),
    ];
    let snapshot = Snapshot::new(&nodes, &pods);
    let placed = DefaultPolicy.place(&snapshot, &request(GIB, 1000)).unwrap();
    assert_eq!(placed.node, "b");
    let b = snapshot.node("b").unwrap();
    let expected = least_allocated(b, &request(GIB, 1000)) + spread(0);
    assert_eq!(placed.score, expected);
    assert_eq!(least_allocated(b, &request(GIB, 1000)), (0.75 + 0.75) / 2.0);
}

#[test]
fn spreads_six_replicas_over_three_equal_nodes() {
    for ram in [0, 256 << 20] {
        let mut snapshot = Snapshot::new(&[node("c"), node("a"), node("b")], &[]);
        let request = for_service("web", ram);
        for _ in 0..6 {
            let placed = DefaultPolicy.place(&snapshot, &request).unwrap();
            snapshot.assume(&placed.node, &request).unwrap();
        }
        for name in ["a", "b", "c"] {
            assert_eq!(snapshot.service_pods(name, "demo:web"), 2, "ram {ram}");
            assert_eq!(snapshot.node(name).unwrap().allocated().pods, 2);
            assert_eq!(
                snapshot.node(name).unwrap().allocated().ram.bytes(),
                2 * ram
            );
        }
    }
}

#[test]
fn spread_wins_over_a_small_load_difference() {
    // `a` is a little emptier but already runs a replica of web.
    let nodes = [node("a"), node("b")];
    let pods = vec![
        pod("web", "p1", Some("a"), container(0, 0, &[])),
        pod("db", "p2", Some("b"), container(GIB / 4, 0, &[])),
    ];
    let snapshot = Snapshot::new(&nodes, &pods);
    let web = for_service("web", 0);
    assert_eq!(DefaultPolicy.place(&snapshot, &web).unwrap().node, "b");
    // Another service's pods do not repel: the emptier `a` wins.
    let api = for_service("api", 0);
    assert_eq!(DefaultPolicy.place(&snapshot, &api).unwrap().node, "a");
}

#[test]
fn ties_go_to_the_first_node_by_name() {
    let snapshot = Snapshot::new(&[node("m"), node("b"), node("x")], &[]);
    assert_eq!(
        DefaultPolicy.place(&snapshot, &request(0, 0)).unwrap().node,
        "b"
    );
}

#[test]
fn the_same_input_in_any_order_places_the_same_way() {
    let mut nodes: Vec<Node> = (0..12)
        .map(|i| {
            with(node(&format!("n{i:02}")), |n| {
                n.status.capacity.ram = Ram::from_bytes((1 + i % 4) * GIB);
                n.status.capacity.cpu = Cpu::from_millis(1000 * (1 + i % 3));
            })
        })
        .collect();
    let pods: Vec<Pod> = (0..10)
        .map(|i| {
            let on = format!("n{:02}", (i * 7) % 12);
            pod(
                "web",
                &format!("p{i}"),
                Some(&on),
                container(GIB / 4, 100, &[]),
            )
        })
        .collect();
    let run = |nodes: &[Node]| {
        let mut snapshot = Snapshot::new(nodes, &pods);
        (0..30)
            .map(|i| {
                let request = for_service(["web", "api", "db"][i % 3], GIB / 8);
                let placed = DefaultPolicy.place(&snapshot, &request).unwrap();
                snapshot.assume(&placed.node, &request).unwrap();
                placed.node
            })
            .collect::<Vec<_>>()
    };
    let first = run(&nodes);
    assert_eq!(run(&nodes), first);
    nodes.reverse();
    assert_eq!(run(&nodes), first);
    nodes.rotate_left(5);
    assert_eq!(run(&nodes), first);
}

#[test]
fn assume_takes_the_ports_and_resources() {
    let mut snapshot = Snapshot::new(&[node("a"), node("b")], &[]);
    let mut request = ports(&[(53, Protocol::Both)]);
    request.ram = Ram::from_bytes(GIB);
    request.containers = 2;
    snapshot.assume("a", &request).unwrap();
    let a = snapshot.node("a").unwrap();
    assert!(a.port_in_use(53, Protocol::Tcp) && a.port_in_use(53, Protocol::Udp));
    assert!(!a.port_in_use(54, Protocol::Tcp));
    assert_eq!(a.allocated().containers, 2);
    assert_eq!(a.allocated().ram.bytes(), GIB);
    let udp = ports(&[(53, Protocol::Udp)]);
    assert_eq!(DefaultPolicy.place(&snapshot, &udp).unwrap().node, "b");
    snapshot.assume("b", &udp).unwrap();
    let why = DefaultPolicy.place(&snapshot, &udp).unwrap_err();
    assert_eq!(why.to_string(), "0/2 nodes available: 2 host port in use");
    assert_eq!(
        snapshot.assume("zz", &udp),
        Err(UnknownNode("zz".to_owned()))
    );
}

#[test]
fn a_request_reads_the_pod() {
    let mut pod = pod(
        "web",
        "abc1234",
        None,
        container(GIB, 250, &[(80, Protocol::Tcp)]),
    );
    pod.spec.template.containers.push(Container {
        name: "side".into(),
        ports: vec!["8080".parse().unwrap(), "0.0.0.0:53:53/*".parse().unwrap()],
        ..container(GIB, 250, &[])
    });
    pod.spec.selector.node = Some("n1".into());
    pod.spec.selector.labels = BTreeMap::from([("zone".into(), "a".into())]);
    let request = PodRequest::from_pod(&pod).on_volume_node("n1");
    assert_eq!(request.ram.bytes(), 2 * GIB);
    assert_eq!(request.cpu.millis(), 500);
    assert_eq!(request.containers, 2);
    assert_eq!(
        request.host_ports,
        [
            HostPort {
                port: 80,
                protocol: Protocol::Tcp
            },
            HostPort {
                port: 53,
                protocol: Protocol::Both
            },
        ]
    );
    assert_eq!(request.node.as_deref(), Some("n1"));
    assert_eq!(request.labels.len(), 1);
    assert_eq!(request.required_node.as_deref(), Some("n1"));
    assert_eq!(request.service.as_deref(), Some("demo:web"));
}

/// The tiniest custom policy: the first feasible node by name.
struct FirstByName;

impl Policy for FirstByName {
    fn place(&self, snapshot: &Snapshot, request: &PodRequest) -> Result<Placement, Unschedulable> {
        let mut first = None;
        let why = snapshot.filter(request, |node| {
            first.get_or_insert_with(|| node.name().to_owned());
        });
        first.map(Placement::new).ok_or(why)
    }
}

#[test]
fn a_custom_policy_swaps_in() {
    let nodes = [
        node("a"),
        node("b"),
        with(node("c"), |n| n.status.online = false),
    ];
    let pods = [pod("web", "p1", Some("a"), container(GIB, 0, &[]))];
    let snapshot = Snapshot::new(&nodes, &pods);
    let policies: [(Arc<dyn Policy>, &str); 2] =
        [(Arc::new(DefaultPolicy), "b"), (Arc::new(FirstByName), "a")];
    let web = for_service("web", GIB);
    let too_big = request(8 * GIB, 0);
    for (policy, want) in policies {
        assert_eq!(policy.place(&snapshot, &web).unwrap().node, want);
        assert_eq!(
            policy.place(&snapshot, &too_big).unwrap_err().to_string(),
            "0/3 nodes available: 1 offline, 2 insufficient ram"
        );
    }
}

// Brute force: the filters re-derived from the raw nodes and pods, one node
// at a time, with none of the snapshot's indexes.

const NAMES: [&str; 6] = ["n0", "n1", "n2", "n3", "n4", "n5"];

fn oracle(node: &Node, pods: &[Pod], request: &PodRequest) -> Option<Filter> {
    let placed: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.spec.node.as_deref() == Some(&node.meta.name))
        .filter(|p| p.status.status.state != State::Destroyed)
        .collect();
    let sum = |f: fn(&Resources) -> u64| -> u64 {
        placed.iter().map(|p| f(&p.spec.template.requests())).sum()
    };
    let capacity = &node.status.capacity;
    let ram = sum(|r| r.ram.map_or(0, Ram::bytes));
    let cpu = sum(|r| r.cpu.map_or(0, Cpu::millis));
    let count = placed.len() as u32;
    let taken = |port: &HostPort| {
        placed
            .iter()
            .flat_map(|p| &p.spec.template.containers)
            .flat_map(|c| &c.ports)
            .any(|m| {
                m.host_port == Some(port.port)
                    && (m.protocol == port.protocol
                        || m.protocol == Protocol::Both
                        || port.protocol == Protocol::Both)
            })
    };
    if !node.status.online {
        Some(Filter::Offline)
    } else if node.spec.unschedulable {
        Some(Filter::Unschedulable)
    } else if request.node.as_ref().is_some_and(|n| *n != node.meta.name)
        || request
            .labels
            .iter()
            .any(|(k, v)| node.meta.labels.get(k) != Some(v))
    {
        Some(Filter::NodeSelector)
    // A pod requesting none of a resource fits even where it is overcommitted.
    } else if request.ram.bytes() > 0 && ram + request.ram.bytes() > capacity.ram.bytes() {
        Some(Filter::Ram)
    } else if request.cpu.millis() > 0 && cpu + request.cpu.millis() > capacity.cpu.millis() {
        Some(Filter::Cpu)
    } else if request.host_ports.iter().any(taken) {
        Some(Filter::HostPorts)
    } else if count >= capacity.pods {
        Some(Filter::Pods)
    } else if request
        .required_node
        .as_ref()
        .is_some_and(|n| *n != node.meta.name)
    {
        Some(Filter::VolumeAffinity)
    } else {
        None
    }
}

fn some_labels() -> impl Strategy<Value = Vec<(&'static str, &'static str)>> {
    proptest::sample::subsequence(vec![("zone", "a"), ("zone", "b"), ("ssd", "true")], 0..=2)
        .prop_map(|mut labels| {
            labels.dedup_by_key(|(k, _)| *k);
            labels
        })
}

fn arb_node() -> impl Strategy<Value = Node> {
    (
        proptest::sample::select(NAMES.to_vec()),
        some_labels(),
        proptest::bool::weighted(0.85),
        proptest::bool::weighted(0.1),
        0u32..4,
        0u64..5,
        0u64..4,
        0u64..3,
    )
        .prop_map(
            |(name, labels, online, cordoned, pods, ram, cpu, reported)| {
                with(labelled(name, &labels), |n| {
                    n.status.online = online;
                    n.spec.unschedulable = cordoned;
                    n.status.capacity.pods = pods;
                    n.status.capacity.ram = Ram::from_bytes(ram * GIB);
                    n.status.capacity.cpu = Cpu::from_millis(cpu * 1000);
                    n.status.allocated.ram = Ram::from_bytes(reported * GIB / 2);
                })
            },
        )
}

fn arb_pod() -> impl Strategy<Value = Pod> {
    let protocol = proptest::sample::select(vec![Protocol::Tcp, Protocol::Udp, Protocol::Both]);
    (
        proptest::sample::select(vec!["web", "db"]),
        0u64..3,
        0u64..3,
        proptest::option::weighted(0.3, (80u16..82, protocol)),
        proptest::option::weighted(0.2, proptest::sample::select(vec!["n1", "n2", "zz"])),
        proptest::option::weighted(0.2, proptest::sample::select(vec!["n0", "n3"])),
        some_labels(),
        proptest::option::weighted(0.8, proptest::sample::select(NAMES.to_vec())),
        proptest::bool::weighted(0.1),
        any::<u32>(),
    )
        .prop_map(
            |(service, ram, cpu, port, node, volume, labels, on, destroyed, id)| {
                let ports: Vec<_> = port.into_iter().collect();
                let mut pod = pod(
                    service,
                    &format!("{id:07x}"),
                    on,
                    container(ram * GIB / 2, cpu * 500, &ports),
                );
                pod.spec.selector.node = node.map(str::to_owned);
                pod.spec.selector.labels = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                if let Some(volume) = volume {
                    // Carried for `request_of`: the volume's node.
                    pod.meta.description = volume.to_owned();
                }
                if destroyed {
                    pod.status.status = Status::new(State::Destroyed);
                }
                pod
            },
        )
}

fn request_of(pod: &Pod) -> PodRequest {
    let request = PodRequest::from_pod(pod);
    match pod.meta.description.as_str() {
        "" => request,
        volume => request.on_volume_node(volume),
    }
}

proptest! {
    #[test]
    fn placements_pass_every_filter_and_refusals_are_exact(
        nodes in proptest::collection::vec(arb_node(), 0..7),
        placed in proptest::collection::vec(arb_pod(), 0..10),
        pending in proptest::collection::vec(arb_pod(), 1..6),
    ) {
        let mut nodes = nodes;
        nodes.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        nodes.dedup_by(|b, a| a.meta.name == b.meta.name);
        let mut pods = placed;
        let mut snapshot = Snapshot::new(&nodes, &pods);
        for mut pod in pending {
            let request = request_of(&pod);
            match DefaultPolicy.place(&snapshot, &request) {
                Ok(placement) => {
                    let node = nodes.iter().find(|n| n.meta.name == placement.node).unwrap();
                    prop_assert_eq!(oracle(node, &pods, &request), None);
                    snapshot.assume(&placement.node, &request).unwrap();
                    pod.spec.node = Some(placement.node);
                    pod.status.status = Status::default();
                    pods.push(pod);
                }
                Err(why) => {
                    let mut expected = Unschedulable::new(nodes.len());
                    for node in &nodes {
                        let failing = oracle(node, &pods, &request);
                        prop_assert!(failing.is_some(), "{} fits", node.meta.name);
                        expected.exclude(failing.unwrap());
                    }
                    prop_assert_eq!(why, expected);
                }
            }
            // Assuming is the same as rebuilding from the pods.
            let rebuilt = Snapshot::new(&nodes, &pods);
            prop_assert_eq!(rebuilt.nodes(), snapshot.nodes());
            for name in NAMES {
                for service in ["demo:web", "demo:db"] {
                    prop_assert_eq!(
                        rebuilt.service_pods(name, service),
                        snapshot.service_pods(name, service)
                    );
                }
            }
        }
    }
}
