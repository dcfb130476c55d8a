//! `lastbackend controller`: its flags (the docs' controller option table,
//! plus the storage directory, the internal domain and the lead TTL), the
//! YAML file of `-c` and the resolved settings.

use std::time::Duration;

use clap::Args;
use lastbackend_core::controller::leader;
use lastbackend_core::ipam::subnet::{DEFAULT_CLUSTER_CIDR, DEFAULT_NODE_PREFIX};
use lastbackend_core::ipam::{DEFAULT_SERVICES_CIDR, Ipv4Cidr, PodCidr};
use serde::Deserialize;

use super::{CommonArgs, ConfigError, DomainFile, StorageArgs, StorageConfig, StorageFile};

/// The flags of `lastbackend controller`, each with its `LB_*` variable.
#[derive(Clone, Debug, Default, Args)]
pub struct ControllerArgs {
    /// Services IP CIDR for internal IPAM service [default: 10.96.0.0/16]
    /// (YAML `service.cidr`).
    #[arg(long, env = "LB_SERVICES_CIDR")]
    pub services_cidr: Option<String>,
    /// Pod network CIDR each node's pod subnet is carved from
    /// [default: 10.244.0.0/16] (YAML `network.cidr`).
    #[arg(long, env = "LB_CLUSTER_CIDR")]
    pub cluster_cidr: Option<String>,
    /// Prefix length of each node's pod subnet [default: 24] (YAML
    /// `network.node_mask_size`).
    #[arg(long, env = "LB_NODE_CIDR_MASK_SIZE")]
    pub node_cidr_mask_size: Option<u8>,
    /// Internal domain of service names [default: lb.local] (YAML
    /// `domain.internal`); the same as the API's and discovery's.
    #[arg(long, env = "LB_DOMAIN_INTERNAL")]
    pub domain_internal: Option<String>,
    /// Seconds a crashed leader keeps the other controllers waiting
    /// [default: 15] (YAML `lease_ttl`).
    #[arg(long, env = "LB_LEASE_TTL")]
    pub lease_ttl: Option<u64>,
    /// Where the cluster state lives.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// `--verbose` and `--config`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The YAML file of `lastbackend controller -c`, with the docs' keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControllerFile {
    verbose: Option<u8>,
    lease_ttl: Option<u64>,
    #[serde(default)]
    domain: DomainFile,
    #[serde(default)]
    storage: StorageFile,
    #[serde(default)]
    service: ServiceFile,
    #[serde(default)]
    network: NetworkFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    cidr: Option<String>,
    node_mask_size: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    cidr: Option<String>,
}

/// Everything `lastbackend controller` runs with, resolved and checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ControllerConfig {
    /// Where service VIPs come from.
    pub services_cidr: Ipv4Cidr,
    /// Where node pod subnets come from.
    pub pod_cidr: PodCidr,
    /// The zone of service names.
    pub domain_internal: String,
    /// The lead lease's TTL.
    pub lease_ttl: Duration,
    /// Storage.
    pub storage: StorageConfig,
    /// Log verbosity 0–7.
    pub verbose: u8,
}

impl ControllerConfig {
    /// Resolves flags and environment over the `--config` file over the
    /// defaults, and checks the result.
    pub fn load(args: ControllerArgs) -> Result<Self, ConfigError> {
        let mut file: ControllerFile = args.common.file()?;
        let verbose = args.common.verbose(file.verbose)?;
        let cidr = args
            .services_cidr
            .or(file.service.cidr)
            .unwrap_or_else(|| DEFAULT_SERVICES_CIDR.to_owned());
        let services_cidr = cidr.parse().map_err(|e| {
            ConfigError::invalid(
                "--services-cidr (YAML `service.cidr`)",
                format!("{e}: accepted an IPv4 CIDR such as {DEFAULT_SERVICES_CIDR}"),
            )
        })?;
        let setting = "--cluster-cidr / --node-cidr-mask-size (YAML `network.cidr`, `network.node_mask_size`)";
        let cluster = args
            .cluster_cidr
            .or(file.network.cidr)
            .unwrap_or_else(|| DEFAULT_CLUSTER_CIDR.to_owned());
        let pod_cidr = cluster
            .parse()
            .and_then(|cidr| {
                let mask = args.node_cidr_mask_size.or(file.network.node_mask_size);
                PodCidr::new(cidr, mask.unwrap_or(DEFAULT_NODE_PREFIX))
            })
            .map_err(|e| {
                ConfigError::invalid(
                    setting,
                    format!(
                        "{e}: accepted an IPv4 CIDR such as {DEFAULT_CLUSTER_CIDR} with a node \
                         mask size between its prefix and 30 (default {DEFAULT_NODE_PREFIX})"
                    ),
                )
            })?;
        let lease_ttl = match args.lease_ttl.or(file.lease_ttl) {
            None => leader::DEFAULT_TTL,
            Some(0) => {
                return Err(ConfigError::invalid(
                    "--lease-ttl (YAML `lease_ttl`)",
                    "must be at least 1 second",
                ));
            }
            Some(seconds) => Duration::from_secs(seconds),
        };
        let storage = args.storage.resolve(file.storage)?;
        Ok(Self {
            services_cidr,
            pod_cidr,
            domain_internal: file.domain.internal(args.domain_internal),
            lease_ttl,
            storage,
            verbose,
        })
    }
}

#[cfg(test)]
mod tests;
