//! The node's drivers as its settings name them: the service proxy, the
//! overlay network, and the one container runtime.

use crate::config::ConfigError;

/// The overlay network driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkDriver {
    /// VXLAN between nodes.
    Vxlan,
    /// No overlay: pods use the runtime's default network.
    None,
}

/// The service proxy driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyDriver {
    /// IPVS when the kernel has it, else nftables (the original's default
    /// was IPVS, which kernels without it cannot run).
    Auto,
    /// Kernel IPVS.
    Ipvs,
    /// nftables DNAT maps.
    Nftables,
    /// No service VIPs on this node.
    None,
}

/// Interface bindings of a network driver.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Interfaces {
    /// Towards other hosts.
    pub external: String,
    /// Towards the containers.
    pub internal: String,
}

impl ProxyDriver {
    /// `--network-proxy` (YAML `network.cpi.type`); unset is `auto`.
    pub(super) fn parse(value: Option<&str>) -> Result<Self, ConfigError> {
        match value {
            None | Some("auto") => Ok(Self::Auto),
            Some("ipvs") => Ok(Self::Ipvs),
            Some("nftables") => Ok(Self::Nftables),
            Some("none") => Ok(Self::None),
            Some(other) => Err(ConfigError::invalid(
                "--network-proxy (YAML `network.cpi.type`)",
                format!("{other:?}: accepted auto, ipvs, nftables or none"),
            )),
        }
    }
}

impl NetworkDriver {
    /// `--network-driver` (YAML `network.cni.type`); unset is `vxlan`.
    pub(super) fn parse(value: Option<&str>) -> Result<Self, ConfigError> {
        match value {
            None | Some("vxlan") => Ok(Self::Vxlan),
            Some("none") => Ok(Self::None),
            Some(other) => Err(ConfigError::invalid(
                "--network-driver (YAML `network.cni.type`)",
                format!("{other:?}: accepted vxlan or none"),
            )),
        }
    }
}

/// Accepts only `docker` for a runtime setting.
pub(super) fn docker_only(setting: &str, value: Option<String>) -> Result<(), ConfigError> {
    match value.as_deref() {
        None | Some("docker") => Ok(()),
        Some(other) => Err(ConfigError::invalid(
            setting,
            format!("{other:?} is not supported: the one runtime is docker"),
        )),
    }
}
