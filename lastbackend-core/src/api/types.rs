//! The wire types of the REST API that are not entity objects: list and
//! watch envelopes, agent reports, apply reports and the error body. The
//! server, the client SDK and the agents share them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{
    Labels, NodeDrivers, NodeInfo, NodeResources, PodStatus, Presence, VolumeStatus,
};
use crate::storage::{EventKind, Revision};

/// A list response: the objects and the revision to watch after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct List<T> {
    /// The objects, sorted by selflink.
    pub items: Vec<T>,
    /// The storage revision of the read.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub revision: Revision,
}

/// One line of a watch stream (`?watch=true`): newline-delimited JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WatchEvent<T> {
    /// The object was created.
    Created {
        /// The revision of the change.
        revision: Revision,
        /// The object after the change.
        object: T,
    },
    /// The object was changed.
    Updated {
        /// The revision of the change.
        revision: Revision,
        /// The object after the change.
        object: T,
    },
    /// The object was deleted.
    Deleted {
        /// The revision of the change.
        revision: Revision,
        /// The object as it was last.
        object: T,
    },
    /// The stream cannot go on (`code` 410: the revision is compacted, list
    /// again).
    Error(ErrorBody),
}

impl<T> WatchEvent<T> {
    /// Builds a change event.
    pub fn change(kind: EventKind, revision: Revision, object: T) -> Self {
        match kind {
            EventKind::Created => Self::Created { revision, object },
            EventKind::Updated => Self::Updated { revision, object },
            EventKind::Deleted => Self::Deleted { revision, object },
        }
    }

    /// The revision of a change event.
    pub fn revision(&self) -> Option<Revision> {
        match self {
            Self::Created { revision, .. }
            | Self::Updated { revision, .. }
            | Self::Deleted { revision, .. } => Some(*revision),
            Self::Error(_) => None,
        }
    }
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The HTTP status code.
    pub code: u16,
    /// Its reason phrase (`"Not Found"`).
    pub status: String,
    /// What went wrong and, where it helps, how to fix it.
    pub message: String,
    /// For invalid input: every problem with its field path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One problem of an invalid request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldProblem {
    /// The manifest document (1-based) for multi-document input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// The field path, `spec.template.containers[0].image.name`.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// What `PUT /namespace/{ns}/apply` did (or, with `dry_run`, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplyReport {
    /// One entry per manifest document, in order.
    pub items: Vec<ApplyItem>,
    /// The revision of the write (`0` for a dry run or when nothing changed).
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub revision: Revision,
    /// Whether this was a dry run.
    #[serde(default)]
    pub dry_run: bool,
}

/// What apply did with one manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApplyItem {
    /// The kind (`Service`).
    pub kind: String,
    /// The name.
    pub name: String,
    /// What happened.
    pub action: ApplyAction,
}

/// Apply's verdict on one manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ApplyAction {
    /// It did not exist.
    Created,
    /// It existed and differed.
    Updated,
    /// It existed and was the same.
    Unchanged,
}

/// `PUT /cluster/node/{node}`: a node agent joins or rejoins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NodeRegistration {
    /// What the machine is.
    pub info: NodeInfo,
    /// Node labels (merged over existing ones).
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub labels: Labels,
    /// What it has.
    pub capacity: NodeResources,
    /// Its drivers.
    pub drivers: NodeDrivers,
}

/// `PUT /cluster/node/{node}/status`: the agent's full observed state; it
/// replaces the previous report (idempotent) and renews the heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct NodeStatusReport {
    /// What it has.
    pub capacity: NodeResources,
    /// What its pods hold.
    pub allocated: NodeResources,
    /// Its drivers.
    pub drivers: NodeDrivers,
    /// Every cluster pod it runs, by selflink.
    pub pods: BTreeMap<String, PodStatus>,
    /// Every cluster volume it holds, by selflink.
    pub volumes: BTreeMap<String, VolumeStatus>,
    /// Its own pod subnet as its overlay driver set it up (what
    /// `Cni::setup` returned: interface, hardware and tunnel addresses),
    /// copied into its `Subnet` object for peers; the CIDR stays the
    /// controller's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<crate::model::SubnetSpec>,
}

/// `PUT /{ingress,discovery,exporter}/{name}/status` and registration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct MemberReport {
    /// Liveness.
    #[serde(flatten)]
    pub presence: Presence,
    /// Where a discovery server answers DNS.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::SocketAddress>))]
    pub address: Option<std::net::SocketAddr>,
    /// Where an exporter serves logs over HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::SocketAddress>))]
    pub http: Option<std::net::SocketAddr>,
    /// Where an exporter takes log streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::SocketAddress>))]
    pub listener: Option<std::net::SocketAddr>,
    /// Route states an ingress reports, by route selflink.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, crate::model::Status>,
}

/// The answer to a status push.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ack {
    /// The revision of the write.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub revision: Revision,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_lines_are_tagged_by_type() {
        let created = WatchEvent::change(EventKind::Created, 7, serde_json::json!({"a": 1}));
        assert_eq!(
            serde_json::to_value(&created).unwrap(),
            serde_json::json!({"type": "created", "revision": 7, "object": {"a": 1}})
        );
        assert_eq!(created.revision(), Some(7));
        let gone: WatchEvent<serde_json::Value> = WatchEvent::Error(ErrorBody {
            code: 410,
            status: "Gone".into(),
            message: "revision 3 is compacted".into(),
            errors: vec![],
        });
        let line = serde_json::to_string(&gone).unwrap();
        assert_eq!(
            line,
            r#"{"type":"error","code":410,"status":"Gone","message":"revision 3 is compacted"}"#
        );
        assert_eq!(
            serde_json::from_str::<WatchEvent<serde_json::Value>>(&line).unwrap(),
            gone
        );
    }
}
