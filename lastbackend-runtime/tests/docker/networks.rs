//! The pod network.

use std::net::{IpAddr, Ipv4Addr};

use lastbackend_runtime::{Cri, Error, NetworkMode};

use super::support::{Scope, cli_inspect, docker, random};

#[tokio::test]
async fn ensure_network_is_idempotent_and_refuses_another_subnet() {
    let Some(docker) = docker().await else { return };
    let scope = Scope::new();
    let name = scope.name("net");
    scope.network(&name);
    // A random /24 in 10.200.0.0/13; another may be taken on this host.
    let mut last = None;
    let (subnet, gateway) = loop {
        let n = random();
        let (b, c) = (200 + (n % 8) as u8, (n >> 8) as u8);
        let subnet = format!("10.{b}.{c}.0/24");
        let gateway = IpAddr::V4(Ipv4Addr::new(10, b, c, 1));
        match docker.ensure_network(&name, &subnet, gateway).await {
            Ok(()) => break (subnet, gateway),
            Err(e) if last.is_none() => last = Some(e),
            Err(e) => panic!("two subnets refused: {last:?}, {e}"),
        }
    };
    docker
        .ensure_network(&name, &subnet, gateway)
        .await
        .expect("idempotent");
    let json = cli_inspect(&name);
    assert_eq!(json["Driver"], "bridge");
    assert_eq!(json["IPAM"]["Config"][0]["Subnet"], subnet.as_str());
    assert_eq!(json["IPAM"]["Config"][0]["Gateway"], gateway.to_string());

    let err = docker
        .ensure_network(&name, "10.199.0.0/24", "10.199.0.1".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&name) && text.contains(&subnet), "{text}");

    let mut spec = scope.spec("member", "exec sleep 300");
    spec.network = NetworkMode::Network(name.clone());
    let id = docker.create(&spec).await.unwrap();
    docker.start(&id).await.unwrap();
    let ip = docker
        .inspect(&id)
        .await
        .unwrap()
        .ip
        .expect("an address on the network");
    let prefix = subnet.trim_end_matches("0/24");
    assert!(ip.to_string().starts_with(prefix), "{ip} in {subnet}");
}
