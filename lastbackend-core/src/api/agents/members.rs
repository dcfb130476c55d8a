//! The registry of cluster members other than nodes: ingress, discovery
//! and exporter servers register, push their status and are listed, read
//! and removed, typed per kind or, by [`Kind`], as a [`Member`].

use super::lease_key;
use super::member::{Member, MemberObject};
use crate::api::types::{Ack, List, MemberReport};
use crate::api::{Api, ApiError, CAS_ATTEMPTS, Result, too_busy};
use crate::model::{Discovery, Exporter, Ingress, Kind, Meta, Route, SelfLink};

impl Api {
    async fn register<T: MemberObject>(
        &self,
        name: &str,
        report: &MemberReport,
    ) -> Result<(T, bool)> {
        let link = SelfLink::host(T::KIND, name);
        self.heartbeat(&lease_key(T::KIND, name)).await?;
        let mut result = None;
        for _ in 0..CAS_ATTEMPTS {
            let (mut obj, created) = match self.store.find::<T>(&link).await? {
                Some(obj) => (obj, false),
                None => {
                    let mut obj = T::default();
                    *obj.meta_mut() = Meta::new(name, &link);
                    (obj, true)
                }
            };
            obj.report(report);
            obj.presence_mut().online = true;
            let written = if created {
                self.store.create(&obj).await
            } else {
                obj.meta_mut().updated = chrono::Utc::now();
                self.store.update(&obj).await
            };
            match written {
                Ok(obj) => {
                    result = Some((obj, created));
                    break;
                }
                Err(e) if e.is_exists() || e.is_conflict() || e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        result.ok_or_else(|| too_busy(T::KIND, name))
    }

    async fn status<T: MemberObject>(&self, name: &str, report: &MemberReport) -> Result<Ack> {
        let link = SelfLink::host(T::KIND, name);
        if self.store.find::<T>(&link).await?.is_none() {
            return Err(ApiError::NotFound {
                kind: T::KIND,
                name: name.to_owned(),
            });
        }
        self.heartbeat(&lease_key(T::KIND, name)).await?;
        self.modify(&link, None, |obj: &mut T| {
            let before = obj.clone();
            obj.report(report);
            obj.presence_mut().online = true;
            Ok(*obj != before)
        })
        .await?;
        if T::KIND == Kind::Ingress {
            for (route, status) in &report.routes {
                let Ok(link) = SelfLink::parse(Kind::Route, route) else {
                    continue;
                };
                let written = self
                    .modify(&link, None, |r: &mut Route| {
                        if r.spec.ingress.as_deref() != Some(name) || r.status == *status {
                            return Ok(false);
                        }
                        r.status = status.clone();
                        Ok(true)
                    })
                    .await;
                match written {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Ack {
            revision: self.store.storage().revision().await?,
        })
    }

    async fn list_members<T: MemberObject>(&self) -> Result<List<T>> {
        let (items, revision) = self.store.list("").await?;
        Ok(List { items, revision })
    }

    async fn remove_member_of<T: MemberObject>(&self, name: &str) -> Result<T> {
        let obj: T = self.get_or_404(&SelfLink::host(T::KIND, name)).await?;
        match self.store.delete(&obj).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Err(ApiError::not_found(T::KIND, name)),
            Err(e) => return Err(e.into()),
        }
        self.drop_heartbeat(&lease_key(T::KIND, name)).await?;
        Ok(obj)
    }

    /// `PUT /ingress/{name}`: registers an ingress server (`true`: new).
    pub async fn register_ingress(
        &self,
        name: &str,
        report: MemberReport,
    ) -> Result<(Ingress, bool)> {
        self.register(name, &report).await
    }

    /// `PUT /discovery/{name}`: registers a discovery server (`true`: new).
    pub async fn register_discovery(
        &self,
        name: &str,
        report: MemberReport,
    ) -> Result<(Discovery, bool)> {
        self.register(name, &report).await
    }

    /// `PUT /exporter/{name}`: registers an exporter (`true`: new).
    pub async fn register_exporter(
        &self,
        name: &str,
        report: MemberReport,
    ) -> Result<(Exporter, bool)> {
        self.register(name, &report).await
    }

    /// `PUT /{ingress,discovery,exporter}/{name}`, by kind (`true`: new);
    /// 400 for another kind.
    pub async fn register_member(
        &self,
        kind: Kind,
        name: &str,
        report: MemberReport,
    ) -> Result<(Member, bool)> {
        fn any<T: Into<Member>>((obj, created): (T, bool)) -> (Member, bool) {
            (obj.into(), created)
        }
        Ok(match kind {
            Kind::Ingress => any(self.register_ingress(name, report).await?),
            Kind::Discovery => any(self.register_discovery(name, report).await?),
            Kind::Exporter => any(self.register_exporter(name, report).await?),
            other => return Err(not_a_member(other)),
        })
    }

    /// `PUT /{ingress,discovery,exporter}/{name}/status`: presence and
    /// addresses; an ingress's route states go into those routes' status.
    /// Renews the heartbeat.
    pub async fn member_status(&self, kind: Kind, name: &str, report: MemberReport) -> Result<Ack> {
        match kind {
            Kind::Ingress => self.status::<Ingress>(name, &report).await,
            Kind::Discovery => self.status::<Discovery>(name, &report).await,
            Kind::Exporter => self.status::<Exporter>(name, &report).await,
            other => Err(not_a_member(other)),
        }
    }

    /// `GET /{ingress,discovery,exporter}`, by kind.
    pub async fn members(&self, kind: Kind) -> Result<List<Member>> {
        fn any<T: Into<Member>>(list: List<T>) -> List<Member> {
            List {
                items: list.items.into_iter().map(Into::into).collect(),
                revision: list.revision,
            }
        }
        Ok(match kind {
            Kind::Ingress => any(self.ingresses().await?),
            Kind::Discovery => any(self.discoveries().await?),
            Kind::Exporter => any(self.exporters().await?),
            other => return Err(not_a_member(other)),
        })
    }

    /// `GET /{ingress,discovery,exporter}/{name}`, by kind.
    pub async fn member(&self, kind: Kind, name: &str) -> Result<Member> {
        Ok(match kind {
            Kind::Ingress => self.ingress(name).await?.into(),
            Kind::Discovery => self.discovery(name).await?.into(),
            Kind::Exporter => self.exporter(name).await?.into(),
            other => return Err(not_a_member(other)),
        })
    }

    /// `DELETE /{ingress,discovery,exporter}/{name}`, by kind: deletes it and
    /// its heartbeat, answering it as it was.
    pub async fn remove_member(&self, kind: Kind, name: &str) -> Result<Member> {
        Ok(match kind {
            Kind::Ingress => self.remove_member_of::<Ingress>(name).await?.into(),
            Kind::Discovery => self.remove_member_of::<Discovery>(name).await?.into(),
            Kind::Exporter => self.remove_member_of::<Exporter>(name).await?.into(),
            other => return Err(not_a_member(other)),
        })
    }

    /// `GET /ingress`.
    pub async fn ingresses(&self) -> Result<List<Ingress>> {
        self.list_members().await
    }

    /// `GET /discovery`.
    pub async fn discoveries(&self) -> Result<List<Discovery>> {
        self.list_members().await
    }

    /// `GET /exporter`.
    pub async fn exporters(&self) -> Result<List<Exporter>> {
        self.list_members().await
    }

    /// `GET /ingress/{name}`: `"Ingress not found"`.
    pub async fn ingress(&self, name: &str) -> Result<Ingress> {
        self.get_or_404(&SelfLink::host(Kind::Ingress, name)).await
    }

    /// `GET /discovery/{name}`.
    pub async fn discovery(&self, name: &str) -> Result<Discovery> {
        self.get_or_404(&SelfLink::host(Kind::Discovery, name))
            .await
    }

    /// `GET /exporter/{name}`.
    pub async fn exporter(&self, name: &str) -> Result<Exporter> {
        self.get_or_404(&SelfLink::host(Kind::Exporter, name)).await
    }
}

fn not_a_member(kind: Kind) -> ApiError {
    ApiError::BadRequest(format!(
        "{kind} is not a cluster member kind; expected ingress, discovery or exporter"
    ))
}
