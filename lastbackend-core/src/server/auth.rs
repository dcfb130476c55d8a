//! Token authentication: `Authorization: Bearer <token>` or the query
//! parameter `x-lastbackend-token`, compared in constant time.

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
