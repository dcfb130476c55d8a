//! From text to typed manifests: YAML streams and JSON, every problem of
//! every document collected into one [`ManifestError`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use yaml_serde::Value;

use super::known_fields::{fields_at, suggest};
use super::validate::Validator;
use super::{FieldError, Manifest, ManifestError, ManifestKind};

/// Reads every manifest in `text`: a YAML stream of `---`-separated
/// documents, a JSON object, or a JSON (or YAML) list of them. Empty
/// documents are skipped.
///
/// Returns all problems at once: syntax errors with their line and column,
/// missing or unknown kinds, unsupported versions, every unknown field (with
/// a suggestion when a known one is close), type errors with their path, the
/// semantic checks of [`Manifest::validate`] and the same kind and name
/// declared twice.
///
/// ```
/// let manifests = lastbackend_core::manifest::parse(
///     "kind: Secret\nversion: v1\nmeta: {name: db}\nspec: {data: {password: s3cret}}\n",
/// )?;
/// assert_eq!(manifests[0].name(), "db");
/// # Ok::<(), lastbackend_core::manifest::ManifestError>(())
/// ```
pub fn parse(text: &str) -> Result<Vec<Manifest>, ManifestError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut errors = Vec::new();
    let mut documents = Vec::new();
    for (document, value) in documents_of(text, &mut errors) {
        let mut problems = Problems::new(document, &value);
        if let Some(manifest) = from_value(value, &mut problems) {
            let mut validator = Validator::new();
            validator.manifest(&manifest);
            problems.extend(validator.into_errors());
            documents.push((document, manifest));
        }
        errors.extend(problems.errors);
    }
    let refs: Vec<_> = documents.iter().map(|(n, m)| (*n, m)).collect();
    errors.extend(duplicates(&refs));
    if errors.is_empty() {
        Ok(documents.into_iter().map(|(_, m)| m).collect())
    } else {
        errors.sort_by_key(|e| e.document);
        Err(ManifestError::new(errors))
    }
}

/// Checks manifests already typed (an API request body, say) as [`parse`]
/// does after reading them: each one, then names declared twice. Document
/// numbers are positions in `manifests`, from 1.
pub fn validate_all(manifests: &[Manifest]) -> Result<(), ManifestError> {
    let mut errors = Vec::new();
    let documents: Vec<_> = manifests
        .iter()
        .enumerate()
        .map(|(i, m)| (i + 1, m))
        .collect();
    for &(document, manifest) in &documents {
        let mut validator = Validator::new();
        validator.manifest(manifest);
        errors.extend(
            validator
                .into_errors()
                .into_iter()
                .map(|(path, reason)| FieldError {
                    kind: Some(manifest.kind().to_string()),
                    name: Some(manifest.name().to_owned()),
                    ..FieldError::new(document, path, reason)
                }),
        );
    }
    errors.extend(duplicates(&documents));
    if errors.is_empty() {
        Ok(())
    } else {
        errors.sort_by_key(|e| e.document);
        Err(ManifestError::new(errors))
    }
}

/// The non-empty documents of `text`, numbered from 1 in the order written;
/// the elements of a top-level list count as documents of their own.
fn documents_of(text: &str, errors: &mut Vec<FieldError>) -> Vec<(usize, Value)> {
    let mut values = Vec::new();
    let trimmed = text.trim_start();
    let json = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => {
                values.push(value);
                None
            }
            Err(e) => Some(e),
        }
    } else {
        None
    };
    if values.is_empty() {
        for document in yaml_serde::Deserializer::from_str(text) {
            match Value::deserialize(document) {
                Ok(value) => values.push(value),
                Err(e) => {
                    let number = values.len() + 1;
                    // A flow-style YAML document that is not JSON either: the
                    // JSON error names the spot more precisely.
                    let reason = match &json {
                        Some(json) => format!("invalid JSON: {json}"),
                        None => format!("invalid YAML: {e}"),
                    };
                    errors.push(FieldError::new(number, "", reason));
                    // The parser cannot resume after a syntax error.
                    break;
                }
            }
        }
    }
    let mut documents = Vec::new();
    let mut number = 0;
    for value in values {
        match value {
            Value::Sequence(items) => {
                for item in items {
                    number += 1;
                    documents.push((number, item));
                }
            }
            value => {
                number += 1;
                documents.push((number, value));
            }
        }
    }
    documents.retain(|(_, value)| !value.is_null());
    documents
}

/// The problems of one document, tagged with its number, kind and name.
pub(super) struct Problems {
    document: usize,
    kind: Option<String>,
    name: Option<String>,
    pub(super) errors: Vec<FieldError>,
}

impl Problems {
    fn new(document: usize, value: &Value) -> Self {
        let name = match value.get("meta").and_then(|meta| meta.get("name")) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .and_then(|k| k.parse::<ManifestKind>().ok())
            .map(|k| k.to_string());
        Self {
            document,
            kind,
            name,
            errors: Vec::new(),
        }
    }

    /// A detached collector for [`Manifest`]'s `Deserialize`.
    pub(super) fn detached() -> Self {
        Self {
            document: 1,
            kind: None,
            name: None,
            errors: Vec::new(),
        }
    }

    fn push(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.errors.push(FieldError {
            kind: self.kind.clone(),
            name: self.name.clone(),
            ..FieldError::new(self.document, path, reason)
        });
    }

    fn extend(&mut self, problems: Vec<(String, String)>) {
        for (path, reason) in problems {
            self.push(path, reason);
        }
    }
}

/// Types one document, recording structural problems (kind, unknown fields,
/// types) in `problems`. Returns the manifest when its fields could be read,
/// even with unknown fields beside them, so semantic checks still run.
pub(super) fn from_value(value: Value, problems: &mut Problems) -> Option<Manifest> {
    let Value::Mapping(mut mapping) = value else {
        problems.push(
            "",
            format!(
                "expected a mapping with kind, version, meta and spec, found {}",
                describe(&value)
            ),
        );
        return None;
    };
    let kind = match mapping.shift_remove("kind") {
        None | Some(Value::Null) => {
            problems.push("kind", format!("required: one of {}", ManifestKind::NAMES));
            return None;
        }
        Some(Value::String(kind)) => match kind.parse::<ManifestKind>() {
            Ok(kind) => kind,
            Err(e) => {
                problems.push("kind", e.to_string());
                return None;
            }
        },
        Some(other) => {
            problems.push(
                "kind",
                format!(
                    "expected one of {}, found {}",
                    ManifestKind::NAMES,
                    describe(&other)
                ),
            );
            return None;
        }
    };
    let value = Value::Mapping(mapping);
    Some(match kind {
        ManifestKind::Namespace => Manifest::Namespace(typed(kind, value, problems)?),
        ManifestKind::Service => Manifest::Service(typed(kind, value, problems)?),
        ManifestKind::Secret => Manifest::Secret(typed(kind, value, problems)?),
        ManifestKind::Config => Manifest::Config(typed(kind, value, problems)?),
        ManifestKind::Route => Manifest::Route(typed(kind, value, problems)?),
        ManifestKind::Volume => Manifest::Volume(typed(kind, value, problems)?),
    })
}

/// Deserializes `value` as `T`, reporting every ignored (unknown) field and
/// the first type error, each with its path.
fn typed<T: DeserializeOwned>(
    kind: ManifestKind,
    value: Value,
    problems: &mut Problems,
) -> Option<T> {
    let mut unknown = Vec::new();
    let result = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        value,
        &mut |path: serde_ignored::Path<'_>| unknown.push(segments(&path)),
    ));
    for path in unknown {
        let (field, parent) = path.split_last().expect("an ignored field has a key");
        let Segment::Key(field) = field else { continue };
        let parent_keys: Vec<&str> = parent
            .iter()
            .filter_map(|s| match s {
                Segment::Key(k) => Some(k.as_str()),
                Segment::Index(_) => None,
            })
            .collect();
        let mut reason = format!("unknown field `{field}`");
        if let Some(known) = fields_at(kind, &parent_keys)
            && let Some(close) = suggest(field, known)
        {
            reason.push_str(&format!(", did you mean `{close}`?"));
        }
        problems.push(render(&path), reason);
    }
    match result {
        Ok(typed) => Some(typed),
        Err(e) => {
            let path: Vec<Segment> = e
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
                    _ => None,
                })
                .collect();
            problems.push(render(&path), e.into_inner().to_string());
            None
        }
    }
}

/// One step of a field path.
enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &serde_ignored::Path<'_>) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut current = path;
    loop {
        current = match current {
            serde_ignored::Path::Root => break,
            serde_ignored::Path::Seq { parent, index } => {
                out.push(Segment::Index(*index));
                parent
            }
            serde_ignored::Path::Map { parent, key } => {
                out.push(Segment::Key(key.clone()));
                parent
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => parent,
        };
    }
    out.reverse();
    out
}

/// `spec.template.containers[0].image`.
fn render(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// The second and later declarations of one kind and name.
fn duplicates(documents: &[(usize, &Manifest)]) -> Vec<FieldError> {
    let mut first: BTreeMap<(ManifestKind, &str), usize> = BTreeMap::new();
    let mut errors = Vec::new();
    for &(document, manifest) in documents {
        if manifest.name().is_empty() {
            continue;
        }
        let key = (manifest.kind(), manifest.name());
        match first.get(&key) {
            Some(earlier) => errors.push(FieldError {
                kind: Some(manifest.kind().to_string()),
                name: Some(manifest.name().to_owned()),
                ..FieldError::new(
                    document,
                    "meta.name",
                    format!(
                        "duplicate {} {:?}, first declared in document {earlier}",
                        manifest.kind(),
                        manifest.name()
                    ),
                )
            }),
            None => {
                first.insert(key, document);
            }
        }
    }
    errors
}
