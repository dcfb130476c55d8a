//! CSI: volumes on the node, and the directories holding a pod's secret and
//! config files.

pub mod dir;

use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;

use crate::Result;

/// One file of a secret or config written into a volume.
#[derive(Clone, PartialEq, Eq)]
pub struct VolumeFile {
    /// Relative to the volume's root; never absolute, never `..`.
    pub path: String,
    /// Its content.
    pub data: Bytes,
    /// Its permission bits (`0o400` for secrets, `0o444` for configs).
    pub mode: u32,
}

impl std::fmt::Debug for VolumeFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secret content stays out of logs.
        f.debug_struct("VolumeFile")
            .field("path", &self.path)
            .field("len", &self.data.len())
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// A volume driver. Volumes are named by an id the agent derives from the
/// volume's selflink (or the pod's and the template volume's name for secret
/// and config files); ids are valid file names.
#[async_trait]
pub trait Csi: Send + Sync {
    /// The driver's name (`dir`).
    fn name(&self) -> &str;

    /// Makes sure the volume exists; returns the host path to mount.
    /// Idempotent.
    async fn create(&self, id: &str) -> Result<PathBuf>;

    /// Removes it and everything in it; removing a missing volume is not an
    /// error.
    async fn remove(&self, id: &str) -> Result<()>;

    /// The ids of every volume the driver holds.
    async fn list(&self) -> Result<Vec<String>>;

    /// Makes the volume hold exactly `files` (writing each atomically with its
    /// mode, removing files not listed), creating it if needed; returns its
    /// host path. Containers that mount it see the change in place.
    async fn write_files(&self, id: &str, files: &[VolumeFile]) -> Result<PathBuf>;
}
