//! Liveness and readiness probes: one task per probe of a running
//! container, reporting each check to the agent's loop, which keeps the
//! counts, gates the pod's readiness and stops a container whose liveness
//! fails (the restart policy and its backoff bring it back).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use lastbackend_core::model::{Container, Probe, ProbeAction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cri::Cri;

/// Which probe a result is from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Liveness,
    Readiness,
}

/// One check's outcome.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) id: String,
    pub(crate) kind: Kind,
    pub(crate) ok: bool,
}

/// What the probes of one container found so far.
#[derive(Debug, Default)]
struct Health {
    /// Passed its readiness probe last time it counted.
    ready: bool,
    readiness_failures: u32,
    liveness_failures: u32,
}

/// The probe tasks and their findings, by container id.
pub(crate) struct Probes {
    tx: mpsc::UnboundedSender<Outcome>,
    tasks: HashMap<String, Vec<JoinHandle<()>>>,
    health: HashMap<String, Health>,
    thresholds: HashMap<(String, Kind), u32>,
}

impl Drop for Probes {
    fn drop(&mut self) {
        for task in self.tasks.values().flatten() {
            task.abort();
        }
    }
}

impl Probes {
    /// Probes reporting to `tx`.
    pub(crate) fn new(tx: mpsc::UnboundedSender<Outcome>) -> Self {
        Self {
            tx,
            tasks: HashMap::new(),
            health: HashMap::new(),
            thresholds: HashMap::new(),
        }
    }

    /// Starts the probes of a running container unless they run.
    pub(crate) fn ensure(
        &mut self,
        cri: &Arc<dyn Cri>,
        id: &str,
        c: &Container,
        ip: Option<IpAddr>,
    ) {
        if c.probes.is_empty() || self.tasks.contains_key(id) {
            return;
        }
        let mut tasks = Vec::new();
        for (kind, probe) in [
            (Kind::Liveness, &c.probes.liveness),
            (Kind::Readiness, &c.probes.readiness),
        ] {
            let Some(probe) = probe.clone() else { continue };
            self.thresholds
                .insert((id.to_owned(), kind), probe.failure_threshold.max(1));
            let (cri, tx, id) = (cri.clone(), self.tx.clone(), id.to_owned());
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(probe.initial_delay.into())).await;
                loop {
                    let timeout = Duration::from_secs(probe.timeout.max(1).into());
                    let ok = tokio::time::timeout(timeout, check(&*cri, &id, &probe, ip))
                        .await
                        .unwrap_or(false);
                    let outcome = Outcome {
                        id: id.clone(),
                        kind,
                        ok,
                    };
                    if tx.send(outcome).is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(probe.period.max(1).into())).await;
                }
            }));
        }
        self.tasks.insert(id.to_owned(), tasks);
        self.health.entry(id.to_owned()).or_default();
    }

    /// The container restarted: its probes start over (after their initial
    /// delay), and it is not ready until its readiness probe passes again.
    pub(crate) fn restarted(&mut self, id: &str) {
        for task in self.tasks.remove(id).into_iter().flatten() {
            task.abort();
        }
        self.health.remove(id);
    }

    /// The container is gone.
    pub(crate) fn forget(&mut self, id: &str) {
        self.restarted(id);
        self.thresholds.retain(|(c, _), _| c != id);
    }

    /// Whether the container passes its readiness probe (always, without
    /// one).
    pub(crate) fn ready(&self, id: &str, c: &Container) -> bool {
        c.probes.readiness.is_none() || self.health.get(id).is_some_and(|h| h.ready)
    }

    /// Counts a check; returns whether the container's liveness failed
    /// (then it must be stopped) and whether its readiness changed.
    pub(crate) fn record(&mut self, outcome: &Outcome) -> (bool, bool) {
        // A result from a task aborted since then.
        let Some(health) = self.health.get_mut(&outcome.id) else {
            return (false, false);
        };
        let threshold = self
            .thresholds
            .get(&(outcome.id.clone(), outcome.kind))
            .copied()
            .unwrap_or(1);
        match outcome.kind {
            Kind::Liveness if outcome.ok => health.liveness_failures = 0,
            Kind::Liveness => {
                health.liveness_failures += 1;
                if health.liveness_failures >= threshold {
                    health.liveness_failures = 0;
                    return (true, false);
                }
            }
            Kind::Readiness => {
                let was = health.ready;
                if outcome.ok {
                    health.readiness_failures = 0;
                    health.ready = true;
                } else {
                    health.readiness_failures += 1;
                    if health.readiness_failures >= threshold {
                        health.ready = false;
                    }
                }
                return (false, was != health.ready);
            }
        }
        (false, false)
    }
}

/// Runs one check.
async fn check(cri: &dyn Cri, id: &str, probe: &Probe, ip: Option<IpAddr>) -> bool {
    match &probe.action {
        ProbeAction::Exec { command } => cri
            .exec(id, command)
            .await
            .is_ok_and(|out| out.exit_code == 0),
        ProbeAction::Tcp { port } => match ip {
            Some(ip) => TcpStream::connect(SocketAddr::new(ip, *port)).await.is_ok(),
            None => false,
        },
        ProbeAction::Http { port, path } => match ip {
            Some(ip) => http_ok(SocketAddr::new(ip, *port), path).await,
            None => false,
        },
    }
}

/// `GET path` answers 2xx or 3xx. HTTP/1.0 keeps it to one status line to
/// read: no client library for the one request a probe makes.
async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return false;
    };
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {}\r\nUser-Agent: lastbackend-probe\r\n\r\n",
        addr.ip()
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    // "HTTP/1.x 200 ..."
    let line = String::from_utf8_lossy(&head[..read]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .is_some_and(|code| (200..400).contains(&code))
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    /// Serves one canned answer per connection.
    async fn server(answer: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 512];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn http_probes_pass_on_2xx_and_3xx_only() {
        let ok = server("HTTP/1.0 200 OK\r\n\r\nfine").await;
        let moved = server("HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n").await;
        let broken = server("HTTP/1.0 503 Service Unavailable\r\n\r\n").await;
        assert!(http_ok(ok, "/healthz").await);
        assert!(http_ok(moved, "/").await);
        assert!(!http_ok(broken, "/").await);
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(!http_ok(closed, "/").await);
    }

    #[tokio::test]
    async fn tcp_probes_need_a_listener() {
        let cri = crate::fake::FakeCri::new();
        let open = server("").await;
        let tcp = |port| Probe::new(ProbeAction::Tcp { port });
        assert!(check(&cri, "x", &tcp(open.port()), Some(open.ip())).await);
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(!check(&cri, "x", &tcp(closed.port()), Some(closed.ip())).await);
        assert!(
            !check(&cri, "x", &tcp(open.port()), None).await,
            "no pod address"
        );
    }
}
