use super::*;

fn load(args: UpArgs) -> Result<UpConfig, ConfigError> {
    UpConfig::load(UpArgs {
        data_dir: Some("/tmp/lb-up-test".into()),
        ..args
    })
}

#[test]
fn defaults_run_everything_on_the_embedded_store() {
    let config = load(UpArgs::default()).unwrap();
    assert_eq!(config.api.storage.driver, StorageDriver::Embedded);
    assert_eq!(config.api.storage.data_dir, Path::new("/tmp/lb-up-test"));
    assert_eq!(config.api.listen.port(), crate::config::DEFAULT_API_PORT);
    assert_eq!(config.discovery.as_ref().unwrap().listen.port(), 53);
    let node = config.node.as_ref().unwrap();
    assert_eq!(node.network, crate::config::NetworkDriver::None);
    assert_eq!(node.storage_root, Path::new("/tmp/lb-up-test/volumes"));
    assert_eq!(
        config.ingress.as_ref().unwrap().haproxy.config_path,
        Path::new("/tmp/lb-up-test/ingress/haproxy.cfg")
    );
    assert!(config.exporter.is_some());
    assert_eq!(config.token, None);
    assert_eq!(config.token_file(), Path::new("/tmp/lb-up-test/token"));
}

#[test]
fn disabled_components_are_left_out() {
    let config = load(UpArgs {
        disable: vec![Component::Node, Component::Ingress],
        ..UpArgs::default()
    })
    .unwrap();
    assert!(config.node.is_none());
    assert!(config.ingress.is_none());
    assert!(config.discovery.is_some() && config.exporter.is_some());
}

#[test]
fn a_given_token_is_the_apis() {
    let config = load(UpArgs {
        access_token: Some("s3cret".into()),
        ..UpArgs::default()
    })
    .unwrap();
    assert_eq!(
        config.api.access,
        crate::config::Access::Token("s3cret".into())
    );
    let empty = load(UpArgs {
        access_token: Some(String::new()),
        ..UpArgs::default()
    })
    .unwrap_err();
    assert!(empty.to_string().starts_with("--access-token:"), "{empty}");
}

#[test]
fn component_checks_apply() {
    let error = load(UpArgs {
        network_proxy: Some("iptables".into()),
        ..UpArgs::default()
    })
    .unwrap_err();
    assert!(error.to_string().contains("--network-proxy"), "{error}");
    let error = load(UpArgs {
        network_driver: Some("flannel".into()),
        ..UpArgs::default()
    })
    .unwrap_err();
    assert!(error.to_string().contains("--network-driver"), "{error}");
}

#[test]
fn the_user_data_dir_follows_xdg() {
    assert_eq!(
        user_data_dir(Some("/x".into()), Some("/home/u".into())),
        Path::new("/x/lastbackend")
    );
    assert_eq!(
        user_data_dir(Some("relative".into()), Some("/home/u".into())),
        Path::new("/home/u/.local/share/lastbackend")
    );
    assert_eq!(user_data_dir(None, None), Path::new("/var/lib/lastbackend"));
}
