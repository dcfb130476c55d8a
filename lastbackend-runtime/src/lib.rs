//! Host-side runtimes of lastbackend-rs: the traits a node agent drives
//! (containers, images, volumes, overlay network, service proxy) and their
//! drivers. The traits and drivers arrive with the node agent; this crate is
//! the place a library user will plug a custom container runtime into.
#![warn(missing_docs)]

pub use lastbackend_core as core;
