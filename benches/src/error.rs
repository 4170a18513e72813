//! The driver's error type.

use std::path::PathBuf;

/// Everything that stops a `db_bench` run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A flag has a value the driver cannot use.
    #[error("invalid flag --{flag}: {reason}")]
    Flag {
        /// The flag's name, without dashes.
        flag: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The engine failed; `context` says during what.
    #[error("{context}: {source}")]
    Engine {
        /// What the driver was doing.
        context: String,
        /// The engine's error.
        #[source]
        source: engine::Error,
    },
    /// A file-system operation of the driver itself failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The database directory holds files that are not the engine's, so it is not removed.
    #[error("refusing to clear {path}: it holds {name:?}, which is not a database file (pass another --db)")]
    NotADatabase {
        /// The directory.
        path: PathBuf,
        /// The first foreign entry found.
        name: String,
    },
    /// Reaching or preparing the cluster failed (`cluster_bench`); `context` says during what.
    #[error("{context}: {reason}")]
    Cluster {
        /// What the driver was doing.
        context: String,
        /// What went wrong.
        reason: String,
    },
    /// A worker thread panicked (a bug in the driver).
    #[error("benchmark thread for {0} panicked")]
    ThreadPanicked(String),
}

impl BenchError {
    /// Wraps an engine error with what the driver was doing.
    pub fn engine(context: impl Into<String>, source: engine::Error) -> Self {
        BenchError::Engine { context: context.into(), source }
    }
}

/// The driver's result type.
pub type Result<T> = std::result::Result<T, BenchError>;
