//! Namespaces and the cluster summary.

use super::types::List;
use super::{Api, ApiError, Result, convert, quota};
use crate::manifest::{Manifest, NamespaceManifest};
use crate::model::{
    Cluster, ClusterStatus, Discovery, Ingress, Kind, MemberCount, Meta, Namespace, Node, SelfLink,
    State, Status,
};
use crate::storage::Revision;

/// Validates a single manifest as document 1.
pub(crate) fn validate(manifest: Manifest) -> Result<Manifest> {
    manifest.validate()?;
    Ok(manifest)
}

/// An update's manifest may leave the name out (the path names the object);
/// a different name is ignored, as the original did.
pub(crate) fn name_from_path(meta: &mut crate::manifest::ManifestMeta, name: &str) {
    meta.name = name.to_owned();
}

impl Api {
    /// `GET /cluster`: the members and resources of the cluster.
    pub async fn cluster(&self) -> Result<Cluster> {
        let (nodes, _) = self.store.list::<Node>("").await?;
        let (ingresses, _) = self.store.list::<Ingress>("").await?;
        let (discoveries, _) = self.store.list::<Discovery>("").await?;
        let count = |online: &mut dyn Iterator<Item = bool>| {
            online.fold(MemberCount::default(), |mut c, online| {
                c.total += 1;
                if online {
                    c.online += 1;
                } else {
                    c.offline += 1;
                }
                c
            })
        };
        let mut status = ClusterStatus {
            nodes: count(&mut nodes.iter().map(|n| n.status.online)),
            ingress: count(&mut ingresses.iter().map(|i| i.status.online)),
            discovery: count(&mut discoveries.iter().map(|d| d.status.presence.online)),
            ..ClusterStatus::default()
        };
        for node in &nodes {
            add(&mut status.capacity, &node.status.capacity);
            add(&mut status.allocated, &node.status.allocated);
        }
        let link = SelfLink::host(Kind::Cluster, self.settings.cluster_name.clone());
        let mut meta = Meta::new(self.settings.cluster_name.clone(), &link);
        meta.description = self.settings.cluster_description.clone();
        Ok(Cluster { meta, status })
    }

    /// `GET /namespace`.
    pub async fn namespaces(&self) -> Result<List<Namespace>> {
        let (items, revision) = self.store.list("").await?;
        Ok(List { items, revision })
    }

    /// `GET /namespace/{ns}`: 404 `"Namespace not found"`.
    pub async fn namespace(&self, ns: &str) -> Result<Namespace> {
        self.get_or_404(&SelfLink::namespace(ns)).await
    }

    /// `POST /namespace`: 409 `"Name is already in use"`, 400 on an invalid
    /// manifest or limits without RAM or CPU.
    pub async fn create_namespace(&self, m: NamespaceManifest) -> Result<Namespace> {
        let Manifest::Namespace(m) = validate(Manifest::Namespace(m))? else {
            unreachable!("validate returns its input")
        };
        let spec = convert::namespace_spec(&m)?;
        quota::check_namespace_limits(&spec.resources.limits)?;
        let link = SelfLink::namespace(m.meta.name.clone());
        let namespace = Namespace {
            meta: convert::meta(&m.meta, &link),
            spec,
            ..Namespace::default()
        };
        self.store.create(&namespace).await.map_err(|e| {
            if e.is_exists() {
                ApiError::exists(Kind::Namespace, &m.meta.name)
            } else {
                e.into()
            }
        })
    }

    /// `PUT /namespace/{ns}`: replaces description, labels and spec.
    pub async fn update_namespace(
        &self,
        ns: &str,
        mut m: NamespaceManifest,
        expected: Option<Revision>,
    ) -> Result<Namespace> {
        name_from_path(&mut m.meta, ns);
        let Manifest::Namespace(m) = validate(Manifest::Namespace(m))? else {
            unreachable!("validate returns its input")
        };
        let spec = convert::namespace_spec(&m)?;
        quota::check_namespace_limits(&spec.resources.limits)?;
        self.modify(
            &SelfLink::namespace(ns),
            expected,
            |namespace: &mut Namespace| {
                let changed =
                    namespace.spec != spec || !convert::same_meta(&namespace.meta, &m.meta);
                namespace.spec = spec.clone();
                convert::update_meta(&mut namespace.meta, &m.meta);
                Ok(changed)
            },
        )
        .await
    }

    /// `DELETE /namespace/{ns}`: marks it `destroy`; the controller removes
    /// what is in it, then the namespace. Nothing can be created in it
    /// meanwhile (403).
    pub async fn remove_namespace(&self, ns: &str) -> Result<Namespace> {
        self.modify(
            &SelfLink::namespace(ns),
            None,
            |namespace: &mut Namespace| {
                let changed = !namespace.status.status.state.is_terminating();
                if changed {
                    namespace.status.status = Status::new(State::Destroy);
                }
                Ok(changed)
            },
        )
        .await
    }
}

fn add(sum: &mut crate::model::NodeResources, r: &crate::model::NodeResources) {
    sum.pods += r.pods;
    sum.containers += r.containers;
    sum.ram = crate::units::Ram::from_bytes(sum.ram.bytes() + r.ram.bytes());
    sum.cpu = crate::units::Cpu::from_millis(sum.cpu.millis() + r.cpu.millis());
    sum.storage = crate::units::Ram::from_bytes(sum.storage.bytes() + r.storage.bytes());
}
