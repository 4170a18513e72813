//! The tool's one error type.

/// Everything that makes `sst-dump` exit non-zero.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine could not read a file (corruption, checksum mismatch, I/O); the message
    /// names the file and, for damage, the offset.
    #[error(transparent)]
    Engine(#[from] engine::Error),
    /// `--verify` found damage.
    #[error("verify failed: {0}")]
    Verify(engine::Error),
    /// `db --verify` found damaged files (each was reported in the output).
    #[error("verify failed: {failed} of {checked} files damaged; first: {first}")]
    VerifyDb {
        /// Files found damaged.
        failed: usize,
        /// Files checked.
        checked: usize,
        /// The first problem found.
        first: engine::Error,
    },
    /// A bad command-line value.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Writing the output failed (a closed pipe is not reported: see `main`).
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// The result type of the tool's commands.
pub type Result<T, E = Error> = std::result::Result<T, E>;
