//! A throwaway two-namespace lab for the proxy tests: `node` holds three
//! backends (`10.244.0.1..=3`, port 8080, each answering `b1`..`b3`) on a
//! local interface with `10.96.0.0/16` routed to it, so local clients have a
//! route to the VIPs; `remote` reaches `node` over a veth pair
//! (192.168.77.2 → .1) with the VIPs routed through it. Dropping the lab
//! stops the servers and deletes both namespaces, even when a test panics.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sched::{CloneFlags, setns};

use crate::skip::skip;

/// Whether the kernel-facing tests can run here: root, `ip` and `nft`.
/// Under `CI=true` a missing piece fails the test instead (`crate::skip`).
pub(crate) fn prerequisites() -> bool {
    let missing = if !nix::unistd::geteuid().is_root() {
        Some("not root")
    } else if Command::new("ip").arg("-V").output().is_err() {
        Some("`ip` not found (install iproute2)")
    } else if Command::new("nft").arg("--version").output().is_err() {
        Some("`nft` not found (install nftables)")
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) => {
            skip("the netns proxy test", why);
            false
        }
    }
}

fn run(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A unique name: the pid, a counter and the clock.
pub(crate) fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Moves the calling thread into network namespace `ns`.
pub(crate) fn enter(ns: &str) {
    let file = File::open(format!("/run/netns/{ns}")).unwrap();
    setns(file, CloneFlags::CLONE_NEWNET).unwrap();
}

/// The lab; see the module docs.
pub(crate) struct Lab {
    /// The namespace the proxy is programmed in.
    pub(crate) node: String,
    /// The other host.
    pub(crate) remote: String,
    stop: Arc<AtomicBool>,
}

impl Lab {
    pub(crate) fn new() -> Self {
        let lab = Self {
            node: unique("lbcpi"),
            remote: unique("lbcpr"),
            stop: Arc::new(AtomicBool::new(false)),
        };
        run(&["ip", "netns", "add", &lab.node]);
        run(&["ip", "netns", "add", &lab.remote]);
        let (node, remote) = (lab.node.as_str(), lab.remote.as_str());
        for ns in [node, remote] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // A veth pair with both ends here stands in for a dummy device:
        // not every kernel has the dummy driver (this CI one does not).
        run(&[
            "ip",
            "-n",
            node,
            "link",
            "add",
            "pods",
            "type",
            "veth",
            "peer",
            "name",
            "pods-peer",
        ]);
        run(&["ip", "-n", node, "link", "set", "pods-peer", "up"]);
        for id in 1..=3 {
            run(&[
                "ip",
                "-n",
                node,
                "addr",
                "add",
                &format!("10.244.0.{id}/24"),
                "dev",
                "pods",
            ]);
        }
        run(&["ip", "-n", node, "link", "set", "pods", "up"]);
        run(&[
            "ip",
            "-n",
            node,
            "route",
            "add",
            "10.96.0.0/16",
            "dev",
            "pods",
        ]);
        run(&[
            "ip", "-n", node, "link", "add", "uplink", "type", "veth", "peer", "name", "uplink",
            "netns", remote,
        ]);
        run(&[
            "ip",
            "-n",
            node,
            "addr",
            "add",
            "192.168.77.1/24",
            "dev",
            "uplink",
        ]);
        run(&[
            "ip",
            "-n",
            remote,
            "addr",
            "add",
            "192.168.77.2/24",
            "dev",
            "uplink",
        ]);
        for ns in [node, remote] {
            run(&["ip", "-n", ns, "link", "set", "uplink", "up"]);
        }
        run(&[
            "ip",
            "-n",
            remote,
            "route",
            "add",
            "10.96.0.0/16",
            "via",
            "192.168.77.1",
        ]);
        for id in 1..=3 {
            lab.serve(id);
        }
        lab
    }

    /// Starts backend `id` in `node`, answering `b<id>` to each connection.
    fn serve(&self, id: u8) {
        let (ns, stop) = (self.node.clone(), self.stop.clone());
        let (ready, bound) = std::sync::mpsc::channel();
        thread::spawn(move || {
            enter(&ns);
            let listener = TcpListener::bind(format!("10.244.0.{id}:8080")).unwrap();
            listener.set_nonblocking(true).unwrap();
            ready.send(()).unwrap();
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        // A client gone early is the client's failure: it
                        // reads no id, which `hits` counts and tests see.
                        let _ = conn.write_all(format!("b{id}").as_bytes());
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        bound.recv_timeout(Duration::from_secs(30)).unwrap();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for ns in [&self.node, &self.remote] {
            match Command::new("ip").args(["netns", "del", ns]).output() {
                Ok(out) if out.status.success() => {}
                Ok(out) => eprintln!(
                    "cleanup: ip netns del {ns}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
                Err(e) => eprintln!("cleanup: ip netns del {ns}: {e}"),
            }
        }
    }
}

/// Connects `count` times from namespace `from` to `to`, one connection
/// after another, and counts the answers by backend id.
pub(crate) fn hits(from: &str, to: &str, count: usize) -> BTreeMap<String, usize> {
    let (from, to): (String, SocketAddr) = (from.to_owned(), to.parse().unwrap());
    thread::spawn(move || {
        enter(&from);
        let mut counts = BTreeMap::new();
        for _ in 0..count {
            let deadline = Instant::now() + Duration::from_secs(30);
            let answer = loop {
                match answer(to) {
                    Ok(answer) => break answer,
                    Err(e) if Instant::now() > deadline => panic!("{to} from {from}: {e}"),
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            };
            *counts.entry(answer).or_default() += 1;
        }
        counts
    })
    .join()
    .unwrap()
}

fn answer(to: SocketAddr) -> std::io::Result<String> {
    let mut conn = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    Ok(answer)
}
