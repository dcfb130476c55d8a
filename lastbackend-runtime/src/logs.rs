//! Container logs from a node to the exporter: the [`wire`] format, the
//! [`LogShipper`] a node agent feeds and, with the `exporter` feature, the
//! exporter's `store` (files per pod and container, with rotation).
//!
//! Each line is a [`LogRecord`] numbered by its *source* (one container, by
//! runtime id): the first line a container wrote is sequence 1, the next 2,
//! and so on. The exporter acknowledges, per source, the highest sequence it
//! has written **and synced to disk**, and drops any record at or below the
//! sequence it already holds. So the shipper may resend freely: after a
//! reconnect it sends everything not yet acknowledged again, and a line
//! reaches the exporter's files exactly once even when the exporter was
//! killed between writing and acknowledging.
//!
//! While the exporter is unreachable the shipper keeps records in memory, up
//! to [`ShipperConfig::buffer_bytes`]. When that is full the **oldest**
//! records are dropped (a log reader prefers the newest lines) and counted
//! in [`ShipperStats::dropped_records`]; nothing acknowledged is ever lost.
//!
//! ```no_run
//! use std::sync::Arc;
//! use lastbackend_runtime::Cri;
//! use lastbackend_runtime::logs::{LogShipper, ShipperConfig};
//!
//! async fn ship(cri: Arc<dyn Cri>) {
//!     let shipper = LogShipper::start(Some("10.0.0.5:2963".parse().unwrap()), ShipperConfig::default());
//!     // The container's whole log, from its first line, as `demo:web:d_v1:ab12cd3` / `web`.
//!     let following = shipper.follow(cri, "4f0c…", "demo:web:d_v1:ab12cd3", "web");
//!     let lines = following.await.unwrap().unwrap();
//!     shipper.flushed().await;
//!     println!("{lines} lines shipped");
//! }
//! ```

mod backlog;
mod shipper;
#[cfg(feature = "exporter")]
pub mod store;
pub mod wire;

pub use shipper::{LogShipper, ShipperConfig, ShipperStats};
pub use wire::{Ack, Frame, LogRecord, SourceKey, StreamKind, WireError};
