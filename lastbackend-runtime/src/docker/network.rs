//! The pod network: one bridge network per node on the subnet the control
//! plane allotted.

use std::net::IpAddr;

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};

use super::{DRIVER, DockerRuntime, convert, is_status, message};
use crate::{Error, Result};

/// Makes sure bridge network `name` exists on `subnet` with `gateway`; an
/// existing one on another subnet is [`Error::Invalid`] naming it.
pub(super) async fn ensure(
    docker: &DockerRuntime,
    name: &str,
    subnet: &str,
    gateway: IpAddr,
) -> Result<()> {
    if name.is_empty() {
        return Err(convert::invalid("network name", "empty"));
    }
    let gateway = gateway.to_string();
    if check(docker, name, subnet, &gateway).await? {
        return Ok(());
    }
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".into()),
        ipam: Some(Ipam {
            driver: Some("default".into()),
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_owned()),
                gateway: Some(gateway.clone()),
                ..IpamConfig::default()
            }]),
            ..Ipam::default()
        }),
        ..NetworkCreateRequest::default()
    };
    match docker.docker.create_network(request).await {
        Ok(_) => Ok(()),
        // A bad subnet or gateway (400) is the caller's input.
        Err(e) if is_status(&e, 400) => Err(convert::invalid(
            format!("network {name}"),
            format!("subnet {subnet} gateway {gateway}: {}", message(&e)),
        )),
        // Another caller may have created it meanwhile (API 1.41 engines
        // then refuse ours for its overlapping pool, not its name): it is
        // fine if it matches.
        Err(e) => match check(docker, name, subnet, &gateway).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::backend(
                DRIVER,
                format_args!("create network {name}: {}", message(&e)),
            )),
            Err(mismatch) => Err(mismatch),
        },
    }
}

/// Whether `name` exists as wanted; `Invalid` when it exists otherwise.
async fn check(docker: &DockerRuntime, name: &str, subnet: &str, gateway: &str) -> Result<bool> {
    let network = match docker.docker.inspect_network(name, None).await {
        Ok(network) => network,
        Err(e) if is_status(&e, 404) => return Ok(false),
        Err(e) => {
            return Err(Error::backend(
                DRIVER,
                format_args!("inspect network {name}: {}", message(&e)),
            ));
        }
    };
    let configs = network
        .ipam
        .and_then(|ipam| ipam.config)
        .unwrap_or_default();
    let matches = configs.iter().any(|config| {
        config.subnet.as_deref() == Some(subnet)
            && config.gateway.as_deref().is_none_or(|g| g == gateway)
    });
    if matches {
        return Ok(true);
    }
    let found: Vec<String> = configs
        .iter()
        .map(|config| {
            format!(
                "subnet {} gateway {}",
                config.subnet.as_deref().unwrap_or("none"),
                config.gateway.as_deref().unwrap_or("none")
            )
        })
        .collect();
    Err(convert::invalid(
        format!("network {name}"),
        format!(
            "it exists with {} but subnet {subnet} gateway {gateway} is wanted; \
             remove it (docker network rm {name}) or choose another name",
            if found.is_empty() {
                "no subnet".to_owned()
            } else {
                found.join(", ")
            }
        ),
    ))
}
