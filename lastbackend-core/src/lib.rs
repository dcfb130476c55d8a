//! The core of lastbackend-rs: the entity model, manifests, units, the
//! revisioned [`storage::Storage`] trait and its backends.
//!
//! Everything here is free of host IO (no Docker, no sockets but the storage
//! backends'), so a Rust program can embed a whole control plane in memory.
#![warn(missing_docs)]

pub mod manifest;
pub mod storage;
pub mod units;
