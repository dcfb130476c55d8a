//! `lastbackend controller`: its flags (the docs' controller option table,
//! plus the storage directory, the internal domain and the lead TTL), the
//! YAML file of `-c` and the resolved settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use lastbackend_core::controller::leader;
use lastbackend_core::ipam::{DEFAULT_SERVICES_CIDR, Ipv4Cidr};
use serde::Deserialize;

use super::{
    ConfigError, DomainFile, StorageArgs, StorageConfig, StorageFile, check_verbose, load_yaml,
};

/// The flags of `lastbackend controller`, each with its `LB_*` variable.
#[derive(Clone, Debug, Default, Args)]
pub struct ControllerArgs {
    /// Services IP CIDR for internal IPAM service [default: 10.96.0.0/16]
    /// (YAML `service.cidr`).
    #[arg(long, env = "LB_SERVICES_CIDR")]
    pub services_cidr: Option<String>,
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
    /// Set log level from 0 to 7.
    #[arg(short, long, env = "LB_VERBOSE", value_parser = clap::value_parser!(u8).range(0..=7))]
    pub verbose: Option<u8>,
    /// Path for the configuration file (YAML).
    #[arg(short, long, env = "LB_CONFIG")]
    pub config: Option<PathBuf>,
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
        let file: ControllerFile = match &args.config {
            Some(path) => load_yaml(path)?,
            None => ControllerFile::default(),
        };
        let verbose = check_verbose(args.verbose.or(file.verbose).unwrap_or(0))?;
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
            domain_internal: args
                .domain_internal
                .or(file.domain.internal)
                .unwrap_or_else(|| "lb.local".to_owned()),
            lease_ttl,
            storage,
            verbose,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use clap::Parser;

    use super::*;
    use crate::config::StorageDriver;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ControllerArgs,
    }

    fn load(flags: &[&str]) -> Result<ControllerConfig, ConfigError> {
        let mut argv = vec!["controller"];
        argv.extend_from_slice(flags);
        ControllerConfig::load(Cli::try_parse_from(argv).unwrap().args)
    }

    #[test]
    fn defaults_are_the_docs_with_a_private_services_cidr() {
        let config = load(&[]).unwrap();
        assert_eq!(config.services_cidr.to_string(), DEFAULT_SERVICES_CIDR);
        assert_eq!(config.storage.driver, StorageDriver::Etcd);
        assert_eq!(config.storage.etcd_endpoints, ["127.0.0.1:2379"]);
        assert_eq!(config.storage.etcd_prefix, "lastbackend");
        assert_eq!(config.lease_ttl, leader::DEFAULT_TTL);
        assert_eq!(
            (config.verbose, config.domain_internal.as_str()),
            (0, "lb.local")
        );
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_the_defaults() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(
            b"verbose: 3\nlease_ttl: 5\nstorage:\n  driver: memory\n  etcd:\n    prefix: lb2\n    endpoints: [a:1, b:2]\nservice:\n  cidr: 10.10.0.0/24\n",
        )
        .unwrap();
        let path = file.path().to_str().unwrap();
        let config = load(&["-c", path]).unwrap();
        assert_eq!(config.services_cidr.to_string(), "10.10.0.0/24");
        assert_eq!(config.storage.driver, StorageDriver::Memory);
        assert_eq!(config.storage.etcd_endpoints, ["a:1", "b:2"]);
        assert_eq!(config.storage.etcd_prefix, "lb2");
        assert_eq!(
            (config.verbose, config.lease_ttl),
            (3, Duration::from_secs(5))
        );

        let config = load(&[
            "-c",
            path,
            "--services-cidr",
            "10.20.0.0/16",
            "--lease-ttl",
            "3",
            "-v",
            "7",
            "--etcd-endpoints",
            "c:3",
        ])
        .unwrap();
        assert_eq!(config.services_cidr.to_string(), "10.20.0.0/16");
        assert_eq!(config.lease_ttl, Duration::from_secs(3));
        assert_eq!(config.verbose, 7);
        assert_eq!(config.storage.etcd_endpoints, ["c:3"]);
    }

    #[test]
    fn bad_values_name_their_setting() {
        let err = load(&["--services-cidr", "10.0.0.0/33"]).unwrap_err();
        assert!(err.to_string().starts_with("--services-cidr"), "{err}");
        let err = load(&["--lease-ttl", "0"]).unwrap_err();
        assert!(err.to_string().starts_with("--lease-ttl"), "{err}");

        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"service:\n  cidrs: 10.0.0.0/8\n").unwrap();
        let err = load(&["-c", file.path().to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("service"), "{err}");
    }
}
