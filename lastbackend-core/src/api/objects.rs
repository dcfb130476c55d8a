//! Secrets, configs, routes and volumes: create, read, update, remove.

use super::types::List;
use super::{Api, ApiError, Result, convert};
use crate::manifest::{ConfigManifest, Manifest, RouteManifest, SecretManifest, VolumeManifest};
use crate::model::{
    Config, Kind, Namespace, Object, Route, RouteSpec, Secret, SelfLink, Service, Volume,
};
use crate::storage::Revision;

use super::namespace::{name_from_path, validate};

/// Ports any number of routes share: the ingress tells them apart by host.
const SHARED_PORTS: [u16; 2] = [80, 443];

/// The original's checks of a route against the others and the services it
/// names: a port other than 80/443 is one route's alone (`"Port is already
/// in use"`), and every rule names a service of the namespace (`"Bad rules
/// parameter"`).
pub(crate) fn check_route(
    link: &str,
    spec: &RouteSpec,
    routes: &[Route],
    services: &[&str],
) -> Result<()> {
    if !SHARED_PORTS.contains(&spec.port)
        && routes
            .iter()
            .any(|r| r.meta.self_link != link && r.spec.port == spec.port)
    {
        return Err(ApiError::BadRequest(format!(
            "Port is already in use: another route listens on {}",
            spec.port
        )));
    }
    for (i, rule) in spec.rules.iter().enumerate() {
        if !services.contains(&rule.service.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "Bad rules parameter: spec.rules[{i}].service: no service {:?} in the namespace",
                rule.service
            )));
        }
    }
    Ok(())
}

impl Api {
    async fn create_in<T: Object>(&self, obj: T) -> Result<T> {
        self.store.create(&obj).await.map_err(|e| {
            if e.is_exists() {
                ApiError::exists(T::KIND, &obj.meta().name)
            } else {
                e.into()
            }
        })
    }

    /// Deletes a namespaced object at the revision read, returning it as it
    /// was last.
    async fn delete_in<T: Object>(&self, ns: &str, name: &str) -> Result<T> {
        for _ in 0..super::CAS_ATTEMPTS {
            let obj: T = self.get_in(ns, name).await?;
            match self.store.delete(&obj).await {
                Ok(_) => return Ok(obj),
                Err(e) if e.is_conflict() => continue,
                Err(e) if e.is_not_found() => return Err(ApiError::not_found(T::KIND, name)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(super::too_busy(T::KIND, name))
    }

    /// The host a route without `endpoint` answers for:
    /// `<route>.<namespace>.<zone>`, the zone being the namespace's external
    /// domain, else the cluster's, else the internal one.
    pub(crate) fn default_route_endpoint(&self, namespace: &Namespace, route: &str) -> String {
        let zone = [
            namespace.spec.domain.external.as_str(),
            self.settings.external_domain.as_str(),
        ]
        .into_iter()
        .find(|z| !z.is_empty())
        .unwrap_or(&self.settings.internal_domain);
        format!("{route}.{}.{zone}", namespace.meta.name)
    }

    /// The names of a namespace's services that are not being destroyed.
    async fn service_names(&self, ns: &str) -> Result<Vec<String>> {
        let (services, _) = self.store.list::<Service>(&format!("{ns}:")).await?;
        Ok(services
            .into_iter()
            .filter(|s| !s.spec.state.destroy)
            .map(|s| s.meta.name)
            .collect())
    }

    // Secrets.

    /// `GET /namespace/{ns}/secret`.
    pub async fn secrets(&self, ns: &str) -> Result<List<Secret>> {
        self.list_in(ns).await
    }

    /// `GET /namespace/{ns}/secret/{name}`: `"Secret not found"`.
    pub async fn secret(&self, ns: &str, name: &str) -> Result<Secret> {
        self.get_in(ns, name).await
    }

    /// `POST /namespace/{ns}/secret`: an `auth` secret needs `username` and
    /// `password`.
    pub async fn create_secret(&self, ns: &str, m: SecretManifest) -> Result<Secret> {
        let Manifest::Secret(m) = validate(Manifest::Secret(m))? else {
            unreachable!("validate returns its input")
        };
        let spec = convert::secret_spec(&m)?;
        self.live_namespace(ns).await?;
        let link = SelfLink::namespaced(Kind::Secret, ns, &m.meta.name);
        self.create_in(Secret {
            meta: convert::meta(&m.meta, &link),
            spec,
        })
        .await
    }

    /// `PUT /namespace/{ns}/secret/{name}`: the data is replaced.
    pub async fn update_secret(
        &self,
        ns: &str,
        name: &str,
        mut m: SecretManifest,
        expected: Option<Revision>,
    ) -> Result<Secret> {
        name_from_path(&mut m.meta, name);
        let Manifest::Secret(m) = validate(Manifest::Secret(m))? else {
            unreachable!("validate returns its input")
        };
        let spec = convert::secret_spec(&m)?;
        self.namespace(ns).await?;
        let link = SelfLink::namespaced(Kind::Secret, ns, name);
        self.modify(&link, expected, |s: &mut Secret| {
            let changed = s.spec != spec || !convert::same_meta(&s.meta, &m.meta);
            s.spec = spec.clone();
            convert::update_meta(&mut s.meta, &m.meta);
            Ok(changed)
        })
        .await
    }

    /// `DELETE /namespace/{ns}/secret/{name}`: deleted at once; returns it
    /// as it was.
    pub async fn remove_secret(&self, ns: &str, name: &str) -> Result<Secret> {
        self.delete_in(ns, name).await
    }

    // Configs.

    /// `GET /namespace/{ns}/config`.
    pub async fn configs(&self, ns: &str) -> Result<List<Config>> {
        self.list_in(ns).await
    }

    /// `GET /namespace/{ns}/config/{name}`: `"Config not found"`.
    pub async fn config(&self, ns: &str, name: &str) -> Result<Config> {
        self.get_in(ns, name).await
    }

    /// `POST /namespace/{ns}/config`.
    pub async fn create_config(&self, ns: &str, m: ConfigManifest) -> Result<Config> {
        let Manifest::Config(m) = validate(Manifest::Config(m))? else {
            unreachable!("validate returns its input")
        };
        let spec = convert::config_spec(&m)?;
        self.live_namespace(ns).await?;
        let link = SelfLink::namespaced(Kind::Config, ns, &m.meta.name);
        self.create_in(Config {
            meta: convert::meta(&m.meta, &link),
            spec,
        })
        .await
    }

    /// `PUT /namespace/{ns}/config/{name}`: the data is replaced.
    pub async fn update_config(
        &self,
        ns: &str,
        name: &str,
        mut m: ConfigManifest,
        expected: Option<Revision>,
    ) -> Result<Config> {
        name_from_path(&mut m.meta, name);
        let Manifest::Config(m) = validate(Manifest::Config(m))? else {
            unreachable!("validate returns its input")
        };
        let spec = convert::config_spec(&m)?;
        self.namespace(ns).await?;
        let link = SelfLink::namespaced(Kind::Config, ns, name);
        self.modify(&link, expected, |c: &mut Config| {
            let changed = c.spec != spec || !convert::same_meta(&c.meta, &m.meta);
            c.spec = spec.clone();
            convert::update_meta(&mut c.meta, &m.meta);
            Ok(changed)
        })
        .await
    }

    /// `DELETE /namespace/{ns}/config/{name}`: deleted at once.
    pub async fn remove_config(&self, ns: &str, name: &str) -> Result<Config> {
        self.delete_in(ns, name).await
    }

    // Routes.

    /// `GET /namespace/{ns}/route`.
    pub async fn routes(&self, ns: &str) -> Result<List<Route>> {
        self.list_in(ns).await
    }

    /// `GET /namespace/{ns}/route/{name}`: `"Route not found"`.
    pub async fn route(&self, ns: &str, name: &str) -> Result<Route> {
        self.get_in(ns, name).await
    }

    /// `POST /namespace/{ns}/route`: checks the port and the rules' services
    /// (see [`Api::update_route`]).
    pub async fn create_route(&self, ns: &str, m: RouteManifest) -> Result<Route> {
        let Manifest::Route(m) = validate(Manifest::Route(m))? else {
            unreachable!("validate returns its input")
        };
        let namespace = self.live_namespace(ns).await?;
        let spec = convert::route_spec(&m, &self.default_route_endpoint(&namespace, &m.meta.name))?;
        let link = SelfLink::namespaced(Kind::Route, ns, &m.meta.name);
        if let Some(existing) = self.store.find::<Route>(&link).await? {
            return Err(ApiError::exists(Kind::Route, existing.meta.name));
        }
        let (routes, _) = self.store.list::<Route>("").await?;
        let services = self.service_names(ns).await?;
        let names: Vec<&str> = services.iter().map(String::as_str).collect();
        check_route(&link.to_string(), &spec, &routes, &names)?;
        self.create_in(Route {
            meta: convert::meta(&m.meta, &link),
            spec,
            ..Route::default()
        })
        .await
    }

    /// `PUT /namespace/{ns}/route/{name}`: a port other than 80 and 443 must
    /// be free (`"Port is already in use"`), every rule must name a service
    /// of the namespace (`"Bad rules parameter"`).
    pub async fn update_route(
        &self,
        ns: &str,
        name: &str,
        mut m: RouteManifest,
        expected: Option<Revision>,
    ) -> Result<Route> {
        name_from_path(&mut m.meta, name);
        let Manifest::Route(m) = validate(Manifest::Route(m))? else {
            unreachable!("validate returns its input")
        };
        let namespace = self.namespace(ns).await?;
        let link = SelfLink::namespaced(Kind::Route, ns, name);
        self.get_or_404::<Route>(&link).await?;
        let spec = convert::route_spec(&m, &self.default_route_endpoint(&namespace, name))?;
        let (routes, _) = self.store.list::<Route>("").await?;
        let services = self.service_names(ns).await?;
        let names: Vec<&str> = services.iter().map(String::as_str).collect();
        check_route(&link.to_string(), &spec, &routes, &names)?;
        self.modify(&link, expected, |r: &mut Route| {
            let mut new = spec.clone();
            convert::keep_route_owned(&mut new, &r.spec);
            let changed = r.spec != new || !convert::same_meta(&r.meta, &m.meta);
            r.spec = new;
            convert::update_meta(&mut r.meta, &m.meta);
            Ok(changed)
        })
        .await
    }

    /// `DELETE /namespace/{ns}/route/{name}`: deleted at once; the ingress
    /// drops it with its next manifest.
    pub async fn remove_route(&self, ns: &str, name: &str) -> Result<Route> {
        self.delete_in(ns, name).await
    }

    // Volumes.

    /// `GET /namespace/{ns}/volume`.
    pub async fn volumes(&self, ns: &str) -> Result<List<Volume>> {
        self.list_in(ns).await
    }

    /// `GET /namespace/{ns}/volume/{name}`: `"Volume not found"`.
    pub async fn volume(&self, ns: &str, name: &str) -> Result<Volume> {
        self.get_in(ns, name).await
    }

    /// `POST /namespace/{ns}/volume`.
    pub async fn create_volume(&self, ns: &str, m: VolumeManifest) -> Result<Volume> {
        let Manifest::Volume(m) = validate(Manifest::Volume(m))? else {
            unreachable!("validate returns its input")
        };
        let spec = convert::volume_spec(&m)?;
        self.live_namespace(ns).await?;
        let link = SelfLink::namespaced(Kind::Volume, ns, &m.meta.name);
        self.create_in(Volume {
            meta: convert::meta(&m.meta, &link),
            spec,
            ..Volume::default()
        })
        .await
    }

    /// `PUT /namespace/{ns}/volume/{name}`: placement and lifecycle stay.
    pub async fn update_volume(
        &self,
        ns: &str,
        name: &str,
        mut m: VolumeManifest,
        expected: Option<Revision>,
    ) -> Result<Volume> {
        name_from_path(&mut m.meta, name);
        let Manifest::Volume(m) = validate(Manifest::Volume(m))? else {
            unreachable!("validate returns its input")
        };
        let spec = convert::volume_spec(&m)?;
        self.namespace(ns).await?;
        let link = SelfLink::namespaced(Kind::Volume, ns, name);
        self.modify(&link, expected, |v: &mut Volume| {
            let mut new = spec.clone();
            convert::keep_volume_owned(&mut new, &v.spec);
            let changed = v.spec != new || !convert::same_meta(&v.meta, &m.meta);
            v.spec = new;
            convert::update_meta(&mut v.meta, &m.meta);
            Ok(changed)
        })
        .await
    }

    /// `DELETE /namespace/{ns}/volume/{name}`: marks it `destroy`; its node
    /// removes the data, then the controller deletes it.
    pub async fn remove_volume(&self, ns: &str, name: &str) -> Result<Volume> {
        self.namespace(ns).await?;
        let link = SelfLink::namespaced(Kind::Volume, ns, name);
        self.modify(&link, None, |v: &mut Volume| {
            let changed = !v.spec.state.destroy;
            v.spec.state.destroy = true;
            Ok(changed)
        })
        .await
    }
}
