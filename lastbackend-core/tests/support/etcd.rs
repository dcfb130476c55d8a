//! A real etcd on loopback for tests and benchmarks.
//!
//! `EtcdServer::start()` runs Debian's `etcd` on free loopback ports with a
//! temporary data dir and kills it when dropped, even when a test panics. A
//! watchdog shell holds the other end of a pipe, so even an aborted test
//! process (or the never-dropped `shared()` server) leaves no etcd running and
//! no data dir behind.
//!
//! Without `etcd` on `PATH` a test is skipped with a message, except under
//! `CI=true`, where it fails: CI must run the real thing.
#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lastbackend_core::storage::etcd::etcd_client;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// One single-member etcd cluster on loopback.
#[derive(Debug)]
pub struct EtcdServer {
    binary: PathBuf,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    process: Option<Child>,
    /// Told every etcd pid; on EOF it kills the last one and removes `dir`.
    watchdog: Option<(Child, ChildStdin)>,
}

impl EtcdServer {
    /// Starts a fresh etcd, or `None` (after saying so) when etcd is not
    /// installed and this is not CI.
    pub fn start() -> Option<Self> {
        let binary = find_etcd()?;
        let mut last_error = String::new();
        // A free port may be taken between probing and etcd binding it.
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("lb-etcd-test")
                .tempdir_in(data_root())
                .expect("temp dir for etcd");
            let mut server = Self {
                binary: binary.clone(),
                client_port: free_port(),
                peer_port: free_port(),
                dir,
                process: None,
                watchdog: None,
            };
            server.watchdog = Some(spawn_watchdog(server.dir.path()));
            match server.launch() {
                Ok(()) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!("etcd did not start: {last_error}");
    }

    /// One etcd per test binary, for tests that only need a private key
    /// prefix (see [`unique_prefix`]). Never stopped or restarted.
    pub fn shared() -> Option<&'static Self> {
        static SHARED: OnceLock<Option<EtcdServer>> = OnceLock::new();
        SHARED.get_or_init(Self::start).as_ref()
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// Kills etcd (SIGKILL, as a crash) and waits for it; data are kept.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same ports and data dir.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.launch() {
            panic!("etcd did not restart: {e}");
        }
    }

    /// Runs `etcdctl` (API v3) against this server.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint()))
            .args(args)
            .output()
            .expect("etcdctl runs (install etcd-client)")
    }

    /// etcd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    fn launch(&mut self) -> Result<(), String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("etcd log: {e}"))?;
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let child = Command::new(&self.binary)
            .arg("--name=test")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            // Short ticks make etcd's minimum lease TTL one second.
            .args(["--heartbeat-interval=50", "--election-timeout=500"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.binary.display()))?;
        if let Some((_, pids)) = &mut self.watchdog {
            let _ = writeln!(pids, "{}", child.id());
        }
        self.process = Some(child);
        self.wait_ready()
    }

    /// Waits until a client gets an answer from etcd.
    fn wait_ready(&mut self) -> Result<(), String> {
        let endpoint = self.endpoint();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = &mut self.process
                && let Ok(Some(status)) = child.try_wait()
            {
                self.process = None;
                return Err(format!("etcd exited with {status}; log:\n{}", self.log()));
            }
            if answers(&endpoint) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "etcd not ready within {READY_TIMEOUT:?}; log:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.stop();
        if let Some((mut watchdog, pids)) = self.watchdog.take() {
            drop(pids);
            let _ = watchdog.wait();
        }
    }
}

/// A key prefix no other test uses, so tests share one etcd.
pub fn unique_prefix(test: &str) -> String {
    format!("lbtest-{test}-{}", uuid::Uuid::new_v4().simple())
}

/// Whether etcd at `endpoint` answers a status request, asked from a thread
/// of its own so this works inside and outside an async runtime.
fn answers(endpoint: &str) -> bool {
    let endpoint = endpoint.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async {
            let probe = async {
                let options = etcd_client::ConnectOptions::new()
                    .with_connect_timeout(Duration::from_millis(500));
                let mut client = etcd_client::Client::connect([endpoint], Some(options)).await?;
                client.status().await
            };
            matches!(
                tokio::time::timeout(Duration::from_secs(1), probe).await,
                Ok(Ok(_))
            )
        })
    })
    .join()
    .unwrap_or(false)
}

fn find_etcd() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("etcd"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!("etcd not found: install etcd-server (.ci/install)");
        }
        println!("skipped: etcd not found (install etcd-server to run the etcd tests)");
    }
    found
}

/// Where data dirs go: tmpfs when there is one, because every etcd write
/// waits for an fsync and tests want many writes, not durability.
fn data_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A shell that remembers the pids written to it and, when the pipe closes
/// (server dropped, test process gone), kills the last one and removes the
/// data dir. It ignores the signals a Ctrl-C or a process-group kill sends
/// the whole group, so it outlives the test process to clean up.
fn spawn_watchdog(dir: &Path) -> (Child, ChildStdin) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' HUP INT TERM; while read pid; do last=$pid; done; [ -n "$last" ] && kill -9 "$last" 2>/dev/null; rm -rf "$0""#)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh for the etcd watchdog");
    let stdin = child.stdin.take().expect("watchdog stdin");
    (child, stdin)
}
