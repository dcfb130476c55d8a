//! The Docker driver and the `dir` volume driver against the real Docker
//! Engine, with the offline busybox image (no registry needed).
//!
//! Run with `cargo test -p lastbackend-runtime --test docker`. Without an
//! engine the tests are skipped with a message; under `CI=true` they fail.

#[path = "docker/containers.rs"]
mod containers;
#[path = "docker/images.rs"]
mod images;
#[path = "docker/networks.rs"]
mod networks;
#[path = "docker/registry.rs"]
mod registry;
#[path = "support/skip.rs"]
mod skip;
#[path = "docker/streams.rs"]
mod streams;
#[path = "support/docker.rs"]
mod support;
#[path = "support/registry.rs"]
mod support_registry;
#[path = "docker/volumes.rs"]
mod volumes;
