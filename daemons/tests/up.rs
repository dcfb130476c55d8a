//! `lastbackend up` as the README describes it, beyond the quick start:
//! `--disable` leaves components out for real (no DNS listener, no HAProxy
//! child, no node or member registered), and the data directory defaults
//! to `/var/lib/lastbackend` as root and to `$XDG_DATA_HOME/lastbackend`,
//! else `~/.local/share/lastbackend`, for anyone else, where the generated
//! token is kept with mode 0600.
//!
//! Every run uses free ports on 127.0.0.1 and leaves the node, the ingress
//! and the exporter out (their ports are fixed and the quick start uses
//! them). The root default runs `up` in a mount namespace of its own with a
//! tmpfs on `/var/lib`, so a real `/var/lib/lastbackend` is never touched;
//! the non-root runs use `setpriv` to run as nobody. Needs root, curl, ss
//! and unshare; skips with a reason without them, and fails under
//! `CI=true`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/e2e.rs"]
mod e2e;

use e2e::{Need, free_port};

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Program("curl", "--version"),
    Need::Program("ss", "-V"),
    Need::Program("unshare", "--version"),
    Need::Program("setpriv", "--version"),
];

/// The uid and gid of `nobody`, who runs the non-root `up`.
const NOBODY: u32 = 65534;

/// Whether the tests can run here; prints why not (or fails under
/// `CI=true`).
fn can_run() -> bool {
    match e2e::missing(NEEDS) {
        Some(reason) => {
            e2e::skip(
                "the up tests need root, curl, ss, unshare and setpriv",
                &reason,
            );
            false
        }
        None => true,
    }
}

/// A running `lastbackend up`, killed when dropped unless stopped.
struct Up {
    child: Child,
    log: PathBuf,
    /// `http://127.0.0.1:<port>`.
    uri: String,
    token: String,
    /// The data directory `up` says it uses.
    data_dir: PathBuf,
}

impl Up {
    /// Runs `command` (which ends in `lastbackend up ...`), its log in
    /// `log`, and reads what it announces.
    fn start(mut command: Command, log: &Path) -> Self {
        let stderr = std::fs::File::create(log).expect("the log file");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("lastbackend up starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        let mut second = String::new();
        stdout.read_line(&mut first).expect("up's first line");
        stdout.read_line(&mut second).expect("up's second line");
        let log_text = || std::fs::read_to_string(log).unwrap_or_default();
        let (uri, data_dir) = first
            .trim()
            .strip_prefix("lastbackend up: API ready at ")
            .and_then(|rest| {
                let (uri, rest) = rest.split_once(" in ")?;
                let (_, dir) = rest.split_once(" ms; data in ")?;
                Some((uri.to_owned(), PathBuf::from(dir)))
            })
            .unwrap_or_else(|| panic!("up said {first:?}; its log:\n{}", log_text()));
        let token = second
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix("LB_ACCESS_TOKEN="))
            .unwrap_or_else(|| panic!("up printed no token: {second:?}"))
            .to_owned();
        Self {
            child,
            log: log.to_owned(),
            uri,
            token,
            data_dir,
        }
    }

    /// `GET path` on the API, as JSON.
    fn get(&self, path: &str) -> Value {
        let out = Command::new("curl")
            .args(["-fsS", "--max-time", "30", "-H"])
            .arg(format!("Authorization: Bearer {}", self.token))
            .arg(format!("{}{path}", self.uri))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "GET {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    }

    /// The names of the objects `GET path` lists.
    fn names(&self, path: &str) -> Vec<String> {
        self.get(path)["items"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| item["meta"]["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The ports `up` listens on: `tcp/<port>` and `udp/<port>`.
    fn listening(&self) -> BTreeSet<String> {
        let out = Command::new("ss").args(["-Hlntup"]).output().expect("ss");
        let owner = format!("pid={},", self.child.id());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|line| line.contains(&owner))
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let port = fields.get(4)?.rsplit_once(':')?.1;
                Some(format!("{}/{port}", fields[0]))
            })
            .collect()
    }

    /// The processes `up` started.
    fn children(&self) -> Vec<String> {
        let out = Command::new("ps")
            .args(["-o", "pid=,args=", "--ppid"])
            .arg(self.child.id().to_string())
            .output()
            .expect("ps");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// SIGTERM, then waits for a clean exit; returns the log.
    fn stop(mut self) -> String {
        e2e::terminate(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                assert!(status.success(), "up exited with {status}; its log:\n{log}");
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "up did not stop within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lastbackend up`, run by `wrapper` when given, on `api_port` on
/// 127.0.0.1 with the node, the ingress and the exporter left out, and
/// `disable` besides.
fn up_command(wrapper: Option<Command>, disable: &str, api_port: u16) -> Command {
    let program = env!("CARGO_BIN_EXE_lastbackend");
    let mut command = match wrapper {
        Some(mut wrapper) => {
            wrapper.arg(program);
            wrapper
        }
        None => Command::new(program),
    };
    command
        .args(["up", "--bind-address", "127.0.0.1", "--bind-port"])
        .arg(api_port.to_string())
        .arg("--disable")
        .arg(format!("node,ingress,exporter{disable}"));
    command
}

/// Whether nothing listens on `port`, UDP or TCP.
fn port_is_free(port: u16) -> bool {
    std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok()
        && std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
}

#[test]
fn disabled_components_do_not_run() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");

    // Discovery on: its listener and its registration show what a running
    // component looks like, and the others are still absent.
    let (api, dns) = (free_port(), free_port());
    let mut command = up_command(None, "", api);
    command
        .args(["--dns-port", &dns.to_string(), "--data-dir"])
        .arg(dir.path().join("with-discovery"));
    let up = Up::start(command, &dir.path().join("with-discovery.log"));
    e2e::eventually("discovery registers", Duration::from_secs(60), || {
        up.names("/discovery").len() == 1
    });
    let ports = up.listening();
    let wanted: BTreeSet<String> = [
        format!("tcp/{api}"),
        format!("tcp/{dns}"),
        format!("udp/{dns}"),
    ]
    .into();
    assert_eq!(ports, wanted, "the API and discovery's DNS listen");
    assert_eq!(up.names("/cluster/node"), Vec::<String>::new(), "no node");
    assert_eq!(up.names("/exporter"), Vec::<String>::new(), "no exporter");
    assert_eq!(up.names("/ingress"), Vec::<String>::new(), "no ingress");
    assert_eq!(up.children(), Vec::<String>::new(), "no HAProxy");
    let log = up.stop();
    assert!(log.contains("discovery stopped"), "{log}");

    // Everything optional off: only the API listens.
    let (api, dns) = (free_port(), free_port());
    let mut command = up_command(None, ",discovery", api);
    command
        .args(["--dns-port", &dns.to_string(), "--data-dir"])
        .arg(dir.path().join("bare"));
    let up = Up::start(command, &dir.path().join("bare.log"));
    assert_eq!(up.names("/cluster/node"), Vec::<String>::new(), "no node");
    assert_eq!(up.names("/discovery"), Vec::<String>::new(), "no discovery");
    assert_eq!(up.names("/exporter"), Vec::<String>::new(), "no exporter");
    assert_eq!(up.names("/ingress"), Vec::<String>::new(), "no ingress");
    assert_eq!(
        up.listening(),
        [format!("tcp/{api}")].into(),
        "only the API"
    );
    assert_eq!(up.children(), Vec::<String>::new(), "no HAProxy");
    let log = up.stop();
    // Stopped: the log is the whole run. The controller ran; discovery and
    // the exporter, which log as they start serving, did not, nor did the
    // node agent or the ingress log anything.
    assert!(log.contains("controller stopped"), "{log}");
    for absent in [
        "discovery serving",
        "exporter serving",
        // The node agent's and the ingress's log target.
        "lastbackend_runtime",
    ] {
        assert!(!log.contains(absent), "{absent:?} in the log:\n{log}");
    }
    assert!(port_is_free(dns), "nothing is left on the DNS port {dns}");
}

/// Checks the token file `up` made: its token, mode 0600, owned by `uid`.
fn assert_token_file(file: &Path, token: &str, uid: u32) {
    let meta = std::fs::metadata(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "{}",
        file.display()
    );
    assert_eq!(meta.uid(), uid, "{}", file.display());
    let kept = std::fs::read_to_string(file).expect("the token file");
    assert_eq!(kept.trim(), token);
}

#[test]
fn as_root_the_data_dir_defaults_to_var_lib() {
    if !can_run() {
        return;
    }
    let log = tempfile::tempdir().expect("a temp dir");
    // A tmpfs on /var/lib seen by this `up` alone: the host's is untouched.
    let mut command = Command::new("unshare");
    command.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs lastbackend-test /var/lib && exec \"$@\"",
        "sh",
    ]);
    let command = up_command(Some(command), ",discovery", free_port());
    let up = Up::start(command, &log.path().join("up.log"));
    assert_eq!(up.data_dir, Path::new("/var/lib/lastbackend"));
    // The file as `up` sees it, through its own root.
    let token_file = PathBuf::from(format!(
        "/proc/{}/root/var/lib/lastbackend/token",
        up.child.id()
    ));
    assert_token_file(&token_file, &up.token, 0);
    up.stop();
}

#[test]
fn as_another_user_the_data_dir_is_the_users() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("home");
    let xdg = dir.path().join("xdg");
    for owned in [&home, &xdg] {
        std::fs::create_dir(owned).unwrap();
        std::os::unix::fs::chown(owned, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let nobody = |xdg: Option<&Path>| {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid",
                &NOBODY.to_string(),
                "--regid",
                &NOBODY.to_string(),
            ])
            .arg("--clear-groups")
            .env_clear()
            .env("HOME", &home)
            .env("PATH", "/usr/bin:/bin");
        if let Some(xdg) = xdg {
            command.env("XDG_DATA_HOME", xdg);
        }
        up_command(Some(command), ",discovery", free_port())
    };
    for (xdg, wanted) in [
        (None, home.join(".local/share/lastbackend")),
        (Some(xdg.as_path()), xdg.join("lastbackend")),
    ] {
        let up = Up::start(nobody(xdg), &dir.path().join("up.log"));
        assert_eq!(up.data_dir, wanted, "XDG_DATA_HOME {xdg:?}");
        assert!(
            up.names("/cluster/node").is_empty(),
            "the API answers as nobody"
        );
        assert_token_file(&wanted.join("token"), &up.token, NOBODY);
        up.stop();
    }
}
