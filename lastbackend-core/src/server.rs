//! The REST API server (feature `server`): [`router`] maps every route of
//! the API contract onto [`Api`] operations; [`serve`] runs it over HTTP or
//! HTTPS ([`server_config`] reads the PEM files).
//!
//! Every answer that is not a success is an `ErrorBody`; every route but
//! `/openapi.json` requires the access token. The router is a plain
//! [`axum::Router`], so a custom orchestrator mounts the API in its own axum
//! app (`.nest()` under a prefix, or `.merge()` beside its routes), and tests
//! drive it with `tower::ServiceExt::oneshot`, no socket needed:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use lastbackend_core::api::{Api, Settings};
//! use lastbackend_core::server::{ApiState, axum, router};
//! use lastbackend_core::storage::MemoryStorage;
//! use lastbackend_core::store::Store;
//!
//! # async fn run() -> std::io::Result<()> {
//! let api = Api::new(Store::new(Arc::new(MemoryStorage::new())), Settings::default());
//! let app = axum::Router::new()
//!     .route("/healthz", axum::routing::get(|| async { "ok" }))
//!     .nest("/lastbackend", router(ApiState::new(api, Some("s3cret".into()))));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2967").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod auth;
mod error;
mod events;
mod extract;
mod http_client;
mod openapi;
mod routes;
mod serve;
mod tls;
mod watch;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::api::Api;

pub use auth::{TOKEN_QUERY, presented as presented_token, token_file};
pub use error::{HttpError, HttpResult};
pub use openapi::openapi;
pub use serve::serve;
pub use tls::{TlsError, server_config};
/// [`router`] answers an axum `Router` and [`server_config`] a rustls
/// `ServerConfig`: the versions this crate is built with.
pub use {axum, rustls};

/// The default request body limit: 10 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// What every handler shares: the operations, the token and the limits.
#[derive(Clone, Debug)]
pub struct ApiState {
    api: Api,
    token: Option<Arc<str>>,
    body_limit: usize,
}

impl ApiState {
    /// Handlers over `api`; callers must present `token`, or anyone may call
    /// when it is `None`.
    pub fn new(api: Api, token: Option<String>) -> Self {
        Self {
            api,
            token: token.map(Arc::from),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Refuses request bodies over `bytes` with 413.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The operations.
    pub fn api(&self) -> &Api {
        &self.api
    }

    fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// Every route of the REST API over `state`, and `GET /openapi.json`
/// describing them.
pub fn router(state: ApiState) -> Router {
    let body_limit = state.body_limit;
    let (routes, collected) = routes::routes().split_for_parts();
    routes
        .route("/events", axum::routing::get(events::events))
        .route(openapi::PATH, openapi::serve(&openapi::document(collected)))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
