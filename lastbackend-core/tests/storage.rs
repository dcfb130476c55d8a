//! The storage conformance battery, stamped out for every backend.
//!
//! `battery.rs` holds the checks (plain async functions over an
//! `Arc<dyn Storage>`) and the `battery!` macro that turns them into tests for
//! one backend; `model.rs` the model-based property test; one file per
//! backend stamps the battery and adds what only that backend can do.
//!
//! Run with `cargo test -p lastbackend-core --features embedded --test storage`
//! (`--features etcd` for the etcd backend, which needs `etcd` installed).

#[macro_use]
#[path = "storage/battery.rs"]
mod battery;
#[cfg(feature = "embedded")]
#[path = "storage/embedded.rs"]
mod embedded;
#[cfg(feature = "etcd")]
#[path = "storage/etcd.rs"]
mod etcd;
#[path = "storage/memory.rs"]
mod memory;
#[path = "storage/model.rs"]
mod model;
