use std::io::Write;

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: IngressArgs,
}

fn load(flags: &[&str]) -> Result<IngressConfig, ConfigError> {
    let mut argv = vec!["ingress"];
    argv.extend_from_slice(flags);
    IngressConfig::load(Cli::try_parse_from(argv).unwrap().args)
}

#[test]
fn defaults_follow_the_docs() {
    let config = load(&["--bind-interface", "any"]).unwrap();
    assert_eq!(
        config.haproxy.config_path,
        PathBuf::from(DEFAULT_HAPROXY_CONFIG)
    );
    assert_eq!(config.haproxy.pid_path, PathBuf::from(DEFAULT_HAPROXY_PID));
    let stats = config.haproxy.stats.unwrap();
    assert_eq!((stats.port, stats.credentials), (DEFAULT_STAT_PORT, None));
    assert_eq!(config.api_uri, "http://127.0.0.1:2967");
    assert_eq!(config.network.proxy, "ipvs");
    assert_eq!(config.network.resolvers.len(), 2);
    assert_eq!(config.haproxy.interface, None);
}

#[test]
fn stats_credentials_are_applied_and_checked() {
    let config = load(&[
        "--bind-interface=lo",
        "--haproxy-stat-port=9000",
        "--haproxy-stat-username=admin",
        "--haproxy-stat-password=pw",
    ])
    .unwrap();
    let stats = config.haproxy.stats.unwrap();
    assert_eq!(stats.port, 9000);
    assert_eq!(stats.credentials, Some(("admin".into(), "pw".into())));
    assert_eq!(config.haproxy.interface.as_deref(), Some("lo"));
    let err = load(&["--bind-interface=any", "--haproxy-stat-username=admin"]).unwrap_err();
    assert!(
        err.to_string().starts_with("--haproxy-stat-password"),
        "{err}"
    );
    let off = load(&["--bind-interface=any", "--haproxy-stat-port=0"]).unwrap();
    assert!(off.haproxy.stats.is_none());
    let err = load(&["--bind-interface=nosuch0"]).unwrap_err();
    assert!(err.to_string().starts_with("--bind-interface"), "{err}");
}

#[test]
fn the_docs_yaml_keys_load() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(
        b"verbose: 3\ntoken: t\nhaproxy:\n  config: /tmp/x/haproxy.cfg\n  pid: /tmp/x/h.pid\n  exec: /bin/true\n  stats: {username: u, password: p, port: 1937}\nnetwork:\n  interface: any\n  cpi: {type: nftables, interface: {external: e, internal: i}}\n  cni: {type: vxlan, iterface: {external: e2, internal: i2}}\n  resolver: {servers: [1.1.1.1]}\napi:\n  uri: http://api:2967\n  tls: {ca: /tmp/ca.pem}\n",
    )
    .unwrap();
    let config = load(&["-c", file.path().to_str().unwrap()]).unwrap();
    assert_eq!(config.verbose, 3);
    assert_eq!(config.token.as_deref(), Some("t"));
    assert_eq!(config.haproxy.exec, PathBuf::from("/bin/true"));
    assert_eq!(config.haproxy.stats.unwrap().port, 1937);
    assert_eq!(config.network.driver_interfaces, ("i2".into(), "e2".into()));
    assert_eq!(config.network.proxy, "nftables");
    assert_eq!(config.api_uri, "http://api:2967");
    let mut bad = tempfile::NamedTempFile::new().unwrap();
    bad.write_all(b"haproxy:\n  stat: {}\n").unwrap();
    let err = load(&["-c", bad.path().to_str().unwrap()]).unwrap_err();
    assert!(err.to_string().contains("haproxy"), "{err}");
}
