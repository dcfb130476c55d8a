//! CPI: the service proxy, spreading connections to a service's VIP and port
//! over its ready pods.
//!
//! The agent hands the driver the whole desired set of endpoints from each
//! manifest; the driver works out what changed and changes only that, so
//! one endpoint's change costs the same with ten or ten thousand services
//! programmed.
//!
//! Drivers: `ipvs` (feature `ipvs`, generic netlink) and `nftables`
//! (feature `nftables`, on by default). [`select`] picks one at start. [`select`] picks one at start.

#[cfg(feature = "ipvs")]
pub mod ipvs;
#[cfg(feature = "nftables")]
pub mod nftables;
mod select;
#[cfg(any(feature = "ipvs", feature = "nftables"))]
mod service;

pub use select::{ProxyKind, ProxyKindError, detect, select};

use std::collections::BTreeMap;

use async_trait::async_trait;
use lastbackend_core::model::EndpointSpec;

use crate::Result;

/// What one [`Cpi::sync`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxySync {
    /// Virtual services (VIP, port, protocol) added.
    pub services_added: usize,
    /// Virtual services removed.
    pub services_removed: usize,
    /// Backends added or removed across all services.
    pub backends_changed: usize,
}

impl ProxySync {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A service proxy driver.
#[async_trait]
pub trait Cpi: Send + Sync {
    /// The driver's name (`ipvs`, `nftables`), reported in the node's status.
    fn name(&self) -> &str;

    /// Makes the programmed services exactly `endpoints` (keyed by endpoint
    /// selflink), changing only what differs from what is programmed.
    async fn sync(&self, endpoints: &BTreeMap<String, EndpointSpec>) -> Result<ProxySync>;

    /// Removes everything the driver programmed.
    async fn teardown(&self) -> Result<()>;
}
