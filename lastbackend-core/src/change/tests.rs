use super::*;
use crate::model::{
    Container, EnvSource, EnvVar, Image, Restart, RestartPolicy, ServiceNetwork, Strategy,
    StrategyKind, TemplateVolume, VolumeMount, VolumeSource,
};
use crate::units::{PortMapping, Ram};

fn base() -> ServiceSpec {
    let mut spec = ServiceSpec {
        replicas: 2,
        generation: 3,
        ..ServiceSpec::default()
    };
    spec.template.containers.push(Container {
        name: "web".into(),
        image: Image {
            name: "nginx:1".into(),
            ..Image::default()
        },
        ..Container::default()
    });
    spec.network.ports.push("80:8080/tcp".parse().unwrap());
    spec
}

fn with(f: impl FnOnce(&mut ServiceSpec)) -> ServiceSpec {
    let mut spec = base();
    f(&mut spec);
    spec
}

fn container(f: impl FnOnce(&mut Container)) -> ServiceSpec {
    with(|s| f(&mut s.template.containers[0]))
}

const NOTHING: ServiceChange = ServiceChange {
    new_deployment: false,
    scale: None,
    endpoint: false,
};
const DEPLOY: ServiceChange = ServiceChange {
    new_deployment: true,
    scale: None,
    endpoint: false,
};

#[test]
fn table() {
    let port: PortMapping = "443:8443/tcp".parse().unwrap();
    let cases: Vec<(&str, ServiceSpec, bool, ServiceChange)> = vec![
        ("identical", base(), false, NOTHING),
        ("redeploy of an identical spec", base(), true, DEPLOY),
        (
            "image",
            container(|c| c.image.name = "nginx:2".into()),
            false,
            DEPLOY,
        ),
        (
            "command",
            container(|c| c.exec.command = vec!["sh".into()]),
            false,
            DEPLOY,
        ),
        (
            "env",
            container(|c| {
                c.env.push(EnvVar {
                    name: "A".into(),
                    source: EnvSource::Value("1".into()),
                })
            }),
            false,
            DEPLOY,
        ),
        (
            "ram limit",
            container(|c| c.resources.limits.ram = Some(Ram::from_bytes(1 << 27))),
            false,
            DEPLOY,
        ),
        (
            "restart policy",
            container(|c| {
                c.restart = Restart {
                    policy: RestartPolicy::Never,
                    attempt: 0,
                }
            }),
            false,
            DEPLOY,
        ),
        (
            "privileged",
            container(|c| c.security.privileged = true),
            false,
            DEPLOY,
        ),
        (
            "volume mount",
            with(|s| {
                s.template.volumes.push(TemplateVolume {
                    name: "data".into(),
                    source: VolumeSource::Volume(Default::default()),
                });
                s.template.containers[0].volumes.push(VolumeMount {
                    name: "data".into(),
                    path: "/data".into(),
                    ..VolumeMount::default()
                });
            }),
            false,
            DEPLOY,
        ),
        (
            "container port",
            container(|c| c.ports.push("8080/tcp".parse().unwrap())),
            false,
            DEPLOY,
        ),
        (
            "node selector",
            with(|s| s.selector.node = Some("n1".into())),
            false,
            DEPLOY,
        ),
        (
            "label selector",
            with(|s| {
                s.selector.labels.insert("type".into(), "ssd".into());
            }),
            false,
            DEPLOY,
        ),
        (
            "replicas only",
            with(|s| s.replicas = 5),
            false,
            ServiceChange {
                scale: Some((2, 5)),
                ..NOTHING
            },
        ),
        (
            "replicas to zero",
            with(|s| s.replicas = 0),
            false,
            ServiceChange {
                scale: Some((2, 0)),
                ..NOTHING
            },
        ),
        (
            "replicas with a template change: the new deployment takes them",
            with(|s| {
                s.replicas = 5;
                s.template.containers[0].image.name = "nginx:2".into();
            }),
            false,
            DEPLOY,
        ),
        (
            "service port added",
            with(|s| s.network.ports.push(port)),
            false,
            ServiceChange {
                endpoint: true,
                ..NOTHING
            },
        ),
        (
            "service ports emptied",
            with(|s| s.network = ServiceNetwork::default()),
            false,
            ServiceChange {
                endpoint: true,
                ..NOTHING
            },
        ),
        (
            "requested VIP",
            with(|s| s.network.ip = Some("10.96.0.10".parse().unwrap())),
            false,
            ServiceChange {
                endpoint: true,
                ..NOTHING
            },
        ),
        (
            "replicas and ports",
            with(|s| {
                s.replicas = 1;
                s.network.ports.clear();
            }),
            false,
            ServiceChange {
                new_deployment: false,
                scale: Some((2, 1)),
                endpoint: true,
            },
        ),
        (
            "template and ports",
            with(|s| {
                s.template.containers[0].image.name = "nginx:2".into();
                s.network.ports.clear();
            }),
            false,
            ServiceChange {
                new_deployment: true,
                scale: None,
                endpoint: true,
            },
        ),
        (
            "strategy only",
            with(|s| {
                s.strategy = Strategy {
                    kind: StrategyKind::Rolling,
                    ..Strategy::default()
                }
            }),
            false,
            NOTHING,
        ),
        (
            "generation differs but nothing else (generation is not user input)",
            with(|s| s.generation = 99),
            false,
            NOTHING,
        ),
    ];
    for (name, new, redeploy, want) in cases {
        assert_eq!(service_change(&base(), &new, redeploy), want, "{name}");
    }
}

#[test]
fn update_bumps_the_generation_only_for_a_new_deployment() {
    let old = base();
    let (spec, change) = update_service_spec(&old, with(|s| s.replicas = 4), false);
    assert_eq!(change.scale, Some((2, 4)));
    assert_eq!(spec.generation, 3);

    let user_input = container(|c| c.image.name = "nginx:2".into());
    let (spec, change) = update_service_spec(
        &old,
        ServiceSpec {
            generation: 0,
            ..user_input
        },
        false,
    );
    assert!(change.new_deployment);
    assert_eq!(spec.generation, 4);
    assert_eq!(spec.template.containers[0].image.name, "nginx:2");

    let (spec, change) = update_service_spec(&old, base(), true);
    assert!(change.new_deployment);
    assert_eq!(spec.generation, 4);
}

#[test]
fn display_says_what_to_do() {
    assert_eq!(NOTHING.to_string(), "nothing");
    let all = ServiceChange {
        new_deployment: true,
        scale: Some((1, 2)),
        endpoint: true,
    };
    assert_eq!(
        all.to_string(),
        "new deployment, scale 1 → 2, update endpoint"
    );
}
