//! `?watch=true` on list routes: newline-delimited JSON `WatchEvent`s.

use std::future::Future;

use crate::api::Result as ApiResult;
use crate::api::types::{List, WatchEvent};
use crate::model::Object;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::ApiState;
use super::error::{HttpError, HttpResult};
use super::routes::ListQuery;

/// The media type of watch streams.
pub(crate) const NDJSON: &str = "application/x-ndjson";

/// Answers the list, or with `?watch=true` streams the changes under the
/// storage key `prefix` after `?revision` (from now without it). A failed
/// watch (a compacted revision: 410) ends the stream with an error line.
pub(crate) async fn list_or_watch<T, F>(
    state: &ApiState,
    query: ListQuery,
    prefix: String,
    list: F,
) -> HttpResult<Response>
where
    T: Object,
    F: Future<Output = ApiResult<List<T>>>,
{
    if !query.watch {
        return Ok(Json(list.await?).into_response());
    }
    // Listing first answers 404 for a missing namespace before streaming.
    list.await?;
    let events = state.api().watch::<T>(&prefix, query.revision).await?;
    let lines = events
        .map(|event| {
            let event = event.unwrap_or_else(|error| WatchEvent::Error(HttpError::from(error).0));
            let last = matches!(event, WatchEvent::Error(_));
            (line(&event), last)
        })
        .scan(false, |ended, (line, last)| {
            let out = (!*ended).then_some(line);
            *ended |= last;
            futures::future::ready(out)
        })
        .map(Ok::<Bytes, std::convert::Infallible>);
    Ok(([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(lines)).into_response())
}

fn line<T: serde::Serialize>(event: &WatchEvent<T>) -> Bytes {
    let mut bytes = serde_json::to_vec(event).unwrap_or_else(|error| {
        let body = HttpError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the change: {error}"),
        );
        serde_json::to_vec(&WatchEvent::<()>::Error(body.0)).unwrap_or_default()
    });
    bytes.push(b'\n');
    Bytes::from(bytes)
}
