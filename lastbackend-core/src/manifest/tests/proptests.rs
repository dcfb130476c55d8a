//! Valid manifests of every kind survive YAML and JSON; no input panics.

use std::collections::BTreeMap;

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::super::*;
use super::ALL_KINDS;

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

fn data_key() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9._-]{0,8}[a-zA-Z0-9])?"
}

fn hostname() -> impl Strategy<Value = String> {
    vec(label(), 1..4).prop_map(|labels| labels.join("."))
}

/// Free text, including strings YAML would read as something else unquoted.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,16}",
        select(
            &[
                "",
                "null",
                "~",
                "true",
                "no",
                "0x10",
                "1e3",
                "1.10",
                "- a",
                "a: b",
                "#c",
                " x ",
                "'q'",
                "\"dq\"",
                "line1\nline2",
                "tab\there",
                "{}",
                "[1]",
                "*alias",
                "&anchor",
            ][..]
        )
        .prop_map(str::to_owned),
    ]
}

fn label_value() -> impl Strategy<Value = String> {
    text().prop_filter("label values have no control characters", |v| {
        !v.chars().any(char::is_control)
    })
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map("[a-z]([a-z0-9./_-]{0,8}[a-z0-9])?", label_value(), 0..3)
}

fn absolute_path() -> impl Strategy<Value = String> {
    "(/[a-z0-9._-]{1,6}){1,3}"
}

fn relative_path() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,6}(/[a-z0-9_-]{1,6}){0,2}"
}

fn ip() -> impl Strategy<Value = String> {
    select(&["10.0.0.1", "127.0.0.1", "::1", "fd00::2"][..]).prop_map(str::to_owned)
}

fn meta() -> impl Strategy<Value = ManifestMeta> {
    (label(), option::of(text()), labels()).prop_map(|(name, description, labels)| ManifestMeta {
        name,
        description,
        labels,
    })
}

fn selector() -> impl Strategy<Value = SelectorManifest> {
    (option::of(hostname()), labels()).prop_map(|(node, labels)| SelectorManifest { node, labels })
}

fn key_ref() -> impl Strategy<Value = KeyRefManifest> {
    (label(), data_key()).prop_map(|(name, key)| KeyRefManifest { name, key })
}

fn int_or_string() -> impl Strategy<Value = IntOrString> {
    prop_oneof![
        any::<u32>().prop_map(IntOrString::Int),
        (0..=100u32).prop_map(|p| IntOrString::String(format!("{p}%"))),
    ]
}

fn port() -> impl Strategy<Value = String> {
    select(
        &[
            "80",
            "80:8080/tcp",
            "53/udp",
            "127.0.0.1:80:8080",
            "8080/*",
            "[::1]:80:80",
        ][..],
    )
    .prop_map(str::to_owned)
}

fn ram(range: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    option::of(select(range).prop_map(str::to_owned))
}

fn resources() -> impl Strategy<Value = ResourcesManifest> {
    (
        ram(&["1gib", "2gb", "4Gi"]),
        ram(&["2", "1500m"]),
        ram(&["128mib", "512m", "64Mi"]),
        ram(&["0.5", "500m", "100m"]),
    )
        .prop_map(
            |(limit_ram, limit_cpu, request_ram, request_cpu)| ResourcesManifest {
                limits: ResourceValuesManifest {
                    ram: limit_ram,
                    cpu: limit_cpu,
                },
                request: ResourceValuesManifest {
                    ram: request_ram,
                    cpu: request_cpu,
                },
            },
        )
}

fn env() -> impl Strategy<Value = Vec<EnvManifest>> {
    let source = prop_oneof![
        text().prop_map(|v| (Some(v), None, None)),
        key_ref().prop_map(|r| (None, Some(r), None)),
        key_ref().prop_map(|r| (None, None, Some(r))),
    ];
    btree_map("[A-Za-z_][A-Za-z0-9_.-]{0,6}", source, 0..3).prop_map(|vars| {
        vars.into_iter()
            .map(|(name, (value, secret, config))| EnvManifest {
                name,
                value,
                secret,
                config,
            })
            .collect()
    })
}

fn image() -> impl Strategy<Value = ImageManifest> {
    (
        "[a-z]{1,8}(/[a-z0-9-]{1,8})?(:[0-9]{1,3})?",
        option::of("sha256:[0-9a-f]{8}"),
        option::of(key_ref()),
    )
        .prop_map(|(name, sha, secret)| ImageManifest { name, sha, secret })
}

fn restart() -> impl Strategy<Value = Option<RestartManifest>> {
    let policy = select(
        &[
            RestartPolicy::Always,
            RestartPolicy::OnFailure,
            RestartPolicy::Never,
            RestartPolicy::UnlessStopped,
        ][..],
    );
    option::of((policy, option::of(0..10u32)))
        .prop_map(|r| r.map(|(policy, attempt)| RestartManifest { policy, attempt }))
}

fn mounts() -> impl Strategy<Value = Vec<(Index, VolumeMountManifest)>> {
    let mode = option::of(select(&[MountMode::Rw, MountMode::Ro][..]));
    vec(
        (
            any::<Index>(),
            absolute_path(),
            mode,
            option::of(relative_path()),
        ),
        0..3,
    )
    .prop_map(|mounts| {
        mounts
            .into_iter()
            .map(|(index, path, mode, sub_path)| {
                let mount = VolumeMountManifest {
                    name: String::new(),
                    path,
                    mode,
                    sub_path,
                };
                (index, mount)
            })
            .collect()
    })
}

/// A container whose mounts are filled in with template volume names later.
fn container() -> impl Strategy<Value = (ContainerManifest, Vec<(Index, VolumeMountManifest)>)> {
    let exec = (
        image(),
        vec(text(), 0..3),
        vec(text(), 0..3),
        option::of(absolute_path()),
        vec(text(), 0..3),
        vec(port(), 0..3),
    );
    let rest = (
        env(),
        resources(),
        restart(),
        any::<bool>(),
        (vec(ip(), 0..2), vec(hostname(), 0..2)),
        vec(
            (label(), ip()).prop_map(|(h, ip)| format!("{h}:{ip}")),
            0..2,
        ),
    );
    (exec, rest, mounts()).prop_map(
        |(
            (image, command, entrypoint, workdir, args, ports),
            (env, resources, restart, privileged, (server, search), extra_hosts),
            mounts,
        )| {
            let container = ContainerManifest {
                name: String::new(),
                image,
                command,
                entrypoint,
                workdir,
                args,
                ports,
                env,
                resources,
                volumes: Vec::new(),
                restart,
                security: SecurityManifest { privileged },
                dns: DnsManifest { server, search },
                extra_hosts,
                probes: None,
            };
            (container, mounts)
        },
    )
}

fn files_source() -> impl Strategy<Value = FilesSourceManifest> {
    (
        label(),
        vec(data_key(), 0..3),
        vec(
            (data_key(), relative_path()).prop_map(|(key, file)| FileBindManifest { key, file }),
            0..2,
        ),
    )
        .prop_map(|(name, files, binds)| FilesSourceManifest { name, files, binds })
}

fn template_volume_source() -> impl Strategy<Value = TemplateVolumeManifest> {
    prop_oneof![
        (label(), option::of(relative_path())).prop_map(|(name, subpath)| {
            TemplateVolumeManifest {
                volume: Some(VolumeRefManifest { name, subpath }),
                ..TemplateVolumeManifest::default()
            }
        }),
        files_source().prop_map(|secret| TemplateVolumeManifest {
            secret: Some(secret),
            ..TemplateVolumeManifest::default()
        }),
        files_source().prop_map(|config| TemplateVolumeManifest {
            config: Some(config),
            ..TemplateVolumeManifest::default()
        }),
    ]
}

fn template() -> impl Strategy<Value = TemplateManifest> {
    (
        btree_map(label(), container(), 1..3),
        btree_map(label(), template_volume_source(), 0..3),
    )
        .prop_map(|(containers, volumes)| {
            let volumes: Vec<TemplateVolumeManifest> = volumes
                .into_iter()
                .map(|(name, source)| TemplateVolumeManifest { name, ..source })
                .collect();
            let containers = containers
                .into_iter()
                .map(|(name, (container, mounts))| {
                    let volumes = if volumes.is_empty() {
                        Vec::new()
                    } else {
                        mounts
                            .into_iter()
                            .map(|(index, mount)| VolumeMountManifest {
                                name: index.get(&volumes).name.clone(),
                                ..mount
                            })
                            .collect()
                    };
                    ContainerManifest {
                        name,
                        volumes,
                        ..container
                    }
                })
                .collect();
            TemplateManifest {
                containers,
                volumes,
            }
        })
}

fn service() -> impl Strategy<Value = Manifest> {
    let network = (option::of(ip()), vec(port(), 0..3))
        .prop_map(|(ip, ports)| ServiceNetworkManifest { ip, ports });
    let strategy = (
        select(&[StrategyType::Bluegreen, StrategyType::Rolling][..]),
        option::of(int_or_string()),
        option::of(int_or_string()),
    )
        .prop_map(|(kind, max_surge, max_unavailable)| StrategyManifest {
            kind,
            max_surge,
            max_unavailable,
        });
    (
        meta(),
        0..=MAX_REPLICAS,
        selector(),
        network,
        strategy,
        template(),
    )
        .prop_map(|(meta, replicas, selector, network, strategy, template)| {
            Manifest::Service(ServiceManifest {
                version: "v1".into(),
                meta,
                spec: ServiceSpecManifest {
                    replicas,
                    selector,
                    network,
                    strategy,
                    template,
                },
            })
        })
}

fn quota() -> impl Strategy<Value = QuotaManifest> {
    (
        ram(&["1gib", "512m", "2gb"]),
        ram(&["1", "0.25", "1500m"]),
        ram(&["10gib", "100gb"]),
    )
        .prop_map(|(ram, cpu, storage)| QuotaManifest { ram, cpu, storage })
}

fn namespace() -> impl Strategy<Value = Manifest> {
    (
        meta(),
        option::of(hostname()),
        option::of(hostname()),
        quota(),
        quota(),
    )
        .prop_map(|(meta, internal, external, request, limits)| {
            Manifest::Namespace(NamespaceManifest {
                version: "v1".into(),
                meta,
                spec: NamespaceSpecManifest {
                    domain: NamespaceDomainManifest { internal, external },
                    resources: NamespaceResourcesManifest { request, limits },
                },
            })
        })
}

fn secret() -> impl Strategy<Value = Manifest> {
    let kind = select(
        &[
            SecretType::Opaque,
            SecretType::Auth,
            SecretType::Text,
            SecretType::File,
        ][..],
    );
    (meta(), kind, btree_map(data_key(), text(), 0..4)).prop_map(|(meta, kind, mut data)| {
        if kind == SecretType::Auth {
            for key in SecretType::AUTH_KEYS {
                data.entry(key.to_owned()).or_default();
            }
        }
        Manifest::Secret(SecretManifest {
            version: "v1".into(),
            meta,
            spec: SecretSpecManifest { kind, data },
        })
    })
}

fn config() -> impl Strategy<Value = Manifest> {
    let kind = select(&[ConfigType::Text, ConfigType::File][..]);
    let content = prop_oneof![
        text().prop_map(|v| (Some(v), None)),
        relative_path().prop_map(|f| (None, Some(f))),
    ];
    (meta(), kind, btree_map(data_key(), content, 0..4)).prop_map(|(meta, kind, data)| {
        let data = data
            .into_iter()
            .map(|(key, (value, file))| ConfigEntryManifest { key, value, file })
            .collect();
        Manifest::Config(ConfigManifest {
            version: "v1".into(),
            meta,
            spec: ConfigSpecManifest { kind, data },
        })
    })
}

fn route() -> impl Strategy<Value = Manifest> {
    let rule = (label(), "/[a-z0-9/_-]{0,8}", 1..=65535u32).prop_map(|(service, path, port)| {
        RouteRuleManifest {
            service,
            path,
            port: Some(port),
        }
    });
    let tls = |secret, passthrough| {
        Some(RouteTlsManifest {
            secret,
            passthrough,
        })
    };
    // HTTP, TLS terminated, TLS passed through, TCP: `(tls, tcp)`.
    let kind = prop_oneof![
        Just((None, false)),
        label().prop_map(move |secret| (tls(Some(secret), false), false)),
        Just((tls(None, true), false)),
        Just((None, true)),
    ];
    (
        meta(),
        1..=65535u32,
        option::of(hostname()),
        option::of(hostname()),
        vec(rule, 1..3),
        kind,
    )
        .prop_map(|(meta, port, endpoint, ingress, mut rules, (tls, tcp))| {
            let passthrough = tls.as_ref().is_some_and(|t| t.passthrough);
            if tcp || passthrough {
                rules.truncate(1);
            }
            Manifest::Route(RouteManifest {
                version: "v1".into(),
                meta,
                spec: RouteSpecManifest {
                    port,
                    endpoint,
                    selector: RouteSelectorManifest { ingress },
                    rules,
                    tls,
                    tcp,
                },
            })
        })
}

fn volume() -> impl Strategy<Value = Manifest> {
    let access = option::of(select(&[AccessMode::Rwo, AccessMode::Rwx][..]));
    (meta(), selector(), ram(&["1gib", "100mb"]), access).prop_map(
        |(meta, selector, storage, access_mode)| {
            Manifest::Volume(VolumeManifest {
                version: "v1".into(),
                meta,
                spec: VolumeSpecManifest {
                    kind: VolumeType::Dir,
                    selector,
                    capacity: VolumeCapacityManifest { storage },
                    access_mode,
                },
            })
        },
    )
}

fn manifest() -> impl Strategy<Value = Manifest> {
    prop_oneof![
        namespace(),
        service(),
        secret(),
        config(),
        route(),
        volume()
    ]
}

/// Several manifests with distinct names, as one file must have.
fn manifests() -> impl Strategy<Value = Vec<Manifest>> {
    vec(manifest(), 1..6).prop_map(|mut manifests| {
        for (i, manifest) in manifests.iter_mut().enumerate() {
            let meta = match manifest {
                Manifest::Namespace(m) => &mut m.meta,
                Manifest::Service(m) => &mut m.meta,
                Manifest::Secret(m) => &mut m.meta,
                Manifest::Config(m) => &mut m.meta,
                Manifest::Route(m) => &mut m.meta,
                Manifest::Volume(m) => &mut m.meta,
            };
            meta.name = format!("{}-{i}", meta.name);
        }
        manifests
    })
}

fn to_yaml_stream(manifests: &[Manifest]) -> String {
    manifests
        .iter()
        .map(|m| yaml_serde::to_string(m).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn valid_manifests_round_trip_through_yaml(manifests in manifests()) {
        let yaml = to_yaml_stream(&manifests);
        let parsed = parse(&yaml).map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
        prop_assert_eq!(parsed, manifests);
    }

    #[test]
    fn valid_manifests_round_trip_through_json(manifests in manifests()) {
        let array = serde_json::to_string(&manifests).unwrap();
        let parsed = parse(&array).map_err(|e| TestCaseError::fail(format!("{e}\n{array}")))?;
        prop_assert_eq!(&parsed, &manifests);
        let object = serde_json::to_string_pretty(&manifests[0]).unwrap();
        prop_assert_eq!(parse(&object).unwrap(), &manifests[..1]);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}|(?s:.{0,200})") {
        let _ = parse(&text);
    }

    #[test]
    fn mutated_manifests_never_panic(
        edits in vec((any::<Index>(), 0..4usize, "(?s:.{0,3})"), 1..6),
    ) {
        let mut chars: Vec<char> = ALL_KINDS.chars().collect();
        for (at, delete, insert) in edits {
            let at = at.index(chars.len() + 1);
            let end = (at + delete).min(chars.len());
            chars.splice(at..end, insert.chars());
        }
        let text: String = chars.into_iter().collect();
        let _ = parse(&text);
    }
}
