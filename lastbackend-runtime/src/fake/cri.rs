//! An in-memory container runtime.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use futures::channel::mpsc;
use futures::stream::BoxStream;

use super::Calls;
use crate::cri::{
    ContainerEvent, ContainerFilter, ContainerInfo, ContainerSpec, ContainerState, Cri, ExecOutput,
    LogLine, LogOptions, LogStream,
};
use crate::{Error, Result};

/// One container the fake holds.
#[derive(Clone, Debug)]
pub struct FakeContainer {
    /// What it was created from.
    pub spec: ContainerSpec,
    /// What `inspect` answers.
    pub info: ContainerInfo,
}

#[derive(Default)]
struct State {
    containers: BTreeMap<String, FakeContainer>,
    next_id: u64,
    events: Vec<mpsc::UnboundedSender<Result<ContainerEvent>>>,
    exec: BTreeMap<String, ExecOutput>,
    fail_create: Option<String>,
}

/// An in-memory [`Cri`]: containers with states and addresses, every call
/// recorded, and knobs for a test to make a container exit or a create fail.
/// Containers get addresses `10.88.0.2`, `.3`, … in creation order; a
/// container joining another's network namespace reports that one's address.
#[derive(Default)]
pub struct FakeCri {
    state: Mutex<State>,
    calls: Calls,
}

impl FakeCri {
    /// An empty runtime.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call so far, as `"<method> <argument>"` (`"create web-1"`,
    /// `"start <id>"`).
    pub fn calls(&self) -> Vec<String> {
        self.calls.all()
    }

    /// How many recorded calls start with `prefix` (`"create"`).
    pub fn count(&self, prefix: &str) -> usize {
        self.calls.count(prefix)
    }

    /// Every container it holds, by id.
    pub fn containers(&self) -> BTreeMap<String, FakeContainer> {
        self.lock().containers.clone()
    }

    /// The container named `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<FakeContainer> {
        self.lock()
            .containers
            .values()
            .find(|c| c.info.name == name)
            .cloned()
    }

    /// Makes the container (id or name) stop with `code`, as if its process
    /// exited or crashed, and announces `die`.
    pub fn exit(&self, id: &str, code: i64) {
        let mut state = self.lock();
        let Some(key) = find(&state, id) else {
            return;
        };
        let container = state.containers.get_mut(&key).expect("found");
        container.info.state = ContainerState::Exited(code);
        container.info.finished = Some(Utc::now());
        let event = event(&container.info, "die");
        broadcast(&mut state, event);
    }

    /// What [`Cri::exec`] answers for the container (id or name) from now
    /// on; exit code 0 and no output until set.
    pub fn set_exec(&self, id: &str, output: ExecOutput) {
        let mut state = self.lock();
        let key = find(&state, id).unwrap_or_else(|| id.to_owned());
        state.exec.insert(key, output);
    }

    /// Makes every later [`Cri::create`] fail with a backend error saying
    /// `message` (`None`: succeed again).
    pub fn fail_create(&self, message: Option<&str>) {
        self.lock().fail_create = message.map(str::to_owned);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The id of the container with this id or name.
fn find(state: &State, id: &str) -> Option<String> {
    if state.containers.contains_key(id) {
        return Some(id.to_owned());
    }
    state
        .containers
        .iter()
        .find(|(_, c)| c.info.name == id)
        .map(|(key, _)| key.clone())
}

fn event(info: &ContainerInfo, action: &str) -> ContainerEvent {
    let mut event = ContainerEvent::new(info.id.clone(), action);
    event.labels = info.labels.clone();
    event
}

fn broadcast(state: &mut State, event: ContainerEvent) {
    state
        .events
        .retain(|tx| tx.unbounded_send(Ok(event.clone())).is_ok());
}

fn not_found(id: &str) -> Error {
    Error::not_found("container", id)
}

#[async_trait]
impl Cri for FakeCri {
    fn name(&self) -> &str {
        "fake"
    }

    async fn version(&self) -> Result<String> {
        Ok("1.0".to_owned())
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String> {
        self.calls.record("create", &spec.name);
        let mut state = self.lock();
        if let Some(message) = &state.fail_create {
            return Err(Error::backend("fake", message));
        }
        if state.containers.values().any(|c| c.info.name == spec.name) {
            return Err(Error::Exists {
                kind: "container",
                name: spec.name.clone(),
            });
        }
        state.next_id += 1;
        let n = state.next_id;
        let id = format!("{n:064x}");
        let ip = match &spec.network {
            crate::NetworkMode::Container(other) => find(&state, other)
                .and_then(|key| state.containers.get(&key).and_then(|c| c.info.ip)),
            _ => {
                let [a, b] = u16::try_from(n + 1).unwrap_or(u16::MAX).to_be_bytes();
                Some(IpAddr::V4(Ipv4Addr::new(10, 88, a, b)))
            }
        };
        let info = ContainerInfo {
            id: id.clone(),
            name: spec.name.clone(),
            image: spec.image.clone(),
            labels: spec.labels.clone(),
            ip,
            ..ContainerInfo::default()
        };
        let created = event(&info, "create");
        state.containers.insert(
            id.clone(),
            FakeContainer {
                spec: spec.clone(),
                info,
            },
        );
        broadcast(&mut state, created);
        Ok(id)
    }

    async fn start(&self, id: &str) -> Result<()> {
        self.calls.record("start", id);
        let mut state = self.lock();
        let key = find(&state, id).ok_or_else(|| not_found(id))?;
        let container = state.containers.get_mut(&key).expect("found");
        if container.info.state.is_running() {
            return Ok(());
        }
        // Like Docker, an explicit start is not one of the runtime's own
        // restarts: `restart_count` stays.
        container.info.state = ContainerState::Running;
        container.info.started = Some(Utc::now());
        let started = event(&container.info, "start");
        broadcast(&mut state, started);
        Ok(())
    }

    async fn stop(&self, id: &str, _timeout: Duration) -> Result<()> {
        self.calls.record("stop", id);
        let mut state = self.lock();
        let key = find(&state, id).ok_or_else(|| not_found(id))?;
        let container = state.containers.get_mut(&key).expect("found");
        if container.info.state.is_running() {
            // SIGTERM's exit code, as a shell would report it.
            container.info.state = ContainerState::Exited(143);
            container.info.finished = Some(Utc::now());
            let died = event(&container.info, "die");
            broadcast(&mut state, died);
        }
        Ok(())
    }

    async fn remove(&self, id: &str, force: bool) -> Result<()> {
        self.calls.record("remove", id);
        let mut state = self.lock();
        let key = find(&state, id).ok_or_else(|| not_found(id))?;
        if state.containers[&key].info.state.is_running() && !force {
            return Err(Error::Invalid {
                what: format!("container {id}"),
                reason: "running; stop it or remove with force".to_owned(),
            });
        }
        let removed = state.containers.remove(&key).expect("found");
        broadcast(&mut state, event(&removed.info, "destroy"));
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<ContainerInfo> {
        self.calls.record("inspect", id);
        let state = self.lock();
        let key = find(&state, id).ok_or_else(|| not_found(id))?;
        Ok(state.containers[&key].info.clone())
    }

    async fn list(&self, filter: &ContainerFilter) -> Result<Vec<ContainerInfo>> {
        self.calls.record("list", "");
        let state = self.lock();
        Ok(state
            .containers
            .values()
            .filter(|c| filter.all || c.info.state.is_running())
            .filter(|c| {
                filter
                    .labels
                    .iter()
                    .all(|(k, v)| c.info.labels.get(k) == Some(v))
            })
            .map(|c| c.info.clone())
            .collect())
    }

    async fn logs(&self, id: &str, _options: LogOptions) -> Result<LogStream> {
        self.calls.record("logs", id);
        let state = self.lock();
        let key = find(&state, id).ok_or_else(|| not_found(id))?;
        let line = LogLine {
            stderr: false,
            data: Bytes::from(format!("{} started\n", state.containers[&key].info.name)),
        };
        Ok(futures::stream::iter([Ok(line)]).boxed())
    }

    async fn events(&self) -> Result<BoxStream<'static, Result<ContainerEvent>>> {
        self.calls.record("events", "");
        let (tx, rx) = mpsc::unbounded();
        self.lock().events.push(tx);
        Ok(rx.boxed())
    }

    async fn wait(&self, id: &str) -> Result<i64> {
        self.calls.record("wait", id);
        let mut events = self.events().await?;
        loop {
            match self.inspect(id).await?.state {
                ContainerState::Exited(code) => return Ok(code),
                ContainerState::Dead => return Ok(-1),
                _ => {}
            }
            if events.next().await.is_none() {
                return Err(Error::backend("fake", "event stream ended"));
            }
        }
    }

    async fn exec(&self, id: &str, command: &[String]) -> Result<ExecOutput> {
        self.calls
            .record("exec", &format!("{id} {}", command.join(" ")));
        let state = self.lock();
        let key = find(&state, id).ok_or_else(|| not_found(id))?;
        if !state.containers[&key].info.state.is_running() {
            return Err(Error::Invalid {
                what: format!("container {id}"),
                reason: "not running".to_owned(),
            });
        }
        Ok(state.exec.get(&key).cloned().unwrap_or_default())
    }

    async fn ensure_network(&self, name: &str, subnet: &str, gateway: IpAddr) -> Result<()> {
        self.calls
            .record("ensure_network", &format!("{name} {subnet} {gateway}"));
        Ok(())
    }
}
