//! `lastbackend discovery`: its flags (the docs' discovery option table, plus
//! the zone, the upstream resolvers, the advertised address and the storage
//! directory), the YAML file of `-c` and the resolved settings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use super::{
    ApiClientArgs, ApiClientFile, CommonArgs, ConfigError, DomainFile, StorageArgs, StorageConfig,
    StorageFile, TlsFiles, TokenArgs,
};
use lastbackend_core::units::parse_duration;
use lastbackend_runtime::discovery::{DEFAULT_TTL, ZoneConfig};

/// The DNS port of the docs.
pub const DEFAULT_DNS_PORT: u16 = 53;

/// The flags of `lastbackend discovery`, each with its `LB_*` variable.
#[derive(Clone, Debug, Default, Args)]
pub struct DiscoveryArgs {
    /// The token presented to the API.
    #[command(flatten)]
    pub token: TokenArgs,
    /// DNS server bind address [default: 0.0.0.0] (YAML `dns.host`).
    #[arg(long, env = "LB_BIND_ADDRESS")]
    pub bind_address: Option<IpAddr>,
    /// DNS port listening, UDP and TCP [default: 53] (YAML `dns.port`).
    #[arg(long, env = "LB_DNS_PORT")]
    pub bind_port: Option<u16>,
    /// TTL of every answer: seconds or a duration such as 30s, 5m, 1h
    /// [default: 30s] (YAML `dns.ttl`).
    #[arg(long, env = "LB_DNS_TTL")]
    pub dns_ttl: Option<String>,
    /// The zone of service names [default: lb.local] (YAML
    /// `domain.internal`); the same as the API's and controller's internal
    /// domain.
    #[arg(long, alias = "domain-internal", env = "LB_DOMAIN_INTERNAL")]
    pub zone: Option<String>,
    /// Resolvers for names outside the zone, comma separated `ip` or
    /// `ip:port`, or `none` to refuse them [default: those of
    /// /etc/resolv.conf] (YAML `dns.upstream`).
    #[arg(long, env = "LB_DNS_UPSTREAM", value_delimiter = ',')]
    pub dns_upstream: Vec<String>,
    /// The address reported to the API, which pods get as their resolver
    /// [default: the bind address, or the host's outbound address when
    /// binding every address] (YAML `dns.advertise`).
    #[arg(long, env = "LB_ADVERTISE_ADDRESS")]
    pub advertise_address: Option<IpAddr>,
    /// Where the cluster state lives.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// How it reaches the API.
    #[command(flatten)]
    pub api: ApiClientArgs,
    /// `--verbose` and `--config`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The YAML file of `lastbackend discovery -c`, with the docs' keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoveryFile {
    verbose: Option<u8>,
    token: Option<String>,
    #[serde(default)]
    domain: DomainFile,
    #[serde(default)]
    storage: StorageFile,
    #[serde(default)]
    dns: DnsFile,
    #[serde(default)]
    api: ApiClientFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsFile {
    host: Option<IpAddr>,
    port: Option<u16>,
    ttl: Option<TtlValue>,
    upstream: Option<Vec<String>>,
    advertise: Option<IpAddr>,
}

/// `ttl: 30` or `ttl: 30s`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TtlValue {
    Seconds(u64),
    Text(String),
}

/// Where names outside the zone go.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Upstreams {
    /// The resolvers of `/etc/resolv.conf`, read when the server starts.
    System,
    /// These resolvers; none: such names are refused.
    Servers(Vec<SocketAddr>),
}

/// Everything `lastbackend discovery` runs with, resolved and checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// Where DNS is served (UDP and TCP).
    pub listen: SocketAddr,
    /// The zone and its TTL.
    pub zone: ZoneConfig,
    /// Where names outside the zone go.
    pub upstreams: Upstreams,
    /// The address reported to the API, when set.
    pub advertise: Option<IpAddr>,
    /// Storage.
    pub storage: StorageConfig,
    /// The API to report to over HTTP, when set.
    pub api_uri: Option<String>,
    /// TLS files for the API client.
    pub api_tls: TlsFiles,
    /// The API token, when set.
    pub access_token: Option<String>,
    /// Log verbosity 0–7.
    pub verbose: u8,
}

impl DiscoveryConfig {
    /// Resolves flags and environment over the `--config` file over the
    /// defaults, and checks the result.
    pub fn load(args: DiscoveryArgs) -> Result<Self, ConfigError> {
        let mut file: DiscoveryFile = args.common.file()?;
        let verbose = args.common.verbose(file.verbose)?;
        let listen = SocketAddr::new(
            args.bind_address
                .or(file.dns.host)
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            args.bind_port.or(file.dns.port).unwrap_or(DEFAULT_DNS_PORT),
        );
        const TTL: &str = "--dns-ttl (YAML `dns.ttl`)";
        let ttl = match (args.dns_ttl, file.dns.ttl) {
            (Some(text), _) | (None, Some(TtlValue::Text(text))) => {
                parse_duration(&text).map_err(|e| ConfigError::invalid(TTL, e.to_string()))?
            }
            (None, Some(TtlValue::Seconds(seconds))) => Duration::from_secs(seconds),
            (None, None) => Duration::from_secs(DEFAULT_TTL.into()),
        };
        // RFC 2181 §8: a TTL is at most 2^31 - 1 seconds.
        let ttl = u32::try_from(ttl.as_secs())
            .ok()
            .filter(|s| *s <= i32::MAX as u32)
            .ok_or_else(|| {
                ConfigError::invalid(TTL, format!("{ttl:?} is longer than 2^31-1 seconds"))
            })?;
        let zone_name = file.domain.internal(args.zone);
        let zone = ZoneConfig::new(&zone_name)
            .map_err(|e| ConfigError::invalid("--zone (YAML `domain.internal`)", e.to_string()))?
            .with_ttl(ttl);
        let upstreams = if args.dns_upstream.is_empty() {
            match file.dns.upstream {
                None => Upstreams::System,
                Some(list) => parse_upstreams(&list, "dns.upstream")?,
            }
        } else {
            parse_upstreams(&args.dns_upstream, "--dns-upstream")?
        };
        let (api_uri, api_tls) = args.api.resolve(file.api)?;
        Ok(Self {
            listen,
            zone,
            upstreams,
            advertise: args.advertise_address.or(file.dns.advertise),
            storage: args.storage.resolve(file.storage)?,
            api_uri,
            api_tls,
            access_token: args.token.resolve(file.token),
            verbose,
        })
    }
}

/// `ip`, `ip:port` or `[ipv6]:port` each; `none` alone for no upstream.
fn parse_upstreams(list: &[String], setting: &str) -> Result<Upstreams, ConfigError> {
    let setting = if setting.starts_with("--") {
        format!("{setting} (YAML `dns.upstream`)")
    } else {
        format!("--dns-upstream (YAML `{setting}`)")
    };
    if let [only] = list
        && only.trim().eq_ignore_ascii_case("none")
    {
        return Ok(Upstreams::Servers(Vec::new()));
    }
    let servers = list
        .iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<SocketAddr>()
                .or_else(|_| entry.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| {
                    ConfigError::invalid(
                        &setting,
                        format!(
                            "{entry:?} is not an address: accepted `ip`, `ip:port`, \
                             `[ipv6]:port`, or `none` alone to refuse names outside the zone"
                        ),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(Upstreams::Servers(servers))
}

#[cfg(test)]
mod tests;
