//! Token authentication: `Authorization: Bearer <token>` or the query
//! parameter `x-lastbackend-token`, compared in constant time; and a token
//! kept in a file across restarts.

use std::io::{self, Write as _};
use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::ApiState;
use super::error::HttpError;

/// The query parameter that carries the token where headers cannot (a
/// browser's websocket).
pub const TOKEN_QUERY: &str = "x-lastbackend-token";

/// Lets a request through when it carries the token, or when the API is open.
pub(crate) async fn authenticate(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.token() else {
        return next.run(request).await;
    };
    // The API's description is public: clients and tools read it first.
    if request.uri().path() == super::openapi::PATH {
        return next.run(request).await;
    }
    match presented(&request) {
        Some(token) if bool::from(token.as_bytes().ct_eq(expected.as_bytes())) => {
            next.run(request).await
        }
        Some(_) => {
            HttpError::new(StatusCode::UNAUTHORIZED, "Access token is invalid").into_response()
        }
        None => HttpError::new(
            StatusCode::UNAUTHORIZED,
            "Access token is required: send `Authorization: Bearer <token>` \
             or the `x-lastbackend-token` query parameter",
        )
        .into_response(),
    }
}

/// The token the request carries: the header first, then the query. Public
/// so that services beside the API (an exporter's HTTP reader) accept the
/// token in the same places.
pub fn presented(request: &Request) -> Option<String> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    let query = request.uri().query()?;
    form_urlencoded_pairs(query)
        .into_iter()
        .find(|(key, _)| key == TOKEN_QUERY)
        .map(|(_, value)| value)
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query).unwrap_or_default()
}

/// The access token kept in `path`, for a server that keeps one token
/// across restarts: the file's content (trimmed) when it exists, else a new
/// random token written there (owner-only, mode 600, synced) so that the
/// next start finds it. A file holding no token is an error: the server
/// would answer nobody.
pub fn token_file(path: &Path) -> io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim().to_owned();
            if token.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file is empty: delete it to have a token generated",
                ));
            }
            Ok(token)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let token = uuid::Uuid::new_v4().simple().to_string();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path)?;
            writeln!(file, "{token}")?;
            file.sync_all()?;
            Ok(token)
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::token_file;

    #[test]
    fn a_token_file_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let first = token_file(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(token_file(&path).unwrap(), first);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(&path, "\n").unwrap();
        let error = token_file(&path).unwrap_err().to_string();
        assert!(error.contains("is empty"), "{error}");
    }
}
