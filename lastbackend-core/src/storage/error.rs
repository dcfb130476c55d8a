use super::{LeaseId, Revision};

/// A boxed source error from a backend's client library.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result of a storage operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a storage operation failed. Ask with the `is_*` methods rather than by
/// matching: new variants may come.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key does not exist.
    #[error("entity not found: {key}")]
    NotFound {
        /// The key.
        key: String,
    },
    /// The key exists already (create only).
    #[error("entity exists: {key}")]
    Exists {
        /// The key.
        key: String,
    },
    /// The key is not at the expected revision: somebody wrote it first.
    #[error("conflict on {key}: expected revision {expected}, found {actual}")]
    Conflict {
        /// The key.
        key: String,
        /// The revision the caller expected.
        expected: Revision,
        /// The key's actual `mod_revision` (`0` when missing).
        actual: Revision,
    },
    /// The history needed to watch after `requested` is gone; list again.
    #[error("revision {requested} is compacted (oldest kept: {compacted}); list again")]
    Compacted {
        /// The revision the caller asked to watch after.
        requested: Revision,
        /// The oldest revision the backend can still replay from.
        compacted: Revision,
    },
    /// The lease has ended or never existed.
    #[error("lease {lease} not found")]
    LeaseNotFound {
        /// The lease.
        lease: LeaseId,
    },
    /// The request itself is wrong (empty key, a key twice in a transaction).
    #[error("invalid storage request: {0}")]
    Invalid(String),
    /// A stored value cannot be read as the object its key names.
    #[error("corrupt value at {key}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What the decoder said.
        reason: String,
    },
    /// The backend cannot be reached or failed; retrying later may succeed.
    #[error("storage unavailable ({backend}): {source}")]
    Unavailable {
        /// Which backend.
        backend: &'static str,
        /// What its client said.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// The key (or lease) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. } | Self::LeaseNotFound { .. })
    }

    /// A create found the key already there.
    pub fn is_exists(&self) -> bool {
        matches!(self, Self::Exists { .. })
    }

    /// A compare-and-swap lost against another writer.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    /// A watch cannot resume: list again.
    pub fn is_compacted(&self) -> bool {
        matches!(self, Self::Compacted { .. })
    }

    /// The backend is down or unreachable: retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// Wraps a backend client error.
    pub fn unavailable(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            backend,
            source: source.into(),
        }
    }
}
