//! The validators' rules on text as regular expressions, built from small
//! pieces so each can be read against the Rust check it mirrors (named in
//! each doc comment). They use only the syntax ECMA-262 (what JSON Schema
//! speaks) and the `regex` crate (what the tests check them with) read alike:
//! no look-around, ASCII classes spelled out (`[0-9]`, not `\d`).

/// [`is_dns_label`](crate::manifest::is_dns_label): 1 to 63 (see
/// [`DNS_LABEL_MAX`]) lowercase letters, digits and `-`, starting and ending
/// with a letter or digit.
pub const DNS_LABEL: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// The longest DNS-1123 label.
pub const DNS_LABEL_MAX: usize = 63;

/// A host name: DNS labels (each at most [`DNS_LABEL_MAX`]) joined by
/// dots, at most [`KEY_MAX`] bytes.
pub const HOSTNAME: &str =
    "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$";

/// The longest label key, data key, label value and host name, in bytes.
pub const KEY_MAX: usize = 253;

/// A label key: letters, digits, `-`, `_`, `.` and `/`, starting and ending
/// with a letter or digit.
pub const LABEL_KEY: &str = "^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$";

/// A key of secret or config data (a file name too): a label key without `/`.
pub const DATA_KEY: &str = "^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$";

/// A label value: no control characters (Unicode `Cc`).
pub const LABEL_VALUE: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

/// An environment variable name: letters, digits, `_`, `-` and `.`, not
/// starting with a digit.
pub const ENV_NAME: &str = "^[A-Za-z_.-][A-Za-z0-9_.-]*$";

/// An absolute path (a container's working directory and mount paths).
pub const ABSOLUTE_PATH: &str = "^/";

/// A relative path without a `..` segment (volume sub-paths, file binds).
/// Empty is allowed: it is the volume's root.
pub const RELATIVE_PATH: &str = "^(([^/.][^/]*|\\.|\\.[^/.][^/]*|\\.\\.[^/]+)(/([^/.][^/]*|\\.|\\.[^/.][^/]*|\\.\\.[^/]+)?)*)?$";

/// A path a route rule or an HTTP probe matches: it starts with `/`.
pub const URL_PATH: &str = "^/";

/// A percentage from `0%` to `100%` (`max_surge`, `max_unavailable`), as
/// `u32`'s parser reads the number: leading zeros and a `+` allowed.
pub const PERCENT: &str = "^\\+?0*([0-9]{1,2}|100)%$";

/// [`Ram`](crate::units::Ram)'s text: a decimal and an optional unit `k`,
/// `kb`, `ki`, `kib`, … `t`, `tb`, `ti`, `tib` in any case, the fraction no
/// finer than a byte. For the binary units that depends on the digits
/// (`1.5Ki` is 1536 bytes, `1.3Ki` is refused), so there any fraction
/// matches; sizes beyond `u64` bytes match too and are refused.
pub fn ram() -> String {
    let decimal = |digits: usize| format!("(\\.[0-9]{{1,{digits}}}0*)?");
    let units = [
        "(\\.0+)?".to_owned(),
        format!("{}\\s*[kK][bB]?", decimal(3)),
        format!("{}\\s*[mM][bB]?", decimal(6)),
        format!("{}\\s*[gG][bB]?", decimal(9)),
        format!("{}\\s*[tT][bB]?", decimal(12)),
        "(\\.[0-9]+)?\\s*[kKmMgGtT][iI][bB]?".to_owned(),
    ];
    format!("^\\s*[0-9]+({})\\s*$", units.join("|"))
}

/// [`Cpu`](crate::units::Cpu)'s text: cores as a decimal down to a
/// millicore, or whole millicores with `m`. Amounts beyond `u64`
/// millicores match but are refused.
pub const CPU: &str = "^\\s*[0-9]+(\\.[0-9]{1,3}0*|(\\.0+)?\\s*m)?\\s*$";

/// One port, 1–65535, in decimal (leading zeros allowed, as `u16` parses).
const PORT: &str =
    "0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

/// An IPv4 address as `Ipv4Addr` parses it: four decimal octets, no
/// leading zeros.
const IPV4: &str = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}";

/// An IPv6 address in its hexadecimal forms, `::` compression included, and
/// `::a.b.c.d`, `::ffff:a.b.c.d`. `Ipv6Addr` also reads an IPv4 tail after
/// other prefixes (`64:ff9b::1.2.3.4`); the pattern leaves those out.
fn ipv6() -> String {
    let h = "[0-9a-fA-F]{1,4}";
    [
        format!("({h}:){{7}}{h}"),
        format!("({h}:){{1,7}}:"),
        format!("({h}:){{1,6}}:{h}"),
        format!("({h}:){{1,5}}(:{h}){{1,2}}"),
        format!("({h}:){{1,4}}(:{h}){{1,3}}"),
        format!("({h}:){{1,3}}(:{h}){{1,4}}"),
        format!("({h}:){{1,2}}(:{h}){{1,5}}"),
        format!("{h}:(:{h}){{1,6}}"),
        format!(":((:{h}){{1,7}}|:)"),
        format!("::([fF]{{4}}:)?{IPV4}"),
    ]
    .map(|form| format!("({form})"))
    .join("|")
}

/// An IPv4 or IPv6 address (`IpAddr`).
pub fn ip_address() -> String {
    format!("^({IPV4}|{})$", ipv6())
}

/// An address and port (`SocketAddr`): `a.b.c.d:port` or `[v6]:port`; the
/// port may be 0 here, as the type allows.
pub fn socket_address() -> String {
    let port =
        "0*([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
    format!("^({IPV4}|\\[({})\\]):{port}$", ipv6())
}

/// A container's `extra_hosts` entry: `host:ip`.
pub fn extra_host() -> String {
    let host = HOSTNAME.trim_start_matches('^').trim_end_matches('$');
    format!("^{host}:({IPV4}|{})$", ipv6())
}

/// [`PortMapping`](crate::units::PortMapping)'s text:
/// `[ip:][host:]container[/tcp|udp|*]`, an IPv6 address in brackets.
pub fn port_mapping() -> String {
    let ports = format!("{PORT}(:{PORT})?");
    let after_address = format!(":({PORT}|{PORT}:{PORT}|:{PORT})");
    let protocol = "[tT][cC][pP]|[uU][dD][pP]|\\*";
    format!(
        "^\\s*({ports}|{IPV4}{after_address}|\\[({})\\]{after_address})(/({protocol}))?\\s*$",
        ipv6()
    )
}

/// `kind` as the manifest parser reads it: the kind's name in any case.
pub fn kind(name: &str) -> String {
    let letters: String = name
        .chars()
        .map(|c| format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()))
        .collect();
    format!("^{letters}$")
}
