//! The HAProxy process: `haproxy -c` checks, a master-worker master kept
//! alive by waiting on its exit (restarted with backoff when it dies), and
//! seamless reloads through the master CLI.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::process::Command;
use tokio::sync::watch;

use super::{Error, HaproxySettings};

/// Runs `haproxy -c -f <file>`; `Err` carries HAProxy's alerts.
pub(crate) async fn check(exec: &Path, file: &Path) -> Result<Result<(), String>, Error> {
    let output = Command::new(exec)
        .arg("-c")
        .arg("-f")
        .arg(file)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| Error::Exec {
            exec: exec.to_owned(),
            source,
        })?;
    if output.status.success() {
        return Ok(Ok(()));
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let alerts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[ALERT]"))
        .map(|l| l.split_once(" : ").map_or(l, |(_, rest)| rest).trim())
        .filter(|l| !l.starts_with("config : Fatal errors") && !l.contains("Error(s) found"))
        .collect();
    Ok(Err(if alerts.is_empty() {
        text.trim().to_owned()
    } else {
        alerts.join("; ")
    }))
}

/// A running master process, as the supervisor reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generation {
    /// How many times the master was started (1 for the first).
    pub starts: u64,
    /// Its process id, while it runs.
    pub pid: Option<u32>,
}

/// The supervised master and its CLI.
#[derive(Debug)]
pub(crate) struct Supervisor {
    settings: Arc<HaproxySettings>,
    generation: watch::Receiver<Generation>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    /// Starts the master on the configuration already written and keeps it
    /// running until [`Supervisor::stop`].
    pub(crate) fn start(settings: Arc<HaproxySettings>) -> Self {
        let (report, generation) = watch::channel(Generation {
            starts: 0,
            pid: None,
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(supervise(settings.clone(), report, stopped));
        Self {
            settings,
            generation,
            stop,
            task,
        }
    }

    /// The master's generation updates.
    pub(crate) fn generation(&self) -> watch::Receiver<Generation> {
        self.generation.clone()
    }

    /// Asks the master to load the configuration file again: a new worker
    /// takes over the listening sockets, the old one finishes its
    /// connections. Waits until the master counts the reload.
    pub(crate) async fn reload(&self) -> Result<(), Error> {
        let socket = self.settings.master_socket();
        let mut generation = self.generation.clone();
        // The master may still be starting (or restarting).
        let ready = generation.wait_for(|g| g.pid.is_some());
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .map_err(|_| Error::Reload("the HAProxy master did not start in 30 s".into()))?
            .map_err(|_| Error::Reload("the supervisor stopped".into()))?;
        let before = reloads(&socket).await?;
        master_cli(&socket, "reload").await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // The master re-executes itself; its CLI is back when it has
            // loaded the file again.
            if let Ok(after) = reloads(&socket).await
                && after.0 > before.0
            {
                return if after.1 > before.1 {
                    Err(Error::Reload(
                        "HAProxy failed to load the new configuration".into(),
                    ))
                } else {
                    Ok(())
                };
            }
            if Instant::now() > deadline {
                return Err(Error::Reload(
                    "HAProxy did not report the reload in 30 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the master (its workers go with it) and the supervision.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// `(reloads, failed reloads)` from the master's `show proc`.
async fn reloads(socket: &Path) -> Result<(u64, u64), Error> {
    let text = master_cli(socket, "show proc").await?;
    let line = text
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("master"))
        .ok_or_else(|| Error::Reload(format!("unexpected `show proc` answer: {text:?}")))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let number = |s: Option<&&str>| {
        s.map(|s| s.trim_end_matches(']'))
            .and_then(|s| s.parse::<u64>().ok())
    };
    let reloads = number(fields.get(2));
    let failed = number(fields.get(4)).unwrap_or(0);
    reloads
        .map(|r| (r, failed))
        .ok_or_else(|| Error::Reload(format!("unexpected `show proc` line: {line:?}")))
}

/// One command on the master CLI; the master answers and closes once the
/// write side is shut.
async fn master_cli(socket: &Path, command: &str) -> Result<String, Error> {
    let io = |e: std::io::Error| Error::MasterCli {
        socket: socket.to_owned(),
        command: command.to_owned(),
        source: e,
    };
    let exchange = async {
        let mut stream = UnixStream::connect(socket).await?;
        stream.write_all(format!("{command}\n").as_bytes()).await?;
        stream.shutdown().await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        Ok(answer)
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| io(std::io::Error::from(std::io::ErrorKind::TimedOut)))?
        .map_err(io)
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the driver is gone without stopping: stop too.
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

async fn supervise(
    settings: Arc<HaproxySettings>,
    report: watch::Sender<Generation>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut starts = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        // A stale socket from a crashed master would make the new one fail.
        let _ = std::fs::remove_file(settings.master_socket());
        let spawned = Command::new(&settings.exec)
            .arg("-W")
            .arg("-S")
            .arg(format!("{},mode,600", settings.master_socket().display()))
            .arg("-f")
            .arg(&settings.config_path)
            .arg("-p")
            .arg(&settings.pid_path)
            .kill_on_drop(true)
            .spawn();
        let started = Instant::now();
        match spawned {
            Ok(mut child) => {
                starts += 1;
                report.send_replace(Generation {
                    starts,
                    pid: child.id(),
                });
                tracing::info!(pid = child.id(), starts, "haproxy started");
                tokio::select! {
                    status = child.wait() => {
                        report.send_replace(Generation { starts, pid: None });
                        tracing::warn!(?status, "haproxy exited; restarting");
                    }
                    () = stopped(&mut stop) => {
                        // SIGUSR1 would let workers drain; the daemon is
                        // stopping, so the listeners go now.
                        let _ = child.kill().await;
                        report.send_replace(Generation { starts, pid: None });
                        return;
                    }
                }
            }
            Err(error) => {
                tracing::error!(exec = %settings.exec.display(), %error, "cannot start haproxy");
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_millis(100);
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}
