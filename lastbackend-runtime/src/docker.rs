//! The Docker driver: [`DockerRuntime`] implements [`Cri`](crate::Cri) and
//! [`Cii`](crate::Cii) over the Docker Engine API (bollard), and
//! [`offline::import_busybox`] makes the small image every Docker test runs.
//!
//! ```no_run
//! use std::sync::Arc;
//! use lastbackend_runtime::docker::DockerRuntime;
//! use lastbackend_runtime::{Cii, Cri};
//!
//! # async fn run() -> lastbackend_runtime::Result<()> {
//! let docker = DockerRuntime::connect().await?;
//! let cri: Arc<dyn Cri> = Arc::new(docker.clone());
//! let cii: Arc<dyn Cii> = Arc::new(docker);
//! println!("{} {}", cri.version().await?, cii.list().await?.len());
//! # Ok(())
//! # }
//! ```

mod container;
mod convert;
mod image;
mod network;
pub mod offline;
mod stream;

use bollard::Docker;
use bollard::errors::Error as BollardError;

use crate::{Error, Result};

/// The bollard crate, for [`DockerRuntime::client`] and
/// [`DockerRuntime::from_client`].
pub use bollard;

/// The driver's name in errors and node status.
pub const DRIVER: &str = "docker";

/// A Docker Engine, as CRI and CII. Clones share one connection pool.
#[derive(Clone, Debug)]
pub struct DockerRuntime {
    docker: Docker,
}

impl DockerRuntime {
    /// Connects to `DOCKER_HOST` (`unix://`, `tcp://`) or else the local
    /// socket `/var/run/docker.sock`, and settles on the API version the
    /// engine speaks (older engines such as 20.10 speak 1.41).
    pub async fn connect() -> Result<Self> {
        let docker = Docker::connect_with_defaults().map_err(|e| {
            Error::backend(
                DRIVER,
                format_args!("cannot connect to the engine (check DOCKER_HOST): {e}"),
            )
        })?;
        Self::from_client(docker).await
    }

    /// Wraps a configured bollard client, negotiating its API version.
    pub async fn from_client(docker: Docker) -> Result<Self> {
        let docker = docker.negotiate_version().await.map_err(|e| {
            Error::backend(
                DRIVER,
                format_args!("engine unreachable or too old (API 1.41 or later needed): {e}"),
            )
        })?;
        Ok(Self { docker })
    }

    /// Fails unless the engine speaks API `major.minor` or later, for a
    /// node that needs a newer engine than the oldest one it can talk to.
    pub fn require_api_version(&self, major: usize, minor: usize) -> Result<()> {
        let version = self.docker.client_version();
        let have = (version.major_version, version.minor_version);
        if have < (major, minor) {
            return Err(Error::backend(
                DRIVER,
                format_args!(
                    "the engine speaks API {}.{}, older than {major}.{minor}",
                    have.0, have.1
                ),
            ));
        }
        Ok(())
    }

    /// The bollard client, for what the traits do not cover.
    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

/// Maps a bollard error on the object `kind` named `name`: a 404 naming it
/// is [`Error::NotFound`], everything else [`Error::Backend`], including a
/// 404 about something else (starting a container whose network is gone).
/// Calls where a 409 means a taken name map it themselves.
fn error<'a>(kind: &'static str, name: &'a str) -> impl FnOnce(BollardError) -> Error + 'a {
    move |e| match e {
        BollardError::DockerResponseServerError {
            status_code: 404,
            message,
        } if message.ends_with(&format!(": {name}")) => Error::not_found(kind, name),
        e => Error::backend(DRIVER, format_args!("{kind} {name}: {}", message(&e))),
    }
}

/// The engine's own message when it sent one, else bollard's.
fn message(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => format!("{message} (HTTP {status_code})"),
        BollardError::DockerStreamError { error } => error.clone(),
        e => e.to_string(),
    }
}

fn is_status(e: &BollardError, status: u16) -> bool {
    matches!(e, BollardError::DockerResponseServerError { status_code, .. } if *status_code == status)
}
