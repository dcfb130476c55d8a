//! The exporter as a cluster member: it registers with the API, pushes its
//! presence and addresses, and re-registers when the API forgot it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use lastbackend_core::api::ControlPlane;
use lastbackend_core::api::types::MemberReport;
use lastbackend_core::model::Kind;

/// Registers exporter `name` with `report` (its addresses; it is marked
/// ready), then pushes it every `every` to keep its heartbeat, registering
/// again whenever the API answers that it does not know it. Never ends;
/// failures are logged and retried at the next tick.
pub async fn keep_registered(
    control_plane: Arc<dyn ControlPlane>,
    name: String,
    mut report: MemberReport,
    every: Duration,
) {
    report.presence.ready = true;
    let mut registered = false;
    loop {
        if registered {
            match control_plane
                .member_status(Kind::Exporter, &name, report.clone())
                .await
            {
                Ok(_) => {}
                Err(error) if error.is_not_found() => registered = false,
                Err(error) => tracing::warn!(%error, "exporter status push failed"),
            }
        }
        if !registered {
            match control_plane
                .register_member(Kind::Exporter, &name, report.clone())
                .await
            {
                Ok(()) => {
                    registered = true;
                    tracing::info!(name, http = ?report.http, listener = ?report.listener, "registered as exporter");
                }
                Err(error) => tracing::warn!(%error, "exporter registration failed"),
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// The address others reach a socket bound on `bind` at: `bind` itself
/// unless unspecified (`0.0.0.0`), else the first IPv4 address of
/// `interface` (per `ip -4 -o addr show dev <interface>`), else loopback.
pub async fn advertised(bind: SocketAddr, interface: &str) -> SocketAddr {
    if !bind.ip().is_unspecified() {
        return bind;
    }
    let output = tokio::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", interface])
        .output()
        .await;
    let found = output.ok().and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|cidr| cidr.split('/').next()?.parse::<IpAddr>().ok())
    });
    let ip = found.unwrap_or_else(|| {
        tracing::warn!(
            interface,
            "--bind-interface has no IPv4 address; advertising 127.0.0.1"
        );
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    });
    SocketAddr::new(ip, bind.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_specific_bind_is_advertised_as_is_and_any_by_the_interface() {
        let bind: SocketAddr = "10.1.2.3:2963".parse().unwrap();
        assert_eq!(advertised(bind, "eth0").await, bind);
        let any: SocketAddr = "0.0.0.0:2964".parse().unwrap();
        assert_eq!(
            advertised(any, "lo").await,
            "127.0.0.1:2964".parse().unwrap()
        );
        // No such interface: loopback, with a warning.
        assert_eq!(
            advertised(any, "lb-test-none0").await,
            "127.0.0.1:2964".parse().unwrap()
        );
    }
}
