use std::io::Write;

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: NodeArgs,
}

fn load(flags: &[&str]) -> Result<NodeConfig, ConfigError> {
    let mut argv = vec!["node"];
    argv.extend_from_slice(flags);
    NodeConfig::load(Cli::try_parse_from(argv).unwrap().args)
}

#[test]
fn defaults_are_the_docs() {
    let config = load(&[]).unwrap();
    assert!(!config.node_name.is_empty());
    assert_eq!(config.api_uri, "http://127.0.0.1:2967");
    assert_eq!(config.storage_root, PathBuf::from("/var/run/lastbackend"));
    assert_eq!(config.bind.to_string(), "0.0.0.0:2969");
    assert_eq!(config.interface, "eth0");
    assert_eq!(
        (config.proxy, config.network),
        (ProxyDriver::Auto, NetworkDriver::Vxlan)
    );
    assert_eq!(config.proxy_interfaces.internal, "docker0");
    assert_eq!(config.network_interfaces.external, "eth0");
    assert_eq!((config.verbose, config.token.as_deref()), (0, None));
}

#[test]
fn flags_win_over_the_file_with_the_docs_keys() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(
        b"verbose: 2
token: from-file
name: n1
workdir: /tmp/w
manifest:
  dir: /etc/lb/manifests
network:
  interface: ens3
  cpi:
    type: nftables
    interface:
      external: ens3
      internal: lb0
  cni:
    type: none
    iterface:
      external: ens4
      internal: br0
container:
  cri:
    type: docker
    docker:
      version: '1.41'
  csi:
    dir:
      root: /srv/lb
  iri:
    type: docker
server:
  host: 127.0.0.1
  port: 3000
  tls:
    cert: /c.pem
    key: /k.pem
api:
  uri: http://10.0.0.1:2967
  tls:
    ca: /ca.pem
",
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let config = load(&["-c", path]).unwrap();
    assert_eq!(config.node_name, "n1");
    assert_eq!(config.token.as_deref(), Some("from-file"));
    assert_eq!(
        config.manifest_dir,
        Some(PathBuf::from("/etc/lb/manifests"))
    );
    assert_eq!(
        (config.proxy, config.network),
        (ProxyDriver::Nftables, NetworkDriver::None)
    );
    assert_eq!(config.proxy_interfaces.internal, "lb0");
    assert_eq!(config.network_interfaces.external, "ens4");
    assert_eq!(config.docker_version.as_deref(), Some("1.41"));
    assert_eq!(config.storage_root, PathBuf::from("/srv/lb"));
    assert_eq!(config.bind.to_string(), "127.0.0.1:3000");
    assert_eq!(config.api_uri, "http://10.0.0.1:2967");
    assert_eq!(config.api_tls.ca, Some(PathBuf::from("/ca.pem")));
    assert_eq!(config.verbose, 2);

    let config = load(&[
        "-c",
        path,
        "--node-name",
        "n2",
        "--access-token",
        "flag",
        "--network-proxy",
        "none",
        "--container-storage-root",
        "/x",
        "--api-uri",
        "http://api:1",
        "--bind-port",
        "4000",
        "-v",
        "5",
    ])
    .unwrap();
    assert_eq!(config.node_name, "n2");
    assert_eq!(config.token.as_deref(), Some("flag"));
    assert_eq!(config.proxy, ProxyDriver::None);
    assert_eq!(config.storage_root, PathBuf::from("/x"));
    assert_eq!(config.api_uri, "http://api:1");
    assert_eq!(config.bind.port(), 4000);
    assert_eq!(config.verbose, 5);
}

#[test]
fn bad_values_name_their_setting() {
    let err = load(&["--network-proxy", "iptables"]).unwrap_err();
    assert!(err.to_string().starts_with("--network-proxy"), "{err}");
    let err = load(&["--container-runtime", "containerd"]).unwrap_err();
    assert!(err.to_string().starts_with("--container-runtime"), "{err}");
    let err = load(&["--container-runtime-docker-version", "latest"]).unwrap_err();
    assert!(err.to_string().contains("1.41"), "{err}");
    let err = load(&["--api-tls-cert-file", "/c.pem"]).unwrap_err();
    assert!(err.to_string().contains("api.tls"), "{err}");

    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"container:\n  csi:\n    dir:\n      rot: /x\n")
        .unwrap();
    let err = load(&["-c", file.path().to_str().unwrap()]).unwrap_err();
    assert!(err.to_string().contains("container.csi.dir"), "{err}");
}

#[test]
fn an_empty_token_is_no_token() {
    let config = load(&["--access-token", ""]).unwrap();
    assert_eq!(config.token, None);
}
