//! The host a daemon runs on: its name, which names a node by default and
//! every cluster member (`<kind>/<hostname>`) and lead holder, and the
//! address others reach it at.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// This machine's name as the kernel has it (the UTS namespace's, what
/// `uname -n` prints), or `localhost` when it cannot be read or is empty.
///
/// Only the kernel is asked: `$HOSTNAME` is a shell variable, seldom
/// exported, and when it is, it may be stale or describe another
/// namespace, so a member and its node could register under two names.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
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
    use std::net::SocketAddr;

    use super::advertised;

    #[test]
    fn the_hostname_is_the_kernels() {
        let name = super::hostname();
        assert!(!name.is_empty() && !name.contains(char::is_whitespace));
        if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            assert_eq!(name, kernel.trim());
        }
    }

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
