//! `kind: Route`: external HTTP, TLS or TCP traffic into services, through an
//! ingress.

use serde::{Deserialize, Serialize};

use super::{ManifestMeta, is_default, scalar};

/// A `kind: Route` document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteManifest {
    /// Manifest format version, `v1`.
    pub version: String,
    /// Name, description and labels.
    pub meta: ManifestMeta,
    /// Listener and rules.
    pub spec: RouteSpecManifest,
}

/// `spec` of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RouteSpecManifest {
    /// External port the ingress listens on; 80 when absent.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 65535))]
    pub port: u32,
    /// Host name the route answers for; the server derives one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Hostname>))]
    pub endpoint: Option<String>,
    /// Which ingress serves the route.
    #[serde(skip_serializing_if = "is_default")]
    pub selector: RouteSelectorManifest,
    /// Path prefixes and the service ports they go to; at least one, and
    /// exactly one for a TCP or TLS passthrough route.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, required = true))]
    pub rules: Vec<RouteRuleManifest>,
    /// TLS on the route's port; plain text when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<RouteTlsManifest>,
    /// Plain TCP: every connection on the port goes to the single rule's
    /// service, host and path unread. Not with `tls`.
    #[serde(skip_serializing_if = "is_default")]
    pub tcp: bool,
}

impl Default for RouteSpecManifest {
    fn default() -> Self {
        Self {
            port: 80,
            endpoint: None,
            selector: RouteSelectorManifest::default(),
            rules: Vec::new(),
            tls: None,
            tcp: false,
        }
    }
}

/// `spec.tls` of a route: terminate with a secret's certificate, or pass
/// through by SNI; one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RouteTlsManifest {
    /// A secret of the route's namespace with `tls.crt` (PEM chain) and
    /// `tls.key` (PEM key): the ingress terminates TLS with them, then routes
    /// HTTP by host and path.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Name>))]
    pub secret: Option<String>,
    /// Pass TLS untouched to the single rule's service, chosen by SNI.
    #[serde(skip_serializing_if = "is_default")]
    pub passthrough: bool,
}

/// `spec.selector` of a route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RouteSelectorManifest {
    /// Hostname of the ingress; any ingress when absent.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::NonEmptyScalar>))]
    pub ingress: Option<String>,
}

/// One rule of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RouteRuleManifest {
    /// Name of the service in the same namespace.
    #[serde(deserialize_with = "scalar::string")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Name, required = true))]
    pub service: String,
    /// Path prefix, `/` when absent.
    #[cfg_attr(feature = "openapi", schema(pattern = "^/"))]
    pub path: String,
    /// Port of the service's endpoint (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = u32, required = true, minimum = 1, maximum = 65535))]
    pub port: Option<u32>,
}

impl Default for RouteRuleManifest {
    fn default() -> Self {
        Self {
            service: String::new(),
            path: "/".to_owned(),
            port: None,
        }
    }
}
