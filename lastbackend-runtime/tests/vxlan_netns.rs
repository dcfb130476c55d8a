//! The `vxlan` driver for real: three hosts (network namespaces) on one
//! underlay switch (a bridge in a fourth), each with a pod bridge and a pod
//! (one more namespace each), the driver running inside each host.

#[path = "support/netns.rs"]
mod netns;
#[path = "support/skip.rs"]
mod skip;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use lastbackend_runtime::Cni;
use lastbackend_runtime::cni::vxlan::{Vxlan, VxlanConfig};
use lastbackend_runtime::core::model::SubnetSpec;

use netns::{Namespaces, eventually, in_ns, ip, run, try_ip};

const DEVICE: &str = "lb.vxlan";

/// How long a path may take to carry traffic after a change: an ARP and a
/// forwarding entry learned, on a loaded machine. It only guards against
/// hanging.
const PATIENCE: Duration = Duration::from_secs(60);

struct Host {
    ns: String,
    pod: String,
    /// `10.244.<n>.0/24`.
    cidr: String,
    pod_ip: String,
    driver: Vxlan,
    reported: SubnetSpec,
}

impl Host {
    fn link(&self) -> String {
        format!("10.244.{}.0:24", self.cidr.split('.').nth(2).unwrap())
    }

    /// What the host's kernel holds for the overlay, as `ip` and `bridge`
    /// print it.
    fn dump(&self) -> String {
        let n = self.ns.as_str();
        [
            ip(&["-n", n, "-d", "link", "show", DEVICE]),
            ip(&["-n", n, "addr", "show", DEVICE]),
            run("bridge", &["-n", n, "fdb", "show", "dev", DEVICE]).unwrap(),
            ip(&["-n", n, "neigh", "show", "dev", DEVICE, "nud", "permanent"]),
            ip(&["-n", n, "route", "show", "table", "main"]),
        ]
        .join("\n")
    }
}

fn ping(from: &str, to: &str) -> bool {
    try_ip(&["netns", "exec", from, "busybox", "ping", "-c1", "-W2", to]).is_ok()
}

/// An echo server on port 7000 of the pod's namespace: every line comes
/// back prefixed with `name`.
fn echo_server(pod: &str, name: &'static str) {
    let listener = in_ns(pod, || TcpListener::bind("0.0.0.0:7000").expect("bind"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if writeln!(out, "{name}: {line}").is_err() {
                        break;
                    }
                }
            });
        }
    });
}

fn try_connect(pod: &str, to: &str) -> std::io::Result<BufReader<TcpStream>> {
    let addr: SocketAddr = format!("{to}:7000").parse().unwrap();
    let stream = in_ns(pod, move || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(3))
    })?;
    // Only guards against a hung exchange.
    stream.set_read_timeout(Some(PATIENCE))?;
    Ok(BufReader::new(stream))
}

/// A connection from `pod` to `to`'s echo server, retried until the path
/// carries it.
fn connect(pod: &str, to: &str) -> BufReader<TcpStream> {
    let mut conn = None;
    eventually(&format!("{pod} connects to {to}"), PATIENCE, || {
        conn = try_connect(pod, to).ok();
        conn.is_some()
    });
    conn.unwrap()
}

fn exchange(conn: &mut BufReader<TcpStream>, message: &str) -> String {
    writeln!(conn.get_mut(), "{message}").unwrap();
    let mut line = String::new();
    conn.read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

fn peers(hosts: &[&Host]) -> BTreeMap<String, SubnetSpec> {
    hosts
        .iter()
        .map(|h| (h.link(), h.reported.clone()))
        .collect()
}

async fn host(namespaces: &mut Namespaces, switch: &str, n: u8, iface: Option<&str>) -> Host {
    let ns = namespaces.add(&format!("host{n}"));
    let underlay = format!("192.168.77.{n}");
    ip(&[
        "-n",
        &ns,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        &format!("p{n}"),
        "netns",
        switch,
    ]);
    ip(&[
        "-n",
        switch,
        "link",
        "set",
        &format!("p{n}"),
        "master",
        "br0",
        "up",
    ]);
    ip(&[
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{underlay}/24"),
        "dev",
        "eth0",
    ]);
    ip(&["-n", &ns, "link", "set", "eth0", "up"]);
    ip(&[
        "-n",
        &ns,
        "route",
        "add",
        "default",
        "via",
        "192.168.77.254",
        "dev",
        "eth0",
        "onlink",
    ]);

    let cidr = format!("10.244.{n}.0/24");
    let config = VxlanConfig::default()
        .netns(Namespaces::path(&ns))
        .external_iface(iface.map(str::to_owned));
    let driver = Vxlan::new(config).unwrap();
    driver.ensure_bridge("cbr0", &cidr).await.unwrap();
    let local = SubnetSpec {
        cidr: cidr.clone(),
        ..SubnetSpec::default()
    };
    let reported = driver.setup(&local).await.unwrap();
    assert_eq!(reported.kind, "vxlan");
    assert_eq!(reported.cidr, cidr);
    assert_eq!(reported.iface.name, DEVICE);
    assert_eq!(
        reported.iface.addr,
        Some(format!("10.244.{n}.0").parse().unwrap())
    );
    assert_eq!(reported.iface.hardware_addr.len(), 17, "{reported:?}");
    assert_eq!(
        reported.addr,
        Some(underlay.parse().unwrap()),
        "tunnel address"
    );
    assert_eq!(
        ip(&["netns", "exec", &ns, "cat", "/proc/sys/net/ipv4/ip_forward"]).trim(),
        "1"
    );

    // The pod: a veth into the host's bridge, the gateway as default route.
    let pod = namespaces.add(&format!("pod{n}"));
    let pod_ip = format!("10.244.{n}.2");
    ip(&[
        "-n", &ns, "link", "add", "vpod", "type", "veth", "peer", "name", "eth0", "netns", &pod,
    ]);
    ip(&["-n", &ns, "link", "set", "vpod", "master", "cbr0", "up"]);
    ip(&[
        "-n",
        &pod,
        "addr",
        "add",
        &format!("{pod_ip}/24"),
        "dev",
        "eth0",
    ]);
    ip(&["-n", &pod, "link", "set", "eth0", "up"]);
    ip(&[
        "-n",
        &pod,
        "route",
        "add",
        "default",
        "via",
        &format!("10.244.{n}.1"),
    ]);
    Host {
        ns,
        pod,
        cidr,
        pod_ip,
        driver,
        reported,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_reach_each_other_across_hosts_and_removed_peers_are_cut_off() {
    if !netns::available() {
        return;
    }
    let mut namespaces = Namespaces::default();
    let switch = namespaces.add("switch");
    ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", &switch, "link", "set", "br0", "up"]);
    // A and B find their external interface by the default route, C is told.
    let mut a = host(&mut namespaces, &switch, 1, None).await;
    let b = host(&mut namespaces, &switch, 2, None).await;
    let mut c = host(&mut namespaces, &switch, 3, Some("eth0")).await;
    let all = peers(&[&a, &b, &c]);
    for h in [&a, &b, &c] {
        // Every manifest lists the host's own subnet too: it is skipped.
        h.driver.sync_peers(&all).await.unwrap();
    }
    let fdb = run("bridge", &["-n", &a.ns, "fdb", "show", "dev", DEVICE]).unwrap();
    assert!(
        fdb.contains(&format!(
            "{} dst 192.168.77.3",
            c.reported.iface.hardware_addr
        )),
        "{fdb}"
    );
    assert!(
        !fdb.contains(&a.reported.iface.hardware_addr),
        "own entry: {fdb}"
    );
    let routes = ip(&["-n", &a.ns, "route"]);
    assert!(
        routes.contains("10.244.3.0/24 via 10.244.3.0 dev lb.vxlan proto static onlink"),
        "{routes}"
    );

    // Pods ping and talk TCP across hosts.
    for (from, to) in [(&a, &b), (&a, &c), (&b, &c), (&c, &a)] {
        eventually(
            &format!("{} pings {}", from.pod_ip, to.pod_ip),
            PATIENCE,
            || ping(&from.pod, &to.pod_ip),
        );
    }
    echo_server(&b.pod, "b");
    echo_server(&c.pod, "c");
    let mut to_b = connect(&a.pod, &b.pod_ip);
    assert_eq!(exchange(&mut to_b, "hello"), "b: hello");
    let mut to_c = connect(&a.pod, &c.pod_ip);
    assert_eq!(exchange(&mut to_c, "hi"), "c: hi");

    // Re-running with the same input writes nothing and changes nothing.
    let before: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|h| (h.driver.writes(), h.dump()))
        .collect();
    for h in [&a, &b, &c] {
        let local = SubnetSpec {
            cidr: h.cidr.clone(),
            ..SubnetSpec::default()
        };
        assert_eq!(h.driver.setup(&local).await.unwrap(), h.reported);
        h.driver.ensure_bridge("cbr0", &h.cidr).await.unwrap();
        h.driver.sync_peers(&all).await.unwrap();
    }
    let after: Vec<_> = [&a, &b, &c]
        .iter()
        .map(|h| (h.driver.writes(), h.dump()))
        .collect();
    assert_eq!(before, after);

    // The agent on A restarts: a new driver finds everything in place, and
    // the open connection carries on.
    let config = a.driver.config().clone();
    a.driver = Vxlan::new(config).unwrap();
    let local = SubnetSpec {
        cidr: a.cidr.clone(),
        ..SubnetSpec::default()
    };
    assert_eq!(a.driver.setup(&local).await.unwrap(), a.reported);
    a.driver.sync_peers(&all).await.unwrap();
    assert_eq!(
        a.driver.writes(),
        0,
        "a restarted agent rewrote the overlay"
    );
    assert_eq!(a.dump(), before[0].1);
    assert_eq!(exchange(&mut to_b, "still there"), "b: still there");

    // C leaves A's peers: its entries go from A, traffic A→C stops, A→B
    // and B→C go on.
    a.driver.sync_peers(&peers(&[&a, &b])).await.unwrap();
    let fdb = run("bridge", &["-n", &a.ns, "fdb", "show", "dev", DEVICE]).unwrap();
    assert!(!fdb.contains(&c.reported.iface.hardware_addr), "{fdb}");
    assert!(fdb.contains(&b.reported.iface.hardware_addr), "{fdb}");
    let neigh = ip(&["-n", &a.ns, "neigh", "show", "dev", DEVICE]);
    assert!(!neigh.contains("10.244.3.0"), "{neigh}");
    assert!(neigh.contains("10.244.2.0"), "{neigh}");
    let routes = ip(&["-n", &a.ns, "route"]);
    assert!(!routes.contains("10.244.3.0"), "{routes}");
    // A failed ping proves the cut only while the paths around it work:
    // A's overlay still carries A→B, and C still answers B, just before and
    // just after the negative checks.
    let controls = || {
        eventually("A still pings B", PATIENCE, || ping(&a.pod, &b.pod_ip));
        eventually("B still pings C", PATIENCE, || ping(&b.pod, &c.pod_ip));
    };
    controls();
    assert!(!ping(&a.pod, &c.pod_ip), "A still reaches C");
    assert!(
        try_connect(&a.pod, &c.pod_ip).is_err(),
        "A still connects to C"
    );
    controls();

    // C's agent tears down and comes back with a new device (a new MAC):
    // B replaces its entries and reaches C again.
    c.driver.teardown().await.unwrap();
    assert!(try_ip(&["-n", &c.ns, "link", "show", DEVICE]).is_err());
    let old_mac = c.reported.iface.hardware_addr.clone();
    let local = SubnetSpec {
        cidr: c.cidr.clone(),
        ..SubnetSpec::default()
    };
    c.reported = c.driver.setup(&local).await.unwrap();
    assert_ne!(c.reported.iface.hardware_addr, old_mac);
    let all = peers(&[&a, &b, &c]);
    c.driver.sync_peers(&all).await.unwrap();
    b.driver.sync_peers(&all).await.unwrap();
    let fdb = run("bridge", &["-n", &b.ns, "fdb", "show", "dev", DEVICE]).unwrap();
    assert!(!fdb.contains(&old_mac), "{fdb}");
    assert!(fdb.contains(&c.reported.iface.hardware_addr), "{fdb}");
    eventually("B pings the new C", PATIENCE, || ping(&b.pod, &c.pod_ip));
    a.driver.sync_peers(&all).await.unwrap();
    eventually("A pings C again", PATIENCE, || ping(&a.pod, &c.pod_ip));
}
