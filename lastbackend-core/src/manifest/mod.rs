//! External manifests: what users write in YAML or JSON files and send with
//! `lb namespace apply`. (The [`internal`] manifests are what the API hands
//! to agents.)
//!
//! A document is `{kind, version: v1, meta: {name, description, labels},
//! spec}` with one of six kinds ([`ManifestKind`]). The types here are the
//! user's input as written (sizes, CPU and ports stay strings), with the
//! defaults the docs promise; validation checks what the types cannot, and the
//! entity model converts a valid manifest into specs.
//!
//! [`parse`] reads a whole file and reports every problem of every document
//! at once, each with its document number and field path:
//!
//! ```
//! use lastbackend_core::manifest::{self, Manifest};
//!
//! let text = r#"
//! kind: Service
//! version: v1
//! meta:
//!   name: 2048
//! spec:
//!   replicas: 2
//!   network:
//!     ports: ["80:8080/tcp"]
//!   template:
//!     containers:
//!       - name: nginx
//!         image:
//!           name: evilroot/docker-2048
//! "#;
//! let manifests = manifest::parse(text)?;
//! let Manifest::Service(service) = &manifests[0] else { unreachable!() };
//! assert_eq!((service.meta.name.as_str(), service.spec.replicas), ("2048", 2));
//!
//! let err = manifest::parse(&text.replace("replicas", "replica")).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "document 1 (Service 2048): spec.replica: unknown field `replica`, did you mean `replicas`?"
//! );
//! # Ok::<(), manifest::ManifestError>(())
//! ```

mod config;
mod error;
pub mod internal;
mod known_fields;
mod namespace;
mod parse;
mod route;
mod scalar;
mod secret;
mod service;
#[cfg(test)]
mod tests;
mod validate;
mod volume;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

pub use config::{
    ConfigEntryManifest, ConfigManifest, ConfigSpecManifest, ConfigType, ResolveFileError,
};
pub use error::{FieldError, ManifestError};
pub use namespace::{
    NamespaceDomainManifest, NamespaceManifest, NamespaceResourcesManifest, NamespaceSpecManifest,
    QuotaManifest,
};
pub use parse::{parse, validate_all};
pub use route::{
    RouteManifest, RouteRuleManifest, RouteSelectorManifest, RouteSpecManifest, RouteTlsManifest,
};
pub use scalar::IntOrString;
pub use secret::{SecretManifest, SecretSpecManifest, SecretType};
pub use service::{
    ContainerManifest, DnsManifest, EnvManifest, FileBindManifest, FilesSourceManifest,
    ImageManifest, KeyRefManifest, MountMode, ResourceValuesManifest, ResourcesManifest,
    RestartManifest, RestartPolicy, SecurityManifest, SelectorManifest, ServiceManifest,
    ServiceNetworkManifest, ServiceSpecManifest, StrategyManifest, StrategyType, TemplateManifest,
    TemplateVolumeManifest, VolumeMountManifest, VolumeRefManifest,
};
pub use validate::{DNS_LABEL_MESSAGE, MAX_REPLICAS, Validator, is_dns_label};
pub use volume::{
    AccessMode, VolumeCapacityManifest, VolumeManifest, VolumeSpecManifest, VolumeType,
};

/// One document of a manifest file, by kind.
///
/// Serializes with `kind` first; deserializes strictly (unknown fields and
/// kinds are errors) but without the semantic checks of [`Manifest::validate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind")]
pub enum Manifest {
    /// `kind: Namespace`.
    Namespace(NamespaceManifest),
    /// `kind: Service`.
    Service(ServiceManifest),
    /// `kind: Secret`.
    Secret(SecretManifest),
    /// `kind: Config`.
    Config(ConfigManifest),
    /// `kind: Route`.
    Route(RouteManifest),
    /// `kind: Volume`.
    Volume(VolumeManifest),
}

impl Manifest {
    /// The document's kind.
    pub fn kind(&self) -> ManifestKind {
        match self {
            Self::Namespace(_) => ManifestKind::Namespace,
            Self::Service(_) => ManifestKind::Service,
            Self::Secret(_) => ManifestKind::Secret,
            Self::Config(_) => ManifestKind::Config,
            Self::Route(_) => ManifestKind::Route,
            Self::Volume(_) => ManifestKind::Volume,
        }
    }

    /// `meta` of the document.
    pub fn meta(&self) -> &ManifestMeta {
        match self {
            Self::Namespace(m) => &m.meta,
            Self::Service(m) => &m.meta,
            Self::Secret(m) => &m.meta,
            Self::Config(m) => &m.meta,
            Self::Route(m) => &m.meta,
            Self::Volume(m) => &m.meta,
        }
    }

    /// `meta.name` of the document.
    pub fn name(&self) -> &str {
        &self.meta().name
    }

    /// The semantic checks [`parse`] runs, for a manifest that did not come
    /// from text (reported as document 1).
    pub fn validate(&self) -> Result<(), ManifestError> {
        validate_all(std::slice::from_ref(self))
    }

    /// Reads the `file:` entries of a config (see
    /// [`ConfigManifest::resolve_files`]); other kinds have none.
    pub fn resolve_files(
        &mut self,
        base_dir: &Path,
        read: impl FnMut(&Path) -> io::Result<String>,
    ) -> Result<(), ResolveFileError> {
        match self {
            Self::Config(config) => config.resolve_files(base_dir, read),
            _ => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for Manifest {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let value = yaml_serde::Value::deserialize(de)?;
        let mut problems = parse::Problems::detached();
        match parse::from_value(value, &mut problems) {
            Some(manifest) if problems.errors.is_empty() => Ok(manifest),
            _ => {
                let first = problems.errors.first();
                let message = first.map_or_else(String::new, |e| match e.path.as_str() {
                    "" => e.reason.clone(),
                    path => format!("{path}: {}", e.reason),
                });
                Err(serde::de::Error::custom(message))
            }
        }
    }
}

/// The kinds of external manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ManifestKind {
    /// A namespace.
    Namespace,
    /// A service.
    Service,
    /// A secret.
    Secret,
    /// A config.
    Config,
    /// A route.
    Route,
    /// A volume.
    Volume,
}

impl ManifestKind {
    /// Every kind, in the order the docs introduce them.
    pub const ALL: [Self; 6] = [
        Self::Namespace,
        Self::Service,
        Self::Secret,
        Self::Config,
        Self::Route,
        Self::Volume,
    ];

    /// The kind names, for messages.
    pub const NAMES: &'static str = "Namespace, Service, Secret, Config, Route, Volume";

    /// The canonical, capitalised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Namespace => "Namespace",
            Self::Service => "Service",
            Self::Secret => "Secret",
            Self::Config => "Config",
            Self::Route => "Route",
            Self::Volume => "Volume",
        }
    }
}

impl fmt::Display for ManifestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `kind` that is none of [`ManifestKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?}; expected one of {names}", names = ManifestKind::NAMES)]
pub struct UnknownKind(pub String);

impl FromStr for ManifestKind {
    type Err = UnknownKind;

    /// Case-insensitive: `service` and `SERVICE` are [`ManifestKind::Service`].
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// `meta` of every document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ManifestMeta {
    /// The name, a DNS-1123 label; a YAML number such as `2048` is read as
    /// its text.
    #[serde(deserialize_with = "scalar::string")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::Name, required = true))]
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Labels for selection and display.
    #[serde(
        deserialize_with = "scalar::map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::LabelMap))]
    pub labels: BTreeMap<String, String>,
}

/// Whether `value` is its type's default, to keep written manifests short.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
