//! The active master's exclusive lock, `<root>/master/MASTER.lock` (an `fs2` lock on an
//! open file): the operating system releases it when the holder exits, however it exits,
//! so a standby blocked on it takes over as soon as the active master is gone.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs2::FileExt;

use crate::error::{Error, Result};

/// File name of the lock, inside `<root>/master/`.
pub const LOCK_FILE: &str = "MASTER.lock";

/// Proof that this process is the active master of a data root; the lock is released
/// when this is dropped (or the process ends).
#[derive(Debug)]
pub struct MasterLock {
    file: File,
    path: PathBuf,
}

fn io(path: &Path, e: &std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), reason: e.to_string() }
}

fn open(root: &Path) -> Result<(File, PathBuf)> {
    let dir = root.join("master");
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, &e))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| io(&path, &e))?;
    Ok((file, path))
}

impl MasterLock {
    /// Takes the lock of data root `root` if no other master holds it; `None` if one does.
    pub fn try_acquire(root: &Path) -> Result<Option<MasterLock>> {
        let (file, path) = open(root)?;
        match file.try_lock_exclusive() {
            Ok(()) => Ok(Some(MasterLock { file, path })),
            Err(e) if e.kind() == fs2::lock_contended_error().kind() => Ok(None),
            Err(e) => Err(io(&path, &e)),
        }
    }

    /// Takes the lock of data root `root`, waiting (blocking the thread) while another
    /// master holds it.
    pub fn acquire(root: &Path) -> Result<MasterLock> {
        let (file, path) = open(root)?;
        file.lock_exclusive().map_err(|e| io(&path, &e))?;
        Ok(MasterLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for MasterLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes it immediate.
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let a = MasterLock::try_acquire(dir.path()).unwrap().expect("free");
        assert!(a.path().ends_with("master/MASTER.lock"));
        assert!(MasterLock::try_acquire(dir.path()).unwrap().is_none());
        drop(a);
        assert!(MasterLock::try_acquire(dir.path()).unwrap().is_some());
    }
}
