//! The cluster's other members: ingress, discovery and exporter servers.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::Meta;

/// Liveness every cluster member reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Presence {
    /// Serving.
    pub ready: bool,
    /// Its heartbeat lease is alive.
    pub online: bool,
}

impl Presence {
    /// A member that serves: ready, and its lease alive (what a member
    /// reports while it runs).
    pub const READY: Self = Self {
        ready: true,
        online: true,
    };
}

/// An ingress server (HAProxy under an agent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Ingress {
    /// Identity (the hostname).
    pub meta: Meta,
    /// What it reports.
    pub status: Presence,
}

/// A discovery (DNS) server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Discovery {
    /// Identity (the hostname).
    pub meta: Meta,
    /// What it reports.
    pub status: DiscoveryStatus,
}

/// A discovery server's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct DiscoveryStatus {
    /// Liveness.
    #[serde(flatten)]
    pub presence: Presence,
    /// Where it answers DNS.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::SocketAddress>))]
    pub address: Option<SocketAddr>,
}

/// A log exporter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Exporter {
    /// Identity (the hostname).
    pub meta: Meta,
    /// What it reports.
    pub status: ExporterStatus,
}

/// An exporter's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ExporterStatus {
    /// Liveness.
    #[serde(flatten)]
    pub presence: Presence,
    /// Where it serves logs over HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::SocketAddress>))]
    pub http: Option<SocketAddr>,
    /// Where agents stream logs to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::SocketAddress>))]
    pub listener: Option<SocketAddr>,
}
