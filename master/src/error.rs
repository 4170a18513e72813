//! The master crate's one error type, and how each variant travels as a gRPC status.

use std::path::PathBuf;

/// The result type of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the master.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed: says which field and why. gRPC: INVALID_ARGUMENT.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The request names a table (or family) that does not exist. gRPC: NOT_FOUND.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request would create something that exists. gRPC: ALREADY_EXISTS.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The request is well-formed but the state refuses it (a protected table, a server
    /// declared dead). gRPC: FAILED_PRECONDITION.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// Something needed is not there right now (a tablet not served, a server not
    /// answering); retrying later may work. gRPC: UNAVAILABLE.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A record of the master's own state does not decode. gRPC: INTERNAL.
    #[error("corrupt master state record {key}: {reason}")]
    Corruption {
        /// The record's key, escaped for display.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The master's state database failed. gRPC: INTERNAL.
    #[error("master state: {0}")]
    Engine(#[from] engine::Error),
    /// A file outside the state database (the lock file) failed.
    #[error("I/O error on {}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        reason: String,
    },
    /// A tablet server answered an RPC with an error.
    #[error("tablet server {address}: {code:?}: {message}")]
    Rpc {
        /// Where the server listens.
        address: String,
        /// The gRPC status code it answered.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
}

impl Error {
    /// An [`Error::InvalidArgument`] from anything printable.
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidArgument(msg.into())
    }

    /// An [`Error::Rpc`] from a status a server at `address` answered.
    pub fn rpc(address: &str, status: &tonic::Status) -> Error {
        Error::Rpc { address: address.to_string(), code: status.code(), message: status.message().to_string() }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> tonic::Status {
        let code = match &e {
            Error::InvalidArgument(_) => tonic::Code::InvalidArgument,
            Error::NotFound(_) => tonic::Code::NotFound,
            Error::AlreadyExists(_) => tonic::Code::AlreadyExists,
            Error::FailedPrecondition(_) => tonic::Code::FailedPrecondition,
            Error::Unavailable(_) => tonic::Code::Unavailable,
            // A tablet server's answer keeps its code, so a client can tell a refused drop
            // from one that may be retried.
            Error::Rpc { code, .. } => *code,
            Error::Corruption { .. } | Error::Engine(_) | Error::Io { .. } => tonic::Code::Internal,
        };
        tonic::Status::new(code, e.to_string())
    }
}
