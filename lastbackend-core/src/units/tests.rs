//! Properties every unit type keeps: Display parses back to the same value,
//! serde round-trips, and no input makes a parser panic.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

/// Sizes around every unit boundary are likelier to catch an off-by-one than
/// uniformly random u64s, which are almost never a multiple of 1024.
fn any_bytes() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0..=u64::MAX >> 10).prop_map(|n| n << 10),
        (0..=u64::MAX >> 30).prop_map(|n| n << 30),
        (0..=u64::MAX >> 40).prop_map(|n| n << 40),
        Just(u64::MAX),
        Just(0),
    ]
}

fn any_cpu_millis() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0..=u64::MAX / 1000).prop_map(|n| n * 1000),
        0..10_000_u64
    ]
}

fn any_protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Both)
    ]
}

fn any_port_mapping() -> impl Strategy<Value = PortMapping> {
    (
        proptest::option::of(any::<IpAddr>()),
        proptest::option::of(1..=u16::MAX),
        1..=u16::MAX,
        any_protocol(),
    )
        .prop_map(
            |(host_ip, host_port, container_port, protocol)| PortMapping {
                host_ip,
                host_port,
                container_port,
                protocol,
            },
        )
}

/// Strings made of the characters the parsers care about, so they reach deep
/// into the grammar more often than arbitrary Unicode does.
fn unit_like_string() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[0-9.:/\\[\\]a-fA-FkKmMgGtTiIbB*upcxn +-]{0,24}")
        .expect("the pattern is a valid regex")
}

proptest! {
    #[test]
    fn ram_display_parses_back(bytes in any_bytes()) {
        let ram = Ram::from_bytes(bytes);
        prop_assert_eq!(ram.to_string().parse::<Ram>(), Ok(ram));
        prop_assert_eq!(Ram::parse(&ram.to_string()), Ok(ram));
    }

    #[test]
    fn ram_serde_round_trips(bytes in any_bytes()) {
        let ram = Ram::from_bytes(bytes);
        let json = serde_json::to_string(&ram).unwrap();
        prop_assert_eq!(serde_json::from_str::<Ram>(&json).unwrap(), ram);
        prop_assert_eq!(serde_json::from_str::<Ram>(&bytes.to_string()).unwrap(), ram);
    }

    #[test]
    fn cpu_display_parses_back(millis in any_cpu_millis()) {
        let cpu = Cpu::from_millis(millis);
        prop_assert_eq!(cpu.to_string().parse::<Cpu>(), Ok(cpu));
        prop_assert_eq!(Cpu::parse(&cpu.to_string()), Ok(cpu));
    }

    #[test]
    fn cpu_serde_round_trips(millis in any_cpu_millis()) {
        let cpu = Cpu::from_millis(millis);
        let json = serde_json::to_string(&cpu).unwrap();
        prop_assert_eq!(serde_json::from_str::<Cpu>(&json).unwrap(), cpu);
    }

    #[test]
    fn cpu_from_a_float_of_cores_is_exact(millis in 0..100_000_000_u64) {
        let cores = format!("{}.{:03}", millis / 1000, millis % 1000);
        prop_assert_eq!(serde_json::from_str::<Cpu>(&cores).unwrap(), Cpu::from_millis(millis));
    }

    #[test]
    fn port_mapping_display_parses_back(mapping in any_port_mapping()) {
        prop_assert_eq!(mapping.to_string().parse::<PortMapping>(), Ok(mapping));
        prop_assert_eq!(PortMapping::parse(&mapping.to_string()), Ok(mapping));
    }

    #[test]
    fn port_mapping_serde_round_trips(mapping in any_port_mapping()) {
        let json = serde_json::to_string(&mapping).unwrap();
        prop_assert_eq!(serde_json::from_str::<PortMapping>(&json).unwrap(), mapping);
    }

    #[test]
    fn protocol_round_trips(protocol in any_protocol()) {
        prop_assert_eq!(protocol.to_string().parse::<Protocol>(), Ok(protocol));
        let json = serde_json::to_string(&protocol).unwrap();
        prop_assert_eq!(serde_json::from_str::<Protocol>(&json).unwrap(), protocol);
    }

    #[test]
    fn parsing_any_string_never_panics(s in prop_oneof![any::<String>(), unit_like_string()]) {
        check_accepted_values_round_trip(&s);
    }
}

/// Parses `s` as every unit type; whatever parses must print as something
/// that parses back to the same value.
fn check_accepted_values_round_trip(s: &str) {
    if let Ok(ram) = s.parse::<Ram>() {
        assert_eq!(ram.to_string().parse::<Ram>(), Ok(ram), "{s:?}");
    }
    if let Ok(cpu) = s.parse::<Cpu>() {
        assert_eq!(cpu.to_string().parse::<Cpu>(), Ok(cpu), "{s:?}");
    }
    if let Ok(protocol) = s.parse::<Protocol>() {
        assert_eq!(
            protocol.to_string().parse::<Protocol>(),
            Ok(protocol),
            "{s:?}"
        );
    }
    if let Ok(mapping) = s.parse::<PortMapping>() {
        assert_eq!(
            mapping.to_string().parse::<PortMapping>(),
            Ok(mapping),
            "{s:?}"
        );
    }
}

#[test]
fn error_message_names_the_value_the_reason_and_the_accepted_forms() {
    let err = "70000".parse::<PortMapping>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid port mapping \"70000\": port 70000 out of range 1-65535; accepted forms: \
         [ip:][host:]container[/tcp|udp|*], e.g. 8080, 80:8080/tcp, 53/udp, 0.0.0.0:80:8080, \
         127.0.0.1::8080, [::1]:80:8080"
    );
    let err = "5xb".parse::<Ram>().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid RAM size \"5xb\": unknown unit \"xb\"; ")
    );
    let err = "0.0005".parse::<Cpu>().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid CPU amount \"0.0005\": finer than 1m")
    );
}

#[test]
fn durations_parse_like_go() {
    use std::time::Duration;
    assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
    assert_eq!(parse_duration("2m5s").unwrap(), Duration::from_secs(125));
    assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
    assert!(parse_duration("").is_err());
    assert!(parse_duration("h").is_err());
    assert!(parse_duration("5 minutes").is_err());
    assert!(parse_duration("99999999999999999999h").is_err());
}
