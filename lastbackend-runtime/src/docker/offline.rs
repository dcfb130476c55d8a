//! The offline image: there is no registry to pull from in tests or a first
//! quick start, so an image is made from Debian's static busybox
//! (`busybox-static`): a root file system built in memory and imported as
//! `docker import` does.
//!
//! ```no_run
//! use lastbackend_runtime::docker::{DockerRuntime, offline};
//!
//! # async fn run() -> lastbackend_runtime::Result<()> {
//! let docker = DockerRuntime::connect().await?;
//! let image = offline::import_busybox(&docker, offline::BUSYBOX).await?;
//! println!("{} {:?}", image.id, image.tags);
//! # Ok(())
//! # }
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use bollard::query_parameters::CreateImageOptionsBuilder;
use bytes::Bytes;
use futures::StreamExt;
use tar::{EntryType, Header};

use super::{DRIVER, DockerRuntime, convert, image::split_reference, message};
use crate::{Cii, Error, ImageInfo, Result};

/// The reference tests and the quick start use for the offline image.
pub const BUSYBOX: &str = "lastbackend/busybox:offline";

/// Where Debian's `busybox-static` installs the binary.
pub const BUSYBOX_PATHS: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];

/// Applets linked into `/bin` even when `busybox --list` cannot run on the
/// host: what tests and examples rely on.
pub const APPLETS: &[&str] = &[
    "sh", "httpd", "nc", "wget", "nslookup", "sleep", "cat", "echo", "ls", "ps", "kill", "mkdir",
    "env", "hostname", "ip", "ping", "date", "true", "false", "tail", "head",
];

/// Makes sure `reference` names the offline busybox image, building and
/// importing it when absent; returns it.
///
/// Idempotent, and safe when several processes call it at once: they take
/// turns on a lock file in the temporary directory, and whoever comes second
/// finds the image. Without busybox-static installed this is
/// [`Error::Invalid`] saying so.
pub async fn import_busybox(docker: &DockerRuntime, reference: &str) -> Result<ImageInfo> {
    let (repository, tag) = split_reference(reference)?;
    if reference.contains('@') {
        return Err(convert::invalid(
            format!("image reference {reference:?}"),
            "a digest cannot be given to an imported image; use repository:tag",
        ));
    }
    if let Some(image) = present(docker, reference).await? {
        return Ok(image);
    }
    let _lock = tokio::task::spawn_blocking(lock)
        .await
        .map_err(|e| Error::backend(DRIVER, e))?;
    if let Some(image) = present(docker, reference).await? {
        return Ok(image);
    }
    let rootfs = tokio::task::spawn_blocking(|| rootfs(&find_busybox()?))
        .await
        .map_err(|e| Error::backend(DRIVER, e))??;
    let options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repository)
        .tag(tag.unwrap_or("latest"))
        .message("lastbackend offline busybox")
        .changes(vec![
            "ENV PATH=/bin:/usr/bin".to_owned(),
            r#"CMD ["sh"]"#.to_owned(),
        ])
        .build();
    let mut progress = docker
        .docker
        .create_image(Some(options), Some(bollard::body_full(rootfs)), None)
        .boxed();
    while let Some(item) = progress.next().await {
        item.map_err(|e| {
            Error::backend(DRIVER, format_args!("import {reference}: {}", message(&e)))
        })?;
    }
    docker.inspect(reference).await
}

async fn present(docker: &DockerRuntime, reference: &str) -> Result<Option<ImageInfo>> {
    match docker.inspect(reference).await {
        Ok(image) => Ok(Some(image)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// An exclusive lock across processes, released when the file is dropped.
/// Without one (an unwritable temporary directory) callers race, which only
/// costs a second import that moves the tag.
fn lock() -> Option<File> {
    let path = std::env::temp_dir().join("lastbackend-offline-image.lock");
    let file = File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .ok()?;
    file.lock().ok()?;
    Some(file)
}

/// The first static busybox found.
pub fn find_busybox() -> Result<PathBuf> {
    let missing = || {
        convert::invalid(
            "busybox",
            format!(
                "no static busybox at {}; install Debian's busybox-static \
                 (apt-get install busybox-static)",
                BUSYBOX_PATHS.join(" or ")
            ),
        )
    };
    let path = BUSYBOX_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .ok_or_else(missing)?;
    let binary = std::fs::read(&path).map_err(|e| Error::backend(DRIVER, e))?;
    if !is_static_elf(&binary) {
        return Err(convert::invalid(
            "busybox",
            format!(
                "{} is dynamically linked and would not run in an empty image; \
                 install Debian's busybox-static instead of busybox",
                path.display()
            ),
        ));
    }
    Ok(path)
}

/// A 64-bit little-endian ELF without a program interpreter.
fn is_static_elf(binary: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let read = |at: usize, len: usize| binary.get(at..at + len);
    let le = |bytes: &[u8]| bytes.iter().rev().fold(0u64, |n, &b| n << 8 | u64::from(b));
    if read(0, 6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return false;
    }
    let (Some(offset), Some(size), Some(count)) = (read(0x20, 8), read(0x36, 2), read(0x38, 2))
    else {
        return false;
    };
    let (offset, size, count) = (le(offset) as usize, le(size) as usize, le(count) as usize);
    (0..count)
        .all(|i| read(offset + i * size, 4).is_some_and(|kind| le(kind) != u64::from(PT_INTERP)))
}

/// The image's root file system as a tar archive.
fn rootfs(busybox: &Path) -> Result<Bytes> {
    let binary = std::fs::read(busybox).map_err(|e| Error::backend(DRIVER, e))?;
    let mut applets: Vec<String> = APPLETS.iter().map(|&a| a.to_owned()).collect();
    applets.extend(listed_applets(busybox));
    applets.sort();
    applets.dedup();

    let io = |e: std::io::Error| Error::backend(DRIVER, format_args!("building the image: {e}"));
    let mut tar = tar::Builder::new(Vec::new());
    for (dir, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("home", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("run", 0o755),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("var", 0o755),
        ("www", 0o755),
    ] {
        let mut header = entry_header(EntryType::Directory, mode, 0);
        tar.append_data(&mut header, dir, std::io::empty())
            .map_err(io)?;
    }
    let mut header = entry_header(EntryType::Regular, 0o755, binary.len());
    tar.append_data(&mut header, "bin/busybox", binary.as_slice())
        .map_err(io)?;
    let links = applets
        .iter()
        .filter(|applet| applet.as_str() != "busybox")
        .map(|applet| (format!("bin/{applet}"), "busybox"))
        .chain([("usr/bin/env".to_owned(), "/bin/busybox")]);
    for (path, target) in links {
        let mut header = entry_header(EntryType::Symlink, 0o777, 0);
        tar.append_link(&mut header, path, target).map_err(io)?;
    }
    for (path, content) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ] {
        let mut header = entry_header(EntryType::Regular, 0o644, content.len());
        tar.append_data(&mut header, path, content.as_bytes())
            .map_err(io)?;
    }
    Ok(Bytes::from(tar.into_inner().map_err(io)?))
}

fn entry_header(kind: EntryType, mode: u32, size: usize) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size as u64);
    header.set_uid(0);
    header.set_gid(0);
    // A fixed time keeps the layer's content the same on every host.
    header.set_mtime(0);
    header
}

/// What the binary says it can be called as; nothing when it cannot run on
/// this host (the image still gets [`APPLETS`]).
fn listed_applets(busybox: &Path) -> Vec<String> {
    let Ok(output) = Command::new(busybox).arg("--list").output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
