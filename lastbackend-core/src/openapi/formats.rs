//! Schemas of values whose wire form is not what their Rust type says: text
//! the validators check against a rule, scalars the manifest reader takes in
//! any JSON type (`name: 2048`), and the units, which serialize as strings
//! and deserialize from strings or numbers.
//!
//! The marker types stand for a field's form in `#[schema(value_type = ..)]`
//! and become named components, so every field of one form points at one
//! schema.

use serde_json::{Value, json};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::patterns;
use crate::manifest::IntOrString;
use crate::units::{Cpu, PortMapping, Ram};

/// A schema written as JSON; the ones here are fixed, so a failure is a bug
/// that every test run shows.
pub(super) fn schema(value: Value) -> RefOr<Schema> {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|error| panic!("{error}: not a schema: {value}"))
}

/// Implements the schema traits for a marker or unit type from JSON.
macro_rules! json_schema {
    ($($ty:ty => $json:expr;)*) => {$(
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                schema($json)
            }
        }

        impl ToSchema for $ty {}
    )*};
}

/// A scalar the manifest reader keeps as its text: `2048` and `true` are
/// read as `"2048"` and `"true"`. A number is written out in full, without
/// an exponent.
fn scalar() -> Value {
    json!({"anyOf": [{"type": "string"}, number(), {"type": "boolean"}]})
}

/// A number the reader keeps exactly: an integer from `i64::MIN` to
/// `u64::MAX` (beyond them a reader makes it a float, which loses digits
/// past 2^53 and is refused), or a float within that range.
fn number() -> Value {
    json!({"type": "number", "minimum": i64::MIN, "maximum": u64::MAX})
}

/// A DNS-1123 label, what every object name is.
pub struct DnsLabel;

/// An object name in a manifest: a DNS-1123 label, or a number or boolean
/// whose text is one (`name: 2048`); a number up to `u64::MAX`, beyond
/// which a reader loses its digits.
pub struct Name;

/// A host name: DNS-1123 labels joined by dots.
pub struct Hostname;

/// Any scalar, kept as its text.
pub struct Scalar;

/// A scalar whose text must not be empty (`selector.node`: write `null` for
/// any node).
pub struct NonEmptyScalar;

/// Labels as a manifest writes them: label keys to scalar values (`null`
/// is an empty value). Values are at most 253 bytes; the schema counts
/// characters, so a value of many multi-byte characters can pass it and be
/// refused.
pub struct LabelMap;

/// Secret data: data keys to scalar values.
pub struct DataMap;

/// A command line: a string split on whitespace, or a list of scalars.
pub struct Words;

/// A size as a manifest writes it, see [`Ram`]; a number is bytes.
pub struct RamText;

/// A CPU amount as a manifest writes it, see [`Cpu`]; a number is cores.
pub struct CpuText;

/// A port mapping as a manifest writes it, see [`PortMapping`].
pub struct PortMappingText;

/// An IPv4 or IPv6 address.
pub struct IpAddress;

/// An address and a port: `10.0.0.2:53`, `[::1]:53`.
pub struct SocketAddress;

/// An `/etc/hosts` entry of a container: `host:ip`.
pub struct ExtraHost;

/// A key of secret or config data, also the file it is written to.
pub struct DataKey;

/// A data key as a manifest writes it: a number or boolean is read as its
/// text.
pub struct DataKeyScalar;

/// An environment variable name.
pub struct EnvName;

/// An absolute path.
pub struct AbsolutePath;

/// A relative path without `..`.
pub struct RelativePath;

/// A file in a volume: a relative path without `..`, not empty.
pub struct RelativeFile;

/// A config's `data`: a map of keys to scalars, or a list of
/// `{key, value | file}` entries (see `ConfigEntryManifest`).
pub struct ConfigData;

fn dns_label() -> Value {
    json!({"type": "string", "pattern": patterns::DNS_LABEL, "maxLength": patterns::DNS_LABEL_MAX})
}

fn ram_text() -> Value {
    json!({"type": "string", "pattern": patterns::ram()})
}

fn cpu_text() -> Value {
    json!({"type": "string", "pattern": patterns::CPU})
}

json_schema! {
    DnsLabel => dns_label();
    Name => json!({
        "description": "A DNS-1123 label; a number or boolean is read as its text.",
        "anyOf": [
            dns_label(),
            {"type": "integer", "minimum": 0, "maximum": u64::MAX},
            {"type": "boolean"}
        ]
    });
    Hostname => json!({
        "type": "string", "pattern": patterns::HOSTNAME, "maxLength": patterns::KEY_MAX
    });
    Scalar => scalar();
    NonEmptyScalar => json!({
        "anyOf": [{"type": "string", "minLength": 1}, number(), {"type": "boolean"}]
    });
    LabelMap => json!({
        "type": ["object", "null"],
        "propertyNames": {"type": "string", "pattern": patterns::LABEL_KEY, "maxLength": patterns::KEY_MAX},
        "additionalProperties": {"anyOf": [
            {"type": "string", "pattern": patterns::LABEL_VALUE, "maxLength": patterns::KEY_MAX},
            number(),
            {"type": "boolean"},
            {"type": "null"}
        ]}
    });
    DataMap => json!({
        "type": ["object", "null"],
        "propertyNames": {"type": "string", "pattern": patterns::DATA_KEY, "maxLength": patterns::KEY_MAX},
        "additionalProperties": {"anyOf": [scalar(), {"type": "null"}]}
    });
    Words => json!({"anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"anyOf": [scalar(), {"type": "null"}]}},
        {"type": "null"}
    ]});
    RamText => json!({"anyOf": [ram_text(), {"type": "integer", "minimum": 0}]});
    CpuText => json!({"anyOf": [cpu_text(), {"type": "number", "minimum": 0}]});
    PortMappingText => json!({"type": "string", "pattern": patterns::port_mapping()});
    IpAddress => json!({"type": "string", "pattern": patterns::ip_address()});
    SocketAddress => json!({"type": "string", "pattern": patterns::socket_address()});
    ExtraHost => json!({"type": "string", "pattern": patterns::extra_host()});
    DataKey => json!({
        "type": "string", "pattern": patterns::DATA_KEY, "maxLength": patterns::KEY_MAX
    });
    DataKeyScalar => json!({"anyOf": [
        {"type": "string", "pattern": patterns::DATA_KEY, "maxLength": patterns::KEY_MAX},
        {"type": "number", "minimum": 0, "maximum": u64::MAX},
        {"type": "boolean"}
    ]});
    EnvName => json!({"type": "string", "pattern": patterns::ENV_NAME});
    AbsolutePath => json!({"type": "string", "pattern": patterns::ABSOLUTE_PATH});
    RelativePath => json!({"type": "string", "pattern": patterns::RELATIVE_PATH});
    RelativeFile => json!({
        "type": "string", "pattern": patterns::RELATIVE_PATH, "minLength": 1
    });
    Ram => json!({
        "description": "A size: bytes, or a number with a unit (512Mi, 1gb); printed as text.",
        "anyOf": [ram_text(), {"type": "integer", "minimum": 0}]
    });
    Cpu => json!({
        "description": "CPU: cores (0.5, 2) or millicores (500m); printed as text.",
        "anyOf": [cpu_text(), {"type": "number", "minimum": 0}]
    });
    PortMapping => json!({
        "description": "[ip:][host:]container[/tcp|udp|*]; a number is a container port.",
        "anyOf": [
            {"type": "string", "pattern": patterns::port_mapping()},
            {"type": "integer", "minimum": 1, "maximum": 65535}
        ]
    });
    IntOrString => json!({
        "description": "A pod count, or a percentage of replicas from 0% to 100%.",
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": u32::MAX},
            {"type": "string", "pattern": patterns::PERCENT}
        ]
    });
}

impl PartialSchema for ConfigData {
    fn schema() -> RefOr<Schema> {
        schema(json!({"anyOf": [
            {
                "type": "object",
                "propertyNames": {"type": "string", "pattern": patterns::DATA_KEY, "maxLength": patterns::KEY_MAX},
                "additionalProperties": {"anyOf": [scalar(), {"type": "null"}]}
            },
            {"type": "array", "items": {"$ref": "#/components/schemas/ConfigEntryManifest"}},
            {"type": "null"}
        ]}))
    }
}

impl ToSchema for ConfigData {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        use crate::manifest::ConfigEntryManifest;
        schemas.push((
            ConfigEntryManifest::name().into_owned(),
            ConfigEntryManifest::schema(),
        ));
        ConfigEntryManifest::schemas(schemas);
    }
}
