use serde::{Deserialize, Serialize};

use super::{Meta, Status};

/// A rule that brings outside traffic to services through an ingress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Route {
    /// Identity (`<namespace>:<name>`).
    pub meta: Meta,
    /// Desired routing.
    pub spec: RouteSpec,
    /// What the ingress reports.
    pub status: Status,
}

/// What a route does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RouteSpec {
    /// The host name it answers for.
    pub endpoint: String,
    /// The outside port (80 by default).
    pub port: u16,
    /// Path prefixes to services.
    pub rules: Vec<RouteRule>,
    /// Which ingress may carry it.
    pub selector: RouteSelector,
    /// The ingress carrying it (set by the controller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    /// TLS on the route's port: terminated with a secret's certificate, or
    /// passed through by SNI. Plain text when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<RouteTls>,
    /// Plain TCP: every connection on the port goes to the first rule's
    /// service; host and paths are not looked at.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tcp: bool,
}

/// TLS on a route's port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RouteTls {
    /// A secret in the route's namespace holding `tls.crt` (the PEM chain)
    /// and `tls.key` (its PEM key): the ingress terminates TLS with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Pass TLS through untouched to the service, chosen by SNI (no secret).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub passthrough: bool,
}

/// Ingress selection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RouteSelector {
    /// Only this ingress (hostname).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
}

/// One path prefix to one service port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct RouteRule {
    /// The path prefix (`/` matches everything, at the lowest priority).
    pub path: String,
    /// The service's name, in the route's namespace.
    pub service: String,
    /// The service's port.
    pub port: u16,
}
