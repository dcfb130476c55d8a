use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

use super::*;
use crate::config::{DEFAULT_DATA_DIR, StorageDriver};

/// `lastbackend api` flags alone, as clap parses them.
#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: ApiArgs,
}

fn args(flags: &[&str]) -> ApiArgs {
    let mut argv = vec!["api"];
    argv.extend_from_slice(flags);
    Cli::try_parse_from(argv).unwrap().args
}

fn yaml(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn load(flags: &[&str]) -> Result<ApiConfig, ConfigError> {
    ApiConfig::load(args(flags))
}

#[test]
fn defaults_follow_the_docs() {
    let config = load(&["--access-token", "t"]).unwrap();
    assert_eq!(config.listen, "0.0.0.0:2967".parse().unwrap());
    assert_eq!(config.domain_internal, "lb.local");
    assert_eq!(config.storage.driver, StorageDriver::Etcd);
    assert_eq!(config.storage.etcd_endpoints, ["127.0.0.1:2379"]);
    assert_eq!(config.storage.etcd_prefix, "lastbackend");
    assert_eq!(config.storage.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert_eq!(config.body_limit, DEFAULT_BODY_LIMIT);
    assert_eq!(config.access, Access::Token("t".into()));
    assert!(config.tls.is_none());
}

#[test]
fn every_yaml_key_of_the_docs_is_read() {
    let file = yaml(
        "verbose: 3\ntoken: from-file\nname: prod\ndescription: main cluster\n\
         domain: {internal: cluster.local, external: example.com}\n\
         storage:\n  driver: embedded\n  dir: /tmp/lb\n  etcd:\n    prefix: lb2\n    \
         endpoints: [10.0.0.1:2379, 10.0.0.2:2379]\n    tls: {cert: c.pem, key: k.pem, ca: ca.pem}\n\
         server:\n  host: 127.0.0.1\n  port: 8080\n  tls: {cert: s.pem, key: sk.pem, ca: sca.pem}\n\
         vault: {endpoint: http://vault, token: v}\n",
    );
    let config = load(&["-c", file.path().to_str().unwrap()]).unwrap();
    assert_eq!(config.verbose, 3);
    assert_eq!(config.access, Access::Token("from-file".into()));
    assert_eq!(
        (
            config.cluster_name.as_str(),
            config.cluster_description.as_str()
        ),
        ("prod", "main cluster")
    );
    assert_eq!(config.domain_internal, "cluster.local");
    assert_eq!(config.domain_external, "example.com");
    assert_eq!(config.storage.driver, StorageDriver::Embedded);
    assert_eq!(config.storage.data_dir, PathBuf::from("/tmp/lb"));
    assert_eq!(config.storage.etcd_prefix, "lb2");
    assert_eq!(
        config.storage.etcd_endpoints,
        ["10.0.0.1:2379", "10.0.0.2:2379"]
    );
    assert_eq!(config.storage.etcd_tls.ca, Some(PathBuf::from("ca.pem")));
    assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
    let tls = config.tls.unwrap();
    assert_eq!(tls.client_ca, Some(PathBuf::from("sca.pem")));
    assert!(config.vault_configured);
}

#[test]
fn flags_win_over_the_file_which_wins_over_defaults() {
    let file = yaml("token: file\nname: file-name\nserver: {port: 9000, host: 10.1.1.1}\n");
    let path = file.path().to_str().unwrap();
    let cases: &[(&[&str], u16, &str, &str)] = &[
        (&[], 9000, "10.1.1.1", "file-name"),
        (&["--bind-port", "7000"], 7000, "10.1.1.1", "file-name"),
        (
            &["--bind-address", "127.0.0.2", "--cluster-name", "flag"],
            9000,
            "127.0.0.2",
            "flag",
        ),
    ];
    for (flags, port, host, name) in cases {
        let mut all = vec!["-c", path];
        all.extend_from_slice(flags);
        let config = load(&all).unwrap();
        assert_eq!(config.listen.port(), *port, "{flags:?}");
        assert_eq!(config.listen.ip().to_string(), *host, "{flags:?}");
        assert_eq!(config.cluster_name, *name, "{flags:?}");
        assert_eq!(config.access, Access::Token("file".into()));
    }
    let config = load(&["-c", path, "--access-token", "flag"]).unwrap();
    assert_eq!(config.access, Access::Token("flag".into()));
}

#[test]
fn an_unknown_yaml_key_is_named() {
    let file = yaml("server:\n  tls:\n    crt: x.pem\n");
    let error = load(&["-c", file.path().to_str().unwrap()]).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("server.tls"), "{text}");
    assert!(text.contains("crt"), "{text}");
    assert!(text.contains("cert"), "{text}");
}

#[test]
fn a_bad_yaml_value_names_the_key_and_the_accepted_values() {
    let file = yaml("token: t\nstorage: {driver: mongo}\n");
    let text = load(&["-c", file.path().to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(text.contains("storage.driver"), "{text}");
    assert!(text.contains("etcd") && text.contains("embedded"), "{text}");
    let file = yaml("token: t\nverbose: 9\n");
    let text = load(&["-c", file.path().to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("--verbose") && text.contains("0 to 7"),
        "{text}"
    );
}

#[test]
fn a_bad_flag_value_names_the_flag_and_the_accepted_values() {
    let error = Cli::try_parse_from(["api", "--storage", "mongo"]).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("--storage"), "{text}");
    assert!(text.contains("memory, mock, embedded, etcd"), "{text}");
    let error = Cli::try_parse_from(["api", "-v", "8"]).unwrap_err();
    assert!(error.to_string().contains("--verbose"));
}

#[test]
fn an_open_api_must_be_asked_for() {
    for flags in [&["--access-token", ""][..], &[]] {
        let text = load(flags).unwrap_err().to_string();
        assert!(text.contains("--access-token"), "{text}");
        assert!(text.contains("--insecure-no-auth"), "{text}");
    }
    let config = load(&["--access-token", "", "--insecure-no-auth"]).unwrap();
    assert_eq!(config.access, Access::Open);
    let file = yaml("insecure_no_auth: true\n");
    let config = load(&["-c", file.path().to_str().unwrap()]).unwrap();
    assert_eq!(config.access, Access::Open);
    let text = load(&["--access-token", "t", "--insecure-no-auth"])
        .unwrap_err()
        .to_string();
    assert!(text.contains("--insecure-no-auth"), "{text}");
}

#[test]
fn tls_needs_both_certificate_and_key() {
    let text = load(&["--access-token", "t", "--tls-cert-file", "c.pem"])
        .unwrap_err()
        .to_string();
    assert!(text.contains("--tls-private-key-file"), "{text}");
    let text = load(&["--access-token", "t", "--tls-ca-file", "ca.pem"])
        .unwrap_err()
        .to_string();
    assert!(text.contains("--tls-cert-file"), "{text}");
    let config = load(&[
        "--access-token",
        "t",
        "--tls-cert-file",
        "c.pem",
        "--tls-private-key-file",
        "k.pem",
    ])
    .unwrap();
    assert_eq!(config.tls.unwrap().client_ca, None);
}

#[test]
fn etcd_endpoints_split_on_commas() {
    let config = load(&[
        "--access-token",
        "t",
        "--etcd-endpoints",
        "a:2379,b:2379",
        "--storage",
        "mock",
    ])
    .unwrap();
    assert_eq!(config.storage.etcd_endpoints, ["a:2379", "b:2379"]);
    assert_eq!(config.storage.driver, StorageDriver::Mock);
}
