//! Namespace removal. The API marks a namespace `status.state = destroy`;
//! [`NamespaceReconciler`] then removes everything in it and the namespace
//! last:
//!
//! - services get `spec.state.destroy`, so the service reconciler tears
//!   them down as usual (endpoint, deployments, pods);
//! - volumes get `spec.state.destroy`, so the volume reconciler removes
//!   them once their node has dropped the data;
//! - secrets, configs and routes, which nothing else holds, are deleted;
//! - once nothing is left under the namespace's prefix (services,
//!   deployments, pods, endpoints, volumes, secrets, configs, routes), the
//!   namespace itself is deleted.
//!
//! The original deleted the namespace and orphaned its secrets, configs,
//! routes and volumes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::manager::{BuiltController, Context};
use super::runtime::{Action, Cache, Reconciler};
use crate::model::{
    Config, Deployment, Endpoint, Namespace, Object, Pod, Route, Secret, Service, State, Volume,
};
use crate::storage::BoxError;
use crate::store::Writes;

/// How often a namespace being removed is looked at again while the
/// objects other reconcilers remove are still there.
pub const TEARDOWN_POLL: Duration = Duration::from_secs(2);

/// Removes namespaces marked `destroy` and everything in them. Keys are
/// namespace names.
#[derive(Debug)]
pub struct NamespaceReconciler {
    context: Context,
    namespaces: Arc<Cache<Namespace>>,
}

/// The namespace an object is in, as a one-key list.
fn namespace_of<T: Object>(obj: &T) -> Vec<String> {
    obj.self_link()
        .ok()
        .and_then(|link| link.namespace_name().map(str::to_owned))
        .into_iter()
        .collect()
}

/// The [`NamespaceReconciler`] with a controller fed by namespaces and by
/// the services and volumes whose removal it waits for.
pub fn build(context: &Context) -> BuiltController {
    let mut controller = context.controller();
    let namespaces = controller.watch::<Namespace>("", |ns| vec![ns.meta.name.clone()]);
    controller.watch::<Service>("", namespace_of);
    controller.watch::<Volume>("", namespace_of);
    BuiltController {
        controller,
        reconciler: Arc::new(NamespaceReconciler {
            context: context.clone(),
            namespaces,
        }),
    }
}

impl NamespaceReconciler {
    async fn commit(&self, writes: Writes) -> Result<(), BoxError> {
        if !writes.is_empty() {
            self.context.writer.commit(writes).await?;
        }
        Ok(())
    }

    /// Deletes every `T` under `prefix`.
    async fn delete_all<T: Object>(&self, prefix: &str) -> Result<(), BoxError> {
        let (objects, _) = self.context.store.list::<T>(prefix).await?;
        for obj in &objects {
            self.commit(Writes::new().delete(obj)).await?;
        }
        Ok(())
    }

    /// How many `T` are under `prefix`.
    async fn count<T: Object>(&self, prefix: &str) -> Result<usize, BoxError> {
        Ok(self.context.store.list::<T>(prefix).await?.0.len())
    }
}

#[async_trait]
impl Reconciler for NamespaceReconciler {
    async fn reconcile(&self, name: &str) -> Result<Action, BoxError> {
        let Some(namespace) = self.namespaces.get(name) else {
            return Ok(Action::Done);
        };
        if namespace.status.status.state != State::Destroy {
            return Ok(Action::Done);
        }
        let prefix = format!("{name}:");

        let (services, _) = self.context.store.list::<Service>(&prefix).await?;
        for mut service in services.into_iter().filter(|s| !s.spec.state.destroy) {
            service.spec.state.destroy = true;
            self.commit(Writes::new().update(&service)?).await?;
        }
        let (volumes, _) = self.context.store.list::<Volume>(&prefix).await?;
        for mut volume in volumes.into_iter().filter(|v| !v.spec.state.destroy) {
            volume.spec.state.destroy = true;
            self.commit(Writes::new().update(&volume)?).await?;
        }
        self.delete_all::<Secret>(&prefix).await?;
        self.delete_all::<Config>(&prefix).await?;
        self.delete_all::<Route>(&prefix).await?;

        let left = self.count::<Service>(&prefix).await?
            + self.count::<Deployment>(&prefix).await?
            + self.count::<Pod>(&prefix).await?
            + self.count::<Endpoint>(&prefix).await?
            + self.count::<Volume>(&prefix).await?;
        if left > 0 {
            tracing::debug!(namespace = name, left, "waiting for the teardown");
            return Ok(Action::RequeueAfter(TEARDOWN_POLL));
        }
        // At the revision read: a namespace changed meanwhile is looked at
        // again.
        let namespace = self
            .context
            .store
            .get::<Namespace>(&namespace.self_link()?)
            .await?;
        self.commit(Writes::new().delete(&namespace)).await?;
        tracing::info!(namespace = name, "namespace removed");
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests;
