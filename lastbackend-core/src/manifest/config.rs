//! `kind: Config`: configuration text or files for services.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::{ManifestMeta, scalar};

/// A `kind: Config` document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigManifest {
    /// Manifest format version, `v1`.
    pub version: String,
    /// Name, description and labels.
    pub meta: ManifestMeta,
    /// Type and data.
    pub spec: ConfigSpecManifest,
}

/// `spec` of a config.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ConfigSpecManifest {
    /// What the data holds; `text` when absent.
    #[serde(rename = "type")]
    pub kind: ConfigType,
    /// Entries in the order written. Both `data: {key: value}` and
    /// `data: [{key, value | file}]` are accepted; it is written back as a list.
    #[serde(deserialize_with = "entries", skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::ConfigData))]
    pub data: Vec<ConfigEntryManifest>,
}

/// The type of a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    /// `key=value` entries.
    #[default]
    Text,
    /// Whole files, keyed by file name.
    File,
}

/// One key of a config: exactly one of `value` or `file`, `null` counting as
/// absent (the OpenAPI schema states it beside the type; the API takes
/// values only, as `lb` reads files before sending).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ConfigEntryManifest {
    /// The key.
    #[serde(deserialize_with = "scalar::string")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::DataKeyScalar, required = true))]
    pub key: String,
    /// The content.
    #[serde(
        deserialize_with = "scalar::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::Scalar>))]
    pub value: Option<String>,
    /// A file whose content becomes the value, relative to the manifest's
    /// directory; the client reads it with [`ConfigManifest::resolve_files`]
    /// before sending the manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub file: Option<String>,
}

/// A `file:` entry of a config that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("config {config:?}, key {key:?}: cannot read {}: {source}", path.display())]
#[non_exhaustive]
pub struct ResolveFileError {
    /// Name of the config.
    pub config: String,
    /// The entry's key.
    pub key: String,
    /// The path that was read.
    pub path: PathBuf,
    /// Why reading failed.
    #[source]
    pub source: io::Error,
}

impl ConfigManifest {
    /// Replaces every `file:` entry by its content, read with `read` from
    /// `base_dir` joined with the file (absolute files stay as they are).
    ///
    /// The IO is the caller's, so the core stays free of it and tests can
    /// pass a map. Stops at the first file that cannot be read.
    pub fn resolve_files(
        &mut self,
        base_dir: &Path,
        mut read: impl FnMut(&Path) -> io::Result<String>,
    ) -> Result<(), ResolveFileError> {
        for entry in &mut self.spec.data {
            let Some(file) = &entry.file else { continue };
            let path = base_dir.join(file);
            let content = read(&path).map_err(|source| ResolveFileError {
                config: self.meta.name.clone(),
                key: entry.key.clone(),
                path,
                source,
            })?;
            entry.value = Some(content);
            entry.file = None;
        }
        Ok(())
    }
}

/// `data` as a map of scalars or a list of entries.
fn entries<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<ConfigEntryManifest>, D::Error> {
    struct EntriesVisitor;

    impl<'de> Visitor<'de> for EntriesVisitor {
        type Value = Vec<ConfigEntryManifest>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of keys to values or a list of {key, value | file}")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some((key, value)) =
                map.next_entry_seed(scalar::ScalarSeed, scalar::ScalarSeed)?
            {
                entries.push(ConfigEntryManifest {
                    key,
                    value: Some(value),
                    file: None,
                });
            }
            Ok(entries)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some(entry) = seq.next_element()? {
                entries.push(entry);
            }
            Ok(entries)
        }
    }

    de.deserialize_any(EntriesVisitor)
}
