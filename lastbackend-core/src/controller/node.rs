//! Presence of cluster members: a node (or an ingress, discovery or exporter
//! server) is online while its heartbeat key `<kind>/lease/<name>`
//! ([`lease_key`]) exists.
//!
//! The API keeps that key attached to a storage lease it renews on every
//! status push; when the pushes stop the lease ends and the store deletes
//! the key. [`PresenceReconciler`] watches those keys and the members and
//! makes `status.online` say whether the key is there: `false` when it goes,
//! `true` again when it comes back. (The original never wrote `false`.)
//! What follows from a node going offline (its pods replaced, endpoints
//! dropping them, routes and volumes moving) is the other reconcilers'.

use std::sync::Arc;

use async_trait::async_trait;

use super::manager::{BuiltController, Context};
use super::runtime::{Action, Reconciler};
use crate::api::lease_key;
use crate::model::{Discovery, Exporter, Ingress, Node, Object, SelfLink};
use crate::storage::BoxError;
use crate::store::Writes;

/// A cluster member with a heartbeat and an `online` flag.
pub trait Member: Object {
    /// Whether it is marked online.
    fn online(&self) -> bool;
    /// Marks it online or not.
    fn set_online(&mut self, online: bool);
}

impl Member for Node {
    fn online(&self) -> bool {
        self.status.online
    }
    fn set_online(&mut self, online: bool) {
        self.status.online = online;
    }
}

impl Member for Ingress {
    fn online(&self) -> bool {
        self.status.online
    }
    fn set_online(&mut self, online: bool) {
        self.status.online = online;
    }
}

impl Member for Discovery {
    fn online(&self) -> bool {
        self.status.presence.online
    }
    fn set_online(&mut self, online: bool) {
        self.status.presence.online = online;
    }
}

impl Member for Exporter {
    fn online(&self) -> bool {
        self.status.presence.online
    }
    fn set_online(&mut self, online: bool) {
        self.status.presence.online = online;
    }
}

/// Keeps `status.online` of every member of kind `T` equal to "its
/// heartbeat key exists". Keys are member names.
#[derive(Debug)]
pub struct PresenceReconciler<T> {
    context: Context,
    _kind: std::marker::PhantomData<fn() -> T>,
}

/// The [`PresenceReconciler`] of kind `T` with a controller fed by the
/// members and their heartbeat keys; for [`ControllerManager::add`]
/// (`add("node", node::build::<Node>)`).
///
/// [`ControllerManager::add`]: super::manager::ControllerManager::add
pub fn build<T: Member>(context: &Context) -> BuiltController {
    let mut controller = context.controller();
    controller.watch::<T>("", |member| vec![member.meta().name.clone()]);
    let prefix = lease_key(T::KIND, "");
    let leases = prefix.clone();
    controller.watch_keys(&prefix, move |key| {
        key.strip_prefix(leases.as_str())
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .into_iter()
            .collect()
    });
    BuiltController {
        controller,
        reconciler: Arc::new(PresenceReconciler::<T> {
            context: context.clone(),
            _kind: std::marker::PhantomData,
        }),
    }
}

#[async_trait]
impl<T: Member> Reconciler for PresenceReconciler<T> {
    async fn reconcile(&self, name: &str) -> Result<Action, BoxError> {
        let link = SelfLink::host(T::KIND, name);
        // Read fresh: the write below is compare-and-swap on this read.
        let Some(mut member) = self.context.store.find::<T>(&link).await? else {
            return Ok(Action::Done);
        };
        let alive = match self
            .context
            .store
            .storage()
            .get(&lease_key(T::KIND, name))
            .await
        {
            Ok(_) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(e.into()),
        };
        if member.online() == alive {
            return Ok(Action::Done);
        }
        member.set_online(alive);
        self.context
            .writer
            .commit(Writes::new().update(&member)?)
            .await?;
        if alive {
            tracing::info!(kind = %T::KIND, name, "heartbeat back: online");
        } else {
            tracing::warn!(kind = %T::KIND, name, "heartbeat gone: offline");
        }
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests;
