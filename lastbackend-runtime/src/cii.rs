//! CII: the image store a container runtime reads from.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;

/// Credentials for a private registry (read from a secret).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RegistryAuth {
    /// The registry (`registry.example.com:5000`); the image's when `None`.
    pub server: Option<String>,
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// An image in the local store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageInfo {
    /// The store's id (`sha256:…`).
    pub id: String,
    /// Its references (`busybox:latest`).
    pub tags: Vec<String>,
    /// Its size in bytes.
    pub size: u64,
    /// When it was built.
    pub created: Option<DateTime<Utc>>,
}

/// An image store.
#[async_trait]
pub trait Cii: Send + Sync {
    /// The driver's name.
    fn name(&self) -> &str;

    /// Pulls `reference` from its registry, with `auth` when given; returns
    /// the stored image.
    async fn pull(&self, reference: &str, auth: Option<&RegistryAuth>) -> Result<ImageInfo>;

    /// Every stored image.
    async fn list(&self) -> Result<Vec<ImageInfo>>;

    /// One stored image; [`Error::NotFound`](crate::Error::NotFound) when
    /// absent.
    async fn inspect(&self, reference: &str) -> Result<ImageInfo>;

    /// Removes it.
    async fn remove(&self, reference: &str, force: bool) -> Result<()>;
}
