//! Port mappings and their protocols.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::UnitError;

const PROTOCOL_ACCEPTED: &str = "tcp, udp or * (both), any case";
const MAPPING_ACCEPTED: &str = "[ip:][host:]container[/tcp|udp|*], \
    e.g. 8080, 80:8080/tcp, 53/udp, 0.0.0.0:80:8080, 127.0.0.1::8080, [::1]:80:8080";

/// The transport protocol of a [`PortMapping`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    /// TCP, the default when none is given.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// Both TCP and UDP, written `*`.
    Both,
}

impl Protocol {
    /// Parses a protocol; the same as [`str::parse`].
    pub fn parse(s: &str) -> Result<Self, UnitError> {
        s.parse()
    }

    /// The canonical name: `tcp`, `udp` or `*`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Both => "*",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("tcp") {
            Some(Self::Tcp)
        } else if name.eq_ignore_ascii_case("udp") {
            Some(Self::Udp)
        } else if name == "*" {
            Some(Self::Both)
        } else {
            None
        }
    }
}

impl FromStr for Protocol {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let name = s.trim();
        Self::from_name(name).ok_or_else(|| UnitError {
            what: "protocol",
            value: s.to_owned(),
            reason: if name.is_empty() {
                "empty value"
            } else {
                "unknown protocol"
            }
            .into(),
            accepted: PROTOCOL_ACCEPTED,
        })
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container port published on the host: `[ip:][host:]container[/proto]`.
///
/// - `8080`, `53/udp`: a container port, no host port;
/// - `80:8080`: host port 80 to container port 8080;
/// - `0.0.0.0:2967`: host address and port, the container port is the same;
/// - `0.0.0.0:80:8080`, `[::1]:80:8080`: host address (IPv6 in brackets),
///   host port and container port;
/// - `127.0.0.1::8080`: a host address with any free host port.
///
/// The protocol is `tcp` (the default), `udp` or `*` for both. Ports are
/// 1–65535. A missing host address is `None` (the original assumed
/// `127.0.0.1`; the consumer decides). Prints in the same syntax, always with
/// the protocol; serializes as that string and deserializes from a string or
/// from an integer (a container port).
///
/// ```
/// use lastbackend_core::units::{PortMapping, Protocol};
///
/// let port: PortMapping = "0.0.0.0:2967/tcp".parse()?;
/// assert_eq!(port.host_ip, Some([0, 0, 0, 0].into()));
/// assert_eq!((port.host_port, port.container_port), (Some(2967), 2967));
/// assert_eq!(port.to_string(), "0.0.0.0:2967:2967/tcp");
///
/// let dns: PortMapping = "53/udp".parse()?;
/// assert_eq!((dns.host_port, dns.container_port, dns.protocol), (None, 53, Protocol::Udp));
/// # Ok::<(), lastbackend_core::units::UnitError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortMapping {
    /// The host address to bind; `None` leaves the choice to the consumer.
    pub host_ip: Option<IpAddr>,
    /// The host port; `None` publishes nothing or, with a `host_ip`, lets the
    /// host pick a free port.
    pub host_port: Option<u16>,
    /// The port inside the container.
    pub container_port: u16,
    /// The transport protocol.
    pub protocol: Protocol,
}

impl PortMapping {
    /// Parses a mapping; the same as [`str::parse`].
    pub fn parse(s: &str) -> Result<Self, UnitError> {
        s.parse()
    }
}

/// Parses one port: decimal digits, 1–65535.
fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() {
        return Err("missing port".into());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port {s:?}"));
    }
    match s.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!("port {s} out of range 1-65535")),
    }
}

/// Parses `host:container`, `host` (the container port is the same) or
/// `:container` (any host port) after a host address.
fn parse_after_address(ip: IpAddr, ports: &str) -> Result<PortMapping, String> {
    let (host_port, container_port) = match ports.split_once(':') {
        Some(("", container)) => (None, parse_port(container)?),
        Some((host, container)) => (Some(parse_port(host)?), parse_port(container)?),
        None => {
            let port = parse_port(ports)?;
            (Some(port), port)
        }
    };
    Ok(PortMapping {
        host_ip: Some(ip),
        host_port,
        container_port,
        protocol: Protocol::Tcp,
    })
}

/// Parses everything before the `/protocol`.
fn parse_address_and_ports(s: &str) -> Result<PortMapping, String> {
    if let Some(bracketed) = s.strip_prefix('[') {
        let Some((address, rest)) = bracketed.split_once(']') else {
            return Err("missing ']' after the IPv6 address".into());
        };
        let ip = address
            .parse::<Ipv6Addr>()
            .map_err(|_| format!("invalid IPv6 address {address:?}"))?;
        let Some(ports) = rest.strip_prefix(':') else {
            return Err("expected ':' and a host port after the address".into());
        };
        return parse_after_address(IpAddr::V6(ip), ports);
    }
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [container] => Ok(PortMapping {
            host_ip: None,
            host_port: None,
            container_port: parse_port(container)?,
            protocol: Protocol::Tcp,
        }),
        [first, rest @ ..] if rest.len() <= 2 && first.contains('.') => {
            let ip = first
                .parse::<IpAddr>()
                .map_err(|_| format!("invalid IP address {first:?}"))?;
            parse_after_address(ip, s.get(first.len() + 1..).unwrap_or_default())
        }
        [host, container] => Ok(PortMapping {
            host_ip: None,
            host_port: Some(parse_port(host)?),
            container_port: parse_port(container)?,
            protocol: Protocol::Tcp,
        }),
        [first, _, _] if !first.is_empty() && s.parse::<Ipv6Addr>().is_err() => {
            Err(format!("invalid IP address {first:?}"))
        }
        _ => Err("too many ':'; an IPv6 address goes in brackets, e.g. [::1]:80:8080".into()),
    }
}

impl FromStr for PortMapping {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let error = |reason: String| UnitError {
            what: "port mapping",
            value: s.to_owned(),
            reason,
            accepted: MAPPING_ACCEPTED,
        };
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(error("empty value".into()));
        }
        let (ports, protocol) = match trimmed.split_once('/') {
            Some((ports, protocol)) => {
                let Some(protocol) = Protocol::from_name(protocol) else {
                    return Err(error(format!("unknown protocol {protocol:?}")));
                };
                (ports, protocol)
            }
            None => (trimmed, Protocol::Tcp),
        };
        let mapping = parse_address_and_ports(ports).map_err(error)?;
        Ok(Self {
            protocol,
            ..mapping
        })
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V4(ip)) => write!(f, "{ip}:")?,
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            None => {}
        }
        match (self.host_port, self.host_ip) {
            (Some(port), _) => write!(f, "{port}:")?,
            // `ip::container`: an address with no host port keeps its empty slot.
            (None, Some(_)) => f.write_str(":")?,
            (None, None) => {}
        }
        write!(f, "{}/{}", self.container_port, self.protocol)
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ProtocolVisitor)
    }
}

struct ProtocolVisitor;

impl Visitor<'_> for ProtocolVisitor {
    type Value = Protocol;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a protocol: \"tcp\", \"udp\" or \"*\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Protocol, E> {
        v.parse().map_err(E::custom)
    }
}

impl Serialize for PortMapping {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortMapping {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PortMappingVisitor)
    }
}

struct PortMappingVisitor;

impl Visitor<'_> for PortMappingVisitor {
    type Value = PortMapping;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a port mapping such as \"80:8080/tcp\" or a container port")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PortMapping, E> {
        v.parse().map_err(E::custom)
    }

    // A bare number (`ports: [8080]` in YAML) is a container port.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortMapping, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortMapping, E> {
        self.visit_str(&v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(
        ip: Option<&str>,
        host: Option<u16>,
        container: u16,
        protocol: Protocol,
    ) -> PortMapping {
        PortMapping {
            host_ip: ip.map(|ip| ip.parse().unwrap()),
            host_port: host,
            container_port: container,
            protocol,
        }
    }

    #[test]
    fn parses_every_accepted_form() {
        use Protocol::{Both, Tcp, Udp};
        let cases = [
            // The original's spec cases.
            (
                "0.0.0.0:2967:2967/tcp",
                mapping(Some("0.0.0.0"), Some(2967), 2967, Tcp),
            ),
            (
                "0.0.0.0:2967/tcp",
                mapping(Some("0.0.0.0"), Some(2967), 2967, Tcp),
            ),
            ("2967:2967/tcp", mapping(None, Some(2967), 2967, Tcp)),
            ("2967:2967", mapping(None, Some(2967), 2967, Tcp)),
            ("80:8080/tcp", mapping(None, Some(80), 8080, Tcp)),
            ("53/udp", mapping(None, None, 53, Udp)),
            ("8080/*", mapping(None, None, 8080, Both)),
            // Beyond them.
            ("8080", mapping(None, None, 8080, Tcp)),
            (" 8080/TCP ", mapping(None, None, 8080, Tcp)),
            ("53:53/UDP", mapping(None, Some(53), 53, Udp)),
            ("1:65535", mapping(None, Some(1), 65535, Tcp)),
            (
                "127.0.0.1::8080",
                mapping(Some("127.0.0.1"), None, 8080, Tcp),
            ),
            ("[::1]:80:8080", mapping(Some("::1"), Some(80), 8080, Tcp)),
            ("[::1]:80/udp", mapping(Some("::1"), Some(80), 80, Udp)),
            (
                "[fe80::1]::8080/*",
                mapping(Some("fe80::1"), None, 8080, Both),
            ),
            (
                "[::ffff:1.2.3.4]:80:80",
                mapping(Some("::ffff:1.2.3.4"), Some(80), 80, Tcp),
            ),
            ("080:08080", mapping(None, Some(80), 8080, Tcp)),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<PortMapping>(), Ok(expected), "{input:?}");
        }
    }

    #[test]
    fn rejects_malformed_mappings_naming_the_value_and_the_accepted_forms() {
        let ipv6_hint = "too many ':'; an IPv6 address goes in brackets, e.g. [::1]:80:8080";
        let cases: &[(&str, &str)] = &[
            ("", "empty value"),
            ("0", "port 0 out of range 1-65535"),
            ("70000", "port 70000 out of range 1-65535"),
            ("80:0", "port 0 out of range 1-65535"),
            (
                "99999999999999999999",
                "port 99999999999999999999 out of range 1-65535",
            ),
            ("-80", "invalid port \"-80\""),
            ("+80", "invalid port \"+80\""),
            ("http", "invalid port \"http\""),
            ("80 :8080", "invalid port \"80 \""),
            ("80/sctp", "unknown protocol \"sctp\""),
            ("80/", "unknown protocol \"\""),
            ("80/ tcp", "unknown protocol \" tcp\""),
            ("80/tcp/udp", "unknown protocol \"tcp/udp\""),
            ("/tcp", "missing port"),
            (":8080", "missing port"),
            ("80:", "missing port"),
            ("0.0.0.0:", "missing port"),
            ("0.0.0.0", "invalid port \"0.0.0.0\""),
            ("1.2.3:80:8080", "invalid IP address \"1.2.3\""),
            ("localhost:80:8080", "invalid IP address \"localhost\""),
            ("0.0.0.0:1:2:3", ipv6_hint),
            ("::1:80:8080", ipv6_hint),
            ("fe80::1", ipv6_hint),
            ("[::1", "missing ']' after the IPv6 address"),
            ("[::1]", "expected ':' and a host port after the address"),
            ("[::1]80", "expected ':' and a host port after the address"),
            ("[1.2.3.4]:80", "invalid IPv6 address \"1.2.3.4\""),
            ("[::1]:80:8080:1", "invalid port \"8080:1\""),
        ];
        for &(input, reason) in cases {
            let err = input.parse::<PortMapping>().unwrap_err();
            assert_eq!(err.value, input);
            assert_eq!(err.reason, reason, "{input:?}");
            let message = err.to_string();
            assert!(message.contains(&format!("{input:?}")), "{message}");
            assert!(
                message.contains("accepted forms: [ip:][host:]container[/tcp|udp|*]"),
                "{message}"
            );
            assert!(message.contains("80:8080/tcp, 53/udp"), "{message}");
        }
    }

    #[test]
    fn displays_canonically_with_the_protocol() {
        use Protocol::{Both, Tcp, Udp};
        let cases = [
            (mapping(None, None, 53, Udp), "53/udp"),
            (mapping(None, Some(80), 8080, Tcp), "80:8080/tcp"),
            (
                mapping(Some("0.0.0.0"), Some(2967), 2967, Tcp),
                "0.0.0.0:2967:2967/tcp",
            ),
            (
                mapping(Some("127.0.0.1"), None, 8080, Both),
                "127.0.0.1::8080/*",
            ),
            (
                mapping(Some("::1"), Some(80), 8080, Tcp),
                "[::1]:80:8080/tcp",
            ),
            (mapping(Some("::1"), None, 8080, Tcp), "[::1]::8080/tcp"),
        ];
        for (mapping, text) in cases {
            assert_eq!(mapping.to_string(), text);
            assert_eq!(text.parse::<PortMapping>(), Ok(mapping));
        }
    }

    #[test]
    fn protocols_parse_in_any_case_and_print_lowercase() {
        for (input, protocol) in [
            ("tcp", Protocol::Tcp),
            ("TCP", Protocol::Tcp),
            ("Udp", Protocol::Udp),
            ("*", Protocol::Both),
        ] {
            assert_eq!(input.parse::<Protocol>(), Ok(protocol));
            assert_eq!(protocol.to_string().parse::<Protocol>(), Ok(protocol));
        }
        assert_eq!(Protocol::Both.to_string(), "*");
        assert_eq!(Protocol::default(), Protocol::Tcp);
        for (input, reason) in [
            ("", "empty value"),
            ("sctp", "unknown protocol"),
            ("t cp", "unknown protocol"),
        ] {
            let err = input.parse::<Protocol>().unwrap_err();
            assert_eq!(err.reason, reason);
            assert!(err.to_string().contains(&format!("{input:?}")));
            assert!(err.to_string().contains("accepted forms: tcp, udp or *"));
        }
    }

    #[test]
    fn serde_uses_strings_and_takes_a_bare_container_port() {
        let web = mapping(None, Some(80), 8080, Protocol::Tcp);
        assert_eq!(serde_json::to_string(&web).unwrap(), "\"80:8080/tcp\"");
        assert_eq!(
            serde_json::from_str::<PortMapping>("\"80:8080\"").unwrap(),
            web
        );
        assert_eq!(
            serde_json::from_str::<PortMapping>("8080").unwrap(),
            mapping(None, None, 8080, Protocol::Tcp)
        );
        assert_eq!(
            yaml_serde::from_str::<Vec<PortMapping>>("- 80:8080\n- 53/udp\n- 8080\n").unwrap(),
            [
                web,
                mapping(None, None, 53, Protocol::Udp),
                mapping(None, None, 8080, Protocol::Tcp)
            ]
        );
        let message = serde_json::from_str::<PortMapping>("70000")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("port 70000 out of range 1-65535"),
            "{message}"
        );
        assert!(serde_json::from_str::<PortMapping>("-1").is_err());

        assert_eq!(serde_json::to_string(&Protocol::Both).unwrap(), "\"*\"");
        assert_eq!(
            serde_json::from_str::<Protocol>("\"UDP\"").unwrap(),
            Protocol::Udp
        );
        assert!(serde_json::from_str::<Protocol>("\"sctp\"").is_err());
    }
}
