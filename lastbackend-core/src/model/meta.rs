use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::storage::Revision;

/// Labels: string keys to string values, kept sorted for stable output.
pub type Labels = BTreeMap<String, String>;

/// What every stored object carries about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Meta {
    /// The name, unique among siblings (a DNS-1123 label for user objects).
    pub name: String,
    /// The namespace, for namespaced kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's identity, see [`super::SelfLink`].
    pub self_link: String,
    /// Free text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// User labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub labels: Labels,
    /// When the object was created.
    pub created: DateTime<Utc>,
    /// When the object was last changed.
    pub updated: DateTime<Utc>,
    /// The storage revision the object was read at; an update succeeds only
    /// if the object is still at it (compare-and-swap). `0`: never stored.
    /// Set from the store on every read, never stored inside the value.
    #[serde(skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub revision: Revision,
}

fn is_zero(r: &Revision) -> bool {
    *r == 0
}

impl Meta {
    /// Meta for a new object named `name` with the given selflink, created now.
    pub fn new(name: impl Into<String>, self_link: &super::SelfLink) -> Self {
        let now = Utc::now();
        Self {
            name: name.into(),
            namespace: self_link
                .namespace_name()
                .map(str::to_owned)
                .filter(|_| self_link.kind().is_namespaced()),
            self_link: self_link.to_string(),
            created: now,
            updated: now,
            ..Self::default()
        }
    }
}
