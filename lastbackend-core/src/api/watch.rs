//! Watches: the storage's revisioned change stream, typed.

use futures::StreamExt;
use futures::stream::{self, BoxStream};

use super::types::{ErrorBody, WatchEvent};
use super::{Api, Result, reason_phrase};
use crate::model::Object;
use crate::storage::{self, Event, EventKind, Revision};
use crate::store;

/// The line that ends a watch whose revision is compacted: list again.
fn gone<T>(err: &storage::Error) -> WatchEvent<T> {
    WatchEvent::Error(ErrorBody {
        code: 410,
        status: reason_phrase(410).to_owned(),
        message: err.to_string(),
        errors: Vec::new(),
    })
}

/// Decodes one storage event; a deletion carries the object as it was.
fn decode<T: Object>(event: Event) -> Result<WatchEvent<T>> {
    let revision = event.revision();
    let kv = match event.kind {
        EventKind::Deleted => event.prev.unwrap_or(event.kv),
        _ => event.kv,
    };
    Ok(WatchEvent::change(event.kind, revision, store::decode(kv)?))
}

impl Api {
    /// Streams the changes to objects of `T`'s kind whose selflink starts
    /// with `prefix` (`""`: all, `"demo:"`: namespace demo) after revision
    /// `after` (`None`: from now). When `after` is compacted the stream
    /// ends with a `WatchEvent::Error` of code 410: list again and watch
    /// after the list's revision. Other failures end it with an `Err`.
    pub async fn watch<T: Object>(
        &self,
        prefix: &str,
        after: Option<Revision>,
    ) -> Result<BoxStream<'static, Result<WatchEvent<T>>>> {
        let key = storage::key(T::KIND.collection(), prefix);
        let events = match self.store.storage().watch(&key, after).await {
            Ok(events) => events,
            Err(e) if e.is_compacted() => {
                return Ok(stream::once(async move { Ok(gone(&e)) }).boxed());
            }
            Err(e) => return Err(e.into()),
        };
        // Stop after the first error item: a watch does not go on past one.
        Ok(events
            .scan(false, |done, item| {
                if *done {
                    return futures::future::ready(None);
                }
                let out = match item {
                    Ok(event) => decode(event),
                    Err(e) if e.is_compacted() => {
                        *done = true;
                        Ok(gone(&e))
                    }
                    Err(e) => {
                        *done = true;
                        Err(e.into())
                    }
                };
                futures::future::ready(Some(out))
            })
            .boxed())
    }
}
