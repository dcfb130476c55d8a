use std::path::PathBuf;

use bollard::models::{ContainerConfig, ContainerState as DockerState, EndpointSettings};
use bollard::models::{NetworkSettings, PortBinding};

use super::*;
use crate::Bind;

fn spec() -> ContainerSpec {
    let mut spec = ContainerSpec::new("web", "busybox:offline");
    spec.command = vec!["httpd".into(), "-f".into()];
    spec.args = vec!["-p".into(), "8080".into()];
    spec.entrypoint = vec!["/bin/busybox".into()];
    spec.workdir = Some("/www".into());
    spec.env.insert("A".into(), "1=2".into());
    spec.labels.insert("io.lastbackend.pod".into(), "p".into());
    spec.memory = Some(64 << 20);
    spec.cpu_millis = Some(250);
    spec.restart = RestartPolicy::OnFailure;
    spec.binds.push(Bind {
        host: PathBuf::from("/srv/data"),
        container: "/data".into(),
        read_only: true,
    });
    spec.ports = vec![
        "127.0.0.1::8080".parse().unwrap(),
        "53:53/*".parse().unwrap(),
        "9000".parse().unwrap(),
    ];
    spec.network = NetworkMode::Network("lb".into());
    spec.dns = vec!["10.0.0.2".into()];
    spec.extra_hosts = vec!["db:10.0.0.3".into()];
    spec
}

#[test]
fn every_field_reaches_the_request() {
    let body = create_body(&spec()).unwrap();
    assert_eq!(body.image.as_deref(), Some("busybox:offline"));
    assert_eq!(body.cmd.unwrap(), ["httpd", "-f", "-p", "8080"]);
    assert_eq!(body.entrypoint.unwrap(), ["/bin/busybox"]);
    assert_eq!(body.working_dir.as_deref(), Some("/www"));
    assert_eq!(body.env.unwrap(), ["A=1=2"]);
    assert_eq!(body.labels.unwrap()["io.lastbackend.pod"], "p");
    let mut exposed = body.exposed_ports.unwrap();
    exposed.sort();
    assert_eq!(exposed, ["53/tcp", "53/udp", "8080/tcp", "9000/tcp"]);
    let host = body.host_config.unwrap();
    assert_eq!(host.memory, Some(64 << 20));
    assert_eq!(host.nano_cpus, Some(250_000_000));
    assert_eq!(host.binds.unwrap(), ["/srv/data:/data:ro"]);
    assert_eq!(
        host.restart_policy.unwrap().name,
        Some(RestartPolicyNameEnum::ON_FAILURE)
    );
    assert_eq!(host.network_mode.as_deref(), Some("lb"));
    assert_eq!(host.dns.unwrap(), ["10.0.0.2"]);
    assert_eq!(host.extra_hosts.unwrap(), ["db:10.0.0.3"]);
    let bindings = host.port_bindings.unwrap();
    let any_port = PortBinding {
        host_ip: Some("127.0.0.1".into()),
        host_port: Some(String::new()),
    };
    assert_eq!(bindings["8080/tcp"], Some(vec![any_port]));
    assert_eq!(
        bindings["53/udp"].as_ref().unwrap()[0].host_port.as_deref(),
        Some("53")
    );
    assert!(!bindings.contains_key("9000/tcp"), "exposed only");
}

#[test]
fn args_alone_replace_the_image_command() {
    let mut spec = ContainerSpec::new("c", "i");
    spec.args = vec!["-x".into()];
    assert_eq!(create_body(&spec).unwrap().cmd.unwrap(), ["-x"]);
    let empty = create_body(&ContainerSpec::new("c", "i")).unwrap();
    assert_eq!((empty.cmd, empty.entrypoint, empty.env), (None, None, None));
}

#[test]
fn bad_input_names_the_field() {
    let mut joined = spec();
    joined.network = NetworkMode::Container("first".into());
    let err = create_body(&joined).unwrap_err().to_string();
    assert!(err.contains("dns") && err.contains("first"), "{err}");

    let mut relative = ContainerSpec::new("c", "i");
    relative.binds.push(Bind {
        host: "data".into(),
        container: "/data".into(),
        read_only: false,
    });
    assert!(
        create_body(&relative)
            .unwrap_err()
            .to_string()
            .contains("binds")
    );

    let mut env = ContainerSpec::new("c", "i");
    env.env.insert("A=B".into(), "x".into());
    assert!(create_body(&env).unwrap_err().to_string().contains("env"));

    let mut cpu = ContainerSpec::new("c", "i");
    cpu.cpu_millis = Some(u64::MAX);
    assert!(create_body(&cpu).unwrap_err().to_string().contains("cpu"));

    let err = create_body(&ContainerSpec::new("c", "")).unwrap_err();
    assert!(err.to_string().contains("image"), "{err}");
}

#[test]
fn network_modes() {
    let modes = [
        (NetworkMode::Default, None),
        (NetworkMode::Host, Some("host")),
        (NetworkMode::None, Some("none")),
        (NetworkMode::Container("abc".into()), Some("container:abc")),
    ];
    for (mode, want) in modes {
        assert_eq!(network_mode(&mode).as_deref(), want);
    }
    assert_eq!(
        restart_policy(RestartPolicy::Never).name,
        Some(RestartPolicyNameEnum::NO)
    );
}

fn inspected(status: ContainerStateStatusEnum, mode: &str) -> ContainerInspectResponse {
    let endpoint = |ip: &str| EndpointSettings {
        ip_address: Some(ip.into()),
        ..EndpointSettings::default()
    };
    ContainerInspectResponse {
        id: Some("abc".into()),
        name: Some("/web".into()),
        restart_count: Some(3),
        state: Some(DockerState {
            status: Some(status),
            exit_code: Some(137),
            started_at: Some("2026-01-02T03:04:05.123456789Z".into()),
            finished_at: Some("0001-01-01T00:00:00Z".into()),
            ..DockerState::default()
        }),
        config: Some(ContainerConfig {
            image: Some("busybox:offline".into()),
            labels: Some([("k".to_owned(), "v".to_owned())].into()),
            ..ContainerConfig::default()
        }),
        host_config: Some(HostConfig {
            network_mode: Some(mode.into()),
            ..HostConfig::default()
        }),
        network_settings: Some(NetworkSettings {
            networks: Some(
                [
                    ("bridge".to_owned(), endpoint("172.17.0.5")),
                    ("lb".to_owned(), endpoint("10.1.0.7")),
                ]
                .into(),
            ),
            ..NetworkSettings::default()
        }),
        ..ContainerInspectResponse::default()
    }
}

#[test]
fn inspect_maps_state_times_and_address() {
    let info = container_info(inspected(ContainerStateStatusEnum::EXITED, "lb"));
    assert_eq!((info.id.as_str(), info.name.as_str()), ("abc", "web"));
    assert_eq!(info.state, ContainerState::Exited(137));
    assert_eq!(info.restart_count, 3);
    assert_eq!(info.labels["k"], "v");
    assert_eq!(info.image, "busybox:offline");
    assert_eq!(info.ip, Some("10.1.0.7".parse().unwrap()));
    assert_eq!(
        info.started.unwrap().to_rfc3339(),
        "2026-01-02T03:04:05.123456789+00:00"
    );
    assert_eq!(info.finished, None, "Docker's zero time is never");

    let default = container_info(inspected(ContainerStateStatusEnum::RUNNING, "default"));
    assert_eq!(default.state, ContainerState::Running);
    assert_eq!(default.ip, Some("172.17.0.5".parse().unwrap()));
    let joined = container_info(inspected(ContainerStateStatusEnum::CREATED, "container:x"));
    assert_eq!((joined.state, joined.ip), (ContainerState::Created, None));
}
