//! The tablet crate's one error type.
//!
//! Callers (the server, later) map the variants to gRPC codes: `InvalidArgument` to
//! INVALID_ARGUMENT, `NotFound` to NOT_FOUND, `RowOutOfRange` to the "not serving this row"
//! answer that makes a client refresh its tablet locations, `Corruption` and `Engine` to
//! INTERNAL (or the engine's own classification), `NotServing` to UNAVAILABLE with the
//! "not serving" marker of `docs/cluster.md`, `StaleEpoch` to FAILED_PRECONDITION.
//! `InvalidChunk` arises on the client side only (a server's response stream that breaks
//! the ReadRows chunk rules).

/// The result type of every fallible call in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the data model and the tablet.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed: says what and where (which mutation, which field).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The request names something that does not exist (a column family).
    #[error("not found: {0}")]
    NotFound(String),
    /// The row is outside the tablet's range `[start, end)` (empty `end`: unbounded).
    #[error(
        "row {} is not in this tablet's range [{}, {})",
        crate::keys::escape_for_display(row),
        crate::keys::escape_for_display(start),
        if end.is_empty() { "<end of table>".to_string() } else { crate::keys::escape_for_display(end) }
    )]
    RowOutOfRange {
        /// The row asked for.
        row: Vec<u8>,
        /// The tablet's first row (inclusive).
        start: Vec<u8>,
        /// The tablet's end row (exclusive); empty for the end of the table.
        end: Vec<u8>,
    },
    /// The tablet no longer takes writes here (it was split; later also: moved, lease
    /// lost). The caller refreshes its idea of where the row lives and retries there.
    #[error("not serving: {reason}")]
    NotServing {
        /// Why, and where to go.
        reason: String,
    },
    /// A tablet was to be loaded at an epoch older than one already on disk: another
    /// server was assigned the tablet since (`docs/cluster.md`, fencing).
    #[error("stale epoch: tablet {tablet} was asked for at epoch {requested}, but the newer epoch {newest} exists")]
    StaleEpoch {
        /// `<table_id>/<tablet_id>`.
        tablet: String,
        /// The epoch asked for.
        requested: u64,
        /// The newest epoch found on disk.
        newest: u64,
    },
    /// A stored key does not decode as a cell key.
    #[error("corrupt cell key {}: {reason}", crate::keys::escape_for_display(key))]
    Corruption {
        /// The engine key that failed to decode.
        key: Vec<u8>,
        /// What is wrong with it, with the byte offset.
        reason: String,
    },
    /// A `ReadRows` response stream broke a rule of the chunk protocol (found on the client
    /// side by [`crate::reassemble::ChunkMerger`]). `chunk` counts chunks from 0 over the
    /// whole stream; for a rule about the stream's end or `last_scanned_row_key`, it is the
    /// number of chunks received.
    #[error("invalid ReadRows chunk {chunk}: {rule}: {detail}")]
    InvalidChunk {
        /// Index of the offending chunk in the stream.
        chunk: u64,
        /// The rule broken.
        rule: crate::reassemble::ChunkRule,
        /// What the chunk held, and the row it was in.
        detail: String,
    },
    /// The engine failed (I/O, corruption on disk, closed database...).
    #[error(transparent)]
    Engine(#[from] engine::Error),
}

impl Error {
    /// An [`Error::InvalidArgument`] from anything printable.
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidArgument(msg.into())
    }
}
