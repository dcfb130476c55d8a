//! [`Member`]: one cluster member other than a node, of whichever kind, and
//! what the registry needs of each kind's object.

use crate::api::types::MemberReport;
use crate::model::{Discovery, Exporter, Ingress, Kind, Meta, Object, Presence};

/// A cluster member other than a node, as stored: what the by-kind
/// operations ([`Api::register_member`](crate::api::Api::register_member),
/// `members`, `member`, `remove_member`) answer. Typed, not JSON: the HTTP
/// layer decides how to write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member {
    /// An ingress server.
    Ingress(Ingress),
    /// A discovery (DNS) server.
    Discovery(Discovery),
    /// A log exporter.
    Exporter(Exporter),
}

impl Member {
    /// Its kind: `Ingress`, `Discovery` or `Exporter`.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Ingress(_) => Kind::Ingress,
            Self::Discovery(_) => Kind::Discovery,
            Self::Exporter(_) => Kind::Exporter,
        }
    }

    /// Its identity: name, selflink, revision.
    pub fn meta(&self) -> &Meta {
        match self {
            Self::Ingress(m) => m.meta(),
            Self::Discovery(m) => m.meta(),
            Self::Exporter(m) => m.meta(),
        }
    }
}

impl From<Ingress> for Member {
    fn from(ingress: Ingress) -> Self {
        Self::Ingress(ingress)
    }
}

impl From<Discovery> for Member {
    fn from(discovery: Discovery) -> Self {
        Self::Discovery(discovery)
    }
}

impl From<Exporter> for Member {
    fn from(exporter: Exporter) -> Self {
        Self::Exporter(exporter)
    }
}

/// What the registry needs of each member kind's object.
pub(super) trait MemberObject: Object + Default + PartialEq + Into<Member> {
    /// Takes a report into the object; `online` is set by the caller.
    fn report(&mut self, report: &MemberReport);
    /// Liveness.
    fn presence_mut(&mut self) -> &mut Presence;
}

impl MemberObject for Ingress {
    fn report(&mut self, report: &MemberReport) {
        self.status = report.presence;
    }
    fn presence_mut(&mut self) -> &mut Presence {
        &mut self.status
    }
}

impl MemberObject for Discovery {
    fn report(&mut self, report: &MemberReport) {
        self.status.presence = report.presence;
        self.status.address = report.address;
    }
    fn presence_mut(&mut self) -> &mut Presence {
        &mut self.status.presence
    }
}

impl MemberObject for Exporter {
    fn report(&mut self, report: &MemberReport) {
        self.status.presence = report.presence;
        self.status.http = report.http;
        self.status.listener = report.listener;
    }
    fn presence_mut(&mut self) -> &mut Presence {
        &mut self.status.presence
    }
}
