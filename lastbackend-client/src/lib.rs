//! The typed SDK of lastbackend-rs: the Rust counterpart of the original's Go
//! `pkg/api/client`. It shares its types with the server through
//! [`lastbackend_core`], re-exported here as [`core`].
//!
//! A [`Client`] is an endpoint, a token and a tower service; typed handles
//! read like the API's paths:
//!
//! ```no_run
//! use futures::StreamExt;
//! use lastbackend_client::{ApplyOptions, Client};
//!
//! # async fn run() -> lastbackend_client::Result<()> {
//! let client = Client::builder().endpoint("127.0.0.1:2967").token("secret").build()?;
//! let demo = client.namespace("demo");
//! let manifest = std::fs::read_to_string("2048.yaml").expect("a manifest");
//! let report = demo.apply(manifest, ApplyOptions::default()).await?;
//! println!("{} objects applied", report.items.len());
//! demo.service("2048").scale(3).await?;
//!
//! // Follows changes, resuming after a dropped connection.
//! let mut changes = demo.services().watch(None);
//! while let Some(event) = changes.next().await {
//!     println!("{:?}", event?);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Errors carry the server's answer: `err.is_not_found()`, `err.is_conflict()`,
//! and `Display` prints the server's message.
#![warn(missing_docs)]

pub use lastbackend_core as core;

mod client;
mod cluster;
mod control_plane;
mod error;
mod namespace;
mod objects;
mod service;
pub mod watch;

#[cfg(feature = "cli")]
pub mod cli;

pub use client::{Client, ClientBuilder, DEFAULT_PORT, HttpService, ResponseBody};
pub use cluster::{ClusterHandle, NodeHandle, Nodes};
pub use error::{BoxError, Error, Result};
pub use namespace::{ApplyInput, ApplyOptions, NamespaceHandle, Namespaces};
pub use objects::{Collection, Handle, Namespaced};
pub use service::{LogStream, ServiceHandle};
pub use watch::WatchStream;
