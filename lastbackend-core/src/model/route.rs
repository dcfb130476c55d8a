use serde::{Deserialize, Serialize};

use super::{Meta, Status};

/// A rule that brings outside traffic to services through an ingress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// Ingress selection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteSelector {
    /// Only this ingress (hostname).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
}

/// One path prefix to one service port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteRule {
    /// The path prefix (`/` matches everything, at the lowest priority).
    pub path: String,
    /// The service's name, in the route's namespace.
    pub service: String,
    /// The service's port.
    pub port: u16,
}
