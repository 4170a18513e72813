//! The engine's one error type.
//!
//! Callers can tell the cases apart: corruption (with the file and offset), checksum
//! mismatches, I/O failures, invalid arguments, a database locked by another process, a
//! database that was closed, and a sticky background error that stops writes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The result type of every fallible engine call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
///
/// `Error` is `Clone` so that a background failure can be remembered and handed to every
/// later caller (the I/O source is kept behind an `Arc`).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes on disk do not form what the format says they must.
    #[error("corruption in {}{}: {reason}", file.display(), fmt_offset(*offset))]
    Corruption {
        /// The file that holds the bad bytes (empty when unknown).
        file: PathBuf,
        /// Byte offset in `file` of the damaged unit (block, record, edit), if known.
        offset: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// A CRC32C over a block or record did not match.
    #[error(
        "checksum mismatch in {}{}: expected {expected:#010x}, actual {actual:#010x}",
        file.display(),
        fmt_offset(*offset)
    )]
    ChecksumMismatch {
        /// The file that holds the bad bytes.
        file: PathBuf,
        /// Byte offset of the checksummed unit.
        offset: Option<u64>,
        /// The checksum stored on disk.
        expected: u32,
        /// The checksum of the bytes actually read.
        actual: u32,
    },
    /// An operating-system I/O call failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The caller passed something the engine cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The requested thing (a database, a file) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database directory is locked by another `Db` (in this or another process).
    #[error("database {} is locked by another process or handle", path.display())]
    Locked {
        /// The LOCK file.
        path: PathBuf,
    },
    /// The database has been closed.
    #[error("database is closed")]
    Closed,
    /// A background flush or compaction failed; the database refuses writes from then on.
    #[error("background error (database is read-only until reopened): {0}")]
    Background(Arc<Error>),
}

fn fmt_offset(offset: Option<u64>) -> String {
    match offset {
        Some(o) => format!(" at offset {o}"),
        None => String::new(),
    }
}

impl Error {
    /// A corruption error in `file` at `offset`.
    pub fn corruption(file: impl AsRef<Path>, offset: Option<u64>, reason: impl Into<String>) -> Self {
        Error::Corruption { file: file.as_ref().to_path_buf(), offset, reason: reason.into() }
    }

    /// An I/O error about `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source: Arc::new(source) }
    }

    /// True for corruption and checksum errors (also when wrapped as a background error).
    pub fn is_corruption(&self) -> bool {
        match self {
            Error::Corruption { .. } | Error::ChecksumMismatch { .. } => true,
            Error::Background(inner) => inner.is_corruption(),
            _ => false,
        }
    }

    /// True for I/O errors (also when wrapped as a background error).
    pub fn is_io(&self) -> bool {
        match self {
            Error::Io { .. } => true,
            Error::Background(inner) => inner.is_io(),
            _ => false,
        }
    }

    /// Fills in the file name of a corruption error raised by a decoder that did not know it.
    pub fn in_file(self, path: &Path) -> Self {
        match self {
            Error::Corruption { file, offset, reason } if file.as_os_str().is_empty() => {
                Error::Corruption { file: path.to_path_buf(), offset, reason }
            }
            Error::ChecksumMismatch { file, offset, expected, actual } if file.as_os_str().is_empty() => {
                Error::ChecksumMismatch { file: path.to_path_buf(), offset, expected, actual }
            }
            other => other,
        }
    }

    /// Adds `base` to the offset of a corruption error raised relative to a sub-range of a file.
    pub fn at_offset(self, base: u64) -> Self {
        match self {
            Error::Corruption { file, offset, reason } => {
                Error::Corruption { file, offset: Some(base + offset.unwrap_or(0)), reason }
            }
            Error::ChecksumMismatch { file, offset, expected, actual } => {
                Error::ChecksumMismatch { file, offset: Some(base + offset.unwrap_or(0)), expected, actual }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corruption_names_file_and_offset() {
        let e = Error::corruption("/db/000007.sst", Some(4096), "bad restart array");
        assert_eq!(e.to_string(), "corruption in /db/000007.sst at offset 4096: bad restart array");
        assert!(e.is_corruption());
        assert!(!e.is_io());
    }

    #[test]
    fn in_file_and_at_offset_fill_missing_context() {
        let e = Error::corruption("", Some(10), "x").in_file(Path::new("a.sst")).at_offset(100);
        match e {
            Error::Corruption { file, offset, .. } => {
                assert_eq!(file, PathBuf::from("a.sst"));
                assert_eq!(offset, Some(110));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn background_wraps_kind() {
        let e = Error::Background(Arc::new(Error::io("x", std::io::Error::other("disk"))));
        assert!(e.is_io());
        assert!(e.to_string().contains("disk"));
    }
}
