//! Plug a custom container runtime into a real node agent: pods run as plain
//! host processes.
//!
//! Run: `cargo run -p examples --example custom_cri`
//!
//! `ProcessCri` implements `lastbackend_runtime::Cri` over
//! `tokio::process`: a "container" is one child process (in its own process
//! group) running the spec's entrypoint, command and args with the spec's
//! environment; the image is only the program to run when the spec has no
//! command line. `AnyImage` (CII) and `NoVolumes` (CSI) are the smallest
//! companions the agent needs. The program embeds an in-memory cluster as
//! `cluster_hollow` does (API operations and `ControllerManager` on one
//! memory store), runs a real `Agent` on this runtime, applies a service of
//! two replicas running `sh -c 'echo hello; sleep 30'`, waits until the API
//! reports both pods running, prints them with their first log line, and
//! stops the processes before it exits.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::channel::mpsc;
use futures::stream::BoxStream;
use lastbackend_core::api::{Api, ControlPlane, Settings};
use lastbackend_core::controller::manager::{self, ControllerManager, Writer};
use lastbackend_core::manifest::{self, Manifest};
use lastbackend_core::model::Pod;
use lastbackend_core::storage::memory::MemoryStorage;
use lastbackend_core::store::Store;
use lastbackend_runtime::agent::{Agent, AgentSettings, LABEL_NODE};
use lastbackend_runtime::{
    Cii, ContainerEvent, ContainerFilter, ContainerInfo, ContainerSpec, ContainerState, Cri, Csi,
    Error, ImageInfo, LogLine, LogOptions, LogStream, RegistryAuth, VolumeFile,
};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

type CriResult<T> = lastbackend_runtime::Result<T>;

const DRIVER: &str = "process";

/// Two replicas of a shell that greets and sleeps.
const SERVICE_HELLO: &str = r#"
kind: Service
version: v1
meta:
  name: hello
spec:
  replicas: 2
  template:
    containers:
      - name: hello
        image:
          name: sh
        command: [sh, -c, "echo $GREETING; sleep 30"]
        env:
          - name: GREETING
            value: hello
"#;

/// One "container": its spec, what `inspect` answers, and its output.
struct Process {
    spec: ContainerSpec,
    info: ContainerInfo,
    /// The process group (the leader's pid) while it runs.
    pid: Option<u32>,
    /// Which start this is, so a late exit of an earlier run is ignored.
    run: u64,
    /// Its state, for `stop` and `wait` to wait on.
    state: watch::Sender<ContainerState>,
    logs: Vec<(DateTime<Utc>, LogLine)>,
    /// Open `logs(follow)` streams; closed when the process exits.
    followers: Vec<mpsc::UnboundedSender<CriResult<LogLine>>>,
}

#[derive(Default)]
struct State {
    processes: BTreeMap<String, Process>,
    next_id: u64,
    events: Vec<mpsc::UnboundedSender<CriResult<ContainerEvent>>>,
}

impl State {
    /// The id of the process with this id or name.
    fn find(&self, id: &str) -> CriResult<String> {
        if self.processes.contains_key(id) {
            return Ok(id.to_owned());
        }
        self.processes
            .iter()
            .find(|(_, p)| p.info.name == id)
            .map(|(key, _)| key.clone())
            .ok_or_else(|| Error::not_found("container", id))
    }

    fn get(&mut self, id: &str) -> CriResult<&mut Process> {
        let key = self.find(id)?;
        self.processes
            .get_mut(&key)
            .ok_or_else(|| Error::not_found("container", id))
    }

    fn announce(&mut self, info: &ContainerInfo, action: &str) {
        let mut event = ContainerEvent::new(info.id.clone(), action);
        event.labels = info.labels.clone();
        self.events
            .retain(|tx| tx.unbounded_send(Ok(event.clone())).is_ok());
    }
}

/// A [`Cri`] whose containers are host child processes. Ports, limits and
/// network modes are ignored (the processes share the host's network);
/// mounts are refused, as there is nothing to mount them into.
#[derive(Clone, Default)]
struct ProcessCri {
    state: Arc<Mutex<State>>,
}

impl ProcessCri {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps each chunk a child writes (one line at a time) and hands it to
    /// the followers.
    fn capture(&self, id: String, stderr: bool, pipe: impl AsyncRead + Unpin + Send + 'static) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            while matches!(reader.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
                let chunk = LogLine {
                    stderr,
                    data: Bytes::from(std::mem::take(&mut line)),
                };
                let mut state = this.lock();
                let Some(p) = state.processes.get_mut(&id) else {
                    return;
                };
                p.followers
                    .retain(|tx| tx.unbounded_send(Ok(chunk.clone())).is_ok());
                p.logs.push((Utc::now(), chunk));
            }
        });
    }

    /// Records the exit of run `run` of `id`.
    fn exited(&self, id: &str, run: u64, status: std::io::Result<ExitStatus>) {
        // Killed by a signal: the code a shell would report (128 + signal).
        let code = status.ok().map_or(-1, |s| {
            s.code()
                .map(i64::from)
                .or_else(|| s.signal().map(|n| 128 + i64::from(n)))
                .unwrap_or(-1)
        });
        let mut state = self.lock();
        let Some(p) = state.processes.get_mut(id).filter(|p| p.run == run) else {
            return;
        };
        p.pid = None;
        p.info.state = ContainerState::Exited(code);
        p.info.finished = Some(Utc::now());
        p.followers.clear();
        p.state.send_replace(p.info.state);
        let info = p.info.clone();
        state.announce(&info, "die");
    }
}

/// Sends `signal` to the process group `pgid` with the `kill` program,
/// which keeps this example free of `unsafe` FFI.
async fn signal(pgid: u32, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stderr(Stdio::null())
        .status()
        .await;
    if let Err(e) = sent {
        eprintln!("cannot run kill: {e}");
    }
}

/// Waits until the process is not running (or was removed).
async fn until_stopped(rx: &mut watch::Receiver<ContainerState>) {
    let _ = rx.wait_for(|s| !s.is_running()).await;
}

#[async_trait]
impl Cri for ProcessCri {
    fn name(&self) -> &str {
        DRIVER
    }

    async fn version(&self) -> CriResult<String> {
        Ok(env!("CARGO_PKG_VERSION").to_owned())
    }

    async fn create(&self, spec: &ContainerSpec) -> CriResult<String> {
        if !spec.binds.is_empty() {
            return Err(Error::Invalid {
                what: format!("container {}", spec.name),
                reason: "a host process has no mounts".to_owned(),
            });
        }
        let mut state = self.lock();
        if state.find(&spec.name).is_ok() {
            return Err(Error::Exists {
                kind: "container",
                name: spec.name.clone(),
            });
        }
        state.next_id += 1;
        let id = format!("proc-{:08x}", state.next_id);
        let mut info = ContainerInfo::default();
        info.id.clone_from(&id);
        info.name.clone_from(&spec.name);
        info.image.clone_from(&spec.image);
        info.labels.clone_from(&spec.labels);
        state.announce(&info, "create");
        let process = Process {
            spec: spec.clone(),
            state: watch::channel(info.state).0,
            info,
            pid: None,
            run: 0,
            logs: Vec::new(),
            followers: Vec::new(),
        };
        state.processes.insert(id.clone(), process);
        Ok(id)
    }

    async fn start(&self, id: &str) -> CriResult<()> {
        let mut state = self.lock();
        let p = state.get(id)?;
        if p.info.state.is_running() {
            return Ok(());
        }
        let spec = &p.spec;
        let mut argv = spec
            .entrypoint
            .iter()
            .chain(&spec.command)
            .chain(&spec.args);
        let program = argv.next().unwrap_or(&spec.image);
        let mut command = Command::new(program);
        // Like a container, the process sees its spec's environment, not
        // the agent's; PATH is kept so that `sh` finds `sleep`.
        command.args(argv).env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so that stopping it stops its children too.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &spec.workdir {
            command.current_dir(dir);
        }
        let mut child = command
            .spawn()
            .map_err(|e| Error::backend(DRIVER, format!("{program}: {e}")))?;
        p.run += 1;
        p.pid = child.id();
        p.info.state = ContainerState::Running;
        p.info.started = Some(Utc::now());
        p.info.finished = None;
        p.state.send_replace(p.info.state);
        let (key, run, info) = (p.info.id.clone(), p.run, p.info.clone());
        state.announce(&info, "start");
        drop(state);
        if let Some(out) = child.stdout.take() {
            self.capture(key.clone(), false, out);
        }
        if let Some(err) = child.stderr.take() {
            self.capture(key.clone(), true, err);
        }
        let this = self.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            this.exited(&key, run, status);
        });
        Ok(())
    }

    async fn stop(&self, id: &str, timeout: Duration) -> CriResult<()> {
        let (pid, mut rx) = {
            let mut state = self.lock();
            let p = state.get(id)?;
            match p.pid {
                Some(pid) => (pid, p.state.subscribe()),
                None => return Ok(()),
            }
        };
        signal(pid, "TERM").await;
        if tokio::time::timeout(timeout, until_stopped(&mut rx))
            .await
            .is_err()
        {
            signal(pid, "KILL").await;
            until_stopped(&mut rx).await;
        }
        Ok(())
    }

    async fn remove(&self, id: &str, force: bool) -> CriResult<()> {
        let running = self.lock().get(id)?.info.state.is_running();
        if running {
            if !force {
                return Err(Error::Invalid {
                    what: format!("container {id}"),
                    reason: "running; stop it or remove with force".to_owned(),
                });
            }
            self.stop(id, Duration::ZERO).await?;
        }
        let mut state = self.lock();
        let key = state.find(id)?;
        if let Some(removed) = state.processes.remove(&key) {
            state.announce(&removed.info, "destroy");
        }
        Ok(())
    }

    async fn inspect(&self, id: &str) -> CriResult<ContainerInfo> {
        Ok(self.lock().get(id)?.info.clone())
    }

    async fn list(&self, filter: &ContainerFilter) -> CriResult<Vec<ContainerInfo>> {
        Ok(self
            .lock()
            .processes
            .values()
            .map(|p| &p.info)
            .filter(|info| filter.all || info.state.is_running())
            .filter(|info| {
                filter
                    .labels
                    .iter()
                    .all(|(k, v)| info.labels.get(k) == Some(v))
            })
            .cloned()
            .collect())
    }

    async fn logs(&self, id: &str, options: LogOptions) -> CriResult<LogStream> {
        let mut state = self.lock();
        let p = state.get(id)?;
        let lines: Vec<&(DateTime<Utc>, LogLine)> = p
            .logs
            .iter()
            .filter(|(at, _)| options.since.is_none_or(|since| *at > since))
            .collect();
        let skip = options.tail.map_or(0, |tail| {
            lines
                .len()
                .saturating_sub(usize::try_from(tail).unwrap_or(usize::MAX))
        });
        let stamp = move |(at, line): (DateTime<Utc>, LogLine)| {
            if !options.timestamps {
                return Ok(line);
            }
            let mut data = format!("{} ", at.to_rfc3339()).into_bytes();
            data.extend_from_slice(&line.data);
            Ok(LogLine {
                stderr: line.stderr,
                data: Bytes::from(data),
            })
        };
        let past: Vec<CriResult<LogLine>> =
            lines.into_iter().skip(skip).cloned().map(stamp).collect();
        let past = futures::stream::iter(past);
        if !(options.follow && p.info.state.is_running()) {
            return Ok(past.boxed());
        }
        let (tx, rx) = mpsc::unbounded();
        p.followers.push(tx);
        let now = rx.map(move |line| line.and_then(|line| stamp((Utc::now(), line))));
        Ok(past.chain(now).boxed())
    }

    async fn events(&self) -> CriResult<BoxStream<'static, CriResult<ContainerEvent>>> {
        let (tx, rx) = mpsc::unbounded();
        self.lock().events.push(tx);
        Ok(rx.boxed())
    }

    async fn wait(&self, id: &str) -> CriResult<i64> {
        let mut rx = self.lock().get(id)?.state.subscribe();
        let exited = rx
            .wait_for(|s| matches!(s, ContainerState::Exited(_) | ContainerState::Dead))
            .await
            .map(|s| *s)
            .map_err(|_| Error::not_found("container", id))?;
        Ok(match exited {
            ContainerState::Exited(code) => code,
            _ => -1,
        })
    }
}

/// Host processes need no images: every reference counts as present.
struct AnyImage;

fn image(reference: &str) -> ImageInfo {
    let mut info = ImageInfo::default();
    info.tags.push(reference.to_owned());
    info
}

#[async_trait]
impl Cii for AnyImage {
    fn name(&self) -> &str {
        DRIVER
    }

    async fn pull(&self, reference: &str, _auth: Option<&RegistryAuth>) -> CriResult<ImageInfo> {
        Ok(image(reference))
    }

    async fn list(&self) -> CriResult<Vec<ImageInfo>> {
        Ok(Vec::new())
    }

    async fn inspect(&self, reference: &str) -> CriResult<ImageInfo> {
        Ok(image(reference))
    }

    async fn remove(&self, _reference: &str, _force: bool) -> CriResult<()> {
        Ok(())
    }
}

/// No volumes: a pod that needs one is reported in error by the agent.
struct NoVolumes;

#[async_trait]
impl Csi for NoVolumes {
    fn name(&self) -> &str {
        DRIVER
    }

    async fn create(&self, _id: &str) -> CriResult<PathBuf> {
        Err(Error::unsupported(DRIVER, "volumes"))
    }

    async fn remove(&self, _id: &str) -> CriResult<()> {
        Ok(())
    }

    async fn list(&self) -> CriResult<Vec<String>> {
        Ok(Vec::new())
    }

    async fn write_files(&self, _id: &str, _files: &[VolumeFile]) -> CriResult<PathBuf> {
        Err(Error::unsupported(DRIVER, "volumes"))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let store = Store::new(Arc::new(MemoryStorage::new()));
    let api = Api::new(store.clone(), Settings::default());

    // Alone in this process, the controller needs no leader election.
    let controller = ControllerManager::new(store.clone(), manager::Settings::default());
    let (stop_controller, controller_stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(async move {
        let shutdown = async move {
            let _ = controller_stopped.await;
        };
        controller.run_with(Writer::unfenced(store), shutdown).await
    });

    let node = "local";
    let cri = Arc::new(ProcessCri::default());
    let control: Arc<dyn ControlPlane> = Arc::new(api.clone());
    let agent = Agent::new(
        control,
        cri.clone(),
        Arc::new(AnyImage),
        Arc::new(NoVolumes),
        AgentSettings::new(node).stop_timeout(Duration::from_secs(2)),
    );
    let (stop_agent, agent_stopped) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(agent.run(async move {
        let _ = agent_stopped.await;
    }));

    let Manifest::Namespace(demo) =
        manifest::parse("kind: Namespace\nversion: v1\nmeta: {name: demo}\n")?.remove(0)
    else {
        unreachable!("a namespace manifest");
    };
    api.create_namespace(demo).await?;
    api.apply("demo", manifest::parse(SERVICE_HELLO)?, Default::default())
        .await?;
    println!("applied service demo:hello (2 replicas of sh -c 'echo $GREETING; sleep 30')");

    let pods = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (pods, _) = api.store().list::<Pod>("demo:hello:").await?;
            let running: Vec<Pod> = pods.into_iter().filter(|p| p.status.running).collect();
            if running.len() == 2 {
                return anyhow::Ok(running);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .context("the pods were not running after 30s")??;

    for pod in &pods {
        println!(
            "pod {} running on {} ({:?})",
            pod.meta.self_link,
            pod.spec.node.as_deref().unwrap_or("?"),
            pod.status.status.state,
        );
        for (name, container) in &pod.status.containers {
            // The first line it wrote, waited for if not there yet.
            let options = LogOptions {
                follow: true,
                ..LogOptions::default()
            };
            let mut logs = cri.logs(&container.id, options).await?;
            let first = tokio::time::timeout(Duration::from_secs(5), logs.next())
                .await
                .ok()
                .flatten()
                .transpose()?
                .map(|line| String::from_utf8_lossy(&line.data).trim_end().to_owned());
            println!(
                "  container {name}: process {} says {:?}",
                container.id,
                first.unwrap_or_default(),
            );
        }
    }

    // The agent leaves containers running when it stops (the next agent
    // adopts them); this program owns its processes, so it stops them.
    let _ = stop_agent.send(());
    agent.await?;
    let ours = ContainerFilter {
        labels: BTreeMap::from([(LABEL_NODE.to_owned(), node.to_owned())]),
        all: true,
    };
    let processes = cri.list(&ours).await?;
    for process in &processes {
        cri.stop(&process.id, Duration::from_secs(2)).await?;
        let code = cri.inspect(&process.id).await?.state;
        cri.remove(&process.id, true).await?;
        println!("stopped {} ({code:?})", process.name);
    }

    let _ = stop_controller.send(());
    controller.await??;
    Ok(())
}
