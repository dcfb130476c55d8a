//! `PUT /namespace/{ns}/apply`: many manifests in one transaction.
//!
//! Every document is validated first; then a plan says for each whether it
//! creates, updates or leaves an object unchanged, the quota and the routes
//! are checked against the state the plan leads to, and everything is
//! written in one batch guarded by the revisions the plan read: all of it or
//! nothing. When another writer got in between, the plan is made again.

use std::collections::BTreeMap;

use super::types::{ApplyAction, ApplyItem, ApplyReport};
use super::{Api, ApiError, ApplyOptions, CAS_ATTEMPTS, Result, convert, quota};
use crate::change::update_service_spec;
use crate::manifest::{FieldError, Manifest, ManifestError, validate_all};
use crate::model::{
    Config, Kind, Meta, Namespace, Object, Route, Secret, SelfLink, Service, Volume,
};
use crate::store::Writes;

/// What a plan writes and reports.
struct Plan {
    items: Vec<ApplyItem>,
    writes: Writes,
}

/// Re-anchors a conversion error of one manifest to its document.
fn in_document(err: ApiError, document: usize, manifest: &Manifest) -> ApiError {
    match err {
        ApiError::Invalid(e) => ApiError::Invalid(ManifestError::new(
            e.errors
                .into_iter()
                .map(|mut f| {
                    f.document = document;
                    f.kind = Some(manifest.kind().to_string());
                    f.name = Some(manifest.name().to_owned());
                    f
                })
                .collect(),
        )),
        other => other,
    }
}

/// Decides create, update or unchanged for one object given what is stored.
fn decide<T: Object + PartialEq>(
    stored: Option<&T>,
    mut fresh: T,
    same: impl FnOnce(&T, &T) -> bool,
    merge: impl FnOnce(&T, &mut T),
) -> (ApplyAction, Option<T>) {
    match stored {
        None => (ApplyAction::Created, Some(fresh)),
        Some(old) => {
            merge(old, &mut fresh);
            if same(old, &fresh) {
                (ApplyAction::Unchanged, None)
            } else {
                (ApplyAction::Updated, Some(fresh))
            }
        }
    }
}

/// Keeps the stored identity (created, revision) under new content.
fn keep_identity(old: &Meta, new: &mut Meta) {
    let (description, labels) = (new.description.clone(), new.labels.clone());
    *new = old.clone();
    new.description = description;
    new.labels = labels;
    new.updated = chrono::Utc::now();
}

fn by_name<T: Object>(items: Vec<T>) -> BTreeMap<String, T> {
    items
        .into_iter()
        .map(|o| (o.meta().name.clone(), o))
        .collect()
}

impl Api {
    /// Applies `manifests` to namespace `ns` in one transaction and reports
    /// each document's fate in order. 400 with field paths on any invalid
    /// document (a `Namespace` document among them is one), 400 on quota or
    /// route problems, 409 when others keep changing the same objects.
    /// With `dry_run` nothing is written (`revision` 0); with `redeploy`
    /// every service gets a new generation.
    pub async fn apply(
        &self,
        ns: &str,
        manifests: Vec<Manifest>,
        opts: ApplyOptions,
    ) -> Result<ApplyReport> {
        validate_all(&manifests)?;
        let misplaced: Vec<FieldError> = manifests
            .iter()
            .enumerate()
            .filter(|(_, m)| matches!(m, Manifest::Namespace(_)))
            .map(|(i, m)| FieldError {
                kind: Some(m.kind().to_string()),
                name: Some(m.name().to_owned()),
                ..FieldError::new(
                    i + 1,
                    "kind",
                    "a Namespace cannot be applied inside a namespace; create it with POST /namespace",
                )
            })
            .collect();
        if !misplaced.is_empty() {
            return Err(ApiError::Invalid(ManifestError::new(misplaced)));
        }
        for _ in 0..CAS_ATTEMPTS {
            let namespace = self.live_namespace(ns).await?;
            let plan = self.plan(&namespace, &manifests, opts.redeploy).await?;
            let mut report = ApplyReport {
                items: plan.items,
                revision: 0,
                dry_run: opts.dry_run,
            };
            if opts.dry_run || plan.writes.is_empty() {
                return Ok(report);
            }
            match self.store.commit(plan.writes).await {
                Ok(revision) => {
                    report.revision = revision;
                    return Ok(report);
                }
                Err(e) if e.is_conflict() || e.is_exists() || e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::Conflict(format!(
            "objects in namespace {ns} kept changing while applying; apply again"
        )))
    }

    /// Reads what the manifests touch and decides what to write.
    async fn plan(
        &self,
        namespace: &Namespace,
        manifests: &[Manifest],
        redeploy: bool,
    ) -> Result<Plan> {
        let ns = namespace.meta.name.as_str();
        let prefix = format!("{ns}:");
        let services: Vec<Service> = self.store.list(&prefix).await?.0;
        let mut service_map = by_name(services.clone());
        let secrets: BTreeMap<_, Secret> = by_name(self.store.list(&prefix).await?.0);
        let configs: BTreeMap<_, Config> = by_name(self.store.list(&prefix).await?.0);
        let volumes: BTreeMap<_, Volume> = by_name(self.store.list(&prefix).await?.0);
        let (mut all_routes, _) = self.store.list::<Route>("").await?;

        let mut items = Vec::with_capacity(manifests.len());
        let mut writes = Writes::new();
        let mut changed_services = Vec::new();
        let mut planned_routes = Vec::new();
        for (i, manifest) in manifests.iter().enumerate() {
            let document = i + 1;
            let name = manifest.name();
            let at = |e| in_document(e, document, manifest);
            let link = |kind| SelfLink::namespaced(kind, ns, name);
            let action = match manifest {
                Manifest::Namespace(_) => unreachable!("rejected before planning"),
                Manifest::Service(m) => {
                    let mut spec = convert::service_spec(m).map_err(at)?;
                    let stored = service_map.get(name);
                    if stored.is_some_and(|s| s.spec.state.destroy) {
                        return Err(ApiError::Conflict(format!(
                            "service {name} is being destroyed; apply again once it is gone"
                        )));
                    }
                    spec.generation = 1;
                    let fresh = self.new_service(namespace, m, spec);
                    let (action, write) = decide(
                        stored,
                        fresh,
                        |old, new| old.spec == new.spec && old.meta == new.meta,
                        |old, new| {
                            let mut spec = std::mem::take(&mut new.spec);
                            convert::keep_service_owned(&mut spec, &old.spec);
                            new.spec = update_service_spec(&old.spec, spec, redeploy).0;
                            let updated = old.meta.updated;
                            keep_identity(&old.meta, &mut new.meta);
                            if old.meta.description == new.meta.description
                                && old.meta.labels == new.meta.labels
                            {
                                new.meta.updated = updated;
                            }
                            new.status = old.status.clone();
                        },
                    );
                    if let Some(service) = write {
                        writes = match action {
                            ApplyAction::Created => writes.create(&service)?,
                            _ => writes.update(&service)?,
                        };
                        changed_services.push(service.meta.name.clone());
                        service_map.insert(name.to_owned(), service);
                    }
                    action
                }
                Manifest::Secret(m) => {
                    let fresh = Secret {
                        meta: convert::meta(&m.meta, &link(Kind::Secret)),
                        spec: convert::secret_spec(m).map_err(at)?,
                    };
                    self.plan_simple(&mut writes, secrets.get(name), fresh, |_, _| {})?
                }
                Manifest::Config(m) => {
                    let fresh = Config {
                        meta: convert::meta(&m.meta, &link(Kind::Config)),
                        spec: convert::config_spec(m).map_err(at)?,
                    };
                    self.plan_simple(&mut writes, configs.get(name), fresh, |_, _| {})?
                }
                Manifest::Volume(m) => {
                    if volumes.get(name).is_some_and(|v| v.spec.state.destroy) {
                        return Err(ApiError::Conflict(format!(
                            "volume {name} is being destroyed; apply again once it is gone"
                        )));
                    }
                    let fresh = Volume {
                        meta: convert::meta(&m.meta, &link(Kind::Volume)),
                        spec: convert::volume_spec(m).map_err(at)?,
                        ..Volume::default()
                    };
                    self.plan_simple(&mut writes, volumes.get(name), fresh, |old, new| {
                        convert::keep_volume_owned(&mut new.spec, &old.spec);
                        new.status = old.status.clone();
                    })?
                }
                Manifest::Route(m) => {
                    let endpoint = self.default_route_endpoint(namespace, name);
                    let route_link = link(Kind::Route);
                    let fresh = Route {
                        meta: convert::meta(&m.meta, &route_link),
                        spec: convert::route_spec(m, &endpoint).map_err(at)?,
                        ..Route::default()
                    };
                    let key = route_link.to_string();
                    let stored = all_routes.iter().find(|r| r.meta.self_link == key).cloned();
                    planned_routes.push((document, fresh.clone()));
                    self.plan_simple(&mut writes, stored.as_ref(), fresh, |old, new| {
                        convert::keep_route_owned(&mut new.spec, &old.spec);
                        new.status = old.status.clone();
                    })?
                }
            };
            items.push(ApplyItem {
                kind: manifest.kind().to_string(),
                name: name.to_owned(),
                action,
            });
        }

        // Routes are checked against the state the whole plan leads to: the
        // services it creates count, and so do the other planned routes.
        for (_, route) in &planned_routes {
            all_routes.retain(|r| r.meta.self_link != route.meta.self_link);
        }
        all_routes.extend(planned_routes.iter().map(|(_, r)| r.clone()));
        let live: Vec<&str> = service_map
            .values()
            .filter(|s| !s.spec.state.destroy)
            .map(|s| s.meta.name.as_str())
            .collect();
        for (document, route) in &planned_routes {
            super::objects::check_route(&route.meta.self_link, &route.spec, &all_routes, &live)
                .map_err(|e| match e {
                    ApiError::BadRequest(m) => {
                        ApiError::BadRequest(format!("document {document}: {m}"))
                    }
                    other => other,
                })?;
        }

        if !changed_services.is_empty() {
            let strict: Vec<&str> = changed_services.iter().map(String::as_str).collect();
            let before = quota::total(namespace, &services, &[])?;
            let after = quota::total(namespace, service_map.values(), &strict)?;
            quota::check(namespace, before, after)?;
            let mut namespace = namespace.clone();
            namespace.status.allocated = after.resources();
            writes = writes.update(&namespace)?;
        }
        Ok(Plan { items, writes })
    }

    /// Plans a secret, config, volume or route: unchanged when spec,
    /// description and labels are the same as stored.
    fn plan_simple<T: Object + PartialEq>(
        &self,
        writes: &mut Writes,
        stored: Option<&T>,
        fresh: T,
        merge: impl FnOnce(&T, &mut T),
    ) -> Result<ApplyAction> {
        let (action, write) = decide(
            stored,
            fresh,
            |old, new| {
                let mut a = serde_json::to_value(old).unwrap_or_default();
                let mut b = serde_json::to_value(new).unwrap_or_default();
                // Meta's timestamps and revision differ by construction.
                for v in [&mut a, &mut b] {
                    if let Some(meta) = v.get_mut("meta").and_then(|m| m.as_object_mut()) {
                        for field in ["created", "updated", "revision"] {
                            meta.remove(field);
                        }
                    }
                }
                a == b
            },
            |old, new| {
                merge(old, new);
                keep_identity(old.meta(), new.meta_mut());
            },
        );
        if let Some(obj) = write {
            let batch = std::mem::take(writes);
            *writes = match action {
                ApplyAction::Created => batch.create(&obj)?,
                _ => batch.update(&obj)?,
            };
        }
        Ok(action)
    }
}
