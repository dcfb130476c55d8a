//! The fields each manifest struct knows, to suggest one for a typo.
//!
//! serde's derive hands the field names of a struct to
//! `Deserializer::deserialize_struct`; [`fields_of`] catches them there, so
//! the lists cannot drift from the types. Only the map from a path to its type
//! is written by hand: a path missing here just loses its suggestion.

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::ManifestKind;
use super::config::ConfigEntryManifest;
use super::namespace::{
    NamespaceDomainManifest, NamespaceResourcesManifest, NamespaceSpecManifest, QuotaManifest,
};
use super::route::{RouteRuleManifest, RouteSelectorManifest, RouteSpecManifest, RouteTlsManifest};
use super::service::{
    ContainerManifest, DnsManifest, EnvManifest, FileBindManifest, FilesSourceManifest,
    ImageManifest, KeyRefManifest, ResourceValuesManifest, ResourcesManifest, RestartManifest,
    SecurityManifest, SelectorManifest, ServiceNetworkManifest, ServiceSpecManifest,
    StrategyManifest, TemplateManifest, TemplateVolumeManifest, VolumeMountManifest,
    VolumeRefManifest,
};
use super::volume::{VolumeCapacityManifest, VolumeSpecManifest};
use super::{ConfigSpecManifest, ManifestMeta, SecretSpecManifest};

/// The known fields of the struct at `parent` (keys only, no indices) in a
/// document of `kind`.
pub(super) fn fields_at(kind: ManifestKind, parent: &[&str]) -> Option<&'static [&'static str]> {
    use ManifestKind as K;
    Some(match (kind, parent) {
        (_, []) => &["kind", "version", "meta", "spec"],
        (_, ["meta"]) => fields_of::<ManifestMeta>(),
        (K::Namespace, ["spec"]) => fields_of::<NamespaceSpecManifest>(),
        (K::Namespace, ["spec", "domain"]) => fields_of::<NamespaceDomainManifest>(),
        (K::Namespace, ["spec", "resources"]) => fields_of::<NamespaceResourcesManifest>(),
        (K::Namespace, ["spec", "resources", _]) => fields_of::<QuotaManifest>(),
        (K::Service, ["spec"]) => fields_of::<ServiceSpecManifest>(),
        (K::Service | K::Volume, ["spec", "selector"]) => fields_of::<SelectorManifest>(),
        (K::Service, ["spec", "network"]) => fields_of::<ServiceNetworkManifest>(),
        (K::Service, ["spec", "strategy"]) => fields_of::<StrategyManifest>(),
        (K::Service, ["spec", "template"]) => fields_of::<TemplateManifest>(),
        (K::Service, ["spec", "template", "containers", rest @ ..]) => container_fields(rest)?,
        (K::Service, ["spec", "template", "volumes"]) => fields_of::<TemplateVolumeManifest>(),
        (K::Service, ["spec", "template", "volumes", "volume"]) => fields_of::<VolumeRefManifest>(),
        (K::Service, ["spec", "template", "volumes", "secret" | "config"]) => {
            fields_of::<FilesSourceManifest>()
        }
        (K::Service, ["spec", "template", "volumes", "secret" | "config", "binds"]) => {
            fields_of::<FileBindManifest>()
        }
        (K::Secret, ["spec"]) => fields_of::<SecretSpecManifest>(),
        (K::Config, ["spec"]) => fields_of::<ConfigSpecManifest>(),
        (K::Config, ["spec", "data"]) => fields_of::<ConfigEntryManifest>(),
        (K::Route, ["spec"]) => fields_of::<RouteSpecManifest>(),
        (K::Route, ["spec", "selector"]) => fields_of::<RouteSelectorManifest>(),
        (K::Route, ["spec", "rules"]) => fields_of::<RouteRuleManifest>(),
        (K::Route, ["spec", "tls"]) => fields_of::<RouteTlsManifest>(),
        (K::Volume, ["spec"]) => fields_of::<VolumeSpecManifest>(),
        (K::Volume, ["spec", "capacity"]) => fields_of::<VolumeCapacityManifest>(),
        _ => return None,
    })
}

fn container_fields(path: &[&str]) -> Option<&'static [&'static str]> {
    Some(match path {
        [] => fields_of::<ContainerManifest>(),
        ["image"] => fields_of::<ImageManifest>(),
        ["image" | "env", "secret"] | ["env", "config"] => fields_of::<KeyRefManifest>(),
        ["env"] => fields_of::<EnvManifest>(),
        ["resources"] => fields_of::<ResourcesManifest>(),
        ["resources", _] => fields_of::<ResourceValuesManifest>(),
        ["volumes" | "volume"] => fields_of::<VolumeMountManifest>(),
        ["restart"] => fields_of::<RestartManifest>(),
        ["security"] => fields_of::<SecurityManifest>(),
        ["dns"] => fields_of::<DnsManifest>(),
        _ => return None,
    })
}

/// The field names serde's derive declares for `T`.
fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The catcher always fails, after noting the fields.
    let _ = T::deserialize(FieldCatcher(&mut fields));
    fields
}

struct FieldCatcher<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldCatcher<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("fields caught"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The known field closest to `unknown`, when it is close enough to be a
/// typo: same letters in another case, or a few edits away.
pub(super) fn suggest(unknown: &str, known: &[&'static str]) -> Option<&'static str> {
    let unknown_lower = unknown.to_ascii_lowercase();
    let limit = (unknown.len() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(&unknown_lower, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance over chars where swapping two neighbours is one edit
/// (optimal string alignment), so `prot` is one edit from `port`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back, previous, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}
