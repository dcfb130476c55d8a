//! The typed SDK of lastbackend-rs: the Rust counterpart of the original's Go
//! `pkg/api/client`. It shares its types with the server through
//! [`lastbackend_core`], re-exported here as [`core`].
#![warn(missing_docs)]

pub use lastbackend_core as core;
