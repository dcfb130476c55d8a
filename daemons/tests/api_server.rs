//! `lastbackend api` as a process: configuration from flags, `LB_*`
//! variables and YAML, the events websocket, the embedded store across a
//! restart, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_lastbackend");

/// A running `lastbackend api`, killed when dropped.
struct Daemon {
    child: Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.arg("api").args(args);
    // The test's own environment must not leak settings in.
    for (key, _) in std::env::vars() {
        if key.starts_with("LB_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    command
}

/// Starts the daemon and waits for its "listening" log line.
fn start(args: &[&str], env: &[(&str, &str)]) -> Daemon {
    let mut child = command(args, env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (found, port) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some((_, rest)) = line.split_once("listening on http") {
                let address = rest.trim_start_matches("s").trim_start_matches("://");
                let port: u16 = address
                    .split_whitespace()
                    .next()
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| p.parse().ok())
                    .unwrap();
                let _ = found.send(port);
                sent = true;
            }
        }
    });
    let port = port
        .recv_timeout(Duration::from_secs(30))
        .expect("the daemon logs its listen address");
    Daemon { child, port }
}

/// Runs the daemon expecting it to fail at once; its stderr.
fn fails(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = command(args, env).output().unwrap();
    assert!(!output.status.success(), "the daemon started: {args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One plain HTTP/1.1 request: (status, body).
fn http(port: u16, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

const LOCAL: [&str; 6] = [
    "--storage",
    "memory",
    "--bind-address",
    "127.0.0.1",
    "--bind-port",
    "0",
];

#[test]
fn configuration_errors_stop_the_daemon_before_it_binds() {
    let text = fails(&LOCAL, &[("LB_ACCESS_TOKEN", "")]);
    assert!(
        text.contains("--access-token") && text.contains("--insecure-no-auth"),
        "{text}"
    );
    let text = fails(&["--access-token", "t"], &[("LB_STORAGE", "mongo")]);
    assert!(
        text.contains("--storage") && text.contains("embedded"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api.yml");
    std::fs::write(&file, "token: t\nserver: {prot: 80}\n").unwrap();
    let text = fails(&[], &[("LB_CONFIG", file.to_str().unwrap())]);
    assert!(text.contains("server") && text.contains("prot"), "{text}");
}

#[test]
fn flags_win_over_env_which_wins_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api.yml");
    std::fs::write(
        &file,
        "token: from-file\nname: file-cluster\nserver: {host: 203.0.113.1, port: 1}\n",
    )
    .unwrap();
    let daemon = start(
        &["-c", file.to_str().unwrap(), "--bind-address", "127.0.0.1"],
        &[
            ("LB_ACCESS_TOKEN", "from-env"),
            ("LB_BIND_ADDRESS", "203.0.113.2"),
            ("LB_BIND_PORT", "0"),
            ("LB_STORAGE", "memory"),
        ],
    );
    assert_eq!(http(daemon.port, "GET", "/cluster", "from-file", "").0, 401);
    let (status, body) = http(daemon.port, "GET", "/cluster", "from-env", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("file-cluster"), "{body}");
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    let mut daemon = start(&LOCAL, &[("LB_ACCESS_TOKEN", "t")]);
    assert_eq!(http(daemon.port, "GET", "/cluster", "t", "").0, 200);
    let status = Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(feature = "embedded")]
#[test]
fn the_embedded_store_keeps_objects_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let args = [
        "--storage",
        "embedded",
        "--data-dir",
        data,
        "--bind-address",
        "127.0.0.1",
        "--bind-port",
        "0",
        "--access-token",
        "t",
    ];
    let daemon = start(&args, &[]);
    let (status, body) = http(
        daemon.port,
        "POST",
        "/namespace",
        "t",
        r#"{"meta":{"name":"kept"}}"#,
    );
    assert_eq!(status, 201, "{body}");
    drop(daemon);
    assert!(std::path::Path::new(data).join("lastbackend.redb").exists());
    let daemon = start(&args, &[]);
    assert_eq!(http(daemon.port, "GET", "/namespace/kept", "t", "").0, 200);
}

#[tokio::test]
async fn events_relay_changes_over_a_websocket() {
    let daemon = start(&LOCAL, &[("LB_ACCESS_TOKEN", "t")]);
    let url = format!(
        "ws://127.0.0.1:{}/events?x-lastbackend-token=t",
        daemon.port
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let port = daemon.port;
    tokio::task::spawn_blocking(move || {
        http(
            port,
            "POST",
            "/namespace",
            "t",
            r#"{"meta":{"name":"seen"}}"#,
        )
    })
    .await
    .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
    assert_eq!(event["event"], "namespace:create", "{event}");
    assert_eq!(event["payload"]["meta"]["name"], "seen", "{event}");

    let refused = format!("ws://127.0.0.1:{}/events", daemon.port);
    assert!(tokio_tungstenite::connect_async(refused).await.is_err());
}
