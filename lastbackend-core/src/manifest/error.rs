//! What is wrong with a manifest file: every problem, each with the document
//! and field it is in.

use std::fmt;

/// Every problem found in a manifest file, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManifestError {
    /// The problems; never empty.
    pub errors: Vec<FieldError>,
}

impl ManifestError {
    /// Wraps a non-empty list of problems.
    pub fn new(errors: Vec<FieldError>) -> Self {
        debug_assert!(!errors.is_empty(), "a ManifestError without errors");
        Self { errors }
    }

    /// The problems in one document (1-based).
    pub fn in_document(&self, document: usize) -> impl Iterator<Item = &FieldError> {
        self.errors.iter().filter(move |e| e.document == document)
    }

    /// The problem at exactly `path`, if any, for tests and API callers that
    /// highlight one field.
    pub fn at(&self, path: &str) -> Option<&FieldError> {
        self.errors.iter().find(|e| e.path == path)
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestError {}

/// One problem: where (document, kind, name, field path) and why.
///
/// Displays as `document 1 (Service 2048): spec.replicas: must be at most
/// 10000`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldError {
    /// Position of the document in the file, from 1.
    pub document: usize,
    /// The document's kind, when it could be read.
    pub kind: Option<String>,
    /// The document's `meta.name`, when it could be read.
    pub name: Option<String>,
    /// Field path such as `spec.template.containers[0].image.name`; empty
    /// when the problem is the document as a whole (e.g. a syntax error).
    pub path: String,
    /// What is wrong, in words for the user.
    pub reason: String,
}

impl FieldError {
    /// A problem at `path` of document `document`, without kind and name.
    pub fn new(document: usize, path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            document,
            kind: None,
            name: None,
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.document)?;
        match (&self.kind, &self.name) {
            (Some(kind), Some(name)) => write!(f, " ({kind} {name})")?,
            (Some(kind), None) => write!(f, " ({kind})")?,
            (None, Some(name)) => write!(f, " ({name})")?,
            (None, None) => {}
        }
        if self.path.is_empty() {
            write!(f, ": {}", self.reason)
        } else {
            write!(f, ": {}: {}", self.path, self.reason)
        }
    }
}
