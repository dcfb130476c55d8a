//! Every failure of the HTTP layer answers an [`ErrorBody`] as JSON, with the
//! status in `code`: API errors, malformed bodies, auth, unknown routes.

use crate::api::ApiError;
use crate::api::types::{ErrorBody, FieldProblem};
use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error response: a status and its JSON body.
#[derive(Debug, Clone)]
pub struct HttpError(pub ErrorBody);

impl HttpError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self(ErrorBody {
            code: status.as_u16(),
            status: reason(status).to_owned(),
            message: message.into(),
            errors: Vec::new(),
        })
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 400 "Incorrect json": the body is not the JSON the route takes; the
    /// message carries serde's reason, line and column, and `errors` the
    /// field path where serde knows it.
    pub fn incorrect_json(path: &str, detail: impl std::fmt::Display) -> Self {
        let mut error = Self::bad_request(format!("Incorrect json: {detail}"));
        error.0.errors.push(FieldProblem {
            document: None,
            path: path.to_owned(),
            reason: detail.to_string(),
        });
        error
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The reason phrase of a status (`"Not Found"`).
pub(crate) fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        if error.code() >= 500 {
            tracing::warn!(%error, "API operation failed");
        }
        Self(error.body())
    }
}

impl From<BytesRejection> for HttpError {
    fn from(rejection: BytesRejection) -> Self {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::new(status, "The request body is over the size limit");
        }
        Self::new(status, rejection.body_text())
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.0)).into_response()
    }
}

/// The result of a handler.
pub type HttpResult<T> = Result<T, HttpError>;

/// The fallback for paths no route has: 404, not the original's 405.
pub(crate) async fn not_found() -> HttpError {
    HttpError::new(StatusCode::NOT_FOUND, "Not found: no such route")
}

/// A known path asked with a method it does not take.
pub(crate) async fn method_not_allowed() -> HttpError {
    HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed on this route",
    )
}
