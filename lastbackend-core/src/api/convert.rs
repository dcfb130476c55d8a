//! Manifests to entity specs. Validation has run before, but nothing here
//! trusts it: a value that does not convert is [`ApiError::Invalid`] with
//! its field path, never a panic.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use super::{ApiError, Result};
use crate::manifest::{
    self, ConfigManifest, ContainerManifest, EnvManifest, FilesSourceManifest, IntOrString,
    ManifestMeta, NamespaceManifest, QuotaManifest, ResourceValuesManifest, RouteManifest,
    SecretManifest, SelectorManifest, ServiceManifest, StrategyManifest, TemplateManifest,
    TemplateVolumeManifest, VolumeManifest,
};
use crate::model::{
    AccessMode, ConfigSpec, ConfigType, Container, ContainerResources, Dns, EnvSource, EnvVar,
    Exec, FilesRef, Image, KeyRef, Meta, NamespaceDomain, NamespaceResources, NamespaceSpec,
    Resources, Restart, RestartPolicy, RouteRule, RouteSelector, RouteSpec, RouteTls, Scale,
    SecretSpec, SecretType, Security, Selector, SelfLink, ServiceNetwork, ServiceSpec, Strategy,
    StrategyKind, Template, TemplateVolume, VolumeMount, VolumeRef, VolumeSource, VolumeSpec,
    VolumeType,
};
use crate::units::{Cpu, PortMapping, Ram};

/// Parses `value` found at `path`, or says why it is invalid there.
fn parse_at<T: FromStr>(path: &str, value: &str) -> Result<T>
where
    T::Err: Display,
{
    value
        .parse()
        .map_err(|e: T::Err| ApiError::invalid(path, e.to_string()))
}

fn optional<T: FromStr>(path: &str, value: Option<&str>) -> Result<Option<T>>
where
    T::Err: Display,
{
    value.map(|v| parse_at(path, v)).transpose()
}

/// Meta of a new object from a manifest's `meta`, created now.
pub(crate) fn meta(m: &ManifestMeta, link: &SelfLink) -> Meta {
    let mut meta = Meta::new(link.name(), link);
    meta.description = m.description.clone().unwrap_or_default();
    meta.labels = m.labels.clone();
    meta
}

/// Whether a stored object's meta already says what the manifest says.
pub(crate) fn same_meta(stored: &Meta, m: &ManifestMeta) -> bool {
    stored.description == m.description.clone().unwrap_or_default() && stored.labels == m.labels
}

/// Takes the manifest's description and labels into a stored meta.
pub(crate) fn update_meta(stored: &mut Meta, m: &ManifestMeta) {
    stored.description = m.description.clone().unwrap_or_default();
    stored.labels = m.labels.clone();
}

/// A namespace's spec.
pub fn namespace_spec(m: &NamespaceManifest) -> Result<NamespaceSpec> {
    Ok(NamespaceSpec {
        domain: NamespaceDomain {
            internal: m.spec.domain.internal.clone().unwrap_or_default(),
            external: m.spec.domain.external.clone().unwrap_or_default(),
        },
        resources: NamespaceResources {
            request: quota("spec.resources.request", &m.spec.resources.request)?,
            limits: quota("spec.resources.limits", &m.spec.resources.limits)?,
        },
    })
}

fn quota(path: &str, q: &QuotaManifest) -> Result<Resources> {
    Ok(Resources {
        ram: optional(&format!("{path}.ram"), q.ram.as_deref())?,
        cpu: optional(&format!("{path}.cpu"), q.cpu.as_deref())?,
        storage: optional(&format!("{path}.storage"), q.storage.as_deref())?,
    })
}

/// A service's spec, at generation 0 (the caller sets it).
pub fn service_spec(m: &ServiceManifest) -> Result<ServiceSpec> {
    let spec = &m.spec;
    Ok(ServiceSpec {
        replicas: spec.replicas,
        state: Default::default(),
        network: ServiceNetwork {
            ip: optional("spec.network.ip", spec.network.ip.as_deref())?,
            ports: spec
                .network
                .ports
                .iter()
                .enumerate()
                .map(|(i, p)| parse_at::<PortMapping>(&format!("spec.network.ports[{i}]"), p))
                .collect::<Result<_>>()?,
        },
        strategy: strategy(&spec.strategy)?,
        selector: selector(&spec.selector),
        template: template(&spec.template)?,
        generation: 0,
    })
}

fn selector(m: &SelectorManifest) -> Selector {
    Selector {
        node: m.node.clone(),
        labels: m.labels.clone(),
    }
}

fn strategy(m: &StrategyManifest) -> Result<Strategy> {
    let scale = |name: &str, v: Option<&IntOrString>, default: Scale| -> Result<Scale> {
        match v {
            None => Ok(default),
            Some(IntOrString::Int(n)) => Ok(Scale::Count(*n)),
            Some(s) => s
                .percent()
                .and_then(|p| u8::try_from(p).ok())
                .filter(|p| *p <= 100)
                .map(Scale::Percent)
                .ok_or_else(|| {
                    ApiError::invalid(
                        format!("spec.strategy.{name}"),
                        "must be an integer or a percentage from 0% to 100%",
                    )
                }),
        }
    };
    let default = Strategy::default();
    Ok(Strategy {
        kind: match m.kind {
            manifest::StrategyType::Bluegreen => StrategyKind::BlueGreen,
            manifest::StrategyType::Rolling => StrategyKind::Rolling,
        },
        max_surge: scale("max_surge", m.max_surge.as_ref(), default.max_surge)?,
        max_unavailable: scale(
            "max_unavailable",
            m.max_unavailable.as_ref(),
            default.max_unavailable,
        )?,
    })
}

fn template(m: &TemplateManifest) -> Result<Template> {
    Ok(Template {
        containers: m
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| container(&format!("spec.template.containers[{i}]"), c))
            .collect::<Result<_>>()?,
        volumes: m.volumes.iter().map(template_volume).collect(),
    })
}

fn container(path: &str, c: &ContainerManifest) -> Result<Container> {
    Ok(Container {
        name: c.name.clone(),
        image: Image {
            name: c.image.name.clone(),
            sha: c.image.sha.clone(),
            secret: c.image.secret.as_ref().map(|r| KeyRef {
                name: r.name.clone(),
                key: r.key.clone(),
            }),
        },
        ports: c
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| parse_at::<PortMapping>(&format!("{path}.ports[{i}]"), p))
            .collect::<Result<_>>()?,
        env: c
            .env
            .iter()
            .enumerate()
            .map(|(i, e)| env(&format!("{path}.env[{i}]"), e))
            .collect::<Result<_>>()?,
        resources: ContainerResources {
            limits: values(&format!("{path}.resources.limits"), &c.resources.limits)?,
            request: values(&format!("{path}.resources.request"), &c.resources.request)?,
        },
        exec: Exec {
            command: c.command.clone(),
            entrypoint: c.entrypoint.clone(),
            workdir: c.workdir.clone(),
            args: c.args.clone(),
        },
        volumes: c
            .volumes
            .iter()
            .map(|v| VolumeMount {
                name: v.name.clone(),
                path: v.path.clone(),
                mode: v.mode.map(|m| {
                    match m {
                        manifest::MountMode::Rw => "rw",
                        manifest::MountMode::Ro => "ro",
                    }
                    .to_owned()
                }),
                sub_path: v.sub_path.clone(),
            })
            .collect(),
        restart: c
            .restart
            .as_ref()
            .map_or_else(Restart::default, |r| Restart {
                policy: match r.policy {
                    manifest::RestartPolicy::Always => RestartPolicy::Always,
                    manifest::RestartPolicy::OnFailure => RestartPolicy::OnFailure,
                    manifest::RestartPolicy::Never => RestartPolicy::Never,
                    manifest::RestartPolicy::UnlessStopped => RestartPolicy::UnlessStopped,
                },
                attempt: r.attempt.unwrap_or(0),
            }),
        security: Security {
            privileged: c.security.privileged,
        },
        dns: Dns {
            server: c.dns.server.clone(),
            search: c.dns.search.clone(),
        },
        extra_hosts: c.extra_hosts.clone(),
        probes: c.probes.clone().unwrap_or_default(),
    })
}

fn env(path: &str, e: &EnvManifest) -> Result<EnvVar> {
    let key_ref = |r: &manifest::KeyRefManifest| KeyRef {
        name: r.name.clone(),
        key: r.key.clone(),
    };
    let source = match (&e.value, &e.secret, &e.config) {
        (Some(v), None, None) => EnvSource::Value(v.clone()),
        (None, Some(r), None) => EnvSource::Secret(key_ref(r)),
        (None, None, Some(r)) => EnvSource::Config(key_ref(r)),
        _ => {
            return Err(ApiError::invalid(
                path,
                "exactly one of value, secret or config is required",
            ));
        }
    };
    Ok(EnvVar {
        name: e.name.clone(),
        source,
    })
}

fn values(path: &str, v: &ResourceValuesManifest) -> Result<Resources> {
    Ok(Resources {
        ram: optional::<Ram>(&format!("{path}.ram"), v.ram.as_deref())?,
        cpu: optional::<Cpu>(&format!("{path}.cpu"), v.cpu.as_deref())?,
        storage: None,
    })
}

fn template_volume(v: &TemplateVolumeManifest) -> TemplateVolume {
    let files = |f: &FilesSourceManifest| FilesRef {
        name: f.name.clone(),
        binds: f
            .files
            .iter()
            .map(|k| (k.clone(), k.clone()))
            .chain(f.binds.iter().map(|b| (b.key.clone(), b.file.clone())))
            .collect(),
    };
    let source = match (&v.volume, &v.secret, &v.config) {
        (_, Some(s), _) => VolumeSource::Secret(files(s)),
        (_, _, Some(c)) => VolumeSource::Config(files(c)),
        (Some(r), _, _) => VolumeSource::Volume(VolumeRef {
            name: r.name.clone(),
            subpath: r.subpath.clone(),
        }),
        // Validation demands one source; a persistent volume of the
        // template's name is the original's default.
        (None, None, None) => VolumeSource::Volume(VolumeRef {
            name: v.name.clone(),
            subpath: None,
        }),
    };
    TemplateVolume {
        name: v.name.clone(),
        source,
    }
}

/// A secret's spec; values are stored as given.
pub fn secret_spec(m: &SecretManifest) -> Result<SecretSpec> {
    let kind = match m.spec.kind {
        manifest::SecretType::Opaque => SecretType::Opaque,
        manifest::SecretType::Auth => SecretType::Auth,
        manifest::SecretType::Text => SecretType::Text,
        manifest::SecretType::File => SecretType::File,
    };
    if kind == SecretType::Auth {
        for key in manifest::SecretType::AUTH_KEYS {
            if !m.spec.data.contains_key(key) {
                return Err(ApiError::invalid(
                    "spec.data",
                    format!("an auth secret needs the key {key:?}"),
                ));
            }
        }
    }
    Ok(SecretSpec {
        kind,
        data: m.spec.data.clone(),
    })
}

/// A config's spec. `file:` entries must have been read by the client.
pub fn config_spec(m: &ConfigManifest) -> Result<ConfigSpec> {
    let mut data = BTreeMap::new();
    for (i, entry) in m.spec.data.iter().enumerate() {
        let value = entry.value.clone().ok_or_else(|| {
            ApiError::invalid(
                format!("spec.data[{i}].file"),
                "file entries are read by the client (lb) before sending; send the value",
            )
        })?;
        data.insert(entry.key.clone(), value);
    }
    Ok(ConfigSpec {
        kind: match m.spec.kind {
            manifest::ConfigType::Text => ConfigType::Text,
            manifest::ConfigType::File => ConfigType::File,
        },
        data,
    })
}

/// A route's spec; `default_endpoint` is the host name used when the
/// manifest names none.
pub fn route_spec(m: &RouteManifest, default_endpoint: &str) -> Result<RouteSpec> {
    let port = |path: String, p: u32| {
        u16::try_from(p).ok().filter(|p| *p != 0).ok_or_else(|| {
            ApiError::invalid(path, format!("port must be between 1 and 65535, found {p}"))
        })
    };
    Ok(RouteSpec {
        endpoint: m
            .spec
            .endpoint
            .clone()
            .unwrap_or_else(|| default_endpoint.to_owned()),
        port: port("spec.port".into(), m.spec.port)?,
        rules: m
            .spec
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(RouteRule {
                    path: if r.path.is_empty() {
                        "/".to_owned()
                    } else {
                        r.path.clone()
                    },
                    service: r.service.clone(),
                    port: port(format!("spec.rules[{i}].port"), r.port.unwrap_or(80))?,
                })
            })
            .collect::<Result<_>>()?,
        selector: RouteSelector {
            ingress: m.spec.selector.ingress.clone(),
        },
        ingress: None,
        tls: m.spec.tls.as_ref().map(|tls| RouteTls {
            secret: tls.secret.clone(),
            passthrough: tls.passthrough,
        }),
        tcp: m.spec.tcp,
    })
}

/// A volume's spec, not placed yet.
pub fn volume_spec(m: &VolumeManifest) -> Result<VolumeSpec> {
    Ok(VolumeSpec {
        kind: match m.spec.kind {
            manifest::VolumeType::Dir => VolumeType::Dir,
        },
        selector: selector(&m.spec.selector),
        capacity: optional("spec.capacity.storage", m.spec.capacity.storage.as_deref())?,
        access_mode: match m.spec.access_mode {
            Some(manifest::AccessMode::Rwx) => AccessMode::Rwx,
            Some(manifest::AccessMode::Rwo) | None => AccessMode::Rwo,
        },
        state: Default::default(),
        node: None,
    })
}

/// Copies what the controller owns from the stored spec into a converted
/// one, so the two compare equal when the user changed nothing.
pub(crate) fn keep_service_owned(new: &mut ServiceSpec, stored: &ServiceSpec) {
    new.generation = stored.generation;
    new.state = stored.state;
}

/// As [`keep_service_owned`] for a volume: its placement and lifecycle.
pub(crate) fn keep_volume_owned(new: &mut VolumeSpec, stored: &VolumeSpec) {
    new.node = stored.node.clone();
    new.state = stored.state;
}

/// As [`keep_service_owned`] for a route: the ingress carrying it.
pub(crate) fn keep_route_owned(new: &mut RouteSpec, stored: &RouteSpec) {
    new.ingress = stored.ingress.clone();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::units::Protocol;

    fn parse_one(text: &str) -> Manifest {
        crate::manifest::parse(text).unwrap().remove(0)
    }

    #[test]
    fn every_service_field_converts() {
        let Manifest::Service(m) = parse_one(
            r#"
kind: Service
version: v1
meta: {name: web, description: front, labels: {tier: web}}
spec:
  replicas: 3
  selector: {node: n1, labels: {ssd: "true"}}
  network: {ip: 10.0.0.9, ports: ["80:8080/tcp"]}
  strategy: {type: rolling, max_surge: 2, max_unavailable: "50%"}
  template:
    containers:
      - name: web
        image: {name: nginx, sha: abc, secret: {name: reg, key: auth}}
        command: nginx -g daemon
        entrypoint: [/bin/sh]
        workdir: /srv
        args: [a, b]
        ports: ["8080/udp"]
        env:
          - {name: A, value: "1"}
          - {name: B, secret: {name: db, key: password}}
          - {name: C, config: {name: cfg, key: k}}
        resources: {limits: {ram: 256mib, cpu: "0.5"}, request: {ram: 128mib, cpu: 100m}}
        volumes: [{name: data, path: /data, mode: ro, sub_path: x}]
        restart: {policy: on-failure, attempt: 3}
        security: {privileged: true}
        dns: {server: [10.0.0.2], search: [lb.local]}
        extra_hosts: ["db:10.0.0.3"]
    volumes:
      - {name: data, volume: {name: vol, subpath: y}}
      - {name: files, secret: {name: db, files: [password], binds: [{key: user, file: u.txt}]}}
      - {name: conf, config: {name: cfg}}
"#,
        ) else {
            panic!()
        };
        let spec = service_spec(&m).unwrap();
        assert_eq!(spec.replicas, 3);
        assert_eq!(spec.selector.node.as_deref(), Some("n1"));
        assert_eq!(spec.selector.labels["ssd"], "true");
        assert_eq!(spec.network.ip, Some("10.0.0.9".parse().unwrap()));
        assert_eq!(spec.network.ports[0].to_string(), "80:8080/tcp");
        assert_eq!(spec.strategy.kind, StrategyKind::Rolling);
        assert_eq!(spec.strategy.max_surge, Scale::Count(2));
        assert_eq!(spec.strategy.max_unavailable, Scale::Percent(50));
        let c = &spec.template.containers[0];
        assert_eq!(c.image.sha.as_deref(), Some("abc"));
        assert_eq!(c.image.secret.as_ref().unwrap().name, "reg");
        assert_eq!(c.exec.command, ["nginx", "-g", "daemon"]);
        assert_eq!(c.exec.entrypoint, ["/bin/sh"]);
        assert_eq!(c.exec.workdir.as_deref(), Some("/srv"));
        assert_eq!(c.exec.args, ["a", "b"]);
        assert_eq!(c.ports[0].protocol, Protocol::Udp);
        assert_eq!(c.env[0].source, EnvSource::Value("1".into()));
        assert!(matches!(&c.env[1].source, EnvSource::Secret(r) if r.key == "password"));
        assert!(matches!(&c.env[2].source, EnvSource::Config(r) if r.name == "cfg"));
        assert_eq!(c.resources.limits.ram.unwrap().bytes(), 256 << 20);
        assert_eq!(c.resources.limits.cpu.unwrap().millis(), 500);
        assert_eq!(c.resources.request.cpu.unwrap().millis(), 100);
        assert_eq!(c.volumes[0].mode.as_deref(), Some("ro"));
        assert_eq!(c.volumes[0].sub_path.as_deref(), Some("x"));
        assert_eq!(c.restart.policy, RestartPolicy::OnFailure);
        assert_eq!(c.restart.attempt, 3);
        assert!(c.security.privileged);
        assert_eq!(c.dns.server, ["10.0.0.2"]);
        assert_eq!(c.extra_hosts, ["db:10.0.0.3"]);
        let vols = &spec.template.volumes;
        assert!(
            matches!(&vols[0].source, VolumeSource::Volume(r) if r.name == "vol" && r.subpath.as_deref() == Some("y"))
        );
        let VolumeSource::Secret(files) = &vols[1].source else {
            panic!()
        };
        assert_eq!(files.binds["password"], "password");
        assert_eq!(files.binds["user"], "u.txt");
        assert!(matches!(&vols[2].source, VolumeSource::Config(f) if f.name == "cfg"));
        assert_eq!(spec.template.secrets(), ["db", "reg"]);
        assert_eq!(spec.template.configs(), ["cfg"]);
    }

    #[test]
    fn defaults_and_failures_without_panics() {
        let Manifest::Service(mut m) = parse_one(
            "kind: Service\nversion: v1\nmeta: {name: web}\nspec:\n  template:\n    containers: [{name: web, image: {name: nginx}}]\n",
        ) else {
            panic!()
        };
        let spec = service_spec(&m).unwrap();
        assert_eq!(spec.replicas, 1);
        assert_eq!(spec.template.containers[0].restart, Restart::default());
        m.spec.template.containers[0].resources.limits.ram = Some("12 parsecs".into());
        let err = service_spec(&m).unwrap_err();
        assert!(err.is_invalid());
        assert!(
            err.to_string()
                .starts_with("spec.template.containers[0].resources.limits.ram: "),
            "{err}"
        );

        let Manifest::Route(r) = parse_one(
            "kind: Route\nversion: v1\nmeta: {name: r}\nspec:\n  rules: [{service: web, port: 8080}]\n",
        ) else {
            panic!()
        };
        let spec = route_spec(&r, "r.demo.lb.local").unwrap();
        assert_eq!((spec.port, spec.endpoint.as_str()), (80, "r.demo.lb.local"));
        assert_eq!(spec.rules[0].path, "/");
        let mut bad = r.clone();
        bad.spec.port = 70000;
        assert!(route_spec(&bad, "x").unwrap_err().is_invalid());

        let Manifest::Route(r) = parse_one(
            "kind: Route\nversion: v1\nmeta: {name: r}\nspec:\n  port: 443\n  tls: {secret: r-tls}\n  rules: [{service: web, port: 8080}]\n",
        ) else {
            panic!()
        };
        let spec = route_spec(&r, "r.demo.lb.local").unwrap();
        assert_eq!(
            (spec.tls, spec.tcp),
            (
                Some(RouteTls {
                    secret: Some("r-tls".into()),
                    passthrough: false
                }),
                false
            )
        );
        let mut tcp = r.clone();
        tcp.spec.tls = None;
        tcp.spec.tcp = true;
        let spec = route_spec(&tcp, "x").unwrap();
        assert_eq!((spec.tls, spec.tcp), (None, true));

        let Manifest::Secret(mut s) = parse_one(
            "kind: Secret\nversion: v1\nmeta: {name: s}\nspec: {type: auth, data: {username: u, password: p}}\n",
        ) else {
            panic!()
        };
        assert_eq!(secret_spec(&s).unwrap().kind, SecretType::Auth);
        s.spec.data.remove("password");
        assert!(
            secret_spec(&s)
                .unwrap_err()
                .to_string()
                .contains("password")
        );

        let Manifest::Config(mut c) =
            parse_one("kind: Config\nversion: v1\nmeta: {name: c}\nspec: {data: {a: \"1\"}}\n")
        else {
            panic!()
        };
        assert_eq!(config_spec(&c).unwrap().data["a"], "1");
        c.spec.data[0].value = None;
        c.spec.data[0].file = Some("a.txt".into());
        assert!(config_spec(&c).unwrap_err().is_invalid());

        let Manifest::Volume(v) = parse_one(
            "kind: Volume\nversion: v1\nmeta: {name: v}\nspec: {selector: {node: n1}, capacity: {storage: 1gib}}\n",
        ) else {
            panic!()
        };
        let spec = volume_spec(&v).unwrap();
        assert_eq!(spec.capacity.unwrap().bytes(), 1 << 30);
        assert_eq!(spec.selector.node.as_deref(), Some("n1"));
    }
}
