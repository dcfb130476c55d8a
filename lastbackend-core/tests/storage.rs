//! Storage tests, one module per backend.
//!
//! Run with `cargo test -p lastbackend-core --features etcd --test storage`.

#[cfg(feature = "etcd")]
#[path = "storage/etcd.rs"]
mod etcd;
