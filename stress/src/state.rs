//! The expected state, kept outside the database so it survives a SIGKILL of the writer.
//!
//! # Layout
//! One file per writer thread, `thread-NN.state`, holding one 16-byte slot per key of that
//! thread (keys are partitioned: each key has exactly one writer):
//!
//! ```text
//! slot i at byte 16*i:  +----------------+----------------+
//!                       | acked   (u64le)| pending (u64le)|
//!                       +----------------+----------------+
//! ```
//!
//! Each word encodes what the key holds as `version << 1 | absent`: a put of version `v`
//! is `v << 1`, a delete at version `v` is `v << 1 | 1`, and 0 (version 0, "present") is
//! never written — a fresh file of zeros reads as "never written", which we also treat as
//! absent (see [`Word::absent`]). Versions are per thread, strictly increasing, never reused.
//!
//! # Protocol (per operation, single-key or batch)
//! 1. For every key of the operation: write `pending = new` (one 8-byte `pwrite`).
//! 2. Write to the database; wait for the acknowledgement.
//! 3. For every key: write `acked = new`.
//!
//! The writes are plain `pwrite`s into the page cache: a SIGKILL cannot undo a completed
//! system call, so after a process crash the files hold every step that was reached. (A
//! machine crash is tested in-process on `MemFs`, where this file is not needed.)
//!
//! After a crash the verifier allows, per key, exactly `{acked, pending}`. Keys whose
//! `pending != acked` all belong to the one operation the thread had in flight, so they
//! must agree: all show the new value or all the old one (a batch is all-or-nothing).
//! The verifier then rewrites `acked = pending = observed` so the next run starts clean.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One encoded expected value: `version << 1 | absent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word(pub u64);

impl Word {
    /// A put of `version`.
    pub fn put(version: u64) -> Word {
        Word(version << 1)
    }
    /// A delete at `version`.
    pub fn delete(version: u64) -> Word {
        Word(version << 1 | 1)
    }
    /// The version this word was written at (0 for "never written").
    pub fn version(self) -> u64 {
        self.0 >> 1
    }
    /// True if the key must be missing from the database.
    pub fn absent(self) -> bool {
        self.0 & 1 == 1 || self.0 == 0
    }
    /// True if `observed` (a version read back, or `None` for a missing key) is this word.
    pub fn matches(self, observed: Option<u64>) -> bool {
        match observed {
            None => self.absent(),
            Some(v) => !self.absent() && v == self.version(),
        }
    }
}

const SLOT: u64 = 16;

/// The expected-state file of one writer thread.
pub struct ThreadState {
    file: File,
    path: PathBuf,
    keys: u64,
}

impl ThreadState {
    /// Opens (creating and sizing if needed) the state file of thread `t` in `dir`.
    pub fn open(dir: &Path, t: u32, keys: u64) -> Result<ThreadState, String> {
        let path = dir.join(format!("thread-{t:02}.state"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let len = file.metadata().map_err(|e| format!("{}: {e}", path.display()))?.len();
        if len == 0 {
            file.set_len(keys * SLOT).map_err(|e| format!("{}: {e}", path.display()))?;
        } else if len != keys * SLOT {
            return Err(format!(
                "{}: {len} bytes, expected {} for {keys} keys (different --keys than the run that made it?)",
                path.display(),
                keys * SLOT
            ));
        }
        Ok(ThreadState { file, path, keys })
    }

    /// Keys of this thread.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    fn read_word(&self, at: u64) -> Result<Word, String> {
        let mut b = [0u8; 8];
        self.file.read_exact_at(&mut b, at).map_err(|e| format!("{}: read at {at}: {e}", self.path.display()))?;
        Ok(Word(u64::from_le_bytes(b)))
    }

    fn write_word(&self, at: u64, w: Word) -> Result<(), String> {
        self.file
            .write_all_at(&w.0.to_le_bytes(), at)
            .map_err(|e| format!("{}: write at {at}: {e}", self.path.display()))
    }

    /// `(acked, pending)` of key `i`.
    pub fn get(&self, i: u64) -> Result<(Word, Word), String> {
        Ok((self.read_word(i * SLOT)?, self.read_word(i * SLOT + 8)?))
    }

    /// Step 1 of the protocol: key `i` is about to become `w`.
    pub fn set_pending(&self, i: u64, w: Word) -> Result<(), String> {
        self.write_word(i * SLOT + 8, w)
    }

    /// Step 3 of the protocol: key `i` is acknowledged as `w`.
    pub fn set_acked(&self, i: u64, w: Word) -> Result<(), String> {
        self.write_word(i * SLOT, w)
    }

    /// Resets key `i` to a settled state `acked = pending = w` (pending first, so a crash in
    /// between still allows `w`).
    pub fn settle(&self, i: u64, w: Word) -> Result<(), String> {
        self.set_pending(i, w)?;
        self.set_acked(i, w)
    }

    /// Makes the file durable (used by the verifier after settling).
    pub fn sync(&self) -> Result<(), String> {
        self.file.sync_all().map_err(|e| format!("{}: fsync: {e}", self.path.display()))
    }
}
