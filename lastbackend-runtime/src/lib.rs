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
#[cfg(feature = "docker")]
pub mod docker;
mod error;
pub mod fake;
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
