//! The log collector: node agents stream container logs to it over TCP
//! (the wire format of [`crate::logs`]), it keeps them per pod and container
//! in a [`LogStore`] and serves them over HTTP:
//!
//! - `GET /logs?pod=<selflink>[&container=<name>][&tail=N][&follow=true]`:
//!   one pod's lines (all its containers, merged by time);
//! - `GET /logs?service=<ns>:<svc>[&container=…][&tail=N][&follow=true]`:
//!   the lines of every pod of the service, merged by time, each prefixed
//!   with its pod's name and a space. New pods show up while following.
//!
//! The body is plain text, one line per log line; with `follow=true` it
//! stays open and new lines are written as they are stored.
//!
//! ```no_run
//! use lastbackend_runtime::exporter::{Exporter, StoreConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let exporter = Exporter::open(StoreConfig::new("/var/run/lastbackend/logs", 10 << 20, 5))?;
//! let logs = tokio::net::TcpListener::bind("0.0.0.0:2963").await?;
//! tokio::spawn(exporter.clone().serve_logs(logs));
//! let http = tokio::net::TcpListener::bind("0.0.0.0:2964").await?;
//! axum::serve(http, exporter.router(Some("s3cret".into()))).await?;
//! # Ok(()) }
//! ```
//!
//! Registering with the API (so it sends readers here and names this
//! exporter in node manifests) is the caller's: this module takes no
//! control plane.

mod http;
mod listener;

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::logs::LogRecord;
pub use crate::logs::store::{Appended, LiveLine, LogStore, StoreConfig, StoreError, StoredLine};

/// How many stored lines a slow follower may lag behind before it skips.
const LIVE_CAPACITY: usize = 4096;

/// The exporter's state: the store and the feed of new lines. Cheap to
/// clone.
#[derive(Clone)]
pub struct Exporter {
    shared: Arc<Shared>,
}

struct Shared {
    store: Mutex<LogStore>,
    live: broadcast::Sender<Arc<LiveLine>>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

impl Exporter {
    /// An exporter over the logs under `config.dir`.
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        Ok(Self {
            shared: Arc::new(Shared {
                store: Mutex::new(LogStore::open(config)?),
                live: broadcast::channel(LIVE_CAPACITY).0,
            }),
        })
    }

    /// Takes log streams from node agents on `listener` until the task is
    /// dropped; each connection runs on its own task.
    pub async fn serve_logs(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        listener::serve(self, listener).await
    }

    /// The HTTP routes; callers must present `token` (as the API's), or
    /// anyone may read when it is `None`.
    pub fn router(&self, token: Option<String>) -> axum::Router {
        http::router(self.clone(), token)
    }

    /// Stores records (off the async threads: it writes and syncs files)
    /// and feeds followers, in the order stored.
    pub async fn append(&self, records: Vec<LogRecord>) -> Result<Appended, StoreError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
            let appended = store.append(records)?;
            for line in &appended.lines {
                // No follower is not an error.
                let _ = shared.live.send(Arc::new(line.clone()));
            }
            Ok(appended)
        })
        .await
        .expect("the store does not panic")
    }

    /// Runs `f` on the store off the async threads.
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LogStore) -> T + Send + 'static,
    ) -> T {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            f(&shared.store.lock().unwrap_or_else(|e| e.into_inner()))
        })
        .await
        .expect("the store does not panic")
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<LiveLine>> {
        self.shared.live.subscribe()
    }
}
