//! A real image registry on loopback for pull tests: Debian's
//! `docker-registry` (distribution 2.x) with htpasswd auth, a temporary
//! storage dir, and a free port. The engine trusts `127.0.0.0/8` registries
//! without TLS. Killed when dropped.
//!
//! Without `docker-registry` installed a test is skipped with a message,
//! except under `CI=true`, where it fails (`crate::skip`).
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::skip::skip;
use crate::support::{eventually, random};

const BINARY: &str = "/usr/bin/docker-registry";

/// A registry with one user.
pub struct Registry {
    process: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub address: String,
    pub username: String,
    pub password: String,
}

impl Registry {
    /// Starts one, or `None` (after saying so) when not installed outside CI.
    pub async fn start() -> Option<Self> {
        if !Path::new(BINARY).exists() {
            skip(
                "the registry test",
                format!("{BINARY} missing (apt-get install docker-registry)"),
            );
            return None;
        }
        let username = "lb-test".to_owned();
        let password = format!("pw-{:x}", random());
        let dir = tempfile::Builder::new()
            .prefix("lb-registry-test")
            .tempdir()
            .unwrap();
        // A low cost keeps the hash quick; the registry accepts any cost.
        let hash = bcrypt::hash(&password, 4).unwrap();
        std::fs::write(dir.path().join("htpasswd"), format!("{username}:{hash}\n")).unwrap();
        // The port is free when probed; another process may take it before
        // the registry binds it, hence the retries.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let address = format!("127.0.0.1:{port}");
            let config = dir.path().join("config.yml");
            std::fs::write(&config, config_yaml(dir.path(), &address)).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut process = Command::new(BINARY)
                .arg("serve")
                .arg(&config)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .expect("docker-registry starts");
            if ready(&mut process, &address).await {
                return Some(Self {
                    process,
                    dir,
                    address,
                    username,
                    password,
                });
            }
            let _ = process.kill();
            let _ = process.wait();
        }
        let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
        panic!("docker-registry did not start: {log}");
    }

    /// What it logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `docker login` as its user, into [`Self::docker_cli`]'s config.
    pub fn login(&self) {
        let mut login = self
            .cli()
            .args([
                "login",
                &self.address,
                "--username",
                &self.username,
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the docker CLI runs");
        let mut stdin = login.stdin.take().unwrap();
        stdin.write_all(self.password.as_bytes()).unwrap();
        drop(stdin);
        let output = login.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "docker login: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn cli(&self) -> Command {
        let mut command = Command::new("docker");
        command
            .arg("--config")
            .arg(self.dir.path().join("docker-config"));
        command
    }

    /// The docker CLI with a private config dir (a login here must not
    /// touch the machine's `~/.docker`); its combined output, panicking on
    /// failure.
    pub fn docker_cli(&self, args: &[&str]) -> String {
        let output = self.cli().args(args).output().expect("the docker CLI runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "docker {args:?}: {text}");
        text
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn config_yaml(dir: &Path, address: &str) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: info\n\
         storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
         http:\n  addr: {address}\n\
         auth:\n  htpasswd:\n    realm: lastbackend-test\n    path: {htpasswd}\n",
        data = dir.join("data").display(),
        htpasswd = dir.join("htpasswd").display(),
    )
}

/// Whether the registry answers `/v2/` with an auth challenge, polling
/// while it runs.
async fn ready(process: &mut Child, address: &str) -> bool {
    eventually("the registry to answer", || {
        let exited = process.try_wait().ok().flatten().is_some();
        async move {
            if exited {
                return Some(false);
            }
            let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
            let request = format!("GET /v2/ HTTP/1.0\r\nHost: {address}\r\n\r\n");
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut response = String::new();
            stream.read_to_string(&mut response).await.ok()?;
            (response.starts_with("HTTP/1.") && response.contains(" 401 ")).then_some(true)
        }
    })
    .await
}
