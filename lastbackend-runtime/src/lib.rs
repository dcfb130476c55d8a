//! Host-side runtimes of lastbackend-rs: the narrow traits a node agent
//! drives, one per boundary to the host, shaped after the original's
//! interfaces but async, typed and object-safe:
//!
//! | trait | boundary | drivers |
//! |---|---|---|
//! | [`Cri`] | containers | docker |
//! | [`Cii`] | images | docker |
//! | [`Csi`] | volumes and the files of secrets and configs | `dir` |
//! | [`Cni`] | the overlay network between nodes | `vxlan` |
//! | [`Cpi`] | service VIPs to pod addresses | `ipvs`, `nftables` |
//!
//! A library user runs pods on another container runtime by implementing
//! [`Cri`] and [`Cii`] and handing them to the agent as `Arc<dyn Cri>`; the
//! agent never names a driver.
//!
//! Container logs travel from the agent's [`logs::LogShipper`] to an
//! exporter over the [`logs::wire`] format. The exporter's side is here too,
//! behind the `exporter` feature (it brings axum): `logs::store` keeps the
//! lines on disk with rotation and `exporter::Exporter` takes the agents'
//! streams and serves the stored lines over HTTP, so a custom orchestrator
//! can run its own log collector; registering it with an API is the
//! caller's.
//!
//! With the `discovery` feature, [`discovery`] is the cluster's DNS server
//! of service names (a hickory zone handler fed by a storage watch), for a
//! program that serves service names itself.
//!
//! The ingress (feature `ingress`) is built the same way: its member loop
//! drives an `ingress::IngressDriver`, HAProxy being one driver.
//!
//! ```no_run
//! use std::sync::Arc;
//! use lastbackend_runtime::{Cri, ContainerFilter};
//!
//! async fn running(cri: Arc<dyn Cri>) -> lastbackend_runtime::Result<usize> {
//!     let all = cri.list(&ContainerFilter::default()).await?;
//!     Ok(all.iter().filter(|c| c.state.is_running()).count())
//! }
//! ```
#![warn(missing_docs)]

pub mod agent;
pub mod cii;
pub mod cni;
pub mod cpi;
pub mod cri;
pub mod csi;
#[cfg(feature = "discovery")]
pub mod discovery;
#[cfg(feature = "docker")]
pub mod docker;
mod error;
#[cfg(feature = "exporter")]
pub mod exporter;
pub mod fake;
pub mod host;
#[cfg(feature = "ingress")]
pub mod ingress;
pub mod logs;

pub use cii::{Cii, ImageInfo, RegistryAuth};
pub use cni::Cni;
pub use cpi::{Cpi, ProxySync};
pub use cri::{
    Bind, ContainerEvent, ContainerFilter, ContainerInfo, ContainerSpec, ContainerState, Cri,
    ExecOutput, LogLine, LogOptions, LogStream, NetworkMode,
};
pub use csi::{Csi, VolumeFile};
pub use error::{Error, Result};
pub use lastbackend_core as core;
