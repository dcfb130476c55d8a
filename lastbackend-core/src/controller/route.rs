//! Route assignment to ingress servers.
//!
//! [`RouteReconciler`] gives every route an ingress (`spec.ingress`, which
//! puts it in that ingress's manifest): the one `spec.selector.ingress`
//! names, when it is online; otherwise the online ingress carrying the
//! fewest routes. It counts them (the original kept a counter it never
//! incremented, so every route went to one ingress). A route whose ingress
//! goes offline is moved; a route with no online ingress to go to has its
//! assignment cleared and its status in error until one comes.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::manager::{BuiltController, Context};
use super::runtime::{Action, Cache, Reconciler};
use crate::model::{Ingress, Object, Route, SelfLink, State, Status};
use crate::storage::BoxError;
use crate::store::Writes;

/// Why a route has no ingress when none is online.
pub const NO_INGRESS: &str = "no ingress is online";

/// Assigns routes to ingress servers. Keys are route selflinks.
#[derive(Debug)]
pub struct RouteReconciler {
    context: Context,
    ingresses: Arc<Cache<Ingress>>,
    /// Held from counting to writing, so two workers never both count the
    /// same ingress as the least loaded.
    assigning: tokio::sync::Mutex<()>,
}

/// The [`RouteReconciler`] with a controller fed by routes and by ingress
/// servers (any ingress change looks at every route again: one coming
/// online takes the unassigned ones, one going offline sheds its own).
pub fn build(context: &Context) -> BuiltController {
    let mut controller = context.controller();
    let routes = controller.watch::<Route>("", |r| vec![r.meta.self_link.clone()]);
    let ingresses = controller.watch::<Ingress>("", move |_| routes.keys());
    BuiltController {
        controller,
        reconciler: Arc::new(RouteReconciler {
            context: context.clone(),
            ingresses,
            assigning: tokio::sync::Mutex::new(()),
        }),
    }
}

/// Where a route goes: `Ok(ingress name)`, or `Err(why not)`.
///
/// The ingress `spec.selector.ingress` names if it is online; else the
/// route's current ingress if it is online; else the online ingress with
/// the fewest routes in `routes` (the first by name on a tie).
pub fn choose_ingress(
    route: &Route,
    ingresses: &[Ingress],
    routes: &[Route],
) -> Result<String, String> {
    let online = |name: &str| {
        ingresses
            .iter()
            .any(|i| i.meta.name == name && i.status.online)
    };
    if let Some(wanted) = &route.spec.selector.ingress {
        return if online(wanted) {
            Ok(wanted.clone())
        } else {
            Err(format!("ingress {wanted} is not online"))
        };
    }
    if let Some(current) = &route.spec.ingress
        && online(current)
    {
        return Ok(current.clone());
    }
    let mut load: BTreeMap<&str, usize> = ingresses
        .iter()
        .filter(|i| i.status.online)
        .map(|i| (i.meta.name.as_str(), 0))
        .collect();
    for other in routes {
        if other.meta.self_link == route.meta.self_link {
            continue;
        }
        if let Some(count) = other
            .spec
            .ingress
            .as_deref()
            .and_then(|name| load.get_mut(name))
        {
            *count += 1;
        }
    }
    // `min_by_key` keeps the first of equals: the first by name.
    load.into_iter()
        .min_by_key(|(_, count)| *count)
        .map(|(name, _)| name.to_owned())
        .ok_or_else(|| NO_INGRESS.to_owned())
}

#[async_trait]
impl Reconciler for RouteReconciler {
    async fn reconcile(&self, key: &str) -> Result<Action, BoxError> {
        let _assigning = self.assigning.lock().await;
        let store = &self.context.store;
        let Some(mut route) = store
            .find::<Route>(&SelfLink::parse(Route::KIND, key)?)
            .await?
        else {
            return Ok(Action::Done);
        };
        let (routes, _) = store.list::<Route>("").await?;
        let before = route.clone();
        match choose_ingress(&route, &self.ingresses.list(), &routes) {
            Ok(ingress) => {
                if route.spec.ingress.as_deref() != Some(ingress.as_str()) {
                    tracing::info!(route = key, ingress, "route assigned");
                    route.spec.ingress = Some(ingress);
                    // The new ingress reports the real state.
                    route.status = Status::new(State::Provision);
                } else if route.status.state == State::Error && route.status.message == NO_INGRESS {
                    route.status = Status::new(State::Provision);
                }
            }
            Err(why) => {
                route.spec.ingress = None;
                route.status = Status::with_message(State::Error, why);
            }
        }
        if route != before {
            self.context
                .writer
                .commit(Writes::new().update(&route)?)
                .await?;
        }
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests;
