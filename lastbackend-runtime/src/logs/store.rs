//! [`LogStore`]: container logs on disk, one file per pod and container,
//! with size-based rotation, retention and de-duplication by sequence.
//!
//! Layout under the work dir: `<pod selflink>/<container>.log` (the current
//! file), `<container>.log.1` … `.log.<retention>` (older, `.1` newest) and
//! `<container>.offsets` (the highest sequence per source held in files
//! rotated away). Each line of a file is a JSON [`StoredLine`].
//!
//! Durability: [`LogStore::append`] writes a batch, then `fdatasync`s every
//! file it touched before returning the acknowledgements, so an acknowledged
//! line survives a crash. What the exporter holds is known again at open:
//! the offsets file covers rotated files (it is written, synced and renamed
//! into place before each rotation) and the current file is scanned. A line
//! torn by a crash (no newline yet) was never acknowledged; it is cut off at
//! open and its record comes again from the shipper.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Ack, LogRecord, SourceKey, StreamKind};

/// Where and how much the store keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreConfig {
    /// The work dir.
    pub dir: PathBuf,
    /// A file is rotated before a line would take it over this many bytes
    /// (a single longer line gets a file of its own).
    pub rotate_bytes: u64,
    /// How many rotated files are kept per container; older ones are
    /// deleted. A container holds at most `rotate_bytes × (retention + 1)`.
    pub retention: usize,
}

impl StoreConfig {
    /// Keeps files under `dir`, rotating at `rotate_bytes`, keeping
    /// `retention` rotated files.
    pub fn new(dir: impl Into<PathBuf>, rotate_bytes: u64, retention: usize) -> Self {
        Self {
            dir: dir.into(),
            rotate_bytes,
            retention,
        }
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A pod selflink or container name cannot name a file.
    #[error("invalid {what} {name:?}: it must be non-empty, without `/`, and not start with `.`")]
    InvalidName {
        /// `pod` or `container`.
        what: &'static str,
        /// The name given.
        name: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One line as kept on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLine {
    /// When the node read it.
    pub time: DateTime<Utc>,
    /// Its stream.
    pub stream: StreamKind,
    /// The container's runtime id.
    pub source: String,
    /// Its number within the source.
    pub seq: u64,
    /// The text.
    pub line: String,
}

/// A line just stored, for followers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveLine {
    /// The pod's selflink.
    pub pod: String,
    /// The container.
    pub container: String,
    /// The line.
    pub line: StoredLine,
}

/// What [`LogStore::append`] did.
#[derive(Debug, Default)]
pub struct Appended {
    /// Per source, the highest sequence now held (sent back as acks).
    pub acks: Vec<Ack>,
    /// The new lines, in order.
    pub lines: Vec<LiveLine>,
    /// Records dropped because they were held already.
    pub duplicates: usize,
}

/// The logs of every pod and container under one work dir.
pub struct LogStore {
    config: StoreConfig,
    open: HashMap<(String, String), ContainerLog>,
}

/// The current file of one container and what it holds.
struct ContainerLog {
    dir: PathBuf,
    container: String,
    file: File,
    size: u64,
    held: BTreeMap<String, u64>,
}

fn check_name(what: &'static str, name: &str) -> Result<(), StoreError> {
    if name.is_empty() || name.contains('/') || name.contains('\0') || name.starts_with('.') {
        return Err(StoreError::InvalidName {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

impl ContainerLog {
    fn path(&self, generation: usize) -> PathBuf {
        log_path(&self.dir, &self.container, generation)
    }

    fn open(dir: PathBuf, container: &str) -> Result<Self, StoreError> {
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let offsets = dir.join(format!("{container}.offsets"));
        let mut held: BTreeMap<String, u64> = match fs::read(&offsets) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io_error(&offsets)(e)),
        };
        let path = log_path(&dir, container, 0);
        let mut size = 0;
        if let Ok(bytes) = fs::read(&path) {
            // Cut a line torn by a crash: it was never acknowledged.
            let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            for line in bytes[..whole].split(|b| *b == b'\n') {
                if let Ok(stored) = serde_json::from_slice::<StoredLine>(line) {
                    let seq = held.entry(stored.source).or_default();
                    *seq = (*seq).max(stored.seq);
                }
            }
            if whole < bytes.len() {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_error(&path))?;
                file.set_len(whole as u64).map_err(io_error(&path))?;
            }
            size = whole as u64;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        Ok(Self {
            dir,
            container: container.to_owned(),
            file,
            size,
            held,
        })
    }

    /// Moves the current file to `.1` (and older ones up, past `retention`
    /// deleted) after recording what it holds in the offsets file.
    fn rotate(&mut self, retention: usize) -> Result<(), StoreError> {
        let current = self.path(0);
        self.file.sync_data().map_err(io_error(&current))?;
        let offsets = self.dir.join(format!("{}.offsets", self.container));
        let staged = self.dir.join(format!("{}.offsets.new", self.container));
        let bytes = serde_json::to_vec(&self.held).map_err(|e| io_error(&staged)(e.into()))?;
        let mut file = File::create(&staged).map_err(io_error(&staged))?;
        file.write_all(&bytes).map_err(io_error(&staged))?;
        file.sync_data().map_err(io_error(&staged))?;
        fs::rename(&staged, &offsets).map_err(io_error(&offsets))?;
        let oldest = self.path(retention.max(1));
        match fs::remove_file(&oldest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&oldest)(e)),
        }
        if retention == 0 {
            fs::remove_file(&current).map_err(io_error(&current))?;
        } else {
            for generation in (0..retention).rev() {
                let from = self.path(generation);
                if from.exists() {
                    fs::rename(&from, self.path(generation + 1)).map_err(io_error(&from))?;
                }
            }
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(&self.dir))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&current)
            .map_err(io_error(&current))?;
        self.size = 0;
        Ok(())
    }
}

fn log_path(dir: &Path, container: &str, generation: usize) -> PathBuf {
    match generation {
        0 => dir.join(format!("{container}.log")),
        n => dir.join(format!("{container}.log.{n}")),
    }
}

impl LogStore {
    /// The store under `config.dir` (created if missing).
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        fs::create_dir_all(&config.dir).map_err(io_error(&config.dir))?;
        Ok(Self {
            config,
            open: HashMap::new(),
        })
    }

    /// The work dir.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    fn log(&mut self, pod: &str, container: &str) -> Result<&mut ContainerLog, StoreError> {
        let key = (pod.to_owned(), container.to_owned());
        if !self.open.contains_key(&key) {
            check_name("pod", pod)?;
            check_name("container", container)?;
            let log = ContainerLog::open(self.config.dir.join(pod), container)?;
            self.open.insert(key.clone(), log);
        }
        Ok(self.open.get_mut(&key).expect("inserted above"))
    }

    /// Writes the records not held yet, syncs the files, and answers what to
    /// acknowledge. A record whose names cannot be a file is dropped with a
    /// warning and acknowledged, so the shipper does not send it forever.
    pub fn append(&mut self, records: Vec<LogRecord>) -> Result<Appended, StoreError> {
        let mut appended = Appended::default();
        let mut touched: BTreeMap<SourceKey, u64> = BTreeMap::new();
        let (rotate_bytes, retention) = (self.config.rotate_bytes, self.config.retention);
        for record in records {
            let log = match self.log(&record.key.pod, &record.key.container) {
                Ok(log) => log,
                Err(error @ StoreError::InvalidName { .. }) => {
                    tracing::warn!(%error, "log record dropped");
                    touched.insert(record.key, record.seq);
                    continue;
                }
                Err(error) => return Err(error),
            };
            let held = log.held.get(&record.key.source).copied().unwrap_or(0);
            if record.seq <= held {
                appended.duplicates += 1;
                touched.insert(record.key, held);
                continue;
            }
            let stored = StoredLine {
                time: record.time,
                stream: record.stream,
                source: record.key.source.clone(),
                seq: record.seq,
                line: record.line,
            };
            let mut bytes = serde_json::to_vec(&stored).expect("a stored line serializes");
            bytes.push(b'\n');
            if log.size > 0 && log.size + bytes.len() as u64 > rotate_bytes {
                log.rotate(retention)?;
            }
            let path = log.path(0);
            log.file.write_all(&bytes).map_err(io_error(&path))?;
            log.size += bytes.len() as u64;
            log.held.insert(stored.source.clone(), stored.seq);
            touched.insert(record.key.clone(), stored.seq);
            appended.lines.push(LiveLine {
                pod: record.key.pod,
                container: record.key.container,
                line: stored,
            });
        }
        let mut synced = Vec::new();
        for key in touched.keys() {
            let pair = (key.pod.clone(), key.container.clone());
            if synced.contains(&pair) {
                continue;
            }
            if let Some(log) = self.open.get(&pair) {
                log.file.sync_data().map_err(io_error(&log.path(0)))?;
            }
            synced.push(pair);
        }
        appended.acks = touched
            .into_iter()
            .map(|(key, seq)| Ack { key, seq })
            .collect();
        Ok(appended)
    }

    /// The pods with logs whose selflink starts with `prefix`.
    pub fn pods(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let dir = &self.config.dir;
        let mut pods = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_error(dir))? {
            let entry = entry.map_err(io_error(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) && entry.path().is_dir() {
                pods.push(name);
            }
        }
        pods.sort();
        Ok(pods)
    }

    /// The containers of `pod` with logs.
    pub fn containers(&self, pod: &str) -> Result<Vec<String>, StoreError> {
        check_name("pod", pod)?;
        let dir = self.config.dir.join(pod);
        let mut containers = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(containers),
            Err(e) => return Err(io_error(&dir)(e)),
        };
        for entry in entries {
            let name = entry.map_err(io_error(&dir))?.file_name();
            if let Some(container) = name.to_string_lossy().strip_suffix(".log") {
                containers.push(container.to_owned());
            }
        }
        containers.sort();
        Ok(containers)
    }

    /// The last `tail` lines (all when `None`) of one container, oldest
    /// first, across its rotated files.
    pub fn read(
        &self,
        pod: &str,
        container: &str,
        tail: Option<usize>,
    ) -> Result<Vec<StoredLine>, StoreError> {
        check_name("pod", pod)?;
        check_name("container", container)?;
        let dir = self.config.dir.join(pod);
        let mut newest_first: Vec<Vec<StoredLine>> = Vec::new();
        let mut count = 0;
        for generation in 0..=self.config.retention {
            if tail.is_some_and(|n| count >= n) {
                break;
            }
            let path = log_path(&dir, container, generation);
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(io_error(&path)(e)),
            };
            let lines: Vec<StoredLine> = BufReader::new(file)
                .split(b'\n')
                .map_while(Result::ok)
                .filter_map(|line| serde_json::from_slice(&line).ok())
                .collect();
            count += lines.len();
            newest_first.push(lines);
        }
        let mut lines: Vec<StoredLine> = newest_first.into_iter().rev().flatten().collect();
        if let Some(n) = tail {
            lines.drain(..lines.len().saturating_sub(n));
        }
        Ok(lines)
    }

    /// Bytes on disk for one container, rotated files included.
    pub fn usage(&self, pod: &str, container: &str) -> u64 {
        let dir = self.config.dir.join(pod);
        (0..=self.config.retention + 1)
            .filter_map(|g| fs::metadata(log_path(&dir, container, g)).ok())
            .map(|m| m.len())
            .sum()
    }
}

#[cfg(test)]
mod tests;
