//! Services (with quotas), and their deployments and pods, read-only.

use std::iter;

use super::types::List;
use super::{
    Api, ApiError, CAS_ATTEMPTS, Result, UpdateOptions, check_expected, convert, quota, too_busy,
};
use crate::change::update_service_spec;
use crate::manifest::{Manifest, ServiceManifest};
use crate::model::{Deployment, Kind, Namespace, Object, Pod, SelfLink, Service};
use crate::storage;
use crate::store::Writes;

/// The outcome of one attempt at a guarded write: `Err` is the storage's
/// refusal, which the caller maps or retries.
type Attempt<T> = Result<std::result::Result<T, storage::Error>>;

impl Api {
    /// `GET /namespace/{ns}/service`.
    pub async fn services(&self, ns: &str) -> Result<List<Service>> {
        self.list_in(ns).await
    }

    /// `GET /namespace/{ns}/service/{name}`: 404 `"Namespace not found"`,
    /// then `"Service not found"`.
    pub async fn service(&self, ns: &str, name: &str) -> Result<Service> {
        self.get_in(ns, name).await
    }

    /// `POST /namespace/{ns}/service`: generation 1, endpoint
    /// `<name>.<ns>.<zone>`; checks the namespace's quota.
    pub async fn create_service(&self, ns: &str, m: ServiceManifest) -> Result<Service> {
        let Manifest::Service(m) = super::namespace::validate(Manifest::Service(m))? else {
            unreachable!("validate returns its input")
        };
        let mut spec = convert::service_spec(&m)?;
        spec.generation = 1;
        for _ in 0..CAS_ATTEMPTS {
            let namespace = self.live_namespace(ns).await?;
            let service = self.new_service(&namespace, &m, spec.clone());
            match self.write_service(&namespace, None, service).await? {
                Ok(service) => return Ok(service),
                Err(e) if e.is_exists() => {
                    return Err(ApiError::exists(Kind::Service, &m.meta.name));
                }
                Err(e) if e.is_conflict() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_busy(Kind::Service, &m.meta.name))
    }

    /// A new service object in `namespace` from a manifest.
    pub(crate) fn new_service(
        &self,
        namespace: &Namespace,
        m: &ServiceManifest,
        spec: crate::model::ServiceSpec,
    ) -> Service {
        let link = SelfLink::namespaced(Kind::Service, &namespace.meta.name, &m.meta.name);
        let mut service = Service {
            meta: convert::meta(&m.meta, &link),
            spec,
            ..Service::default()
        };
        service.status.endpoint = format!(
            "{}.{}",
            m.meta.name,
            namespace.endpoint(&self.settings.internal_domain)
        );
        service
    }

    /// `PUT /namespace/{ns}/service/{name}`: replaces the spec through
    /// [`update_service_spec`] (a template or selector change, or
    /// `redeploy`, bumps the generation: a new deployment).
    pub async fn update_service(
        &self,
        ns: &str,
        name: &str,
        mut m: ServiceManifest,
        opts: UpdateOptions,
    ) -> Result<Service> {
        super::namespace::name_from_path(&mut m.meta, name);
        let Manifest::Service(m) = super::namespace::validate(Manifest::Service(m))? else {
            unreachable!("validate returns its input")
        };
        let spec = convert::service_spec(&m)?;
        self.change_service(ns, name, opts.expected, |service| {
            let mut new = spec.clone();
            convert::keep_service_owned(&mut new, &service.spec);
            let (new, _) = update_service_spec(&service.spec, new, opts.redeploy);
            let changed = new != service.spec || !convert::same_meta(&service.meta, &m.meta);
            service.spec = new;
            convert::update_meta(&mut service.meta, &m.meta);
            changed
        })
        .await
    }

    /// `PUT /namespace/{ns}/service/{name}/scale`: changes the replicas
    /// (a scale in place), within the quota.
    pub async fn scale_service(&self, ns: &str, name: &str, replicas: u32) -> Result<Service> {
        if replicas > crate::manifest::MAX_REPLICAS {
            return Err(ApiError::invalid(
                "replicas",
                format!("must be at most {}", crate::manifest::MAX_REPLICAS),
            ));
        }
        self.change_service(ns, name, None, |service| {
            let mut new = service.spec.clone();
            new.replicas = replicas;
            let (new, _) = update_service_spec(&service.spec, new, false);
            let changed = new != service.spec;
            service.spec = new;
            changed
        })
        .await
    }

    /// `DELETE /namespace/{ns}/service/{name}`: sets `spec.state.destroy`
    /// (its quota is released); the controller tears it down and deletes it.
    pub async fn remove_service(&self, ns: &str, name: &str) -> Result<Service> {
        self.change_service(ns, name, None, |service| {
            let changed = !service.spec.state.destroy;
            service.spec.state.destroy = true;
            changed
        })
        .await
    }

    /// Read, change, quota check and compare-and-swap of one service with
    /// its namespace's allocation, retried on conflicts unless the caller
    /// pinned a revision.
    async fn change_service(
        &self,
        ns: &str,
        name: &str,
        expected: Option<storage::Revision>,
        mut change: impl FnMut(&mut Service) -> bool,
    ) -> Result<Service> {
        let link = SelfLink::namespaced(Kind::Service, ns, name);
        for _ in 0..CAS_ATTEMPTS {
            let namespace = self.namespace(ns).await?;
            let old: Service = self.get_or_404(&link).await?;
            check_expected(&old, expected)?;
            let mut new = old.clone();
            if !change(&mut new) {
                return Ok(old);
            }
            new.meta.updated = chrono::Utc::now();
            match self.write_service(&namespace, Some(&old), new).await? {
                Ok(service) => return Ok(service),
                Err(e) if e.is_conflict() || e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_busy(Kind::Service, name))
    }

    /// Checks the quota with `service` in place of its stored version and
    /// writes both, guarded: the service by absence (`old` is `None`) or
    /// by its read revision, the namespace's allocation by the namespace's
    /// read revision, so concurrent writers cannot both pass the quota.
    async fn write_service(
        &self,
        namespace: &Namespace,
        old: Option<&Service>,
        service: Service,
    ) -> Attempt<Service> {
        let (services, _) = self
            .store
            .list::<Service>(&format!("{}:", namespace.meta.name))
            .await?;
        let before = quota::total(namespace, &services, &[])?;
        let after_set: Vec<Service> = services
            .into_iter()
            .filter(|s| s.meta.name != service.meta.name)
            .chain(iter::once(service.clone()))
            .collect();
        let after = quota::total(namespace, &after_set, &[service.meta.name.as_str()])?;
        quota::check(namespace, before, after)?;
        let mut namespace = namespace.clone();
        namespace.status.allocated = after.resources();
        let writes = match old {
            Some(_) => Writes::new().update(&service)?,
            None => Writes::new().create(&service)?,
        }
        .update(&namespace)?;
        Ok(self.store.commit(writes).await.map(|revision| {
            let mut service = service;
            service.meta.revision = revision;
            service
        }))
    }

    /// `GET /namespace/{ns}/service/{svc}/deployment`.
    pub async fn deployments(&self, ns: &str, svc: &str) -> Result<List<Deployment>> {
        self.service(ns, svc).await?;
        let (items, revision) = self.store.list(&format!("{ns}:{svc}:")).await?;
        Ok(List { items, revision })
    }

    /// `GET /namespace/{ns}/service/{svc}/deployment/{name}`.
    pub async fn deployment(&self, ns: &str, svc: &str, name: &str) -> Result<Deployment> {
        self.service(ns, svc).await?;
        self.get_or_404(&SelfLink::deployment(ns, svc, name)).await
    }

    /// `GET /namespace/{ns}/service/{svc}[/deployment/{d}]/pod`: a
    /// service's pods, or one deployment's.
    pub async fn pods(&self, ns: &str, svc: &str, deployment: Option<&str>) -> Result<List<Pod>> {
        self.service(ns, svc).await?;
        let prefix = match deployment {
            Some(d) => {
                self.deployment(ns, svc, d).await?;
                format!("{ns}:{svc}:d_{d}:")
            }
            None => format!("{ns}:{svc}:"),
        };
        let (items, revision) = self.store.list(&prefix).await?;
        Ok(List { items, revision })
    }

    /// Lists a namespace's objects of one kind: 404 if the namespace is
    /// missing.
    pub(crate) async fn list_in<T: Object>(&self, ns: &str) -> Result<List<T>> {
        self.namespace(ns).await?;
        let (items, revision) = self.store.list(&format!("{ns}:")).await?;
        Ok(List { items, revision })
    }

    /// Reads a namespaced object: 404 for the namespace first, then for it.
    pub(crate) async fn get_in<T: Object>(&self, ns: &str, name: &str) -> Result<T> {
        self.namespace(ns).await?;
        self.get_or_404(&SelfLink::namespaced(T::KIND, ns, name))
            .await
    }
}
