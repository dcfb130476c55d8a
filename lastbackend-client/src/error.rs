//! The SDK's one error type.

use std::fmt;

use lastbackend_core::api::types::ErrorBody;

/// A boxed error from the transport (the tower service or the body).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The SDK's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a call failed. Ask with [`Error::is_not_found`] and friends rather
/// than matching variants: more may come.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error; its body says what and why.
    #[error("{}", display_body(.0))]
    Api(Box<ErrorBody>),
    /// The request did not get an answer (connection refused, TLS, timeout);
    /// the message includes every cause.
    #[error("cannot reach the API: {}", chain(.0.as_ref()))]
    RequestFailed(BoxError),
    /// The answer was not what the API promises (malformed JSON).
    #[error("unexpected answer from the API: {0}")]
    DecodeFailed(String),
    /// A watch asked for changes after a revision the store has compacted:
    /// list again and watch from the list's revision.
    #[error("{}", display_body(.0))]
    Compacted(Box<ErrorBody>),
    /// The client could not be built (bad endpoint, unreadable TLS files).
    #[error("invalid client configuration: {0}")]
    ConfigInvalid(String),
}

/// The error and its causes: hyper's own message ("client error
/// (Connect)") says little without them.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text = format!("{text}: {message}");
        }
        source = cause.source();
    }
    text
}
fn display_body(body: &ErrorBody) -> DisplayBody<'_> {
    DisplayBody(body)
}

/// The server's message, then each field problem on its own line.
struct DisplayBody<'a>(&'a ErrorBody);

impl fmt::Display for DisplayBody<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.0;
        if body.message.is_empty() {
            write!(f, "{} {}", body.code, body.status)?;
        } else {
            f.write_str(&body.message)?;
        }
        for problem in &body.errors {
            // The message may already list the problems, as the core's does.
            let line = format!("{}: {}", problem.path, problem.reason);
            if !body.message.contains(&line) {
                match problem.document {
                    Some(document) => write!(f, "\ndocument {document}: {line}")?,
                    None => write!(f, "\n{line}")?,
                }
            }
        }
        Ok(())
    }
}

impl Error {
    /// The server's error body, when the server answered.
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            Self::Api(body) | Self::Compacted(body) => Some(body),
            _ => None,
        }
    }

    /// The HTTP status code of the server's answer.
    pub fn code(&self) -> Option<u16> {
        self.body().map(|body| body.code)
    }

    /// 404: the object (or its namespace) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// 409: a duplicate name or a stale revision.
    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }

    /// 401: no token or a wrong one.
    pub fn is_unauthorized(&self) -> bool {
        self.code() == Some(401)
    }

    /// 400: invalid input; [`Error::body`] lists each field problem.
    pub fn is_invalid(&self) -> bool {
        self.code() == Some(400)
    }

    /// The API could not be reached or its storage is down (503): worth
    /// retrying later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::RequestFailed(_)) || self.code() == Some(503)
    }

    /// A watch revision is compacted (410): list again.
    pub fn is_compacted(&self) -> bool {
        matches!(self, Self::Compacted(_))
    }

    pub(crate) fn from_status(status: http::StatusCode, body: &[u8]) -> Self {
        let body = serde_json::from_slice::<ErrorBody>(body).unwrap_or_else(|_| ErrorBody {
            code: status.as_u16(),
            status: status.canonical_reason().unwrap_or_default().to_owned(),
            message: String::from_utf8_lossy(body).trim().to_owned(),
            errors: Vec::new(),
        });
        Self::Api(Box::new(body))
    }
}

#[cfg(test)]
mod tests {
    use lastbackend_core::api::types::FieldProblem;

    use super::*;

    #[test]
    fn display_is_the_server_message_then_each_field_problem() {
        let err = Error::Api(Box::new(ErrorBody {
            code: 400,
            status: "Bad Request".into(),
            message: "invalid service manifest".into(),
            errors: vec![FieldProblem {
                document: None,
                path: "spec.replicas".into(),
                reason: "must be at most 100".into(),
            }],
        }));
        assert!(err.is_invalid());
        assert_eq!(
            err.to_string(),
            "invalid service manifest\nspec.replicas: must be at most 100"
        );
    }

    #[test]
    fn a_body_that_is_not_json_keeps_the_status_and_text() {
        let err = Error::from_status(http::StatusCode::BAD_GATEWAY, b"upstream down\n");
        assert_eq!(err.code(), Some(502));
        assert_eq!(err.to_string(), "upstream down");
        let err = Error::from_status(http::StatusCode::NOT_FOUND, b"");
        assert!(err.is_not_found());
        assert_eq!(err.to_string(), "404 Not Found");
    }
}
