use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Meta;

/// A node's slice of the overlay network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Subnet {
    /// Identity (`10.0.1.0:24`).
    pub meta: Meta,
    /// The node it belongs to.
    pub node: String,
    /// The network.
    pub spec: SubnetSpec,
}

/// What the overlay driver needs to reach a subnet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SubnetSpec {
    /// The overlay driver (`vxlan`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The subnet, `10.0.1.0/24`.
    pub cidr: String,
    /// The node's overlay interface.
    pub iface: NetworkInterface,
    /// The node's address other nodes tunnel to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::IpAddress>))]
    pub addr: Option<IpAddr>,
}

/// A network interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NetworkInterface {
    /// Its kernel index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its address.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::IpAddress>))]
    pub addr: Option<IpAddr>,
    /// Its MAC address.
    #[serde(rename = "haddr", skip_serializing_if = "String::is_empty")]
    pub hardware_addr: String,
}
