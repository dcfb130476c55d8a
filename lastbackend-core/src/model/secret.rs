use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Meta;

/// Sensitive key/values, mounted as files or read into env.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Secret {
    /// Identity (`<namespace>:<name>`).
    pub meta: Meta,
    /// Its data.
    pub spec: SecretSpec,
}

/// A secret's type and data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SecretSpec {
    /// What the data holds.
    #[serde(rename = "type")]
    pub kind: SecretType,
    /// Key → value.
    pub data: BTreeMap<String, String>,
}

/// Secret types, as the CLI's `-a`, `-t`, `-f`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SecretType {
    /// Arbitrary key/values.
    #[default]
    Opaque,
    /// Registry credentials: `username` and `password` keys.
    Auth,
    /// Key/values given as text.
    Text,
    /// File contents keyed by file name.
    File,
}

/// Configuration key/values, mounted as files or read into env.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Config {
    /// Identity (`<namespace>:<name>`).
    pub meta: Meta,
    /// Its data.
    pub spec: ConfigSpec,
}

/// A config's type and data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ConfigSpec {
    /// What the data holds.
    #[serde(rename = "type")]
    pub kind: ConfigType,
    /// Key → value (file name → contents for `file`).
    pub data: BTreeMap<String, String>,
}

/// Config types, as the CLI's `-t` and `-f`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    /// Key/values given as text.
    #[default]
    Text,
    /// File contents keyed by file name.
    File,
}
