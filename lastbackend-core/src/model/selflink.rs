use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use super::Kind;

/// The prefix the original puts before a deployment's name inside a pod's
/// selflink (`ns:svc:d_<deployment>:<pod>`).
const DEPLOYMENT_MARK: &str = "d_";

/// An object's identity, as the original's selflinks: parts joined by `:`.
///
/// | kind | form |
/// |---|---|
/// | namespace | `ns` |
/// | service, endpoint, volume, secret, config, route | `ns:name` |
/// | deployment | `ns:svc:deployment` |
/// | pod | `ns:svc:d_<deployment>:<pod>` |
/// | node, ingress, discovery, exporter, cluster | `hostname` |
/// | subnet | `10.0.1.0:24` |
///
/// The string form alone does not say the kind (`demo:web` may be a service or
/// a secret), so parsing takes it: [`SelfLink::parse`]. Display and parse
/// round-trip.
///
/// ```
/// use lastbackend_core::model::{Kind, SelfLink};
///
/// let link = SelfLink::parse(Kind::Pod, "demo:web:d_v2:a1b2c3d").unwrap();
/// assert_eq!(link.namespace_name(), Some("demo"));
/// assert_eq!(link.to_string(), "demo:web:d_v2:a1b2c3d");
/// assert_eq!(link.parent().unwrap().to_string(), "demo:web:v2");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SelfLink {
    /// A namespace.
    Namespace {
        /// The namespace.
        name: String,
    },
    /// An object directly inside a namespace.
    Namespaced {
        /// Service, endpoint, volume, secret, config or route.
        kind: Kind,
        /// The namespace.
        namespace: String,
        /// The object's name.
        name: String,
    },
    /// A deployment of a service.
    Deployment {
        /// The namespace.
        namespace: String,
        /// The owning service.
        service: String,
        /// The deployment's name.
        name: String,
    },
    /// A pod of a deployment.
    Pod {
        /// The namespace.
        namespace: String,
        /// The owning service.
        service: String,
        /// The owning deployment.
        deployment: String,
        /// The pod's name.
        name: String,
    },
    /// A cluster member named by its hostname.
    Host {
        /// Node, ingress, discovery, exporter or cluster.
        kind: Kind,
        /// The hostname.
        name: String,
    },
    /// An overlay subnet.
    Subnet {
        /// The network address.
        addr: IpAddr,
        /// The prefix length.
        prefix: u8,
    },
}

/// A string is not a selflink of the kind it was parsed as.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} selflink {value:?}: expected {expected}")]
pub struct SelfLinkError {
    /// The kind it was parsed as.
    pub kind: Kind,
    /// The string.
    pub value: String,
    /// The form that kind takes.
    pub expected: &'static str,
}

impl SelfLink {
    /// A namespace's selflink.
    pub fn namespace(name: impl Into<String>) -> Self {
        Self::Namespace { name: name.into() }
    }

    /// The selflink of an object directly inside a namespace.
    ///
    /// # Panics
    /// If `kind` is not one of service, endpoint, volume, secret, config,
    /// route: that is a programming error, not input.
    pub fn namespaced(kind: Kind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        assert!(
            Self::is_directly_namespaced(kind),
            "{kind} is not directly namespaced"
        );
        Self::Namespaced {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// A deployment's selflink.
    pub fn deployment(
        namespace: impl Into<String>,
        service: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self::Deployment {
            namespace: namespace.into(),
            service: service.into(),
            name: name.into(),
        }
    }

    /// A pod's selflink.
    pub fn pod(
        namespace: impl Into<String>,
        service: impl Into<String>,
        deployment: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self::Pod {
            namespace: namespace.into(),
            service: service.into(),
            deployment: deployment.into(),
            name: name.into(),
        }
    }

    /// The selflink of a cluster member (node, ingress, discovery, exporter)
    /// or the cluster.
    ///
    /// # Panics
    /// If `kind` is not a host kind: a programming error, not input.
    pub fn host(kind: Kind, name: impl Into<String>) -> Self {
        assert!(Self::is_host(kind), "{kind} is not named by a hostname");
        Self::Host {
            kind,
            name: name.into(),
        }
    }

    fn is_directly_namespaced(kind: Kind) -> bool {
        matches!(
            kind,
            Kind::Service
                | Kind::Endpoint
                | Kind::Volume
                | Kind::Secret
                | Kind::Config
                | Kind::Route
        )
    }

    fn is_host(kind: Kind) -> bool {
        matches!(
            kind,
            Kind::Node | Kind::Ingress | Kind::Discovery | Kind::Exporter | Kind::Cluster
        )
    }

    /// Parses the string form of a selflink of `kind`.
    pub fn parse(kind: Kind, s: &str) -> Result<Self, SelfLinkError> {
        let expected = Self::form(kind);
        let err = || SelfLinkError {
            kind,
            value: s.to_owned(),
            expected,
        };
        let parts: Vec<&str> = s.split(':').collect();
        if kind != Kind::Subnet && parts.iter().any(|p| p.is_empty() || p.contains('/')) {
            return Err(err());
        }
        let link = match (kind, parts.as_slice()) {
            (Kind::Namespace, [name]) => Self::namespace(*name),
            (k, [ns, name]) if Self::is_directly_namespaced(k) => Self::namespaced(k, *ns, *name),
            (Kind::Deployment, [ns, svc, name]) => Self::deployment(*ns, *svc, *name),
            (Kind::Pod, [ns, svc, dep, name]) => {
                let dep = dep
                    .strip_prefix(DEPLOYMENT_MARK)
                    .filter(|d| !d.is_empty())
                    .ok_or_else(err)?;
                Self::pod(*ns, *svc, dep, *name)
            }
            (k, [name]) if Self::is_host(k) => Self::host(k, *name),
            (Kind::Subnet, _) => {
                let (addr, prefix) = s.rsplit_once(':').ok_or_else(err)?;
                let addr: IpAddr = addr.parse().map_err(|_| err())?;
                let prefix: u8 = prefix.parse().map_err(|_| err())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                if prefix > max {
                    return Err(err());
                }
                Self::Subnet { addr, prefix }
            }
            _ => return Err(err()),
        };
        Ok(link)
    }

    /// The form a selflink of `kind` takes, for error messages.
    pub fn form(kind: Kind) -> &'static str {
        match kind {
            Kind::Namespace => "`<namespace>`",
            Kind::Deployment => "`<namespace>:<service>:<deployment>`",
            Kind::Pod => "`<namespace>:<service>:d_<deployment>:<pod>`",
            Kind::Subnet => "`<address>:<prefix>`, e.g. `10.0.1.0:24`",
            k if Self::is_host(k) => "`<hostname>`",
            _ => "`<namespace>:<name>`",
        }
    }

    /// The kind of object this selflink names.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Namespace { .. } => Kind::Namespace,
            Self::Namespaced { kind, .. } | Self::Host { kind, .. } => *kind,
            Self::Deployment { .. } => Kind::Deployment,
            Self::Pod { .. } => Kind::Pod,
            Self::Subnet { .. } => Kind::Subnet,
        }
    }

    /// The namespace the object lives in (a namespace's own name for a
    /// namespace).
    pub fn namespace_name(&self) -> Option<&str> {
        match self {
            Self::Namespace { name } => Some(name),
            Self::Namespaced { namespace, .. }
            | Self::Deployment { namespace, .. }
            | Self::Pod { namespace, .. } => Some(namespace),
            Self::Host { .. } | Self::Subnet { .. } => None,
        }
    }

    /// The owning service of a deployment or pod (the service itself for a
    /// service's or endpoint's selflink).
    pub fn service(&self) -> Option<&str> {
        match self {
            Self::Namespaced {
                kind: Kind::Service | Kind::Endpoint,
                name,
                ..
            } => Some(name),
            Self::Deployment { service, .. } | Self::Pod { service, .. } => Some(service),
            _ => None,
        }
    }

    /// The object's own name (the last part).
    pub fn name(&self) -> String {
        match self {
            Self::Namespace { name }
            | Self::Namespaced { name, .. }
            | Self::Deployment { name, .. }
            | Self::Pod { name, .. }
            | Self::Host { name, .. } => name.clone(),
            Self::Subnet { addr, prefix } => format!("{addr}:{prefix}"),
        }
    }

    /// The owner: a pod's deployment, a deployment's service, a namespaced
    /// object's namespace.
    pub fn parent(&self) -> Option<SelfLink> {
        match self {
            Self::Namespaced { namespace, .. } => Some(Self::namespace(namespace.clone())),
            Self::Deployment {
                namespace, service, ..
            } => Some(Self::namespaced(
                Kind::Service,
                namespace.clone(),
                service.clone(),
            )),
            Self::Pod {
                namespace,
                service,
                deployment,
                ..
            } => Some(Self::deployment(
                namespace.clone(),
                service.clone(),
                deployment.clone(),
            )),
            Self::Namespace { .. } | Self::Host { .. } | Self::Subnet { .. } => None,
        }
    }

    /// The storage key of the object: `<collection>/<selflink>`.
    pub fn key(&self) -> String {
        crate::storage::key(self.kind().collection(), &self.to_string())
    }
}

impl fmt::Display for SelfLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Namespace { name } | Self::Host { name, .. } => f.write_str(name),
            Self::Namespaced {
                namespace, name, ..
            } => write!(f, "{namespace}:{name}"),
            Self::Deployment {
                namespace,
                service,
                name,
            } => write!(f, "{namespace}:{service}:{name}"),
            Self::Pod {
                namespace,
                service,
                deployment,
                name,
            } => write!(
                f,
                "{namespace}:{service}:{DEPLOYMENT_MARK}{deployment}:{name}"
            ),
            Self::Subnet { addr, prefix } => write!(f, "{addr}:{prefix}"),
        }
    }
}

/// A selflink travels as its plain string, as in the original's JSON.
impl Serialize for SelfLink {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips() {
        let cases = [
            (Kind::Namespace, "test"),
            (Kind::Service, "demo:test"),
            (Kind::Endpoint, "demo:web"),
            (Kind::Secret, "demo:db"),
            (Kind::Config, "demo:app"),
            (Kind::Route, "demo:www"),
            (Kind::Volume, "demo:data"),
            (Kind::Deployment, "demo:web:v3"),
            (Kind::Pod, "demo:web:d_v3:a1b2c3d"),
            (Kind::Node, "node.local"),
            (Kind::Ingress, "edge-1"),
            (Kind::Discovery, "dns-1"),
            (Kind::Exporter, "logs-1"),
            (Kind::Subnet, "10.0.1.0:24"),
            (Kind::Subnet, "fd00:::64"),
        ];
        for (kind, s) in cases {
            let link = SelfLink::parse(kind, s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(link.kind(), kind, "{s}");
            assert_eq!(link.to_string(), s);
            assert_eq!(serde_json::to_string(&link).unwrap(), format!("\"{s}\""));
        }
    }

    #[test]
    fn malformed_forms_are_errors_naming_the_form() {
        let cases = [
            (Kind::Namespace, "a:b"),
            (Kind::Namespace, ""),
            (Kind::Service, "demo"),
            (Kind::Service, "demo:"),
            (Kind::Service, "a:b:c"),
            (Kind::Deployment, "a:b"),
            (Kind::Pod, "a:b:v1:p"),
            (Kind::Pod, "a:b:d_:p"),
            (Kind::Node, "a:b"),
            (Kind::Subnet, "10.0.1.0"),
            (Kind::Subnet, "10.0.1.0:33"),
            (Kind::Subnet, "x:24"),
            (Kind::Service, "a/b:c"),
        ];
        for (kind, s) in cases {
            let err = SelfLink::parse(kind, s).expect_err(s);
            assert_eq!(err.value, s);
            assert!(err.to_string().contains(SelfLink::form(kind)), "{err}");
        }
    }

    #[test]
    fn parents_and_parts() {
        let pod = SelfLink::pod("demo", "web", "v2", "abc");
        assert_eq!(pod.service(), Some("web"));
        assert_eq!(pod.name(), "abc");
        let dep = pod.parent().unwrap();
        assert_eq!(dep, SelfLink::deployment("demo", "web", "v2"));
        let svc = dep.parent().unwrap();
        assert_eq!(svc.to_string(), "demo:web");
        assert_eq!(svc.parent().unwrap(), SelfLink::namespace("demo"));
        assert_eq!(svc.key(), "service/demo:web");
        assert_eq!(SelfLink::host(Kind::Node, "n1").key(), "node/info/n1");
    }
}
