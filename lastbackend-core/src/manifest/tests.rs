use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::*;

mod proptests;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/manifests/",
            $name
        ))
    };
}

const FIXTURES: [(&str, &str); 12] = [
    ("service-2048.yaml", fixture!("service-2048.yaml")),
    (
        "service-2048-update.yaml",
        fixture!("service-2048-update.yaml"),
    ),
    ("service-endpoint.yaml", fixture!("service-endpoint.yaml")),
    (
        "service-env-secret.yaml",
        fixture!("service-env-secret.yaml"),
    ),
    (
        "service-volume-secret.yaml",
        fixture!("service-volume-secret.yaml"),
    ),
    ("config-file.yaml", fixture!("config-file.yaml")),
    (
        "service-env-config.yaml",
        fixture!("service-env-config.yaml"),
    ),
    (
        "service-volume-config.yaml",
        fixture!("service-volume-config.yaml"),
    ),
    ("namespace.yaml", fixture!("namespace.yaml")),
    ("route.yaml", fixture!("route.yaml")),
    ("volume.yaml", fixture!("volume.yaml")),
    ("secret.yaml", fixture!("secret.yaml")),
];

fn one(text: &str) -> Manifest {
    let mut manifests = parse(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifests.len(), 1);
    manifests.remove(0)
}

fn service(text: &str) -> ServiceManifest {
    match one(text) {
        Manifest::Service(s) => s,
        other => panic!("not a service: {other:?}"),
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_fixture_parses() {
    for (name, text) in FIXTURES {
        let manifests = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(manifests.len(), 1, "{name}");
    }
}

#[test]
fn docs_service_2048() {
    let s = service(fixture!("service-2048.yaml"));
    assert_eq!(s.version, "v1");
    assert_eq!(s.meta.name, "2048");
    assert_eq!(
        s.meta.labels,
        labels(&[("type", "proxy"), ("demo", "test")])
    );
    assert_eq!(
        s.spec.selector,
        SelectorManifest {
            node: None,
            labels: labels(&[("type", "example")]),
        }
    );
    assert_eq!(s.spec.replicas, 2);
    assert_eq!(s.spec.network.ports, ["80:80/tcp"]);
    assert_eq!(s.spec.strategy.kind, StrategyType::Bluegreen);
    let [container] = s.spec.template.containers.as_slice() else {
        panic!("one container")
    };
    assert_eq!(container.name, "nginx");
    assert_eq!(container.image.name, "evilroot/docker-2048");

    let update = service(fixture!("service-2048-update.yaml"));
    assert_eq!(update.spec.replicas, 1);
    let endpoint = service(fixture!("service-endpoint.yaml"));
    assert_eq!(endpoint.spec.network.ports, ["80:8080/tcp"]);
}

#[test]
fn docs_env_from_secret_and_config() {
    let s = service(fixture!("service-env-secret.yaml"));
    let env = &s.spec.template.containers[0].env;
    assert_eq!(
        env.as_slice(),
        [EnvManifest {
            name: "API_TOKEN".into(),
            secret: Some(KeyRefManifest {
                name: "api".into(),
                key: "token".into()
            }),
            ..EnvManifest::default()
        }]
    );
    let s = service(fixture!("service-env-config.yaml"));
    let env = &s.spec.template.containers[0].env[0];
    assert_eq!(
        env.config.as_ref().map(|c| c.key.as_str()),
        Some("log-level")
    );
    assert_eq!((env.value.as_ref(), env.secret.as_ref()), (None, None));
}

#[test]
fn docs_volumes_from_secret_and_config_with_volume_alias() {
    let s = service(fixture!("service-volume-secret.yaml"));
    let mounts = &s.spec.template.containers[0].volumes;
    assert_eq!(
        mounts.as_slice(),
        [VolumeMountManifest {
            name: "keys".into(),
            path: "/etc/keys".into(),
            ..VolumeMountManifest::default()
        }]
    );
    assert_eq!(
        s.spec.template.volumes,
        [TemplateVolumeManifest {
            name: "keys".into(),
            secret: Some(FilesSourceManifest {
                name: "ssh".into(),
                files: vec!["id_rsa".into()],
                binds: vec![],
            }),
            ..TemplateVolumeManifest::default()
        }]
    );
    let s = service(fixture!("service-volume-config.yaml"));
    let volume = &s.spec.template.volumes[0];
    assert_eq!(
        volume.config.as_ref().map(|c| c.files.clone()),
        Some(vec!["config.yml".into()])
    );
    // Written back, the alias becomes the canonical `volumes`.
    let yaml = yaml_serde::to_string(&Manifest::Service(s)).unwrap();
    assert!(
        yaml.contains("      volumes:\n      - name: config\n        path: /etc/lastbackend"),
        "{yaml}"
    );
}

#[test]
fn docs_config_with_files_resolves_through_the_callers_io() {
    let Manifest::Config(mut config) = one(fixture!("config-file.yaml")) else {
        panic!("a config")
    };
    assert_eq!(config.spec.kind, ConfigType::File);
    assert_eq!(
        config.spec.data,
        [ConfigEntryManifest {
            key: "config.yml".into(),
            value: None,
            file: Some("./contrib/config.yml".into()),
        }]
    );
    let mut read = Vec::new();
    config
        .resolve_files(Path::new("/srv/app"), |path| {
            read.push(path.to_owned());
            Ok("debug: true\n".into())
        })
        .unwrap();
    assert_eq!(read, [PathBuf::from("/srv/app/./contrib/config.yml")]);
    assert_eq!(config.spec.data[0].value.as_deref(), Some("debug: true\n"));
    assert_eq!(config.spec.data[0].file, None);

    let mut missing = one(fixture!("config-file.yaml"));
    let err = missing
        .resolve_files(Path::new("/srv"), |_| Err(io::ErrorKind::NotFound.into()))
        .unwrap_err();
    assert_eq!(
        (err.config.as_str(), err.key.as_str()),
        ("lastbackend", "config.yml")
    );
}

#[test]
fn config_data_as_a_map() {
    let Manifest::Config(config) = one(
        "kind: config\nversion: v1\nmeta: {name: app}\nspec:\n  data:\n    port: 8080\n    mode: fast\n",
    ) else {
        panic!("a config")
    };
    assert_eq!(config.spec.kind, ConfigType::Text);
    let data: Vec<_> = config
        .spec
        .data
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_deref()))
        .collect();
    assert_eq!(data, [("port", Some("8080")), ("mode", Some("fast"))]);
}

#[test]
fn other_fixtures() {
    let Manifest::Namespace(ns) = one(fixture!("namespace.yaml")) else {
        panic!("a namespace")
    };
    assert_eq!(ns.spec.domain.external.as_deref(), Some("demo.lstbknd.io"));
    assert_eq!(ns.spec.resources.limits.cpu.as_deref(), Some("2"));
    assert_eq!(ns.spec.resources.request.storage.as_deref(), Some("10gib"));

    let Manifest::Route(route) = one(fixture!("route.yaml")) else {
        panic!("a route")
    };
    assert_eq!(route.meta.name, "2048");
    assert_eq!(
        route.spec.rules,
        [RouteRuleManifest {
            service: "2048".into(),
            path: "/".into(),
            port: Some(80),
        }]
    );

    let Manifest::Volume(volume) = one(fixture!("volume.yaml")) else {
        panic!("a volume")
    };
    assert_eq!(volume.spec.kind, VolumeType::Dir);
    assert_eq!(volume.spec.capacity.storage.as_deref(), Some("1gib"));
    assert_eq!(volume.spec.access_mode, Some(AccessMode::Rwo));

    let Manifest::Secret(secret) = one(fixture!("secret.yaml")) else {
        panic!("a secret")
    };
    assert_eq!(secret.spec.kind, SecretType::Auth);
    assert_eq!(
        secret.spec.data,
        labels(&[("username", "deploy"), ("password", "s3cret")])
    );
}

#[test]
fn defaults() {
    let s = service(
        "kind: Service\nversion: v1\nmeta: {name: web}\nspec:\n  template:\n    containers: [{name: web, image: {name: nginx}}]\n",
    );
    assert_eq!(s.spec.replicas, 1);
    assert_eq!(s.spec.strategy, StrategyManifest::default());
    let Manifest::Route(r) = one(
        "kind: Route\nversion: v1\nmeta: {name: web}\nspec: {rules: [{service: web, port: 8080}]}\n",
    ) else {
        panic!("a route")
    };
    assert_eq!((r.spec.port, r.spec.rules[0].path.as_str()), (80, "/"));
    let Manifest::Secret(s) = one("kind: SECRET\nversion: v1\nmeta: {name: s}\n") else {
        panic!("a secret")
    };
    assert_eq!(s.spec.kind, SecretType::Opaque);
}

#[test]
fn route_tls_and_tcp() {
    let route = |spec: &str| {
        let Manifest::Route(r) = one(&format!(
            "kind: Route\nversion: v1\nmeta: {{name: web}}\nspec:\n{spec}"
        )) else {
            panic!("a route")
        };
        r.spec
    };
    let rule = "  rules: [{service: web, port: 8443}]\n";
    let spec = route(&format!("  port: 443\n  tls: {{secret: web-tls}}\n{rule}"));
    assert_eq!(
        spec.tls,
        Some(RouteTlsManifest {
            secret: Some("web-tls".into()),
            passthrough: false,
        })
    );
    assert!(!spec.tcp);
    let spec = route(&format!("  tls:\n    passthrough: true\n{rule}"));
    assert_eq!(
        spec.tls.map(|t| (t.secret, t.passthrough)),
        Some((None, true))
    );
    let spec = route(&format!("  port: 5432\n  tcp: true\n{rule}"));
    assert_eq!((spec.tls, spec.tcp), (None, true));
    // Absent keys stay absent when written back.
    let yaml = yaml_serde::to_string(&route(rule)).unwrap();
    assert!(!yaml.contains("tls") && !yaml.contains("tcp"), "{yaml}");
}

#[test]
fn container_fields_in_both_spellings() {
    let s = service(
        r#"
kind: Service
version: v1
meta: {name: web}
spec:
  strategy: {type: rolling, max_surge: 2, max_unavailable: "25%"}
  template:
    containers:
      - name: web
        image: {name: nginx, sha: "sha256:abc", secret: {name: registry, key: auth}}
        command: nginx -g  'daemon off;'
        entrypoint: [/bin/sh, -c]
        workdir: /srv
        args: [--port, 8080]
        ports: ["8080/tcp"]
        env: [{name: PORT, value: 8080}]
        resources:
          limits: {ram: 512mib, cpu: 1}
          quota: {ram: 128mib, cpu: 0.5}
        restart: {policy: on-failure, attempt: 3}
        security: {privileged: true}
        dns: {server: [10.0.0.2], search: [lb.local]}
        extra_hosts: ["db:10.0.0.3"]
"#,
    );
    assert_eq!(s.spec.strategy.kind, StrategyType::Rolling);
    assert_eq!(s.spec.strategy.max_surge, Some(IntOrString::Int(2)));
    assert_eq!(
        s.spec
            .strategy
            .max_unavailable
            .as_ref()
            .and_then(IntOrString::percent),
        Some(25)
    );
    let c = &s.spec.template.containers[0];
    assert_eq!(c.command, ["nginx", "-g", "'daemon", "off;'"]);
    assert_eq!(c.entrypoint, ["/bin/sh", "-c"]);
    assert_eq!(c.args, ["--port", "8080"]);
    assert_eq!(c.env[0].value.as_deref(), Some("8080"));
    assert_eq!(c.resources.request.cpu.as_deref(), Some("0.5"));
    assert_eq!(c.resources.limits.ram.as_deref(), Some("512mib"));
    assert_eq!(
        c.restart,
        Some(RestartManifest {
            policy: RestartPolicy::OnFailure,
            attempt: Some(3)
        })
    );
    assert!(c.security.privileged);
    assert_eq!(c.dns.server, ["10.0.0.2"]);
}

const ALL_KINDS: &str = r#"
kind: Namespace
version: v1
meta: {name: demo}
---
kind: Secret
version: v1
meta: {name: registry}
spec: {type: auth, data: {username: u, password: p}}
---
---
kind: Config
version: v1
meta: {name: app}
spec: {data: {mode: fast}}
---
kind: Volume
version: v1
meta: {name: data}
---
kind: Service
version: v1
meta: {name: web}
spec:
  template:
    containers: [{name: web, image: {name: nginx}, volumes: [{name: data, path: /data}]}]
    volumes: [{name: data, volume: {name: data}}]
---
kind: Route
version: v1
meta: {name: web}
spec: {rules: [{service: web, port: 80}]}
"#;

#[test]
fn multi_document_with_every_kind_skips_empty_documents() {
    let manifests = parse(ALL_KINDS).unwrap();
    let kinds: Vec<_> = manifests.iter().map(Manifest::kind).collect();
    use ManifestKind as K;
    assert_eq!(
        kinds,
        [
            K::Namespace,
            K::Secret,
            K::Config,
            K::Volume,
            K::Service,
            K::Route
        ]
    );
    assert_eq!(parse("").unwrap(), []);
    assert_eq!(parse("---\n---\n").unwrap(), []);
}

#[test]
fn documents_are_numbered_as_written_including_empty_ones() {
    let text = ALL_KINDS.replace(
        "spec: {rules: [{service: web, port: 80}]}",
        "spec: {rules: []}",
    );
    let err = parse(&text).unwrap_err();
    assert_eq!(err.errors.len(), 1, "{err}");
    assert_eq!(
        err.to_string(),
        "document 7 (Route web): spec.rules: at least one rule is required"
    );
}

#[test]
fn json_object_and_array() {
    let yaml = parse(ALL_KINDS).unwrap();
    let json_array = serde_json::to_string_pretty(&yaml).unwrap();
    assert_eq!(parse(&json_array).unwrap(), yaml);
    let json_object = serde_json::to_string(&yaml[4]).unwrap();
    assert!(
        json_object.starts_with(r#"{"kind":"Service""#),
        "{json_object}"
    );
    assert_eq!(parse(&json_object).unwrap(), [yaml[4].clone()]);
    // Tabs are fine in JSON, though YAML forbids them as indentation.
    let tabbed = json_array.replace("  ", "\t");
    assert_eq!(parse(&tabbed).unwrap(), yaml);
}

#[test]
fn manifest_serde_is_strict_but_does_not_validate() {
    let m: Manifest =
        serde_json::from_str(r#"{"kind":"route","meta":{"name":"Not A Label"}}"#).unwrap();
    assert_eq!((m.kind(), m.name()), (ManifestKind::Route, "Not A Label"));
    assert!(m.validate().is_err());
    let err = serde_json::from_str::<Manifest>(r#"{"kind":"Route","spec":{"prot":1}}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("spec.prot: unknown field `prot`, did you mean `port`?"),
        "{err}"
    );
    let err = serde_json::from_str::<Manifest>(r#"{"kind":"Job"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("kind: unknown kind \"Job\""), "{err}");
}

/// The problems of `text` as `(path, reason)`.
fn problems(text: &str) -> Vec<(String, String)> {
    match parse(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors.into_iter().map(|e| (e.path, e.reason)).collect(),
    }
}

fn service_with(spec: &str) -> String {
    format!("kind: Service\nversion: v1\nmeta: {{name: web}}\nspec:\n{spec}")
}

const WEB: &str = "  template:\n    containers:\n      - name: web\n        image: {name: nginx}\n";

fn container_with(fields: &str) -> String {
    service_with(&format!("{WEB}{fields}"))
}

/// A route with one rule and `spec` (flow-style keys) beside it.
fn route_with(spec: &str) -> String {
    format!(
        "kind: Route\nversion: v1\nmeta: {{name: r}}\nspec: {{{spec}, rules: [{{service: web, port: 443}}]}}\n"
    )
}

const TWO_RULES: &str = "{service: web, port: 80}, {service: api, port: 80, path: /api}";

#[test]
fn validation_table() {
    let label = |value: &str| format!("{value:?} {DNS_LABEL_MESSAGE}");
    let cases: Vec<(String, &str, String)> = vec![
        (
            "kind: Service\nversion: v1\nmeta: {name: Web_1}\nspec:\n".to_owned() + WEB,
            "meta.name",
            label("Web_1"),
        ),
        (
            "kind: Service\nversion: v1\nspec:\n".to_owned() + WEB,
            "meta.name",
            "required".into(),
        ),
        (
            "kind: Secret\nversion: v2\nmeta: {name: s}\n".into(),
            "version",
            "unsupported version \"v2\"; expected v1".into(),
        ),
        (
            "kind: Secret\nmeta: {name: s}\n".into(),
            "version",
            "required; the supported version is v1".into(),
        ),
        (
            "version: v1\nmeta: {name: s}\n".into(),
            "kind",
            format!("required: one of {}", ManifestKind::NAMES),
        ),
        (
            "kind: Job\nversion: v1\nmeta: {name: s}\n".into(),
            "kind",
            format!("unknown kind \"Job\"; expected one of {}", ManifestKind::NAMES),
        ),
        (
            "kind: Secret\nversion: v1\nmeta: {name: s, labels: {\"-x\": y}}\n".into(),
            "meta.labels",
            "invalid label key \"-x\": use letters, digits, '-', '_', '.' and '/', starting and \
             ending with a letter or digit, at most 253 characters"
                .into(),
        ),
        (
            service_with("  template: {containers: []}\n"),
            "spec.template.containers",
            "at least one container is required".into(),
        ),
        (
            service_with("  replicas: 10001\n") + WEB,
            "spec.replicas",
            "must be at most 10000".into(),
        ),
        (
            service_with(&format!("{WEB}      - name: web\n        image: {{name: redis}}\n")),
            "spec.template.containers[1].name",
            "duplicate name \"web\"".into(),
        ),
        (
            service_with("  template:\n    containers: [{name: web}]\n"),
            "spec.template.containers[0].image.name",
            "required".into(),
        ),
        (
            service_with("  template:\n    containers: [{name: Web, image: {name: x}}]\n"),
            "spec.template.containers[0].name",
            label("Web"),
        ),
        (
            service_with("  network: {ports: [\"80:99999\"]}\n") + WEB,
            "spec.network.ports[0]",
            "80:99999".parse::<crate::units::PortMapping>().unwrap_err().to_string(),
        ),
        (
            service_with("  network: {ip: 10.0.0.300}\n") + WEB,
            "spec.network.ip",
            "invalid IP address \"10.0.0.300\"".into(),
        ),
        (
            container_with("        ports: [\"0\"]\n"),
            "spec.template.containers[0].ports[0]",
            "0".parse::<crate::units::PortMapping>().unwrap_err().to_string(),
        ),
        (
            container_with("        resources: {limits: {ram: lots}}\n"),
            "spec.template.containers[0].resources.limits.ram",
            "lots".parse::<crate::units::Ram>().unwrap_err().to_string(),
        ),
        (
            container_with("        resources: {request: {cpu: fast}}\n"),
            "spec.template.containers[0].resources.request.cpu",
            "fast".parse::<crate::units::Cpu>().unwrap_err().to_string(),
        ),
        (
            container_with("        resources: {limits: {ram: 128mib}, quota: {ram: 1gib}}\n"),
            "spec.template.containers[0].resources.request.ram",
            format!(
                "{} is more than the limit {}",
                "1gib".parse::<crate::units::Ram>().unwrap(),
                "128mib".parse::<crate::units::Ram>().unwrap()
            ),
        ),
        (
            container_with("        env: [{name: A}]\n"),
            "spec.template.containers[0].env[0]",
            "one of value, secret or config is required".into(),
        ),
        (
            container_with("        env: [{name: A, value: x, config: {name: c, key: k}}]\n"),
            "spec.template.containers[0].env[0]",
            "only one of value, secret or config may be set".into(),
        ),
        (
            container_with("        env: [{name: 1A, value: x}]\n"),
            "spec.template.containers[0].env[0].name",
            "invalid variable name \"1A\": use letters, digits, '_', '-' and '.', not starting \
             with a digit"
                .into(),
        ),
        (
            container_with("        env: [{name: A, secret: {name: My_Secret, key: k}}]\n"),
            "spec.template.containers[0].env[0].secret.name",
            label("My_Secret"),
        ),
        (
            container_with("        volumes: [{name: data, path: /data}]\n"),
            "spec.template.containers[0].volumes[0].name",
            "no volume \"data\" in spec.template.volumes".into(),
        ),
        (
            container_with(
                "        volumes: [{name: data, path: data}]\n    volumes: [{name: data, volume: {name: data}}]\n",
            ),
            "spec.template.containers[0].volumes[0].path",
            "\"data\" must be an absolute path".into(),
        ),
        (
            service_with(&format!("{WEB}    volumes: [{{name: data, volume: {{name: d}}}}, {{name: data, config: {{name: c}}}}]\n")),
            "spec.template.volumes[1].name",
            "duplicate name \"data\"".into(),
        ),
        (
            service_with(&format!("{WEB}    volumes: [{{name: data}}]\n")),
            "spec.template.volumes[0]",
            "one of volume, secret or config is required".into(),
        ),
        (
            service_with(&format!(
                "{WEB}    volumes: [{{name: data, secret: {{name: s}}, config: {{name: c}}}}]\n"
            )),
            "spec.template.volumes[0]",
            "only one of volume, secret or config may be set".into(),
        ),
        (
            service_with("  strategy: {type: rolling, max_surge: 150%}\n") + WEB,
            "spec.strategy.max_surge",
            "must be an integer or a percentage from 0% to 100%, found \"150%\"".into(),
        ),
        (
            service_with("  strategy: {max_unavailable: half}\n") + WEB,
            "spec.strategy.max_unavailable",
            "must be an integer or a percentage from 0% to 100%, found \"half\"".into(),
        ),
        (
            "kind: Route\nversion: v1\nmeta: {name: r}\n".into(),
            "spec.rules",
            "at least one rule is required".into(),
        ),
        (
            "kind: Route\nversion: v1\nmeta: {name: r}\nspec: {rules: [{service: web, port: 70000}]}\n".into(),
            "spec.rules[0].port",
            "port must be between 1 and 65535, found 70000".into(),
        ),
        (
            "kind: Route\nversion: v1\nmeta: {name: r}\nspec: {rules: [{service: web}]}\n".into(),
            "spec.rules[0].port",
            "required".into(),
        ),
        (
            "kind: Route\nversion: v1\nmeta: {name: r}\nspec: {rules: [{service: web, port: 80, path: api}]}\n".into(),
            "spec.rules[0].path",
            "\"api\" must start with '/'".into(),
        ),
        (
            "kind: Route\nversion: v1\nmeta: {name: r}\nspec: {port: 0, rules: [{service: web, port: 80}]}\n".into(),
            "spec.port",
            "port must be between 1 and 65535, found 0".into(),
        ),
        (
            "kind: Route\nversion: v1\nmeta: {name: r}\nspec: {endpoint: \"a..b\", rules: [{service: web, port: 80}]}\n".into(),
            "spec.endpoint",
            "\"a..b\" is not a host name: dot-separated DNS-1123 labels".into(),
        ),
        (
            route_with("tls: {secret: web, passthrough: true}"),
            "spec.tls",
            "give a secret (terminate TLS) or passthrough (pass it through), not both".into(),
        ),
        (
            route_with("tls: {}"),
            "spec.tls",
            "name a secret to terminate TLS with, or set passthrough: true".into(),
        ),
        (
            route_with("tls: {secret: Web_TLS}"),
            "spec.tls.secret",
            label("Web_TLS"),
        ),
        (
            route_with("tls: {secret: \"\"}"),
            "spec.tls.secret",
            "required".into(),
        ),
        (
            route_with("tls: {secret: web, pasthrough: true}"),
            "spec.tls.pasthrough",
            "unknown field `pasthrough`, did you mean `passthrough`?".into(),
        ),
        (
            route_with("tcp: true, tls: {secret: web}"),
            "spec.tcp",
            "not with spec.tls: a route is plain TCP or TLS, not both".into(),
        ),
        (
            route_with("tcp: true, tls: {passthrough: true}"),
            "spec.tcp",
            "not with spec.tls: a route is plain TCP or TLS, not both".into(),
        ),
        (
            format!(
                "kind: Route\nversion: v1\nmeta: {{name: r}}\nspec: {{tcp: true, rules: [{TWO_RULES}]}}\n"
            ),
            "spec.rules",
            "a TCP route sends everything to one service: give one rule, found 2".into(),
        ),
        (
            format!(
                "kind: Route\nversion: v1\nmeta: {{name: r}}\nspec: {{tls: {{passthrough: true}}, rules: [{TWO_RULES}]}}\n"
            ),
            "spec.rules",
            "a TLS passthrough route sends everything to one service: give one rule, found 2"
                .into(),
        ),
        (
            route_with("tcp: yes"),
            "spec.tcp",
            "invalid type: string \"yes\", expected a boolean".into(),
        ),
        (
            "kind: Secret\nversion: v1\nmeta: {name: s}\nspec: {type: auth, data: {username: u}}\n".into(),
            "spec.data",
            "an auth secret needs the key \"password\"".into(),
        ),
        (
            "kind: Config\nversion: v1\nmeta: {name: c}\nspec: {data: [{key: a}]}\n".into(),
            "spec.data[0]",
            "one of value or file is required".into(),
        ),
        (
            "kind: Config\nversion: v1\nmeta: {name: c}\nspec: {data: [{key: a, value: x}, {key: a, file: f}]}\n".into(),
            "spec.data[1].key",
            "duplicate key \"a\"".into(),
        ),
        (
            "kind: Volume\nversion: v1\nmeta: {name: v}\nspec: {capacity: {storage: huge}}\n".into(),
            "spec.capacity.storage",
            "huge".parse::<crate::units::Ram>().unwrap_err().to_string(),
        ),
        (
            "kind: Namespace\nversion: v1\nmeta: {name: n}\nspec: {resources: {limits: {cpu: -1}}}\n".into(),
            "spec.resources.limits.cpu",
            "-1".parse::<crate::units::Cpu>().unwrap_err().to_string(),
        ),
        (
            service_with("  replicas: -1\n") + WEB,
            "spec.replicas",
            "invalid value: integer `-1`, expected u32".into(),
        ),
        (
            service_with("  strategy: {type: canary}\n") + WEB,
            "spec.strategy.type",
            "unknown variant `canary`, expected `bluegreen` or `rolling`".into(),
        ),
        (
            "kind: Service\nversion: v1\nmeta: {name: web}\nspec:\n  replica: 2\n".to_owned() + WEB,
            "spec.replica",
            "unknown field `replica`, did you mean `replicas`?".into(),
        ),
        (
            container_with("        imagePullPolicy: always\n"),
            "spec.template.containers[0].imagePullPolicy",
            "unknown field `imagePullPolicy`".into(),
        ),
        (
            "- 1\n".into(),
            "",
            "expected a mapping with kind, version, meta and spec, found a number".into(),
        ),
    ];
    for (text, path, reason) in cases {
        let found = problems(&text);
        assert!(
            found.contains(&(path.to_owned(), reason.clone())),
            "expected {path}: {reason}\nin {found:#?}\nfor\n{text}"
        );
        assert_eq!(
            found.len(),
            1,
            "only one problem expected in {found:#?}\nfor\n{text}"
        );
    }
}

#[test]
fn syntax_errors_name_line_and_column() {
    let err = parse("kind: Secret\nversion: v1\nmeta: {name: s}\n---\nkind: Secret\n  bad: [\n")
        .unwrap_err();
    let [error] = err.errors.as_slice() else {
        panic!("{err}")
    };
    assert_eq!((error.document, error.path.as_str()), (2, ""));
    assert!(
        error.reason.starts_with("invalid YAML: "),
        "{}",
        error.reason
    );
    assert!(error.reason.contains("line 6 column"), "{}", error.reason);

    let err = parse("{\"kind\": \"Secret\",\n \"meta\": [}").unwrap_err();
    assert!(err.errors[0].reason.starts_with("invalid JSON: "), "{err}");
    assert!(err.errors[0].reason.contains("line 2 column"), "{err}");
}

#[test]
fn many_problems_in_one_error() {
    let text = r#"
kind: Service
version: v1
meta:
  name: Web
  lables: {a: b}
spec:
  replica: 3
  network: {ports: ["80:http"]}
  template:
    containers:
      - name: web
        imag: {name: nginx}
        env: [{name: A}]
        volumes: [{name: data, path: data}]
      - name: web
        image: {name: nginx}
---
kind: Secret
version: v1
meta: {name: s}
---
kind: Secret
version: v1
meta: {name: s}
spec: {type: auth}
"#;
    let err = parse(text).unwrap_err();
    let got: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
    let port_error = "80:http".parse::<crate::units::PortMapping>().unwrap_err();
    let expected = [
        "document 1 (Service Web): meta.lables: unknown field `lables`, did you mean `labels`?"
            .to_owned(),
        "document 1 (Service Web): spec.replica: unknown field `replica`, did you mean `replicas`?"
            .into(),
        "document 1 (Service Web): spec.template.containers[0].imag: unknown field `imag`, did you mean `image`?"
            .into(),
        format!("document 1 (Service Web): meta.name: \"Web\" {DNS_LABEL_MESSAGE}"),
        format!("document 1 (Service Web): spec.network.ports[0]: {port_error}"),
        "document 1 (Service Web): spec.template.containers[0].image.name: required".into(),
        "document 1 (Service Web): spec.template.containers[0].env[0]: one of value, secret or config is required".into(),
        "document 1 (Service Web): spec.template.containers[0].volumes[0].name: no volume \"data\" in spec.template.volumes".into(),
        "document 1 (Service Web): spec.template.containers[0].volumes[0].path: \"data\" must be an absolute path".into(),
        "document 1 (Service Web): spec.template.containers[1].name: duplicate name \"web\"".into(),
        "document 3 (Secret s): spec.data: an auth secret needs the key \"username\"".into(),
        "document 3 (Secret s): spec.data: an auth secret needs the key \"password\"".into(),
        "document 3 (Secret s): meta.name: duplicate Secret \"s\", first declared in document 2"
            .into(),
    ];
    assert_eq!(got, expected);
}

#[test]
fn same_name_in_different_kinds_is_fine() {
    let text = "kind: Service\nversion: v1\nmeta: {name: web}\nspec:\n".to_owned()
        + WEB
        + "---\nkind: Route\nversion: v1\nmeta: {name: web}\nspec: {rules: [{service: web, port: 80}]}\n";
    assert_eq!(parse(&text).unwrap().len(), 2);
}

#[test]
fn validate_all_numbers_documents_by_position() {
    let manifests = parse(ALL_KINDS).unwrap();
    assert_eq!(validate_all(&manifests), Ok(()));
    let mut twice = manifests.clone();
    twice.push(manifests[0].clone());
    let err = validate_all(&twice).unwrap_err();
    assert_eq!(
        err.to_string(),
        "document 7 (Namespace demo): meta.name: duplicate Namespace \"demo\", first declared in document 1"
    );
}

#[test]
fn dns_labels() {
    for good in ["a", "2048", "web-1", &"a".repeat(63)] {
        assert!(is_dns_label(good), "{good}");
    }
    for bad in ["", "-a", "a-", "A", "a_b", "a.b", "é", &"a".repeat(64)] {
        assert!(!is_dns_label(bad), "{bad}");
    }
}

#[test]
fn suggestions_are_only_for_close_names() {
    use known_fields::suggest;
    let known = ["replicas", "selector", "network", "strategy", "template"];
    assert_eq!(suggest("replica", &known), Some("replicas"));
    assert_eq!(suggest("Selector", &known), Some("selector"));
    assert_eq!(suggest("templates", &known), Some("template"));
    assert_eq!(suggest("zzz", &known), None);
    assert_eq!(suggest("x", &known), None);
    assert_eq!(suggest("prot", &["port", "endpoint"]), Some("port"));
}

#[test]
fn hostile_input_is_an_error_not_a_crash() {
    let deep_json = "[".repeat(100_000);
    assert_eq!(
        parse(&deep_json).unwrap_err().to_string(),
        "document 1: brackets nested deeper than 1024 levels"
    );
    let nested_200 = "[".repeat(200) + &"]".repeat(200);
    let err = parse(&nested_200).unwrap_err().to_string();
    assert!(err.contains("recursion limit exceeded"), "{err}");
    let deep_yaml = "a:\n".to_owned() + &"- ".repeat(10_000) + "x\n";
    let err = parse(&deep_yaml).unwrap_err().to_string();
    assert!(err.contains("recursion limit exceeded"), "{err}");
    let mut laughs = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for pair in ["ab", "bc", "cd", "de", "ef", "fg", "gh", "hi"].map(str::as_bytes) {
        let (prev, name) = (pair[0] as char, pair[1] as char);
        let refs = vec![format!("*{prev}"); 9].join(", ");
        laughs.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let err = parse(&laughs).unwrap_err().to_string();
    assert!(err.contains("repetition limit exceeded"), "{err}");
}

#[test]
fn probes_convert_and_bad_ones_name_their_field() {
    let text = container_with(
        "        probes:\n          liveness: {http: {port: 8080, path: /healthz}, period: 5}\n          readiness: {exec: {command: [cat, /tmp/ready]}}\n",
    );
    let service = service(&text);
    let probes = service.spec.template.containers[0].probes.clone().unwrap();
    let liveness = probes.liveness.unwrap();
    assert_eq!(
        liveness.action,
        crate::model::ProbeAction::Http {
            port: 8080,
            path: "/healthz".into()
        }
    );
    assert_eq!(
        (
            liveness.period,
            liveness.timeout,
            liveness.failure_threshold
        ),
        (5, 1, 3)
    );
    let spec = crate::api::service_spec(&service).unwrap();
    assert!(spec.template.containers[0].probes.readiness.is_some());

    let bad = container_with(
        "        probes:\n          liveness: {tcp: {port: 0}, period: 0}\n          readiness: {exec: {command: []}}\n",
    );
    let found = problems(&bad);
    let at = |path: &str| found.iter().any(|(p, _)| p == path);
    let base = "spec.template.containers[0].probes";
    assert!(at(&format!("{base}.liveness.tcp.port")), "{found:?}");
    assert!(at(&format!("{base}.liveness.period")), "{found:?}");
    assert!(at(&format!("{base}.readiness.exec.command")), "{found:?}");
}
