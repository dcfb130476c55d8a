//! Change detection: what the controller must do when a service's spec
//! changes. The rules, as the original intended them:
//! - a template or selector change needs a **new deployment**;
//! - a replicas change alone **scales** the current deployment in place;
//! - a network change touches **only the endpoint**;
//! - anything else (the rollout strategy) needs nothing now.

use std::fmt;

use crate::model::ServiceSpec;

/// What a spec change asks of the controller; several may hold at once
/// (replicas and ports changed together: scale and endpoint).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceChange {
    /// Roll out a new deployment (template or selector changed, or a
    /// redeploy was asked). It is made with the new replicas, so `scale` is
    /// `None` then.
    pub new_deployment: bool,
    /// Scale the current deployment in place: `(from, to)` replicas.
    pub scale: Option<(u32, u32)>,
    /// Update the endpoint (ports or requested VIP changed).
    pub endpoint: bool,
}

impl ServiceChange {
    /// Nothing to do.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for ServiceChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.new_deployment {
            parts.push("new deployment".to_owned());
        }
        if let Some((from, to)) = self.scale {
            parts.push(format!("scale {from} → {to}"));
        }
        if self.endpoint {
            parts.push("update endpoint".to_owned());
        }
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Compares two specs of one service. `redeploy` forces a new deployment
/// even when the template is the same (the API's `?redeploy=true`).
pub fn service_change(old: &ServiceSpec, new: &ServiceSpec, redeploy: bool) -> ServiceChange {
    let new_deployment = redeploy || old.template != new.template || old.selector != new.selector;
    ServiceChange {
        new_deployment,
        scale: (!new_deployment && old.replicas != new.replicas)
            .then_some((old.replicas, new.replicas)),
        endpoint: old.network != new.network,
    }
}

/// Applies an update from a user: `new` becomes the spec, with the
/// generation carried over from `old` and bumped when a new deployment is
/// needed, so the controller sees it. Returns what changed.
pub fn update_service_spec(
    old: &ServiceSpec,
    mut new: ServiceSpec,
    redeploy: bool,
) -> (ServiceSpec, ServiceChange) {
    let change = service_change(old, &new, redeploy);
    new.generation = old.generation + u64::from(change.new_deployment);
    (new, change)
}

#[cfg(test)]
mod tests;
