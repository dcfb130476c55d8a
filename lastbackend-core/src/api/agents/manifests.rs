//! The ingress and discovery servers' manifests, long-polled.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::long_poll::{both, changed, link_of};
use super::{resolver, resolvers};
use crate::api::{Api, Result};
use crate::manifest::internal::{DiscoveryManifest, IngressManifest};
use crate::model::{Discovery, Endpoint, Kind, Route, RouteSpec, Secret, SelfLink, Subnet};
use crate::storage::Revision;

impl Api {
    /// `GET /ingress/{name}/spec`: the routes assigned to this ingress, the
    /// endpoints of the services they name, every subnet and the resolvers;
    /// long-polls as [`Api::node_manifest`].
    pub async fn ingress_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> Result<IngressManifest> {
        self.ingress(name).await?;
        let mine = |ingress: Option<&str>| ingress == Some(name);
        self.long_poll(
            after,
            wait,
            &[
                "route/",
                "endpoint/",
                "subnet/",
                "discovery/info/",
                "secret/",
            ],
            || self.compute_ingress_manifest(name),
            |event, current| match event.kv.key.split('/').next().unwrap_or_default() {
                "route" => {
                    let (new, old) = both::<Route>(event);
                    let here = new
                        .iter()
                        .chain(&old)
                        .any(|r| mine(r.spec.ingress.as_deref()));
                    here && new.map(|r| r.spec) != old.map(|r| r.spec)
                }
                "endpoint" => {
                    route_endpoints(&current.routes).contains(&link_of(event, "endpoint"))
                        && changed(event, |e: &Endpoint| e.spec.clone())
                }
                "subnet" => changed(event, |s: &Subnet| s.spec.clone()),
                "discovery" => changed(event, resolver),
                "secret" => {
                    route_secrets(&current.routes).contains(&link_of(event, "secret"))
                        && changed(event, |s: &Secret| s.spec.clone())
                }
                _ => false,
            },
        )
        .await
    }

    async fn compute_ingress_manifest(&self, name: &str) -> Result<IngressManifest> {
        let (routes, r1) = self.store.list::<Route>("").await?;
        let (subnets, r2) = self.store.list::<Subnet>("").await?;
        let (discoveries, r3) = self.store.list::<Discovery>("").await?;
        let mut m = IngressManifest {
            revision: r1.min(r2).min(r3),
            resolvers: resolvers(&discoveries),
            routes: routes
                .into_iter()
                .filter(|r| r.spec.ingress.as_deref() == Some(name))
                .map(|r| (r.meta.self_link, r.spec))
                .collect(),
            subnets: subnets
                .into_iter()
                .map(|s| (s.meta.self_link, s.spec))
                .collect(),
            ..IngressManifest::default()
        };
        for link in route_endpoints(&m.routes) {
            if let Ok(link) = SelfLink::parse(Kind::Endpoint, &link)
                && let Some(endpoint) = self.store.find::<Endpoint>(&link).await?
            {
                m.endpoints.insert(endpoint.meta.self_link, endpoint.spec);
            }
        }
        for link in route_secrets(&m.routes) {
            if let Ok(link) = SelfLink::parse(Kind::Secret, &link)
                && let Some(secret) = self.store.find::<Secret>(&link).await?
            {
                m.secrets.insert(secret.meta.self_link, secret.spec);
            }
        }
        Ok(m)
    }

    /// `GET /discovery/{name}/spec`: every subnet; long-polls as
    /// [`Api::node_manifest`].
    pub async fn discovery_manifest(
        &self,
        name: &str,
        after: Option<Revision>,
        wait: Duration,
    ) -> Result<DiscoveryManifest> {
        self.discovery(name).await?;
        self.long_poll(
            after,
            wait,
            &["subnet/"],
            || async {
                let (subnets, revision) = self.store.list::<Subnet>("").await?;
                Ok(DiscoveryManifest {
                    revision,
                    subnets: subnets
                        .into_iter()
                        .map(|s| (s.meta.self_link, s.spec))
                        .collect(),
                })
            },
            |event, _| changed(event, |s: &Subnet| s.spec.clone()),
        )
        .await
    }
}

/// `ns:service` links of the endpoints routes send traffic to.
fn route_endpoints(routes: &BTreeMap<String, RouteSpec>) -> BTreeSet<String> {
    routes
        .iter()
        .flat_map(|(link, route)| {
            let ns = link.split(':').next().unwrap_or_default();
            route
                .rules
                .iter()
                .map(move |rule| format!("{ns}:{}", rule.service))
        })
        .collect()
}

/// `ns:secret` links of the secrets routes terminate TLS with.
fn route_secrets(routes: &BTreeMap<String, RouteSpec>) -> BTreeSet<String> {
    routes
        .iter()
        .filter_map(|(link, route)| {
            let ns = link.split(':').next().unwrap_or_default();
            let secret = route.tls.as_ref()?.secret.as_deref()?;
            Some(format!("{ns}:{secret}"))
        })
        .collect()
}
