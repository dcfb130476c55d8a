//! Request extractors whose rejections are [`HttpError`]s: JSON bodies
//! ("Incorrect json" with serde's path, line and column), manifests (every
//! field problem with its path), `If-Match` revisions and query strings.

use crate::api::types::{ErrorBody, FieldProblem};
use crate::manifest::{
    self, ConfigManifest, Manifest, ManifestError, NamespaceManifest, RouteManifest,
    SecretManifest, ServiceManifest, VolumeManifest,
};
use crate::storage::Revision;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::{IntoParams, PartialSchema};

use super::error::HttpError;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, HttpError> {
        let bytes = Bytes::from_request(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Deserializes `bytes` as `T`, naming the failing field path.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(HttpError::incorrect_json("", "the body is empty"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = match e.path().to_string().as_str() {
            "." => String::new(),
            path => path.to_owned(),
        };
        HttpError::incorrect_json(&path, e.into_inner())
    })?;
    deserializer
        .end()
        .map_err(|e| HttpError::incorrect_json("", e))?;
    Ok(value)
}

/// 400 with every problem of an invalid manifest and its field path.
pub(crate) fn invalid(error: &ManifestError) -> HttpError {
    let several = error.errors.iter().any(|e| e.document != 1);
    let message = error
        .errors
        .iter()
        .map(|e| match e.path.as_str() {
            "" => e.reason.clone(),
            path => format!("{path}: {}", e.reason),
        })
        .collect::<Vec<_>>()
        .join("\n");
    HttpError(ErrorBody {
        code: StatusCode::BAD_REQUEST.as_u16(),
        status: super::error::reason(StatusCode::BAD_REQUEST).to_owned(),
        message,
        errors: error
            .errors
            .iter()
            .map(|e| FieldProblem {
                document: several.then_some(e.document),
                path: e.path.clone(),
                reason: e.reason.clone(),
            })
            .collect(),
    })
}

/// A manifest type that a create or update route takes as its body.
pub(crate) trait KindManifest: Sized {
    /// The `kind` value.
    const KIND: &'static str;
    /// The variant, if `manifest` is one.
    fn from_manifest(manifest: Manifest) -> Option<Self>;
}

macro_rules! kind_manifests {
    ($($ty:ident => $variant:ident),* $(,)?) => {$(
        impl KindManifest for $ty {
            const KIND: &'static str = stringify!($variant);

            fn from_manifest(manifest: Manifest) -> Option<Self> {
                match manifest {
                    Manifest::$variant(m) => Some(m),
                    _ => None,
                }
            }
        }
    )*};
}

kind_manifests!(
    NamespaceManifest => Namespace,
    ServiceManifest => Service,
    SecretManifest => Secret,
    ConfigManifest => Config,
    RouteManifest => Route,
    VolumeManifest => Volume,
);

/// A manifest body of one kind, as JSON; `kind` and `version` may be left
/// out. It is checked like `lb apply` checks a file: unknown fields and bad
/// values are 400 with their field paths.
#[derive(Debug)]
pub(crate) struct ManifestBody<T>(pub(crate) T);

impl<T: KindManifest, S: Send + Sync> FromRequest<S> for ManifestBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, HttpError> {
        let bytes = Bytes::from_request(req, state).await?;
        let mut value: serde_json::Value = parse_json(&bytes)?;
        let Some(object) = value.as_object_mut() else {
            return Err(HttpError::incorrect_json(
                "",
                format!("expected a {} manifest object", T::KIND),
            ));
        };
        object
            .entry("kind")
            .or_insert_with(|| serde_json::Value::from(T::KIND));
        object
            .entry("version")
            .or_insert_with(|| serde_json::Value::from("v1"));
        let mut manifests = manifest::parse(&value.to_string()).map_err(|e| invalid(&e))?;
        let kind = manifests.first().map(|m| m.kind().to_string());
        match manifests.pop().and_then(T::from_manifest) {
            Some(manifest) => Ok(Self(manifest)),
            None => Err(HttpError(ErrorBody {
                errors: vec![FieldProblem {
                    document: None,
                    path: "kind".to_owned(),
                    reason: format!("expected {}, found {}", T::KIND, kind.unwrap_or_default()),
                }],
                ..HttpError::bad_request(format!("kind: expected {}", T::KIND)).0
            })),
        }
    }
}

/// The manifests of an apply: YAML or JSON text, one or many documents, or a
/// JSON array of manifests.
#[derive(Debug)]
pub(crate) struct ManifestsBody(pub(crate) Vec<Manifest>);

impl<S: Send + Sync> FromRequest<S> for ManifestsBody {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, HttpError> {
        let bytes = Bytes::from_request(req, state).await?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| HttpError::bad_request(format!("the body is not UTF-8: {e}")))?;
        if text.trim().is_empty() {
            return Err(HttpError::bad_request("no manifest in the body"));
        }
        manifest::parse(text).map(Self).map_err(|e| invalid(&e))
    }
}

/// The revision of an `If-Match` header, if any (quotes allowed: an ETag).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IfMatch(pub(crate) Option<Revision>);

impl IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("Fail with 409 unless the object is at this revision."))
                .schema(Some(Revision::schema()))
                .build(),
        ]
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(Self(None));
        };
        let text = value.to_str().unwrap_or_default().trim();
        let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
        text.parse().map(|r| Self(Some(r))).map_err(|_| {
            HttpError::bad_request(format!(
                "If-Match: expected an object revision (a number), found {text:?}"
            ))
        })
    }
}

/// A query string of type `T`; a bad one is 400 naming the parameter.
#[derive(Debug)]
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, HttpError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Self)
            .map_err(|e| HttpError::bad_request(format!("Bad query parameter: {e}")))
    }
}
