//! The core of lastbackend-rs: the entity [`model`], [`units`], the revisioned
//! [`storage::Storage`] trait with its backends, typed access over it
//! ([`store::Store`]), user [`manifest`]s, [`change`] detection, the
//! [`api`] operations, the [`scheduler`], the [`controller`]'s reconcile
//! framework and leader election, and service VIP allocation ([`ipam`]).
//! With the `server` feature, `server` is the REST API server over those
//! operations: an axum router a program serves or mounts in its own app.
//!
//! Everything here is free of host IO (no Docker, no sockets but the storage
//! backends'), so a Rust program can embed a whole control plane in memory:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use lastbackend_core::model::{Meta, Namespace, SelfLink};
//! use lastbackend_core::storage::memory::MemoryStorage;
//! use lastbackend_core::store::Store;
//!
//! # async fn run() -> Result<(), lastbackend_core::storage::Error> {
//! let store = Store::new(Arc::new(MemoryStorage::new()));
//! let link = SelfLink::namespace("demo");
//! let demo = Namespace { meta: Meta::new("demo", &link), ..Namespace::default() };
//! let stored = store.create(&demo).await?;
//! let read: Namespace = store.get(&link).await?;
//! assert_eq!(read.meta.revision, stored.meta.revision);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod change;
pub mod controller;
pub mod ipam;
pub mod manifest;
pub mod model;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod scheduler;
#[cfg(feature = "server")]
pub mod server;
pub mod storage;
pub mod store;
pub mod units;
