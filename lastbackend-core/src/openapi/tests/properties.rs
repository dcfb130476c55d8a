//! Random values on both sides of each pattern: the document and the server
//! agree on every one, outside the limits the patterns' docs name.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use proptest::string::string_regex;
use regex::Regex;
use serde_json::{Value, json};

use super::{COMPONENTS, base, document_accepts, server_accepts, set};
use crate::manifest::ManifestKind;
use crate::openapi::patterns;
use crate::units::{Cpu, PortMapping, Ram};

/// Sets `value` at `at` in the base body of `kind`, and checks that the
/// document and the server agree on it.
fn agree(kind: ManifestKind, at: &str, value: Value) -> Result<(), TestCaseError> {
    let body = set(base(kind), at, Some(value));
    let document = document_accepts(kind, &body);
    let server = server_accepts(kind, &body);
    prop_assert_eq!(document, server, "{}", body);
    Ok(())
}

/// Whether the model's schema `name` and its deserializer agree on `value`.
fn unit_agrees<T: serde::de::DeserializeOwned>(name: &str, value: Value) -> bool {
    COMPONENTS.accepts(name, &value) == serde_json::from_value::<T>(value).is_ok()
}

fn matches(pattern: &str, text: &str) -> bool {
    Regex::new(pattern)
        .expect("the pattern compiles")
        .is_match(text)
}

/// Port mappings, mostly of the right shape.
fn port_mapping() -> impl Strategy<Value = String> {
    prop_oneof![
        "(\\[::1\\]:|\\[fd00::zz\\]:|1\\.2\\.3\\.4:|01\\.2\\.3\\.4:)?[0-9]{0,6}(:[0-9]{0,6}){0,2}(/(tcp|UDP|\\*|sctp))?",
        "[0-9:./\\[\\]a-f* ]{0,12}",
    ]
}

/// A size or CPU amount, without a fraction finer than the unit allows.
fn amount(units: &'static str) -> impl Strategy<Value = String> {
    let shaped = format!(" ?[0-9]{{1,5}}(\\.5)? ?({units})? ?");
    prop_oneof![
        string_regex(&shaped).expect("a strategy"),
        string_regex("[ 0-9kmgtibKMGTIBx-]{0,6}").expect("a strategy"),
    ]
}

proptest! {
    #[test]
    fn names(name in "[a-zA-Z0-9.-]{0,66}") {
        agree(ManifestKind::Namespace, "/meta/name", json!(name))?;
    }

    #[test]
    fn label_keys(key in "[a-zA-Z0-9./_ -]{0,5}") {
        agree(ManifestKind::Namespace, "/meta/labels", json!({key: "x"}))?;
    }

    #[test]
    fn data_keys(key in "[a-zA-Z0-9./_ -]{0,5}") {
        agree(ManifestKind::Secret, "/spec/data", json!({key: "x"}))?;
    }

    #[test]
    fn env_names(name in "[a-zA-Z0-9._ -]{0,4}") {
        let env = json!([{"name": name, "value": "x"}]);
        agree(ManifestKind::Service, "/spec/template/containers/0/env", env)?;
    }

    #[test]
    fn host_names(name in "[a-z0-9.-]{0,9}") {
        agree(ManifestKind::Namespace, "/spec/domain/external", json!(name))?;
    }

    #[test]
    fn sub_paths(path in "[a./]{0,7}") {
        let volumes = json!([{"name": "data", "volume": {"name": "data", "subpath": path}}]);
        agree(ManifestKind::Service, "/spec/template/volumes", volumes)?;
    }

    #[test]
    fn percentages(surge in "[+0-9%x]{0,5}") {
        agree(ManifestKind::Service, "/spec/strategy/max_surge", json!(surge))?;
    }

    #[test]
    fn kinds(kind in "[sSeErRvViIcC]{0,8}") {
        agree(ManifestKind::Service, "/kind", json!(kind))?;
    }

    #[test]
    fn ports(port in -5i64..70_000) {
        agree(ManifestKind::Route, "/spec/port", json!(port))?;
        agree(ManifestKind::Route, "/spec/rules/0/port", json!(port))?;
    }

    #[test]
    fn replicas(replicas in 9_990u32..10_010) {
        agree(ManifestKind::Service, "/spec/replicas", json!(replicas))?;
    }

    #[test]
    fn port_mappings(mapping in port_mapping()) {
        agree(ManifestKind::Service, "/spec/network/ports", json!([mapping]))?;
        prop_assert!(unit_agrees::<PortMapping>("PortMapping", json!(mapping)));
    }

    #[test]
    fn port_numbers(port in -5i64..70_000) {
        prop_assert!(unit_agrees::<PortMapping>("PortMapping", json!(port)));
    }

    #[test]
    fn sizes(size in amount("[kmgtKMGT][iI]?[bB]?")) {
        agree(ManifestKind::Volume, "/spec/capacity/storage", json!(size))?;
        prop_assert!(unit_agrees::<Ram>("Ram", json!(size)));
    }

    #[test]
    fn cpu_amounts(cpu in amount("m")) {
        agree(ManifestKind::Namespace, "/spec/resources/request/cpu", json!(cpu))?;
        prop_assert!(unit_agrees::<Cpu>("Cpu", json!(cpu)));
    }

    /// Random text over the address alphabet: an address the pattern
    /// takes always parses; the parser also takes IPv4 tails the pattern
    /// leaves out (see `patterns::ip_address`), nothing else.
    #[test]
    fn ip_addresses(text in "[0-9a-f:.]{0,12}|[0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-f]{0,4}(::?[0-9a-f]{0,4}){0,8}") {
        let parsed = text.parse::<IpAddr>().is_ok();
        let matched = matches(&patterns::ip_address(), &text);
        prop_assert!(matched == parsed || (parsed && text.contains(':') && text.contains('.')));
        let socket = format!("{}:{}", if text.contains(':') { format!("[{text}]") } else { text.clone() }, 53);
        let parsed = socket.parse::<SocketAddr>().is_ok();
        let matched = matches(&patterns::socket_address(), &socket);
        prop_assert!(matched == parsed || (parsed && text.contains(':') && text.contains('.')));
    }

    #[test]
    fn socket_ports(port in "[0-9]{0,6}") {
        let socket = format!("10.0.0.1:{port}");
        prop_assert_eq!(matches(&patterns::socket_address(), &socket), socket.parse::<SocketAddr>().is_ok());
    }
}
