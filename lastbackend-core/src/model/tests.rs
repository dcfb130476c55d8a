//! Every kind survives JSON (storage, API) and YAML (CLI `-o yaml`) round
//! trips unchanged, whatever it holds.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, TimeZone, Utc};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

use super::{
    AccessMode, Cluster, ClusterStatus, Config, ConfigSpec, ConfigType, Container,
    ContainerResources, ContainerStatus, Dependencies, DependencyState, Deployment, DeploymentSpec,
    DeploymentStatus, Discovery, DiscoveryStatus, Dns, DriverState, Endpoint, EndpointSpec,
    EnvSource, EnvVar, Exec, Exporter, ExporterStatus, FilesRef, Image, Ingress, KeyRef, Kind,
    Labels, MemberCount, Meta, Namespace, NamespaceDomain, NamespaceResources, NamespaceSpec,
    NamespaceStatus, NetworkInterface, Node, NodeDrivers, NodeInfo, NodeResources, NodeSpec,
    NodeStatus, Object, Pod, PodNetwork, PodSpec, PodStatus, Presence, Probes, Resources, Restart,
    RestartPolicy, Route, RouteRule, RouteSelector, RouteSpec, Scale, Secret, SecretSpec,
    SecretType, Security, Selector, SelfLink, Service, ServiceNetwork, ServiceSpec, ServiceStatus,
    SpecState, State, Status, StrategyKind, Subnet, SubnetSpec, Template, TemplateVolume, Volume,
    VolumeMount, VolumeRef, VolumeSource, VolumeSpec, VolumeStatus, VolumeType, service,
};
use crate::units::{Cpu, PortMapping, Protocol, Ram};

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}[a-z0-9]"
}

fn text() -> impl Strategy<Value = String> {
    // YAML-hostile characters on purpose: quotes, colons, newlines, unicode.
    "[ -~\n\té\"':#]{0,16}"
}

fn labels() -> impl Strategy<Value = Labels> {
    btree_map(name(), text(), 0..3)
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_000_000_000, 0u32..1_000_000_000)
        .prop_map(|(s, ns)| Utc.timestamp_opt(s, ns).single().unwrap_or_default())
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from)
    ]
}

fn meta() -> impl Strategy<Value = Meta> {
    (name(), option::of(name()), text(), labels(), time(), time()).prop_map(
        |(name, namespace, description, labels, created, updated)| Meta {
            self_link: match &namespace {
                Some(ns) => format!("{ns}:{name}"),
                None => name.clone(),
            },
            name,
            namespace,
            description,
            labels,
            created,
            updated,
            revision: 0,
        },
    )
}

fn state() -> impl Strategy<Value = State> {
    proptest::sample::select(State::ALL.to_vec())
}

fn status() -> impl Strategy<Value = Status> {
    (state(), text()).prop_map(|(state, message)| Status { state, message })
}

fn ram() -> impl Strategy<Value = Ram> {
    any::<u64>().prop_map(Ram::from_bytes)
}

fn cpu() -> impl Strategy<Value = Cpu> {
    (0u64..1 << 40).prop_map(Cpu::from_millis)
}

fn port() -> impl Strategy<Value = PortMapping> {
    (
        option::of(ip()),
        option::of(1u16..),
        1u16..,
        proptest::sample::select(vec![Protocol::Tcp, Protocol::Udp, Protocol::Both]),
    )
        .prop_map(
            |(host_ip, host_port, container_port, protocol)| PortMapping {
                // An address needs a host port to be written down.
                host_ip: host_port.and(host_ip),
                host_port,
                container_port,
                protocol,
            },
        )
}

fn resources() -> impl Strategy<Value = Resources> {
    (option::of(ram()), option::of(cpu()), option::of(ram()))
        .prop_map(|(ram, cpu, storage)| Resources { ram, cpu, storage })
}

fn key_ref() -> impl Strategy<Value = KeyRef> {
    (name(), name()).prop_map(|(name, key)| KeyRef { name, key })
}

fn env() -> impl Strategy<Value = EnvVar> {
    (
        "[A-Z_][A-Z0-9_]{0,8}",
        prop_oneof![
            text().prop_map(EnvSource::Value),
            key_ref().prop_map(EnvSource::Secret),
            key_ref().prop_map(EnvSource::Config),
        ],
    )
        .prop_map(|(name, source)| EnvVar { name, source })
}

fn container() -> impl Strategy<Value = Container> {
    (
        (name(), name(), option::of(text()), option::of(key_ref())),
        vec(port(), 0..3),
        vec(env(), 0..3),
        (resources(), resources()),
        (
            vec(text(), 0..3),
            vec(text(), 0..2),
            option::of(text()),
            vec(text(), 0..2),
        ),
        vec(
            (
                name(),
                "/[a-z/]{0,10}",
                option::of("ro|rw"),
                option::of(name()),
            ),
            0..2,
        ),
        (
            proptest::sample::select(vec![
                RestartPolicy::Always,
                RestartPolicy::OnFailure,
                RestartPolicy::UnlessStopped,
                RestartPolicy::Never,
            ]),
            any::<u32>(),
            any::<bool>(),
        ),
        (vec(text(), 0..2), vec(text(), 0..2), vec(text(), 0..2)),
    )
        .prop_map(
            |(
                (name, image, sha, secret),
                ports,
                env,
                (limits, request),
                (command, entrypoint, workdir, args),
                mounts,
                (policy, attempt, privileged),
                (server, search, extra_hosts),
            )| Container {
                name,
                image: Image {
                    name: image,
                    sha,
                    secret,
                },
                ports,
                env,
                resources: ContainerResources { limits, request },
                exec: Exec {
                    command,
                    entrypoint,
                    workdir,
                    args,
                },
                volumes: mounts
                    .into_iter()
                    .map(|(name, path, mode, sub_path)| VolumeMount {
                        name,
                        path,
                        mode,
                        sub_path,
                    })
                    .collect(),
                restart: Restart { policy, attempt },
                security: Security { privileged },
                dns: Dns { server, search },
                extra_hosts,
                probes: Probes::default(),
            },
        )
}

fn template_volume() -> impl Strategy<Value = TemplateVolume> {
    let files = || {
        (name(), btree_map(name(), name(), 0..3)).prop_map(|(name, binds)| FilesRef { name, binds })
    };
    (
        name(),
        prop_oneof![
            (name(), option::of(name()))
                .prop_map(|(name, subpath)| VolumeSource::Volume(VolumeRef { name, subpath })),
            files().prop_map(VolumeSource::Secret),
            files().prop_map(VolumeSource::Config),
        ],
    )
        .prop_map(|(name, source)| TemplateVolume { name, source })
}

fn template() -> impl Strategy<Value = Template> {
    (vec(container(), 0..3), vec(template_volume(), 0..3)).prop_map(|(containers, volumes)| {
        Template {
            containers,
            volumes,
        }
    })
}

fn selector() -> impl Strategy<Value = Selector> {
    (option::of(name()), labels()).prop_map(|(node, labels)| Selector { node, labels })
}

fn spec_state() -> impl Strategy<Value = SpecState> {
    (any::<bool>(), any::<bool>()).prop_map(|(destroy, maintenance)| SpecState {
        destroy,
        maintenance,
    })
}

fn scale() -> impl Strategy<Value = Scale> {
    prop_oneof![
        any::<u32>().prop_map(Scale::Count),
        (0u8..=100).prop_map(Scale::Percent)
    ]
}

fn strategy() -> impl Strategy<Value = service::Strategy> {
    (any::<bool>(), scale(), scale()).prop_map(|(rolling, max_surge, max_unavailable)| {
        service::Strategy {
            kind: if rolling {
                StrategyKind::Rolling
            } else {
                StrategyKind::BlueGreen
            },
            max_surge,
            max_unavailable,
        }
    })
}

fn service() -> impl Strategy<Value = Service> {
    (
        meta(),
        (
            any::<u32>(),
            spec_state(),
            option::of(ip()),
            vec(port(), 0..3),
        ),
        (strategy(), selector(), template(), any::<u64>()),
        (status(), text(), option::of(ip()), option::of(name())),
    )
        .prop_map(
            |(
                meta,
                (replicas, state, ip, ports),
                (strategy, selector, template, generation),
                (status, endpoint, vip, active),
            )| Service {
                meta,
                spec: ServiceSpec {
                    replicas,
                    state,
                    network: ServiceNetwork { ip, ports },
                    strategy,
                    selector,
                    template,
                    generation,
                },
                status: ServiceStatus {
                    status,
                    endpoint,
                    ip: vip,
                    active,
                },
            },
        )
}

fn dependencies() -> impl Strategy<Value = Dependencies> {
    let dep = || {
        btree_map(
            name(),
            prop_oneof![Just(DependencyState::Ready), Just(DependencyState::Waiting)],
            0..2,
        )
    };
    (dep(), dep(), dep()).prop_map(|(volumes, secrets, configs)| Dependencies {
        volumes,
        secrets,
        configs,
    })
}

fn deployment() -> impl Strategy<Value = Deployment> {
    (
        meta(),
        (
            any::<u32>(),
            spec_state(),
            selector(),
            template(),
            strategy(),
        ),
        (any::<u64>(), any::<u64>()),
        (status(), any::<u32>(), dependencies()),
    )
        .prop_map(
            |(
                meta,
                (replicas, state, selector, template, strategy),
                (generation, version),
                (status, ready, dependencies),
            )| Deployment {
                meta,
                spec: DeploymentSpec {
                    replicas,
                    state,
                    selector,
                    template,
                    strategy,
                    generation,
                    version,
                },
                status: DeploymentStatus {
                    status,
                    ready,
                    dependencies,
                },
            },
        )
}

fn container_status() -> impl Strategy<Value = ContainerStatus> {
    (
        (name(), name(), state(), text()),
        (
            option::of(any::<i64>()),
            any::<u32>(),
            any::<bool>(),
            option::of(time()),
        ),
    )
        .prop_map(
            |((id, image, state, message), (exit_code, restarts, ready, started))| {
                ContainerStatus {
                    id,
                    image,
                    state,
                    message,
                    exit_code,
                    restarts,
                    ready,
                    started,
                }
            },
        )
}

fn pod() -> impl Strategy<Value = Pod> {
    (
        meta(),
        (spec_state(), option::of(name()), selector(), template()),
        (
            status(),
            any::<bool>(),
            any::<bool>(),
            option::of(ip()),
            option::of(ip()),
        ),
        btree_map(name(), container_status(), 0..3),
    )
        .prop_map(
            |(
                meta,
                (state, node, selector, template),
                (status, running, ready, host_ip, pod_ip),
                containers,
            )| Pod {
                meta,
                spec: PodSpec {
                    state,
                    node,
                    selector,
                    template,
                },
                status: PodStatus {
                    status,
                    running,
                    ready,
                    network: PodNetwork { host_ip, pod_ip },
                    containers,
                },
            },
        )
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    (
        meta(),
        option::of(ip()),
        text(),
        vec(port(), 0..3),
        vec(ip(), 0..3),
        status(),
    )
        .prop_map(|(meta, ip, domain, ports, upstreams, status)| Endpoint {
            meta,
            spec: EndpointSpec {
                ip,
                domain,
                ports,
                upstreams,
            },
            status,
        })
}

fn volume() -> impl Strategy<Value = Volume> {
    (
        meta(),
        (
            selector(),
            option::of(ram()),
            any::<bool>(),
            spec_state(),
            option::of(name()),
        ),
        (status(), text(), any::<bool>()),
    )
        .prop_map(
            |(meta, (selector, capacity, rwx, state, node), (status, path, ready))| Volume {
                meta,
                spec: VolumeSpec {
                    kind: VolumeType::Dir,
                    selector,
                    capacity,
                    access_mode: if rwx {
                        AccessMode::Rwx
                    } else {
                        AccessMode::Rwo
                    },
                    state,
                    node,
                },
                status: VolumeStatus {
                    status,
                    path,
                    ready,
                },
            },
        )
}

fn data() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(name(), text(), 0..4)
}

fn secret() -> impl Strategy<Value = Secret> {
    (
        meta(),
        proptest::sample::select(vec![
            SecretType::Opaque,
            SecretType::Auth,
            SecretType::Text,
            SecretType::File,
        ]),
        data(),
    )
        .prop_map(|(meta, kind, data)| Secret {
            meta,
            spec: SecretSpec { kind, data },
        })
}

fn config() -> impl Strategy<Value = Config> {
    (meta(), any::<bool>(), data()).prop_map(|(meta, file, data)| Config {
        meta,
        spec: ConfigSpec {
            kind: if file {
                ConfigType::File
            } else {
                ConfigType::Text
            },
            data,
        },
    })
}

fn route() -> impl Strategy<Value = Route> {
    (
        meta(),
        (text(), any::<u16>(), option::of(name()), option::of(name())),
        vec(("/[a-z/]{0,8}", name(), any::<u16>()), 0..3),
        status(),
    )
        .prop_map(
            |(meta, (endpoint, port, selected, ingress), rules, status)| Route {
                meta,
                spec: RouteSpec {
                    endpoint,
                    port,
                    rules: rules
                        .into_iter()
                        .map(|(path, service, port)| RouteRule {
                            path,
                            service,
                            port,
                        })
                        .collect(),
                    selector: RouteSelector { ingress: selected },
                    ingress,
                    ..RouteSpec::default()
                },
                status,
            },
        )
}

fn node_resources() -> impl Strategy<Value = NodeResources> {
    (any::<u32>(), any::<u32>(), ram(), cpu(), ram()).prop_map(
        |(pods, containers, ram, cpu, storage)| NodeResources {
            pods,
            containers,
            ram,
            cpu,
            storage,
        },
    )
}

fn driver() -> impl Strategy<Value = DriverState> {
    (name(), text(), any::<bool>(), text()).prop_map(|(kind, version, ready, message)| {
        DriverState {
            kind,
            version,
            ready,
            message,
        }
    })
}

fn node() -> impl Strategy<Value = Node> {
    (
        meta(),
        (
            name(),
            name(),
            name(),
            text(),
            option::of(ip()),
            option::of(ip()),
            option::of(name()),
        ),
        (any::<bool>(), any::<bool>()),
        (any::<bool>(), driver(), driver(), driver(), driver()),
        (node_resources(), node_resources()),
    )
        .prop_map(
            |(
                meta,
                (hostname, architecture, os_type, os_name, external_ip, internal_ip, subnet),
                (unschedulable, maintenance),
                (online, cri, cni, cpi, csi),
                (capacity, allocated),
            )| Node {
                meta,
                info: NodeInfo {
                    hostname,
                    architecture,
                    os_type,
                    os_name,
                    external_ip,
                    internal_ip,
                    subnet,
                },
                spec: NodeSpec {
                    unschedulable,
                    maintenance,
                },
                status: NodeStatus {
                    online,
                    state: NodeDrivers { cri, cni, cpi, csi },
                    capacity,
                    allocated,
                },
            },
        )
}

fn presence() -> impl Strategy<Value = Presence> {
    (any::<bool>(), any::<bool>()).prop_map(|(ready, online)| Presence { ready, online })
}

fn socket() -> impl Strategy<Value = std::net::SocketAddr> {
    (ip(), any::<u16>()).prop_map(std::net::SocketAddr::from)
}

fn count() -> impl Strategy<Value = MemberCount> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(total, online, offline)| MemberCount {
        total,
        online,
        offline,
    })
}

fn subnet() -> impl Strategy<Value = Subnet> {
    (
        meta(),
        name(),
        name(),
        text(),
        (any::<u32>(), name(), option::of(ip()), text()),
        option::of(ip()),
    )
        .prop_map(
            |(meta, node, kind, cidr, (index, iface, addr, hardware_addr), host)| Subnet {
                meta,
                node,
                spec: SubnetSpec {
                    kind,
                    cidr,
                    iface: NetworkInterface {
                        index,
                        name: iface,
                        addr,
                        hardware_addr,
                    },
                    addr: host,
                },
            },
        )
}

fn round_trip<T: Object + PartialEq + std::fmt::Debug>(value: &T) {
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    assert_eq!(&back, value, "JSON: {json}");
    let yaml = yaml_serde::to_string(value).unwrap();
    let back: T = yaml_serde::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(&back, value, "YAML: {yaml}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn namespace_round_trips(
        meta in meta(), request in resources(), limits in resources(),
        internal in text(), external in text(), status in status(), allocated in resources(),
    ) {
        round_trip(&Namespace {
            meta,
            spec: NamespaceSpec {
                domain: NamespaceDomain { internal, external },
                resources: NamespaceResources { request, limits },
            },
            status: NamespaceStatus { status, allocated },
        });
    }

    #[test]
    fn service_round_trips(v in service()) { round_trip(&v) }

    #[test]
    fn deployment_round_trips(v in deployment()) { round_trip(&v) }

    #[test]
    fn pod_round_trips(v in pod()) { round_trip(&v) }

    #[test]
    fn endpoint_round_trips(v in endpoint()) { round_trip(&v) }

    #[test]
    fn volume_round_trips(v in volume()) { round_trip(&v) }

    #[test]
    fn secret_round_trips(v in secret()) { round_trip(&v) }

    #[test]
    fn config_round_trips(v in config()) { round_trip(&v) }

    #[test]
    fn route_round_trips(v in route()) { round_trip(&v) }

    #[test]
    fn node_round_trips(v in node()) { round_trip(&v) }

    #[test]
    fn members_round_trip(
        meta in meta(), presence in presence(), address in option::of(socket()),
        http in option::of(socket()), listener in option::of(socket()),
    ) {
        round_trip(&Ingress { meta: meta.clone(), status: presence });
        round_trip(&Discovery { meta: meta.clone(), status: DiscoveryStatus { presence, address } });
        round_trip(&Exporter { meta, status: ExporterStatus { presence, http, listener } });
    }

    #[test]
    fn cluster_round_trips(
        meta in meta(), nodes in count(), ingress in count(), discovery in count(),
        capacity in node_resources(), allocated in node_resources(),
    ) {
        round_trip(&Cluster {
            meta,
            status: ClusterStatus { nodes, ingress, discovery, capacity, allocated },
        });
    }

    #[test]
    fn subnet_round_trips(v in subnet()) { round_trip(&v) }
}

#[test]
fn revision_is_never_stored() {
    let mut ns = Namespace::default();
    ns.meta.name = "demo".into();
    ns.meta.revision = 9;
    let json = serde_json::to_value(&ns).unwrap();
    assert!(
        json["meta"].get("revision").is_some(),
        "a read object shows it"
    );
    ns.meta.revision = 0;
    let json = serde_json::to_value(&ns).unwrap();
    assert!(
        json["meta"].get("revision").is_none(),
        "a stored object does not"
    );
}

#[test]
fn objects_know_their_kind_link_and_key() {
    let link = SelfLink::pod("demo", "web", "v1", "abc1234");
    let mut pod = Pod {
        meta: Meta::new("abc1234", &link),
        ..Pod::default()
    };
    assert_eq!(pod.meta.namespace.as_deref(), Some("demo"));
    assert_eq!(pod.self_link().unwrap(), link);
    assert_eq!(pod.key(), "pod/demo:web:d_v1:abc1234");
    pod.meta_mut().self_link = "broken".into();
    assert!(pod.self_link().is_err());

    let ns = Namespace {
        meta: Meta::new("demo", &SelfLink::namespace("demo")),
        ..Namespace::default()
    };
    assert_eq!(ns.meta.namespace, None);
    assert_eq!(ns.key(), "namespace/demo");
    assert_eq!(ns.endpoint("lb.local"), "demo.lb.local");

    let node = Node {
        meta: Meta::new("n1", &SelfLink::host(Kind::Node, "n1")),
        ..Node::default()
    };
    assert_eq!(node.key(), "node/info/n1");
}

#[test]
fn kinds_parse_case_insensitively_and_name_the_known_ones() {
    for kind in Kind::ALL {
        assert_eq!(kind.title().parse::<Kind>().unwrap(), kind);
        assert_eq!(kind.as_str().to_uppercase().parse::<Kind>().unwrap(), kind);
    }
    let err = "Servise".parse::<Kind>().unwrap_err().to_string();
    assert!(err.contains("Servise") && err.contains("service"), "{err}");
}

#[test]
fn states_serialize_lowercase() {
    for state in State::ALL {
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            format!("\"{state}\"")
        );
    }
    assert!(State::Destroy.is_terminating() && !State::Ready.is_terminating());
}

#[test]
fn scale_of_replicas_rounds_percentages_up() {
    assert_eq!(Scale::Percent(25).of(10), 3);
    assert_eq!(Scale::Percent(0).of(10), 0);
    assert_eq!(Scale::Percent(100).of(7), 7);
    assert_eq!(Scale::Count(2).of(10), 2);
}

#[test]
fn template_lists_what_it_depends_on() {
    let mut t = Template::default();
    t.containers.push(Container {
        name: "a".into(),
        env: vec![
            EnvVar {
                name: "P".into(),
                source: EnvSource::Secret(KeyRef {
                    name: "db".into(),
                    key: "password".into(),
                }),
            },
            EnvVar {
                name: "C".into(),
                source: EnvSource::Config(KeyRef {
                    name: "app".into(),
                    key: "level".into(),
                }),
            },
        ],
        image: Image {
            name: "x".into(),
            sha: None,
            secret: Some(KeyRef {
                name: "registry".into(),
                key: String::new(),
            }),
        },
        resources: ContainerResources {
            limits: Resources {
                ram: Some(Ram::from_bytes(256)),
                cpu: Some(Cpu::from_millis(500)),
                storage: None,
            },
            request: Resources {
                ram: Some(Ram::from_bytes(128)),
                ..Resources::default()
            },
        },
        ..Container::default()
    });
    t.containers.push(Container {
        name: "b".into(),
        resources: ContainerResources {
            request: Resources {
                ram: Some(Ram::from_bytes(64)),
                cpu: Some(Cpu::from_millis(100)),
                storage: None,
            },
            ..ContainerResources::default()
        },
        ..Container::default()
    });
    t.volumes = vec![
        TemplateVolume {
            name: "s".into(),
            source: VolumeSource::Secret(FilesRef {
                name: "db".into(),
                binds: BTreeMap::new(),
            }),
        },
        TemplateVolume {
            name: "d".into(),
            source: VolumeSource::Volume(VolumeRef {
                name: "data".into(),
                subpath: None,
            }),
        },
    ];
    assert_eq!(t.secrets(), ["db", "registry"]);
    assert_eq!(t.configs(), ["app"]);
    assert_eq!(t.persistent_volumes(), ["data"]);
    let req = t.requests();
    assert_eq!(req.ram, Some(Ram::from_bytes(128 + 64)));
    assert_eq!(req.cpu, Some(Cpu::from_millis(500 + 100)));
}
