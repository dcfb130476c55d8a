//! `kind: Secret`: sensitive key/value data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ManifestMeta, scalar};

/// A `kind: Secret` document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SecretManifest {
    /// Manifest format version, `v1`.
    pub version: String,
    /// Name, description and labels.
    pub meta: ManifestMeta,
    /// Type and data.
    pub spec: SecretSpecManifest,
}

/// `spec` of a secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SecretSpecManifest {
    /// What the data holds; `opaque` when absent.
    #[serde(rename = "type")]
    pub kind: SecretType,
    /// Key/value pairs, plain text (the server encodes them for storage).
    /// An `auth` secret needs the keys [`SecretType::AUTH_KEYS`] (the OpenAPI
    /// schema states it beside the type).
    #[serde(
        deserialize_with = "scalar::map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DataMap))]
    pub data: BTreeMap<String, String>,
}

/// The type of a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SecretType {
    /// Any keys.
    #[default]
    Opaque,
    /// Registry or service credentials: keys `username` and `password`.
    Auth,
    /// `key=value` text entries.
    Text,
    /// Files such as SSH keys, keyed by file name.
    File,
}

impl SecretType {
    /// The keys an `auth` secret must have.
    pub const AUTH_KEYS: [&'static str; 2] = ["username", "password"];
}
