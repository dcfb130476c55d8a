//! [`ApiError`]: why an API operation failed, with its HTTP status code and
//! the original's messages.

use crate::api::types::{ErrorBody, FieldProblem};
use crate::manifest::ManifestError;
use crate::model::Kind;
use crate::storage;

/// The result of an API operation.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Why an API operation failed. Ask with the `is_*` methods and [`code`]
/// rather than by matching: new variants may come.
///
/// [`code`]: ApiError::code
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The object (or the namespace it lives in) does not exist: 404
    /// `"Namespace not found"`, `"Service not found"`, ...
    #[error("{} not found", kind.title())]
    NotFound {
        /// The kind looked for.
        kind: Kind,
        /// Its name.
        name: String,
    },
    /// An object of that name exists already: 409 `"Name is already in use"`.
    #[error("Name is already in use")]
    Exists {
        /// The kind.
        kind: Kind,
        /// The name.
        name: String,
    },
    /// The object changed since the revision the caller read (or a write
    /// lost against others too often): 409.
    #[error("{0}")]
    Conflict(String),
    /// The manifest is invalid: 400, each problem with its field path.
    #[error("{}", invalid_message(.0))]
    Invalid(ManifestError),
    /// The request is wrong in a way that is not one field of one
    /// manifest (`"Bad rules parameter"`, `"Port is already in use"`): 400.
    #[error("{0}")]
    BadRequest(String),
    /// The request is understood but refused (the namespace is being
    /// destroyed): 403.
    #[error("{0}")]
    Forbidden(String),
    /// The namespace's quota would be exceeded (`"resources ram limit
    /// exceeded"`): 400.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The storage failed: 503 when it is unavailable, 500 otherwise.
    #[error("storage: {0}")]
    Storage(storage::Error),
}

/// One problem a line, `path: reason`; problems of a multi-document request
/// say which document they are in.
fn invalid_message(err: &ManifestError) -> String {
    let several = err.errors.iter().any(|e| e.document != 1);
    err.errors
        .iter()
        .map(|e| {
            let at = match e.path.as_str() {
                "" => e.reason.clone(),
                path => format!("{path}: {}", e.reason),
            };
            if several {
                format!("document {}: {at}", e.document)
            } else {
                at
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl ApiError {
    /// `NotFound` for `kind` named `name`.
    pub fn not_found(kind: Kind, name: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            name: name.into(),
        }
    }

    /// `Exists` for `kind` named `name`.
    pub fn exists(kind: Kind, name: impl Into<String>) -> Self {
        Self::Exists {
            kind,
            name: name.into(),
        }
    }

    /// One invalid field of a single-document request.
    pub fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid(ManifestError::new(vec![crate::manifest::FieldError::new(
            1, path, reason,
        )]))
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::Exists { .. } | Self::Conflict(_) => 409,
            Self::Invalid(_) | Self::BadRequest(_) | Self::QuotaExceeded(_) => 400,
            Self::Forbidden(_) => 403,
            Self::Storage(e) if e.is_unavailable() => 503,
            Self::Storage(_) => 500,
        }
    }

    /// The HTTP reason phrase of [`code`](Self::code).
    pub fn status(&self) -> &'static str {
        reason_phrase(self.code())
    }

    /// The JSON error body.
    pub fn body(&self) -> ErrorBody {
        let errors = match self {
            Self::Invalid(err) => err
                .errors
                .iter()
                .map(|e| FieldProblem {
                    document: (err.errors.iter().any(|e| e.document != 1)).then_some(e.document),
                    path: e.path.clone(),
                    reason: e.reason.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        ErrorBody {
            code: self.code(),
            status: self.status().to_owned(),
            message: self.to_string(),
            errors,
        }
    }

    /// 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// The name is taken.
    pub fn is_exists(&self) -> bool {
        matches!(self, Self::Exists { .. })
    }

    /// 409: the name is taken or the object changed meanwhile.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Exists { .. } | Self::Conflict(_))
    }

    /// 400 for an invalid manifest.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }

    /// 400 for a request that is wrong as a whole.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::BadRequest(_))
    }

    /// 403.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::Forbidden(_))
    }

    /// The namespace's quota would be exceeded.
    pub fn is_quota_exceeded(&self) -> bool {
        matches!(self, Self::QuotaExceeded(_))
    }

    /// The storage is down: retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Storage(e) if e.is_unavailable())
    }
}

/// The reason phrase of the status codes the API answers with.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Payload Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

impl From<ManifestError> for ApiError {
    fn from(err: ManifestError) -> Self {
        Self::Invalid(err)
    }
}

/// A lost compare-and-swap is a conflict; anything else the storage says
/// is passed on as is. Callers map a missing or existing key to the
/// object's own `NotFound`/`Exists` before this applies.
impl From<storage::Error> for ApiError {
    fn from(err: storage::Error) -> Self {
        if err.is_conflict() {
            Self::Conflict(err.to_string())
        } else {
            Self::Storage(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes_are_the_originals() {
        let err = ApiError::not_found(Kind::Namespace, "test");
        assert_eq!(
            (err.code(), err.to_string()),
            (404, "Namespace not found".into())
        );
        let err = ApiError::exists(Kind::Service, "demo");
        assert_eq!(
            (err.code(), err.to_string()),
            (409, "Name is already in use".into())
        );
        let body = ApiError::QuotaExceeded("resources ram limit exceeded".into()).body();
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            serde_json::json!({"code": 400, "status": "Bad Request", "message": "resources ram limit exceeded"})
        );
        let err = ApiError::invalid("spec.replicas", "must be at most 10000");
        assert_eq!(err.to_string(), "spec.replicas: must be at most 10000");
        assert_eq!(err.body().errors[0].path, "spec.replicas");
        assert_eq!(err.body().errors[0].document, None);
        let down = ApiError::from(storage::Error::unavailable("etcd", "connection refused"));
        assert_eq!((down.code(), down.status()), (503, "Service Unavailable"));
        assert!(down.is_unavailable());
    }
}
