//! Choosing the proxy driver at start: IPVS when the kernel has it, else
//! nftables, unless `--network-proxy` says otherwise.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::Cpi;
use crate::{Error, Result};

/// The `--network-proxy` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyKind {
    /// IPVS when the kernel has it, else nftables.
    #[default]
    Auto,
    /// IPVS over generic netlink.
    Ipvs,
    /// nftables DNAT maps.
    Nftables,
}

impl ProxyKind {
    /// The setting's spelling: `auto`, `ipvs` or `nftables`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Ipvs => "ipvs",
            Self::Nftables => "nftables",
        }
    }
}

impl fmt::Display for ProxyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--network-proxy` value that is none of the known ones.
#[derive(Debug, thiserror::Error)]
#[error("invalid --network-proxy {0:?}: expected ipvs, nftables or auto")]
#[non_exhaustive]
pub struct ProxyKindError(pub String);

impl FromStr for ProxyKind {
    type Err = ProxyKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Self::Auto),
            "ipvs" => Ok(Self::Ipvs),
            "nftables" | "nft" => Ok(Self::Nftables),
            _ => Err(ProxyKindError(s.to_owned())),
        }
    }
}

/// The driver `auto` picks on this host: [`ProxyKind::Ipvs`] when this
/// build has the `ipvs` feature and the kernel answers for the IPVS
/// generic netlink family (or has `/proc/net/ip_vs`), else
/// [`ProxyKind::Nftables`].
pub async fn detect() -> ProxyKind {
    #[cfg(feature = "ipvs")]
    if super::ipvs::available().await {
        return ProxyKind::Ipvs;
    }
    ProxyKind::Nftables
}

/// The driver for `kind` on this host; its [`Cpi::name`] is the choice to
/// report in the node's status. Asking for a driver this build lacks, or
/// IPVS on a kernel without it, is an error naming the flag.
pub async fn select(kind: ProxyKind) -> Result<Arc<dyn Cpi>> {
    let kind = match kind {
        ProxyKind::Auto => detect().await,
        kind => kind,
    };
    match kind {
        #[cfg(feature = "ipvs")]
        ProxyKind::Ipvs => {
            if !super::ipvs::available().await {
                return Err(Error::Invalid {
                    what: "--network-proxy ipvs".into(),
                    reason: "the kernel has no IPVS (load it with `modprobe ip_vs`) \
                             or use --network-proxy nftables"
                        .into(),
                });
            }
            Ok(Arc::new(super::ipvs::Ipvs::host().await?))
        }
        #[cfg(feature = "nftables")]
        ProxyKind::Nftables => Ok(Arc::new(super::nftables::Nftables::host())),
        other => Err(Error::Invalid {
            what: format!("--network-proxy {other}"),
            reason: format!(
                "this build lacks the `{other}` feature; rebuild with it or pick another proxy"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_flag_and_names_it_on_error() {
        assert_eq!("IPVS".parse::<ProxyKind>().unwrap(), ProxyKind::Ipvs);
        assert_eq!(
            "nftables".parse::<ProxyKind>().unwrap(),
            ProxyKind::Nftables
        );
        assert_eq!("auto".parse::<ProxyKind>().unwrap(), ProxyKind::Auto);
        let err = "iptables".parse::<ProxyKind>().unwrap_err().to_string();
        assert!(
            err.contains("--network-proxy") && err.contains("nftables"),
            "{err}"
        );
    }

    #[cfg(feature = "nftables")]
    #[tokio::test]
    async fn nftables_is_selected_by_name() {
        let cpi = select(ProxyKind::Nftables).await.unwrap();
        assert_eq!(cpi.name(), "nftables");
    }
}
