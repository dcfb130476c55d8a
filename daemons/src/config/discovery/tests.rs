use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

use super::*;
use crate::config::StorageDriver;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: DiscoveryArgs,
}

fn load(flags: &[&str]) -> Result<DiscoveryConfig, ConfigError> {
    let mut argv = vec!["discovery"];
    argv.extend_from_slice(flags);
    DiscoveryConfig::load(Cli::try_parse_from(argv).unwrap().args)
}

fn yaml(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

#[test]
fn defaults_follow_the_docs() {
    let config = load(&[]).unwrap();
    assert_eq!(config.listen, "0.0.0.0:53".parse().unwrap());
    assert_eq!(config.zone.origin.to_string(), "lb.local.");
    assert_eq!(config.zone.ttl, DEFAULT_TTL);
    assert_eq!(config.upstreams, Upstreams::System);
    assert_eq!(config.storage.driver, StorageDriver::Etcd);
    assert_eq!(config.storage.etcd_endpoints, ["127.0.0.1:2379"]);
    assert_eq!(config.storage.etcd_prefix, "lastbackend");
    assert_eq!(config.verbose, 0);
    assert!(config.api_uri.is_none() && config.access_token.is_none());
    assert!(config.advertise.is_none());
}

#[test]
fn every_yaml_key_of_the_docs_is_read() {
    let file = yaml(
        "verbose: 3\ntoken: secret\ndomain: {internal: cluster.test}\n\
         storage:\n  driver: mock\n  etcd:\n    prefix: lb2\n    endpoints: [a:1]\n    \
         tls: {cert: c.pem, key: k.pem, ca: ca.pem}\n\
         dns:\n  host: 127.0.0.1\n  port: 5353\n  ttl: 24h\n  upstream: [10.0.0.1, '10.0.0.2:5300']\n  \
         advertise: 10.1.1.1\n\
         api:\n  uri: http://127.0.0.1:2967\n  tls: {cert: a.pem, key: ak.pem, ca: aca.pem}\n",
    );
    let config = load(&["-c", file.path().to_str().unwrap()]).unwrap();
    assert_eq!(config.verbose, 3);
    assert_eq!(config.access_token.as_deref(), Some("secret"));
    assert_eq!(config.zone.origin.to_string(), "cluster.test.");
    assert_eq!(config.zone.ttl, 86400);
    assert_eq!(config.storage.driver, StorageDriver::Mock);
    assert_eq!(config.storage.etcd_prefix, "lb2");
    assert_eq!(config.storage.etcd_tls.ca, Some(PathBuf::from("ca.pem")));
    assert_eq!(config.listen, "127.0.0.1:5353".parse().unwrap());
    assert_eq!(
        config.upstreams,
        Upstreams::Servers(vec![
            "10.0.0.1:53".parse().unwrap(),
            "10.0.0.2:5300".parse().unwrap()
        ])
    );
    assert_eq!(config.advertise, Some("10.1.1.1".parse().unwrap()));
    assert_eq!(config.api_uri.as_deref(), Some("http://127.0.0.1:2967"));
    assert_eq!(config.api_tls.key, Some(PathBuf::from("ak.pem")));

    let file = yaml("dns:\n  ttl: 90\n  upstream: []\n");
    let config = load(&["-c", file.path().to_str().unwrap()]).unwrap();
    assert_eq!(config.zone.ttl, 90);
    assert_eq!(config.upstreams, Upstreams::Servers(vec![]));
}

#[test]
fn flags_win_over_the_file() {
    let file = yaml("dns:\n  port: 5353\n  ttl: 1m\n  upstream: [10.0.0.1]\n");
    let path = file.path().to_str().unwrap();
    let config = load(&[
        "-c",
        path,
        "--bind-port",
        "5454",
        "--dns-ttl",
        "1h30m",
        "--dns-upstream",
        "127.0.0.1:53,[::1]:5353",
        "--zone",
        "Other.Zone",
        "--bind-address",
        "127.0.0.2",
    ])
    .unwrap();
    assert_eq!(config.listen, "127.0.0.2:5454".parse().unwrap());
    assert_eq!(config.zone.ttl, 5400);
    assert_eq!(config.zone.origin.to_string(), "other.zone.");
    assert_eq!(
        config.upstreams,
        Upstreams::Servers(vec![
            "127.0.0.1:53".parse().unwrap(),
            "[::1]:5353".parse().unwrap()
        ])
    );
    let config = load(&["--dns-upstream", "none", "--domain-internal", "x.test"]).unwrap();
    assert_eq!(config.upstreams, Upstreams::Servers(vec![]));
    assert_eq!(config.zone.origin.to_string(), "x.test.");
}

#[test]
fn bad_values_name_their_setting() {
    for (flags, setting) in [
        (&["--dns-ttl", "5 minutes"][..], "--dns-ttl"),
        (&["--dns-ttl", "3000000000"][..], "--dns-ttl"),
        (&["--dns-ttl", "10x"][..], "--dns-ttl"),
        (&["--zone", "bad_zone.local"][..], "--zone"),
        (&["--zone", "."][..], "--zone"),
        (&["--dns-upstream", "dns.google"][..], "--dns-upstream"),
        (&["--dns-upstream", "10.0.0.1,none"][..], "--dns-upstream"),
        (&["--etcd-prefix", "/"][..], "--etcd-prefix"),
    ] {
        let err = load(flags).unwrap_err();
        assert!(err.to_string().starts_with(setting), "{flags:?}: {err}");
    }
    let file = yaml("dns:\n  tll: 30\n");
    let err = load(&["-c", file.path().to_str().unwrap()]).unwrap_err();
    assert!(err.to_string().contains("dns"), "{err}");
    let file = yaml("dns:\n  upstream: [nowhere]\n");
    let err = load(&["-c", file.path().to_str().unwrap()]).unwrap_err();
    assert!(err.to_string().contains("dns.upstream"), "{err}");
}
