use std::fmt;

/// Why a runtime call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object the call names does not exist.
    #[error("{kind} {name} not found")]
    NotFound {
        /// What was looked for (`container`, `image`, `volume`, …).
        kind: &'static str,
        /// Its name or id.
        name: String,
    },
    /// The object exists already (a name is taken).
    #[error("{kind} {name} already exists")]
    Exists {
        /// What (`container`, …).
        kind: &'static str,
        /// Its name or id.
        name: String,
    },
    /// The driver does not offer this capability.
    #[error("{driver} does not support {what}")]
    Unsupported {
        /// The driver.
        driver: String,
        /// The capability.
        what: &'static str,
    },
    /// The input cannot be carried out as given (a bad image reference, a
    /// mount outside the volume, …); retrying will not help.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was wrong.
        what: String,
        /// Why.
        reason: String,
    },
    /// The backend (Docker, the kernel, the file system) failed; retrying may
    /// help.
    #[error("{driver}: {message}")]
    Backend {
        /// The driver.
        driver: String,
        /// What it said.
        message: String,
    },
}

impl Error {
    /// The named object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// The named object exists already.
    pub fn is_exists(&self) -> bool {
        matches!(self, Self::Exists { .. })
    }

    /// The driver lacks the capability.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported { .. })
    }

    /// A backend failure, worth retrying.
    pub fn is_backend(&self) -> bool {
        matches!(self, Self::Backend { .. })
    }

    /// A backend failure of `driver`, from anything printable.
    pub fn backend(driver: impl Into<String>, message: impl fmt::Display) -> Self {
        Self::Backend {
            driver: driver.into(),
            message: message.to_string(),
        }
    }

    /// A missing object.
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            name: name.into(),
        }
    }

    /// A capability `driver` lacks.
    pub fn unsupported(driver: impl Into<String>, what: &'static str) -> Self {
        Self::Unsupported {
            driver: driver.into(),
            what,
        }
    }
}

/// Result of a runtime call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
