//! The crate's error taxonomy: each module has its own `thiserror` enum and
//! they roll up here. An error a peer caused becomes a wire answer where the
//! module that saw it can give one; what reaches this type is for operators.

use std::path::PathBuf;

/// Any failure the binary reports to its operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read or did not validate.
    #[error("config {path}: {message}")]
    Config {
        /// The file that was read (or the default name).
        path: PathBuf,
        /// What was wrong, with line and column where TOML gave them.
        message: String,
    },
    /// The database could not be reached, migrated or queried.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A listener could not be bound or a socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What the server was trying to do.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A command-line argument that parsed but makes no sense.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Wraps an I/O error with what was being attempted.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
