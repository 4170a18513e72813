//! The file-system seam: every byte the engine reads or writes goes through [`Fs`].
//!
//! [`PosixFs`] is the real thing. [`MemFs`] keeps files in memory and models a machine
//! crash precisely (unsynced bytes are dropped, directory entries not made durable by a
//! directory sync vanish), and it can inject I/O errors on write, sync, rename, create and
//! read; the recovery and fault tests run the whole engine on it.
//!
//! # Durability contract the engine relies on
//! - `WritableFile::flush` hands buffered bytes to the OS: they survive a process crash.
//! - `WritableFile::sync` makes the file's bytes durable: they survive a machine crash.
//! - A file's *name* (its creation, a rename, a removal) is durable only after
//!   `Fs::sync_dir` on its parent directory.

mod mem;
mod posix;

pub use mem::{FaultOp, MemFs};
pub use posix::PosixFs;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Result;

/// A file opened for appending. Not shared between threads.
pub trait WritableFile: Send {
    /// Appends `data` (possibly buffered in user space until `flush`).
    fn append(&mut self, data: &[u8]) -> Result<()>;
    /// Hands all buffered bytes to the OS (survives a process crash).
    fn flush(&mut self) -> Result<()>;
    /// Flushes, then makes the file's contents durable (survives a machine crash).
    fn sync(&mut self) -> Result<()>;
    /// Reserves space so the file holds at least `len` bytes, zero-filled past what was
    /// appended (the file's size may grow). Appends keep going at the append position and
    /// overwrite the zeros. Syncing an append inside reserved space need not update the file
    /// size, which makes `sync` much cheaper on most file systems. The default does nothing.
    fn preallocate(&mut self, len: u64) -> Result<()> {
        let _ = len;
        Ok(())
    }
    /// Asks the OS to start writing what was handed to it (by `flush`) to the device,
    /// without waiting for it, so that a later `sync` has little left to do. No durability
    /// promise: only `sync` makes data durable. The default does nothing.
    fn start_writeback(&mut self) -> Result<()> {
        Ok(())
    }
    /// Bytes appended so far (buffered or not).
    fn len(&self) -> u64;
    /// True when nothing has been appended.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file read at arbitrary offsets; safe to share between threads.
pub trait RandomAccessFile: Send + Sync {
    /// Fills `buf` with the bytes at `offset`; reading past the end is an error.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// The file's size when it was opened.
    fn size(&self) -> u64;
}

/// A file read from start to end.
pub trait SequentialFile: Send {
    /// Reads up to `buf.len()` bytes; `Ok(0)` at the end of the file.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize>;
}

/// An exclusive lock on a file, released on drop.
pub trait FileLock: Send + Sync {}

/// A file system.
pub trait Fs: Send + Sync + 'static {
    /// Creates (or truncates) `path` for writing.
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>>;
    /// Opens an existing file for appending at its end (used to reuse a WAL).
    fn reopen_for_append(&self, path: &Path) -> Result<Box<dyn WritableFile>>;
    /// Opens `path` for reads at arbitrary offsets.
    fn open_random(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>>;
    /// Opens `path` for one pass from the start.
    fn open_sequential(&self, path: &Path) -> Result<Box<dyn SequentialFile>>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> Result<()>;
    /// Makes a second name for a file (a hard link).
    fn hard_link(&self, from: &Path, to: &Path) -> Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> Result<()>;
    /// Names (not paths) of the entries of a directory.
    fn list_dir(&self, path: &Path) -> Result<Vec<String>>;
    /// True if `path` names a file or directory.
    fn exists(&self, path: &Path) -> bool;
    /// The size of a file.
    fn file_size(&self, path: &Path) -> Result<u64>;
    /// Makes the entries of directory `path` durable.
    fn sync_dir(&self, path: &Path) -> Result<()>;
    /// Takes an exclusive lock on `path` (created if missing); fails with
    /// [`crate::Error::Locked`] if another holder has it.
    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>>;
}

/// Reads a whole file.
pub fn read_all(fs: &dyn Fs, path: &Path) -> Result<Vec<u8>> {
    let mut f = fs.open_sequential(path)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
}

/// Writes `data` to `path` durably and atomically: write a temporary file, sync it, rename it
/// over `path`, sync the directory.
pub fn write_atomically(fs: &dyn Fs, path: &Path, data: &[u8]) -> Result<()> {
    let tmp = temp_name(path);
    let mut f = fs.create(&tmp)?;
    f.append(data)?;
    f.sync()?;
    drop(f);
    fs.rename(&tmp, path)?;
    fs.sync_dir(parent_dir(path))
}

/// Creates directory `path` and any missing parents, and makes each new entry durable
/// (fsyncs the parent of every directory it created, deepest last).
pub fn create_dir_all_durably(fs: &dyn Fs, path: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut p = Some(path);
    while let Some(d) = p {
        if d.as_os_str().is_empty() || fs.exists(d) {
            break;
        }
        missing.push(d);
        p = d.parent();
    }
    fs.create_dir_all(path)?;
    for d in missing.iter().rev() {
        fs.sync_dir(parent_dir(d))?;
    }
    Ok(())
}

fn temp_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".dbtmp");
    PathBuf::from(s)
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
