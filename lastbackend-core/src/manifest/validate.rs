//! Semantic checks of typed manifests, each problem collected with its field
//! path so the user sees all of them at once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::units::{Cpu, PortMapping, Ram};

use super::{
    ConfigManifest, ContainerManifest, EnvManifest, IntOrString, KeyRefManifest, Manifest,
    ManifestMeta, NamespaceManifest, QuotaManifest, ResourceValuesManifest, RouteManifest,
    RouteSpecManifest, SecretManifest, SecretType, SelectorManifest, ServiceManifest,
    TemplateVolumeManifest, VolumeManifest,
};

/// What a DNS-1123 label is, for error messages about names.
pub const DNS_LABEL_MESSAGE: &str = "must be a DNS-1123 label: at most 63 lowercase letters, \
     digits and '-', starting and ending with a letter or digit";

/// Whether `s` is a DNS-1123 label: 1 to 63 lowercase ASCII letters, digits
/// and `-`, starting and ending with a letter or digit. Names of namespaces,
/// services, containers, volumes, secrets, configs and routes are labels, so
/// they can be part of `<service>.<namespace>.lb.local`.
pub fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (1..=63).contains(&bytes.len())
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
}

/// Whether `s` is a host name: DNS labels joined by dots, at most 253 bytes.
fn is_hostname(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Whether `s` can be a label key: letters, digits, `-`, `_`, `.` and `/`,
/// starting and ending with a letter or digit, at most 253 bytes.
fn is_label_key(s: &str) -> bool {
    is_key(s, b"-_./")
}

/// Whether `s` can be a key of secret or config data (a file name too).
fn is_data_key(s: &str) -> bool {
    is_key(s, b"-_.")
}

fn is_key(s: &str, punctuation: &[u8]) -> bool {
    let bytes = s.as_bytes();
    (1..=253).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || punctuation.contains(b))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Whether `s` is an environment variable name as Kubernetes accepts them.
fn is_env_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b))
}

/// The most replicas a service may ask for.
pub const MAX_REPLICAS: u32 = 10_000;

/// Collects `(path, reason)` problems while walking a value; the path is built
/// with [`Validator::field`] and [`Validator::index`].
///
/// ```
/// use lastbackend_core::manifest::Validator;
///
/// let mut v = Validator::new();
/// v.field("spec", |v| v.index_of("rules", 0, |v| v.error_at("port", "required")));
/// assert_eq!(v.into_errors(), [("spec.rules[0].port".to_owned(), "required".to_owned())]);
/// ```
#[derive(Debug, Default)]
pub struct Validator {
    path: String,
    errors: Vec<(String, String)>,
}

impl Validator {
    /// A validator at the root, with no problems.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` with `name` appended to the path.
    pub fn field<R>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        let len = self.path.len();
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(name);
        let result = f(self);
        self.path.truncate(len);
        result
    }

    /// Runs `f` with `[index]` appended to the path.
    pub fn index<R>(&mut self, index: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        let len = self.path.len();
        self.path.push_str(&format!("[{index}]"));
        let result = f(self);
        self.path.truncate(len);
        result
    }

    /// Runs `f` at `name[index]`.
    pub fn index_of<R>(&mut self, name: &str, index: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        self.field(name, |v| v.index(index, f))
    }

    /// The current path, empty at the root.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Records a problem at the current path.
    pub fn error(&mut self, reason: impl Into<String>) {
        self.errors.push((self.path.clone(), reason.into()));
    }

    /// Records a problem at field `name` under the current path.
    pub fn error_at(&mut self, name: &str, reason: impl Into<String>) {
        let reason = reason.into();
        self.field(name, |v| v.error(reason));
    }

    /// Whether no problem has been recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The problems, in the order found.
    pub fn into_errors(self) -> Vec<(String, String)> {
        self.errors
    }

    /// Checks that field `name` holds a DNS label (see [`is_dns_label`]).
    pub fn dns_label(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.error_at(name, "required");
        } else if !is_dns_label(value) {
            self.error_at(name, format!("{value:?} {DNS_LABEL_MESSAGE}"));
        }
    }

    fn required(&mut self, name: &str, value: &str) -> bool {
        if value.is_empty() {
            self.error_at(name, "required");
        }
        !value.is_empty()
    }

    fn hostname(&mut self, name: &str, value: &str) {
        self.field(name, |v| v.hostname_here(value));
    }

    fn absolute_path(&mut self, name: &str, value: &str) {
        if self.required(name, value) && !value.starts_with('/') {
            self.error_at(name, format!("{value:?} must be an absolute path"));
        }
    }

    fn relative_path(&mut self, name: &str, value: &str) {
        if value.starts_with('/') || value.split('/').any(|part| part == "..") {
            self.error_at(
                name,
                format!("{value:?} must be a relative path without '..'"),
            );
        }
    }

    /// Checks the label keys and values under field `name`, as a
    /// manifest's `meta.labels`.
    pub fn labels(&mut self, name: &str, labels: &BTreeMap<String, String>) {
        self.field(name, |v| {
            for (key, value) in labels {
                if !is_label_key(key) {
                    v.error(format!(
                        "invalid label key {key:?}: use letters, digits, '-', '_', '.' and '/', \
                         starting and ending with a letter or digit, at most 253 characters"
                    ));
                } else if value.len() > 253 || value.chars().any(char::is_control) {
                    v.error_at(
                        key,
                        "label values are at most 253 characters without control characters",
                    );
                }
            }
        });
    }

    fn ram(&mut self, name: &str, value: Option<&str>) -> Option<Ram> {
        self.unit(name, value, str::parse::<Ram>)
    }

    fn cpu(&mut self, name: &str, value: Option<&str>) -> Option<Cpu> {
        self.unit(name, value, str::parse::<Cpu>)
    }

    fn unit<T, E: ToString>(
        &mut self,
        name: &str,
        value: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match parse(value?) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                self.error_at(name, e.to_string());
                None
            }
        }
    }

    fn ports(&mut self, name: &str, ports: &[String]) {
        self.field(name, |v| {
            for (i, port) in ports.iter().enumerate() {
                if let Err(e) = port.parse::<PortMapping>() {
                    v.index(i, |v| v.error(e.to_string()));
                }
            }
        });
    }

    fn port_number(&mut self, name: &str, port: u32) {
        if !(1..=65535).contains(&port) {
            self.error_at(
                name,
                format!("port must be between 1 and 65535, found {port}"),
            );
        }
    }

    fn key_ref(&mut self, name: &str, key_ref: &KeyRefManifest) {
        self.field(name, |v| {
            v.dns_label("name", &key_ref.name);
            v.required("key", &key_ref.key);
        });
    }

    fn selector(&mut self, selector: &SelectorManifest) {
        self.field("selector", |v| {
            if selector.node.as_deref() == Some("") {
                v.error_at("node", "must not be empty; write null for any node");
            }
            v.labels("labels", &selector.labels);
        });
    }

    fn meta(&mut self, meta: &ManifestMeta) {
        self.field("meta", |v| {
            v.dns_label("name", &meta.name);
            v.labels("labels", &meta.labels);
        });
    }

    fn version(&mut self, version: &str) {
        match version {
            "v1" => {}
            "" => self.error_at("version", "required; the supported version is v1"),
            other => self.error_at(
                "version",
                format!("unsupported version {other:?}; expected v1"),
            ),
        }
    }

    /// Runs the checks of one manifest.
    pub fn manifest(&mut self, manifest: &Manifest) {
        match manifest {
            Manifest::Namespace(m) => self.namespace(m),
            Manifest::Service(m) => self.service(m),
            Manifest::Secret(m) => self.secret(m),
            Manifest::Config(m) => self.config(m),
            Manifest::Route(m) => self.route(m),
            Manifest::Volume(m) => self.volume(m),
        }
    }

    fn namespace(&mut self, m: &NamespaceManifest) {
        self.version(&m.version);
        self.meta(&m.meta);
        self.field("spec", |v| {
            v.field("domain", |v| {
                for (name, domain) in [
                    ("internal", &m.spec.domain.internal),
                    ("external", &m.spec.domain.external),
                ] {
                    if let Some(domain) = domain {
                        v.hostname(name, domain);
                    }
                }
            });
            v.field("resources", |v| {
                v.quota("request", &m.spec.resources.request);
                v.quota("limits", &m.spec.resources.limits);
            });
        });
    }

    fn quota(&mut self, name: &str, quota: &QuotaManifest) {
        self.field(name, |v| {
            v.ram("ram", quota.ram.as_deref());
            v.cpu("cpu", quota.cpu.as_deref());
            v.ram("storage", quota.storage.as_deref());
        });
    }

    fn service(&mut self, m: &ServiceManifest) {
        self.version(&m.version);
        self.meta(&m.meta);
        let spec = &m.spec;
        self.field("spec", |v| {
            if spec.replicas > MAX_REPLICAS {
                v.error_at("replicas", format!("must be at most {MAX_REPLICAS}"));
            }
            v.selector(&spec.selector);
            v.field("network", |v| {
                if let Some(ip) = &spec.network.ip
                    && ip.parse::<IpAddr>().is_err()
                {
                    v.error_at("ip", format!("invalid IP address {ip:?}"));
                }
                v.ports("ports", &spec.network.ports);
            });
            v.field("strategy", |v| {
                v.surge("max_surge", spec.strategy.max_surge.as_ref());
                v.surge("max_unavailable", spec.strategy.max_unavailable.as_ref());
            });
            v.field("template", |v| {
                let volumes = v.template_volumes(&spec.template.volumes);
                v.containers(&spec.template.containers, &volumes);
            });
        });
    }

    fn surge(&mut self, name: &str, value: Option<&IntOrString>) {
        if let Some(value @ IntOrString::String(s)) = value
            && value.percent().is_none_or(|p| p > 100)
        {
            self.error_at(
                name,
                format!("must be an integer or a percentage from 0% to 100%, found {s:?}"),
            );
        }
    }

    /// Checks `template.volumes` and returns the names defined there.
    fn template_volumes<'m>(&mut self, volumes: &'m [TemplateVolumeManifest]) -> BTreeSet<&'m str> {
        let mut names = BTreeSet::new();
        for (i, volume) in volumes.iter().enumerate() {
            self.index_of("volumes", i, |v| {
                v.dns_label("name", &volume.name);
                if !volume.name.is_empty() && !names.insert(volume.name.as_str()) {
                    v.error_at("name", format!("duplicate name {:?}", volume.name));
                }
                let sources = [
                    volume.volume.is_some(),
                    volume.secret.is_some(),
                    volume.config.is_some(),
                ];
                match sources.iter().filter(|set| **set).count() {
                    0 => v.error("one of volume, secret or config is required"),
                    1 => {}
                    _ => v.error("only one of volume, secret or config may be set"),
                }
                if let Some(source) = &volume.volume {
                    v.field("volume", |v| {
                        v.dns_label("name", &source.name);
                        if let Some(subpath) = &source.subpath {
                            v.relative_path("subpath", subpath);
                        }
                    });
                }
                for (name, files) in [("secret", &volume.secret), ("config", &volume.config)] {
                    let Some(files) = files else { continue };
                    v.field(name, |v| {
                        v.dns_label("name", &files.name);
                        for (i, key) in files.files.iter().enumerate() {
                            v.index_of("files", i, |v| {
                                if !is_data_key(key) {
                                    v.error(format!("invalid key {key:?}"));
                                }
                            });
                        }
                        for (i, bind) in files.binds.iter().enumerate() {
                            v.index_of("binds", i, |v| {
                                v.required("key", &bind.key);
                                if v.required("file", &bind.file) {
                                    v.relative_path("file", &bind.file);
                                }
                            });
                        }
                    });
                }
            });
        }
        names
    }

    fn containers(&mut self, containers: &[ContainerManifest], volumes: &BTreeSet<&str>) {
        if containers.is_empty() {
            self.error_at("containers", "at least one container is required");
        }
        let mut names = BTreeSet::new();
        for (i, container) in containers.iter().enumerate() {
            self.index_of("containers", i, |v| {
                v.dns_label("name", &container.name);
                if !container.name.is_empty() && !names.insert(container.name.as_str()) {
                    v.error_at("name", format!("duplicate name {:?}", container.name));
                }
                v.container(container, volumes);
            });
        }
    }

    fn container(&mut self, c: &ContainerManifest, volumes: &BTreeSet<&str>) {
        self.field("image", |v| {
            v.required("name", &c.image.name);
            if let Some(secret) = &c.image.secret {
                v.key_ref("secret", secret);
            }
        });
        if let Some(workdir) = &c.workdir {
            self.absolute_path("workdir", workdir);
        }
        self.ports("ports", &c.ports);
        let mut env_names = BTreeSet::new();
        for (i, env) in c.env.iter().enumerate() {
            self.index_of("env", i, |v| {
                v.env(env);
                if !env_names.insert(env.name.as_str()) {
                    v.error_at("name", format!("duplicate variable {:?}", env.name));
                }
            });
        }
        self.field("resources", |v| {
            let limits = v.resource_values("limits", &c.resources.limits);
            let request = v.resource_values("request", &c.resources.request);
            if let (Some(limit), Some(request)) = (limits.0, request.0)
                && request.bytes() > limit.bytes()
            {
                v.error_at(
                    "request.ram",
                    format!("{request} is more than the limit {limit}"),
                );
            }
            if let (Some(limit), Some(request)) = (limits.1, request.1)
                && request.millis() > limit.millis()
            {
                v.error_at(
                    "request.cpu",
                    format!("{request} is more than the limit {limit}"),
                );
            }
        });
        for (i, mount) in c.volumes.iter().enumerate() {
            self.index_of("volumes", i, |v| {
                if v.required("name", &mount.name) && !volumes.contains(mount.name.as_str()) {
                    v.error_at(
                        "name",
                        format!("no volume {:?} in spec.template.volumes", mount.name),
                    );
                }
                v.absolute_path("path", &mount.path);
                if let Some(sub_path) = &mount.sub_path {
                    v.relative_path("sub_path", sub_path);
                }
            });
        }
        self.field("dns", |v| {
            for (i, server) in c.dns.server.iter().enumerate() {
                if server.parse::<IpAddr>().is_err() {
                    v.index_of("server", i, |v| {
                        v.error(format!("invalid IP address {server:?}"));
                    });
                }
            }
            for (i, domain) in c.dns.search.iter().enumerate() {
                v.index_of("search", i, |v| v.hostname_here(domain));
            }
        });
        if let Some(probes) = &c.probes {
            self.field("probes", |v| {
                for (name, probe) in [
                    ("liveness", &probes.liveness),
                    ("readiness", &probes.readiness),
                ] {
                    if let Some(probe) = probe {
                        v.field(name, |v| v.probe(probe));
                    }
                }
            });
        }
        for (i, host) in c.extra_hosts.iter().enumerate() {
            let valid = host
                .split_once(':')
                .is_some_and(|(name, ip)| is_hostname(name) && ip.parse::<IpAddr>().is_ok());
            if !valid {
                self.index_of("extra_hosts", i, |v| {
                    v.error(format!("{host:?} must be host:ip, e.g. db:10.0.0.2"));
                });
            }
        }
    }

    fn probe(&mut self, probe: &crate::model::Probe) {
        use crate::model::ProbeAction;
        match &probe.action {
            ProbeAction::Exec { command } if command.is_empty() => {
                self.error_at(
                    "exec.command",
                    "required: the command to run in the container",
                );
            }
            ProbeAction::Http { port: 0, .. } => self.error_at("http.port", "must be 1-65535"),
            ProbeAction::Http { path, .. } if !path.starts_with('/') => {
                self.error_at("http.path", format!("{path:?} must start with '/'"));
            }
            ProbeAction::Tcp { port: 0 } => self.error_at("tcp.port", "must be 1-65535"),
            _ => {}
        }
        for (name, value) in [
            ("period", probe.period),
            ("timeout", probe.timeout),
            ("failure_threshold", probe.failure_threshold),
        ] {
            if value == 0 {
                self.error_at(name, "must be at least 1");
            }
        }
    }

    fn hostname_here(&mut self, value: &str) {
        if !is_hostname(value) {
            self.error(format!(
                "{value:?} is not a host name: dot-separated DNS-1123 labels"
            ));
        }
    }

    fn env(&mut self, env: &EnvManifest) {
        if env.name.is_empty() {
            self.error_at("name", "required");
        } else if !is_env_name(&env.name) {
            self.error_at(
                "name",
                format!(
                    "invalid variable name {:?}: use letters, digits, '_', '-' and '.', \
                     not starting with a digit",
                    env.name
                ),
            );
        }
        let sources = [
            env.value.is_some(),
            env.secret.is_some(),
            env.config.is_some(),
        ];
        match sources.iter().filter(|set| **set).count() {
            0 => self.error("one of value, secret or config is required"),
            1 => {}
            _ => self.error("only one of value, secret or config may be set"),
        }
        if let Some(secret) = &env.secret {
            self.key_ref("secret", secret);
        }
        if let Some(config) = &env.config {
            self.key_ref("config", config);
        }
    }

    fn resource_values(
        &mut self,
        name: &str,
        values: &ResourceValuesManifest,
    ) -> (Option<Ram>, Option<Cpu>) {
        self.field(name, |v| {
            (
                v.ram("ram", values.ram.as_deref()),
                v.cpu("cpu", values.cpu.as_deref()),
            )
        })
    }

    fn secret(&mut self, m: &SecretManifest) {
        self.version(&m.version);
        self.meta(&m.meta);
        self.field("spec", |v| {
            v.field("data", |v| {
                for key in m.spec.data.keys() {
                    if !is_data_key(key) {
                        v.error(format!(
                            "invalid key {key:?}: use letters, digits, '-', '_' and '.', \
                             starting and ending with a letter or digit"
                        ));
                    }
                }
                if m.spec.kind == SecretType::Auth {
                    for key in SecretType::AUTH_KEYS {
                        if !m.spec.data.contains_key(key) {
                            v.error(format!("an auth secret needs the key {key:?}"));
                        }
                    }
                }
            });
        });
    }

    fn config(&mut self, m: &ConfigManifest) {
        self.version(&m.version);
        self.meta(&m.meta);
        self.field("spec", |v| {
            let mut keys = BTreeSet::new();
            for (i, entry) in m.spec.data.iter().enumerate() {
                v.index_of("data", i, |v| {
                    if entry.key.is_empty() {
                        v.error_at("key", "required");
                    } else if !is_data_key(&entry.key) {
                        v.error_at("key", format!("invalid key {:?}", entry.key));
                    } else if !keys.insert(entry.key.as_str()) {
                        v.error_at("key", format!("duplicate key {:?}", entry.key));
                    }
                    match (&entry.value, &entry.file) {
                        (None, None) => v.error("one of value or file is required"),
                        (Some(_), Some(_)) => v.error("only one of value or file may be set"),
                        (None, Some(file)) => {
                            v.required("file", file);
                        }
                        (Some(_), None) => {}
                    }
                });
            }
        });
    }

    fn route(&mut self, m: &RouteManifest) {
        self.version(&m.version);
        self.meta(&m.meta);
        let spec = &m.spec;
        self.field("spec", |v| {
            v.port_number("port", spec.port);
            if let Some(endpoint) = &spec.endpoint {
                v.hostname("endpoint", endpoint);
            }
            if spec.selector.ingress.as_deref() == Some("") {
                v.error_at("selector.ingress", "must not be empty");
            }
            if spec.rules.is_empty() {
                v.error_at("rules", "at least one rule is required");
            }
            v.route_kind(spec);
            for (i, rule) in spec.rules.iter().enumerate() {
                v.index_of("rules", i, |v| {
                    v.dns_label("service", &rule.service);
                    if !rule.path.starts_with('/') {
                        v.error_at("path", format!("{:?} must start with '/'", rule.path));
                    }
                    match rule.port {
                        Some(port) => v.port_number("port", port),
                        None => v.error_at("port", "required"),
                    }
                });
            }
        });
    }

    /// `tls` and `tcp` as the ingress accepts them: a route is plain HTTP,
    /// TLS terminated with a secret, TLS passed through, or plain TCP; the
    /// last two send everything to one service.
    fn route_kind(&mut self, spec: &RouteSpecManifest) {
        let passthrough = spec.tls.as_ref().is_some_and(|tls| tls.passthrough);
        if let Some(tls) = &spec.tls {
            self.field("tls", |v| match (&tls.secret, tls.passthrough) {
                (Some(_), true) => v.error(
                    "give a secret (terminate TLS) or passthrough (pass it through), not both",
                ),
                (None, false) => {
                    v.error("name a secret to terminate TLS with, or set passthrough: true")
                }
                (Some(secret), false) => v.dns_label("secret", secret),
                (None, true) => {}
            });
            if spec.tcp {
                self.error_at(
                    "tcp",
                    "not with spec.tls: a route is plain TCP or TLS, not both",
                );
            }
        }
        let single = if spec.tcp {
            Some("TCP")
        } else if passthrough {
            Some("TLS passthrough")
        } else {
            None
        };
        if let Some(kind) = single.filter(|_| spec.rules.len() > 1) {
            self.error_at(
                "rules",
                format!(
                    "a {kind} route sends everything to one service: give one rule, found {}",
                    spec.rules.len()
                ),
            );
        }
    }

    fn volume(&mut self, m: &VolumeManifest) {
        self.version(&m.version);
        self.meta(&m.meta);
        self.field("spec", |v| {
            v.selector(&m.spec.selector);
            v.field("capacity", |v| {
                v.ram("storage", m.spec.capacity.storage.as_deref());
            });
        });
    }
}
