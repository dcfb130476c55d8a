//! Shared pieces of the cluster reconcilers' tests: a leading campaign on a
//! memory store, a running controller, and waiting for a condition on the
//! store under paused time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::leader::{self, LeaderConfig, Leadership};
use super::manager::{BuiltController, Context, Settings, Writer};
use super::runtime::Error;
use crate::storage::MemoryStorage;
use crate::store::Store;

/// A memory store, a campaign that leads on it and a context writing
/// behind its fence.
pub(crate) async fn leading() -> (Store, Leadership, Context) {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let mut leadership = leader::campaign(
        store.storage().clone(),
        LeaderConfig::new("test-controller"),
    );
    leadership.wait_until_leader().await;
    let writer = Writer::fenced(store.clone(), leadership.clone());
    let context = Context::new(store.clone(), Arc::new(Settings::default()), writer);
    (store, leadership, context)
}

/// A controller running in the background until [`Running::stop`].
pub(crate) struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    pub(crate) fn start(built: BuiltController, workers: usize) -> Self {
        let BuiltController {
            controller,
            reconciler,
        } = built;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(controller.run(reconciler, workers, async move {
            let _ = stopped.await;
        }));
        Self { stop, task }
    }

    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// Polls `check` every 10 ms until it is true; panics after `within`.
pub(crate) async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
