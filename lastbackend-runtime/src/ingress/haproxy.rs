//! The HAProxy [`IngressDriver`](super::IngressDriver): routes of an
//! [`IngressManifest`](lastbackend_core::manifest::internal::IngressManifest)
//! become `haproxy.cfg`, checked with `haproxy -c`, written atomically and
//! loaded by a seamless reload of a supervised master-worker HAProxy.
//!
//! How routes map to HAProxy:
//! - one frontend per route port (80 when unset), bound on
//!   [`HaproxySettings::bind_address`] (and the interface, when set);
//! - HTTP routes: `use_backend` by Host (without its port, any case) and
//!   path prefix, longest prefix first, `/` last; a prefix `/api` matches
//!   `/api` and `/api/...`, not `/apix`;
//! - `tls.secret`: TLS terminated on the port with the secret's `tls.crt`
//!   and `tls.key` (HAProxy picks the certificate by SNI), then HTTP
//!   routing; `tls.passthrough`: TCP, chosen by SNI; `tcp`: plain TCP to
//!   the single rule's service;
//! - one backend per rule: the service's ready pods (the endpoint's
//!   upstreams) at the pod port behind the rule's service port, balanced
//!   round-robin with TCP health checks. The VIP is not used: HAProxy
//!   balances and checks the pods itself, one hop fewer. With no ready pod
//!   the backend has no server and answers 503, and the route's status says
//!   so.
//!
//! An invalid route (bad host, unknown service port, missing secret, a port
//! another route holds differently, or anything `haproxy -c` rejects, such
//! as a bad certificate) is left out and reported with the reason; the
//! others are served, so one bad route never takes the working ones down.

mod driver;
mod process;
mod render;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

pub use driver::Haproxy;
pub use process::Generation;

/// Why the driver could not do its part.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HAProxy binary could not be run.
    #[error("cannot run {exec}: {source} (install haproxy or set --haproxy-exec)")]
    Exec {
        /// The binary.
        exec: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Rendering failed (a bug: the renderer only formats checked values).
    #[error("rendering haproxy.cfg failed")]
    Render,
    /// Even the configuration without routes is rejected: the settings
    /// (stats credentials, paths) are wrong.
    #[error("haproxy rejects the base configuration: {0}")]
    Invalid(String),
    /// The master CLI could not be reached.
    #[error("haproxy master CLI {socket} ({command}): {source}")]
    MasterCli {
        /// The socket.
        socket: PathBuf,
        /// The command sent.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The reload did not happen or failed.
    #[error("haproxy reload: {0}")]
    Reload(String),
}

/// Where the stats page listens and who may read it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSettings {
    /// Bind address.
    pub address: IpAddr,
    /// Port (`/stats` there).
    pub port: u16,
    /// Basic-auth user and password; an open page when `None`.
    pub credentials: Option<(String, String)>,
}

impl StatsSettings {
    /// Stats on `address:port`, open.
    pub fn new(address: IpAddr, port: u16) -> Self {
        Self {
            address,
            port,
            credentials: None,
        }
    }

    /// Requires these credentials (the caller checked they have no spaces
    /// and the user no `:`).
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }
}

/// What the driver runs HAProxy with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HaproxySettings {
    /// The binary.
    pub exec: PathBuf,
    /// The configuration file; the master and admin sockets and the
    /// `certs/` directory live next to it.
    pub config_path: PathBuf,
    /// The pid file.
    pub pid_path: PathBuf,
    /// Where route ports listen.
    pub bind_address: IpAddr,
    /// Only on this interface (`SO_BINDTODEVICE`), when set.
    pub interface: Option<String>,
    /// The stats page; off when `None`.
    pub stats: Option<StatsSettings>,
    /// How long an old worker may finish its connections after a reload.
    pub hard_stop_after: Duration,
}

impl HaproxySettings {
    /// `exec` with its files in `dir`, routes on every address, no stats.
    pub fn new(exec: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            exec: exec.into(),
            config_path: dir.join("haproxy.cfg"),
            pid_path: dir.join("haproxy.pid"),
            bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            interface: None,
            stats: None,
            hard_stop_after: Duration::from_secs(30),
        }
    }

    fn dir(&self) -> PathBuf {
        self.config_path
            .parent()
            .map_or_else(|| PathBuf::from("."), ToOwned::to_owned)
    }

    /// The master CLI socket (`reload`, `show proc`).
    pub fn master_socket(&self) -> PathBuf {
        self.dir().join("haproxy-master.sock")
    }

    /// The admin socket, which also hands listeners to a new worker.
    pub fn admin_socket(&self) -> PathBuf {
        self.dir().join("haproxy-admin.sock")
    }

    /// Where the PEM files of TLS routes are written.
    pub fn certificates_dir(&self) -> PathBuf {
        self.dir().join("certs")
    }
}

#[cfg(test)]
mod tests;
