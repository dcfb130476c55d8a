//! From an [`IngressManifest`] to typed routing pieces, one [`RoutePlan`]
//! per route, and the [`Layout`] that puts the routes that fit together on
//! their ports. No IO and no proxy in mind: what cannot be routed is an
//! error naming the route's field, decided before any driver sees it, so
//! every [`IngressDriver`](super::IngressDriver) rejects the same routes
//! for the same reasons.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use lastbackend_core::manifest::internal::IngressManifest;
use lastbackend_core::manifest::is_dns_label;
use lastbackend_core::model::{EndpointSpec, RouteSpec};
use lastbackend_core::units::Protocol;

/// How a port's frontend treats its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortKind {
    /// HTTP, routed by Host and path prefix.
    Http,
    /// TLS terminated here, then routed as HTTP.
    Https,
    /// TLS passed through, routed by SNI.
    Passthrough,
    /// Plain TCP to one service.
    Tcp,
}

impl PortKind {
    fn describe(self) -> &'static str {
        match self {
            Self::Http => "plain HTTP",
            Self::Https => "TLS-terminated HTTP",
            Self::Passthrough => "TLS passthrough",
            Self::Tcp => "plain TCP",
        }
    }
}

/// A group of servers one rule sends traffic to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backend {
    /// Unique among the manifest's backends, of letters, digits, `-` and
    /// `_`: a name any proxy accepts (HAProxy's backend name).
    pub name: String,
    /// HTTP or TCP (passthrough and TCP ports).
    pub http: bool,
    /// The service's ready pods at the pod port; empty answers 503.
    pub servers: Vec<SocketAddr>,
}

/// One path rule: a path prefix of the route's host and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PathRule {
    /// The prefix (`/` matches everything).
    pub path: String,
    /// Index into the route's backends.
    pub backend: usize,
}

/// Everything one route asks of the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoutePlan {
    /// The route's selflink.
    pub link: String,
    /// The listening port.
    pub port: u16,
    /// How the port treats connections.
    pub kind: PortKind,
    /// The host name (lowercase).
    pub host: String,
    /// Path rules, one per route rule.
    pub rules: Vec<PathRule>,
    /// One backend per rule.
    pub backends: Vec<Backend>,
    /// The PEM (chain and key) to terminate TLS with.
    pub certificate: Option<String>,
    /// Rules whose service has no ready pod (they answer 503).
    pub empty: Vec<String>,
}

/// Why a route cannot be routed, before HAProxy is asked.
pub type RouteError = String;

/// Every route of the manifest, planned, or why not.
pub fn plan(manifest: &IngressManifest) -> BTreeMap<String, Result<RoutePlan, RouteError>> {
    manifest
        .routes
        .iter()
        .enumerate()
        .map(|(index, (link, spec))| (link.clone(), plan_route(manifest, index, link, spec)))
        .collect()
}

/// The routes of `manifest` a driver serves: every route that plans and
/// fits on its port beside the ones before it, in selflink order, and why
/// each other route cannot be served, by selflink.
pub fn routes(manifest: &IngressManifest) -> (Vec<RoutePlan>, BTreeMap<String, RouteError>) {
    let mut rejected = BTreeMap::new();
    let mut layout = Layout::default();
    let mut accepted = Vec::new();
    for (link, planned) in plan(manifest) {
        let fitted = planned.and_then(|route| layout.add(route.clone()).map(|()| route));
        match fitted {
            Ok(route) => accepted.push(route),
            Err(why) => {
                rejected.insert(link, why);
            }
        }
    }
    (accepted, rejected)
}

fn plan_route(
    manifest: &IngressManifest,
    index: usize,
    link: &str,
    spec: &RouteSpec,
) -> Result<RoutePlan, RouteError> {
    let namespace = link.split(':').next().unwrap_or_default();
    let port = if spec.port == 0 { 80 } else { spec.port };
    let tls = spec.tls.as_ref();
    let kind = match (spec.tcp, tls) {
        (_, Some(t)) if t.passthrough && t.secret.is_some() => {
            return Err("spec.tls: give a secret (terminate) or passthrough, not both".into());
        }
        (_, Some(t)) if t.passthrough => PortKind::Passthrough,
        (_, Some(t)) if t.secret.is_none() => {
            return Err("spec.tls: name a secret to terminate TLS with, or set passthrough".into());
        }
        (true, Some(_)) => {
            return Err("spec.tcp: TLS termination routes HTTP; drop tcp or the secret".into());
        }
        (false, Some(_)) => PortKind::Https,
        (true, None) => PortKind::Tcp,
        (false, None) => PortKind::Http,
    };
    let host = spec.endpoint.trim().to_ascii_lowercase();
    if kind != PortKind::Tcp && !valid_host(&host) {
        return Err(format!(
            "spec.endpoint {:?}: not a host name (DNS-1123 labels separated by '.')",
            spec.endpoint
        ));
    }
    if spec.rules.is_empty() {
        return Err("spec.rules: a route needs at least one rule".into());
    }
    if matches!(kind, PortKind::Tcp | PortKind::Passthrough) && spec.rules.len() > 1 {
        return Err(format!(
            "spec.rules: a {} route sends everything to one service; found {} rules",
            kind.describe(),
            spec.rules.len()
        ));
    }
    let certificate = match tls.and_then(|t| t.secret.as_deref()) {
        Some(secret) => Some(certificate(manifest, namespace, secret)?),
        None => None,
    };
    let http = matches!(kind, PortKind::Http | PortKind::Https);
    let mut plan = RoutePlan {
        link: link.to_owned(),
        port,
        kind,
        host,
        rules: Vec::new(),
        backends: Vec::new(),
        certificate,
        empty: Vec::new(),
    };
    for (i, rule) in spec.rules.iter().enumerate() {
        let path = if rule.path.is_empty() {
            "/"
        } else {
            rule.path.as_str()
        };
        if !path.starts_with('/')
            || !path
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"'\\#".contains(&b))
        {
            return Err(format!(
                "spec.rules[{i}].path {path:?}: a path prefix starts with '/' and has no spaces, quotes, '\\' or '#'"
            ));
        }
        let service_link = format!("{namespace}:{}", rule.service);
        let endpoint = manifest.endpoints.get(&service_link).ok_or_else(|| {
            format!("spec.rules[{i}].service {:?}: the service has no endpoint (no ports, or it does not exist)", rule.service)
        })?;
        let target = pod_port(endpoint, rule.port).ok_or_else(|| {
            format!(
                "spec.rules[{i}].port {}: service {:?} has no TCP port {} (its ports: {})",
                rule.port,
                rule.service,
                rule.port,
                ports(endpoint)
            )
        })?;
        let servers: Vec<SocketAddr> = endpoint
            .upstreams
            .iter()
            .map(|ip| SocketAddr::new(*ip, target))
            .collect();
        if servers.is_empty() {
            plan.empty.push(rule.service.clone());
        }
        plan.backends.push(Backend {
            name: format!("r{index}_{}_{i}", sanitize(link)),
            http,
            servers,
        });
        plan.rules.push(PathRule {
            path: path.to_owned(),
            backend: i,
        });
    }
    Ok(plan)
}

/// The pod port behind service port `port`: the mapping whose VIP port
/// (`host_port`, else the pod port) it is.
fn pod_port(endpoint: &EndpointSpec, port: u16) -> Option<u16> {
    endpoint
        .ports
        .iter()
        .filter(|m| matches!(m.protocol, Protocol::Tcp | Protocol::Both))
        .find(|m| m.host_port.unwrap_or(m.container_port) == port)
        .map(|m| m.container_port)
}

fn ports(endpoint: &EndpointSpec) -> String {
    let list: Vec<String> = endpoint.ports.iter().map(ToString::to_string).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn certificate(
    manifest: &IngressManifest,
    namespace: &str,
    secret: &str,
) -> Result<String, RouteError> {
    let link = format!("{namespace}:{secret}");
    let spec = manifest.secrets.get(&link).ok_or_else(|| {
        format!("spec.tls.secret {secret:?}: no such secret in namespace {namespace:?}")
    })?;
    let get = |key: &str| {
        spec.data
            .get(key)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                format!("spec.tls.secret {secret:?}: the secret has no {key:?} key (PEM)")
            })
    };
    let (cert, key) = (get("tls.crt")?, get("tls.key")?);
    Ok(format!("{}\n{}\n", cert.trim_end(), key.trim_end()))
}

/// Whether `host` (lowercased: HTTP host names have no case) is a name an
/// HTTP `Host` header or SNI can carry: core's DNS-1123 labels separated by
/// dots, at most 253 bytes.
fn valid_host(host: &str) -> bool {
    host.len() <= 253 && host.split('.').all(is_dns_label)
}

/// `text` as an identifier a proxy accepts: letters, digits and `-` kept,
/// anything else `_`.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Routes that fit together, by port: each port has one kind, and a host
/// and path are routed once.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// Port → its kind and its routes, in the order they were added.
    pub ports: BTreeMap<u16, (PortKind, Vec<RoutePlan>)>,
}

impl Layout {
    /// Adds a route, or says which route already holds what it needs.
    pub fn add(&mut self, route: RoutePlan) -> Result<(), RouteError> {
        let Some((kind, routes)) = self.ports.get_mut(&route.port) else {
            self.ports.insert(route.port, (route.kind, vec![route]));
            return Ok(());
        };
        let first = &routes[0].link;
        if *kind != route.kind {
            return Err(format!(
                "spec.port {}: route {first} serves it as {}; this route asks for {}",
                route.port,
                kind.describe(),
                route.kind.describe()
            ));
        }
        for other in routes.iter() {
            let clash = match route.kind {
                PortKind::Tcp => true,
                PortKind::Passthrough => other.host == route.host,
                PortKind::Http | PortKind::Https => {
                    other.host == route.host
                        && other
                            .rules
                            .iter()
                            .any(|a| route.rules.iter().any(|b| a.path == b.path))
                }
            };
            if clash {
                return Err(format!(
                    "spec.port {}: route {} already routes host {:?} there with the same path",
                    route.port, other.link, route.host
                ));
            }
        }
        routes.push(route);
        Ok(())
    }
}
