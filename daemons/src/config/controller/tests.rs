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
    assert_eq!(config.pod_cidr, PodCidr::default());
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
        b"verbose: 3\nlease_ttl: 5\nstorage:\n  driver: memory\n  etcd:\n    prefix: lb2\n    endpoints: [a:1, b:2]\nservice:\n  cidr: 10.10.0.0/24\nnetwork:\n  cidr: 10.50.0.0/16\n  node_mask_size: 26\n",
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let config = load(&["-c", path]).unwrap();
    assert_eq!(config.services_cidr.to_string(), "10.10.0.0/24");
    assert_eq!(config.pod_cidr.cidr().to_string(), "10.50.0.0/16");
    assert_eq!(config.pod_cidr.node_prefix(), 26);
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
        "--cluster-cidr",
        "10.60.0.0/20",
    ])
    .unwrap();
    assert_eq!(config.pod_cidr.cidr().to_string(), "10.60.0.0/20");
    assert_eq!(config.pod_cidr.node_prefix(), 26, "the file's mask stays");
    assert_eq!(config.services_cidr.to_string(), "10.20.0.0/16");
    assert_eq!(config.lease_ttl, Duration::from_secs(3));
    assert_eq!(config.verbose, 7);
    assert_eq!(config.storage.etcd_endpoints, ["c:3"]);
}

#[test]
fn bad_values_name_their_setting() {
    let err = load(&["--services-cidr", "10.0.0.0/33"]).unwrap_err();
    assert!(err.to_string().starts_with("--services-cidr"), "{err}");
    for bad in [
        &["--cluster-cidr", "10.244.0.0"][..],
        &["--node-cidr-mask-size", "8"],
        &["--node-cidr-mask-size", "31"],
    ] {
        let err = load(bad).unwrap_err();
        assert!(err.to_string().starts_with("--cluster-cidr"), "{err}");
    }
    let err = load(&["--lease-ttl", "0"]).unwrap_err();
    assert!(err.to_string().starts_with("--lease-ttl"), "{err}");

    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"service:\n  cidrs: 10.0.0.0/8\n").unwrap();
    let err = load(&["-c", file.path().to_str().unwrap()]).unwrap_err();
    assert!(err.to_string().contains("service"), "{err}");
}
