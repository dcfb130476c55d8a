use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Meta, Status};
use crate::units::PortMapping;

/// A service's stable address: a VIP and DNS name that spread connections
/// over the ready pods of its active deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Endpoint {
    /// Identity (`<namespace>:<service>`).
    pub meta: Meta,
    /// Desired proxying.
    pub spec: EndpointSpec,
    /// Lifecycle.
    pub status: Status,
}

/// What the proxies on every node program.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct EndpointSpec {
    /// The VIP.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::IpAddress>))]
    pub ip: Option<IpAddr>,
    /// `<service>.<namespace>.<zone>`.
    pub domain: String,
    /// `VIP port → pod port` mappings.
    pub ports: Vec<PortMapping>,
    /// The addresses of the pods that take traffic.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::IpAddress>))]
    pub upstreams: Vec<IpAddr>,
}
