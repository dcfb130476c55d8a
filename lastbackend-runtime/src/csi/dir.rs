//! The `dir` volume driver: each volume is a directory
//! `<root>/volumes/<id>` on the node (root: `--container-storage-root`,
//! default [`DEFAULT_ROOT`]), bind-mounted into containers.
//!
//! Files of secrets and configs are written atomically (a temporary file in
//! the same directory renamed over the old one), so a container that mounts
//! the volume sees either the old or the new content, never a torn write.
//!
//! ```no_run
//! use lastbackend_runtime::csi::dir::DirCsi;
//! use lastbackend_runtime::{Csi, VolumeFile};
//!
//! # async fn run() -> lastbackend_runtime::Result<()> {
//! let csi = DirCsi::new("/var/run/lastbackend");
//! let file = VolumeFile { path: "db/password".into(), data: "s3cret".into(), mode: 0o400 };
//! let host_path = csi.write_files("demo_db-secret", &[file]).await?;
//! println!("mount {}", host_path.display());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::{Csi, Error, Result, VolumeFile};

/// The driver's name.
pub const DRIVER: &str = "dir";

/// The container storage root when none is configured.
pub const DEFAULT_ROOT: &str = "/var/run/lastbackend";

/// Volumes as directories under a root.
#[derive(Clone, Debug)]
pub struct DirCsi {
    volumes: PathBuf,
}

impl DirCsi {
    /// A driver keeping its volumes under `<root>/volumes`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            volumes: root.into().join("volumes"),
        }
    }

    /// The host path of volume `id` (whether or not it exists).
    pub fn path(&self, id: &str) -> Result<PathBuf> {
        let plain = !id.is_empty()
            && id != "."
            && id != ".."
            && !id.contains(['/', '\0'])
            && !id.starts_with(TEMP_PREFIX);
        if !plain {
            return Err(invalid(
                "volume id",
                format!("{id:?} is not a plain file name"),
            ));
        }
        Ok(self.volumes.join(id))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        what: String,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> Result<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Error::backend(DRIVER, e))?
            .map_err(|e| Error::backend(DRIVER, format_args!("{what}: {e}")))
    }
}

#[async_trait]
impl Csi for DirCsi {
    fn name(&self) -> &str {
        DRIVER
    }

    async fn create(&self, id: &str) -> Result<PathBuf> {
        let path = self.path(id)?;
        let dir = path.clone();
        self.blocking(format!("create volume {}", path.display()), move || {
            fs::create_dir_all(&dir)
        })
        .await?;
        Ok(path)
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let path = self.path(id)?;
        self.blocking(
            format!("remove volume {}", path.display()),
            move || match fs::remove_dir_all(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                result => result,
            },
        )
        .await
    }

    async fn list(&self) -> Result<Vec<String>> {
        let volumes = self.volumes.clone();
        self.blocking(format!("list {}", volumes.display()), move || {
            let entries = match fs::read_dir(&volumes) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                entries => entries?,
            };
            let mut ids = Vec::new();
            for entry in entries {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    ids.extend(entry.file_name().to_str().map(str::to_owned));
                }
            }
            ids.sort();
            Ok(ids)
        })
        .await
    }

    async fn write_files(&self, id: &str, files: &[VolumeFile]) -> Result<PathBuf> {
        let root = self.path(id)?;
        let mut listed = BTreeSet::new();
        for file in files {
            let path = relative_path(&file.path)?;
            if file.mode > 0o7777 {
                return Err(invalid(
                    format!("mode of {}", file.path),
                    format!("{:o} has bits beyond 0o7777", file.mode),
                ));
            }
            if !listed.insert(path) {
                return Err(invalid("files", format!("{} is listed twice", file.path)));
            }
        }
        let files = files.to_vec();
        let dir = root.clone();
        self.blocking(format!("write volume {}", root.display()), move || {
            fs::create_dir_all(&dir)?;
            prune(&dir, Path::new(""), &listed)?;
            for file in &files {
                write_atomically(&dir.join(&file.path), &file.data, file.mode)?;
            }
            Ok(())
        })
        .await?;
        Ok(root)
    }
}

/// A path inside the volume: relative, plain names only (checked on the
/// string: `Path` would quietly drop a `.` or a doubled `/`).
fn relative_path(path: &str) -> Result<PathBuf> {
    let plain = !path.is_empty()
        && !path.contains('\0')
        && path.split('/').all(|name| {
            !name.is_empty() && name != "." && name != ".." && !name.starts_with(TEMP_PREFIX)
        });
    if !plain {
        return Err(invalid(
            format!("file path {path:?}"),
            "must be relative, without '..', '.' or empty names, and not start with .lb-tmp",
        ));
    }
    Ok(PathBuf::from(path))
}

/// Removes from `dir` (at `relative` inside the volume) every file, symlink
/// and now empty directory that no listed path needs, and whatever stands
/// where a listed file goes. Symlinks are never followed: a container that
/// mounts the volume read-write must not make the node write outside it.
fn prune(dir: &Path, relative: &Path, listed: &BTreeSet<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let inside = relative.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() && !listed.contains(&inside) {
            prune(&path, &inside, listed)?;
            if !listed.iter().any(|file| file.starts_with(&inside)) {
                fs::remove_dir(&path)?;
            }
        } else if kind.is_dir() {
            fs::remove_dir_all(&path)?;
        } else if !kind.is_file() || !listed.contains(&inside) {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Names temporary files; never a listed path.
const TEMP_PREFIX: &str = ".lb-tmp";

fn write_atomically(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let parent = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent)?;
    let temp = parent.join(format!(
        "{TEMP_PREFIX}.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::File::options()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(data)?;
        // Set after creation: the umask would mask bits given at open.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests;
