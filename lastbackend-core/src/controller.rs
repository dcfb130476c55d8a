//! The controller's foundations: a reusable reconcile framework
//! ([`runtime`]: work queue, watch-fed caches, the [`runtime::Controller`]
//! runner).

pub mod runtime;
#[cfg(test)]
mod testing;
