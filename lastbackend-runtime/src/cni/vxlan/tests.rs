use super::*;

#[test]
fn bad_settings_are_refused_naming_the_setting() {
    let cases = [
        (VxlanConfig::default().device(""), "device name"),
        (
            VxlanConfig::default().device("sixteen-chars-xx"),
            "device name",
        ),
        (VxlanConfig::default().device("lb/0"), "device name"),
        (VxlanConfig::default().vni(0), "VNI"),
        (VxlanConfig::default().vni(1 << 24), "VNI"),
        (VxlanConfig::default().port(0), "port"),
    ];
    for (config, what) in cases {
        let err = config.check().unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
    let config = VxlanConfig::default();
    assert_eq!(
        (config.device.as_str(), config.vni, config.port),
        ("lb.vxlan", 1, 8472)
    );
    config.check().unwrap();
}

#[test]
fn the_driver_needs_a_tokio_runtime_and_says_so() {
    let err = Vxlan::new(VxlanConfig::default()).unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

#[tokio::test]
async fn peers_before_setup_and_bad_cidrs_are_clear_errors() {
    // Opening a netlink socket needs no privilege.
    let driver = Vxlan::new(VxlanConfig::default()).unwrap();
    let err = driver.sync_peers(&BTreeMap::new()).await.unwrap_err();
    assert!(err.to_string().contains("setup has not run"), "{err}");
    let local = SubnetSpec {
        cidr: "10.244.1.1/24".into(),
        ..SubnetSpec::default()
    };
    let err = driver.setup(&local).await.unwrap_err();
    assert!(err.to_string().contains("subnet cidr"), "{err}");
    let err = driver.ensure_bridge("cbr0", "nonsense").await.unwrap_err();
    assert!(err.to_string().contains("bridge cidr"), "{err}");
}
