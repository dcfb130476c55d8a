//! The exporter daemon's membership: registering with the API and the
//! address it advertises. The exporter itself (log store, log listener,
//! HTTP reader) is `lastbackend_runtime::exporter`.

mod member;

pub use member::{advertised, keep_registered};
