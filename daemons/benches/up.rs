//! `lastbackend up`: from start to API ready, and idle memory, next to
//! `lastbackend api` alone on the same embedded store in the same run.
//!
//! `cargo bench -p lastbackend --bench up` (`UP_BENCH_RUNS=N` sets the
//! starts per program, 10 by default; `UP_BENCH_IDLE_SECONDS` how long each
//! idles before its memory is read, 10 by default)
//!
//! Each start is a fresh process on a fresh data directory: the clock runs
//! from spawn until `GET /openapi.json` answers 200 (polled every
//! millisecond over loopback). Idle memory is VmRSS of the process after
//! it has run with nothing deployed for the idle time; `up` runs every
//! component (the node agent on this machine's Docker, HAProxy started by
//! the ingress) unless Docker or haproxy is missing, when it says which it
//! left out. HAProxy is its own process and is reported apart. Targets:
//! ready ≤ 500 ms, idle RSS ≤ 40 MB (k3s idles at ~500 MB). The agent
//! programs this host's nftables table: run it where no other `up` runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-up";

fn main() {
    let runs: usize = env("UP_BENCH_RUNS", 10);
    let idle = Duration::from_secs(env("UP_BENCH_IDLE_SECONDS", 10));
    // Its own node name, so the agent leaves other nodes' containers be.
    let mut up_args = vec![
        "up",
        "--bind-port",
        "0",
        "--dns-port",
        "0",
        "--node-name",
        "bench-up",
    ];
    let docker = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let haproxy = ["/usr/local/bin/haproxy", "/usr/sbin/haproxy"]
        .iter()
        .any(|p| Path::new(p).exists());
    let mut disabled = Vec::new();
    if !docker {
        disabled.push("node");
    }
    if !haproxy {
        disabled.push("ingress");
    }
    let disable = disabled.join(",");
    if !disabled.is_empty() {
        println!("left out of up (missing Docker or haproxy): {disable}");
        up_args.extend(["--disable", &disable]);
    }
    let api_args = ["api", "--storage", "embedded", "--bind-port", "0"];

    let mut up_ready = Vec::new();
    let mut api_ready = Vec::new();
    for _ in 0..runs {
        up_ready.push(start(&up_args).1);
        api_ready.push(start(&api_args).1);
    }
    let (up_rss, haproxy_rss) = idle_rss(&up_args, idle);
    let (api_rss, _) = idle_rss(&api_args, idle);

    let (up_p50, up_max) = summary(&mut up_ready);
    let (api_p50, api_max) = summary(&mut api_ready);
    println!(
        "start to API ready over {runs} starts each (ms): up p50 {up_p50:.1} max {up_max:.1}; api alone p50 {api_p50:.1} max {api_max:.1}"
    );
    println!(
        "idle VmRSS after {}s: up {:.1} MB (+ HAProxy {:.1} MB, its own process); api alone {:.1} MB",
        idle.as_secs(),
        mb(up_rss),
        mb(haproxy_rss),
        mb(api_rss)
    );
    println!(
        "RESULT up_ready_p50_ms={up_p50:.1} baseline={api_p50:.1} ratio={:.2} target=500",
        up_p50 / api_p50
    );
    println!(
        "RESULT up_ready_max_ms={up_max:.1} baseline={api_max:.1} ratio={:.2} target=500",
        up_max / api_max
    );
    println!(
        "RESULT up_idle_rss_mb={:.1} baseline={:.1} ratio={:.2} target=40",
        mb(up_rss),
        mb(api_rss),
        up_rss as f64 / api_rss as f64
    );
}

/// Starts `lastbackend <args>` on a fresh data directory, waits until the
/// API answers, and returns the process (still running) with the time it
/// took in milliseconds. The directory lives as long as the process.
fn start(args: &[&str]) -> (Running, f64) {
    let data = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lastbackend"))
        .args(args)
        .arg("--data-dir")
        .arg(data.path())
        .env("LB_ACCESS_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let address = listening_address(&mut child);
    while !answers(address) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("lastbackend {args:?} exited with {status}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let ready = began.elapsed().as_secs_f64() * 1000.0;
    (Running { child, _data: data }, ready)
}

/// Where the API listens: `up` prints it on stdout, `api` logs it on stderr.
fn listening_address(child: &mut Child) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    for stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(address) = address_in(&line) {
                    let _ = tx.send(address);
                }
            }
        });
    }
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the daemon says where it listens within 30 s")
}

/// The `host:port` after "http://" in a line that announces the API.
fn address_in(line: &str) -> Option<SocketAddr> {
    if !line.contains("API ready at") && !line.contains("REST API listening on") {
        return None;
    }
    let rest = &line[line.find("http://")? + "http://".len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(rest.len());
    let address: SocketAddr = rest[..end].parse().ok()?;
    Some(if address.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], address.port()))
    } else {
        address
    })
}

/// Whether `GET /openapi.json` answers 200.
fn answers(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(100)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("GET /openapi.json HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// VmRSS in bytes of the daemon after `idle`, and of its HAProxy children.
fn idle_rss(args: &[&str], idle: Duration) -> (u64, u64) {
    let (running, _) = start(args);
    std::thread::sleep(idle);
    let pid = running.child.id();
    let own = rss(pid);
    let children: u64 = descendants(pid).into_iter().map(rss).sum();
    (own, children)
}

fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Every process below `pid` (HAProxy's master and worker), from each
/// process's parent in `/proc/<pid>/stat`.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let after = &stat[stat.rfind(')')? + 1..];
            let parent = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((child, parent))
        })
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, _) in parents.iter().filter(|(_, p)| *p == parent) {
            found.push(child);
            frontier.push(child);
        }
    }
    found
}

/// A daemon the bench started; SIGTERM and wait when dropped, so the next
/// start finds its ports free.
struct Running {
    child: Child,
    _data: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn summary(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
