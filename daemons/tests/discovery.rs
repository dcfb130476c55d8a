//! The `lastbackend discovery` binary: its config checked before it binds,
//! then served, answered and stopped by SIGTERM. Its registration is read
//! back from its store after it exits, which takes a store another process
//! can open: the embedded one. The DNS server itself is tested in process in
//! `lastbackend-runtime/tests/discovery.rs`.
#![cfg(feature = "embedded")]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lastbackend_core::model::{Discovery, Kind, SelfLink};
use lastbackend_core::store::Store;
use lastbackend_runtime::discovery::hickory_server::proto::op::{
    Message, MessageType, OpCode, Query, ResponseCode,
};
use lastbackend_runtime::discovery::hickory_server::proto::rr::{Name, RecordType};

/// How long the test waits for an answer or for the daemon to stop: a guard
/// against hanging, far above what even a busy machine takes.
const ANSWERED: Duration = Duration::from_secs(30);

fn rand_id() -> u16 {
    uuid::Uuid::new_v4().as_u128() as u16
}

/// Kills the daemon if the test ends before it does.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asks until an answer comes: a UDP query or its answer may be lost,
/// and the daemon may still be starting.
fn query_until_answered(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let deadline = Instant::now() + ANSWERED;
    loop {
        if let Some(answer) = try_query(server, name, rtype) {
            return answer;
        }
        assert!(Instant::now() < deadline, "no answer for {name} {rtype}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One A/SOA query with a short timeout, for polling a starting daemon.
fn try_query(server: SocketAddr, name: &str, rtype: RecordType) -> Option<Message> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(Name::from_ascii(name).ok()?, rtype));
    socket.send_to(&message.to_vec().ok()?, server).ok()?;
    let mut buffer = [0_u8; 4096];
    let len = socket.recv(&mut buffer).ok()?;
    Message::from_vec(&buffer[..len]).ok()
}

#[test]
fn the_daemon_checks_its_config_first_then_serves_and_stops_on_sigterm() {
    let binary = env!("CARGO_BIN_EXE_lastbackend");
    let bad = Command::new(binary)
        .args(["discovery", "--storage", "memory", "--dns-ttl", "soon"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--dns-ttl"), "{stderr}");

    let data = tempfile::tempdir().unwrap();
    // A free port for UDP and TCP; retried should another process take it.
    for _ in 0..5 {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut daemon = Daemon(
            Command::new(binary)
                .args([
                    "discovery",
                    "--storage",
                    "embedded",
                    "--dns-upstream",
                    "none",
                ])
                .arg("--data-dir")
                .arg(data.path())
                .args([
                    "--bind-address",
                    "127.0.0.1",
                    "--bind-port",
                    &port.to_string(),
                ])
                .args(["--zone", "cluster.test", "--dns-ttl", "1m"])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + ANSWERED;
        let soa = loop {
            if let Some(answer) = try_query(address, "cluster.test.", RecordType::SOA) {
                break Some(answer);
            }
            if daemon.0.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let Some(soa) = soa else {
            let _ = daemon.0.kill();
            let mut stderr = String::new();
            std::io::Read::read_to_string(daemon.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            if stderr.contains("in use") {
                continue;
            }
            panic!("the daemon did not answer: {stderr}");
        };
        assert_eq!(soa.metadata.response_code, ResponseCode::NoError);
        assert_eq!(soa.answers[0].ttl, 60);
        let missing = query_until_answered(address, "web.demo.cluster.test.", RecordType::A);
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
        let outside = query_until_answered(address, "example.com.", RecordType::A);
        assert_eq!(outside.metadata.response_code, ResponseCode::Refused);

        let pid = daemon.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + ANSWERED;
        let status = loop {
            if let Some(status) = daemon.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status}");

        // It registered with the address pods get as resolver, and said it
        // stopped serving on the way out.
        let storage =
            lastbackend_core::storage::EmbeddedStorage::open(data.path().join("lastbackend.redb"))
                .unwrap();
        let store = Store::new(Arc::new(storage));
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let link = SelfLink::host(Kind::Discovery, hostname.trim());
        let member: Discovery = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(store.get(&link))
            .unwrap();
        assert_eq!(member.status.address, Some(address));
        assert!(!member.status.presence.ready);
        return;
    }
    panic!("the daemon never answered on a free port");
}
