//! An in-memory file system that models crashes and injects faults.
//!
//! # Crash model
//! Each file keeps its bytes and how many of them are synced. Each directory keeps a
//! *durable* copy of its entries, taken at its last [`Fs::sync_dir`]. [`MemFs::crash`]
//! simulates a power loss: every directory goes back to its durable entries (so a file
//! created or renamed without a directory sync vanishes or reverts, and a removal without
//! one is undone) and every file is cut back to its synced length. Handles opened before the
//! crash are dead afterwards: their writes and reads fail, as the process that held them is
//! gone. [`MemFs::kill_process`] is the gentler process crash: all bytes handed to the OS
//! stay, old handles die.
//!
//! # Faults
//! [`MemFs::inject`] arms a fault for one kind of operation, optionally only on paths
//! containing a substring and after letting a number of operations through. An armed fault
//! fails every matching operation until [`MemFs::clear_faults`].
//!
//! Thread safety: all state sits behind one mutex; handles take it per call.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{parent_dir, FileLock, Fs, RandomAccessFile, SequentialFile, WritableFile};
use crate::error::{Error, Result};

/// A kind of operation a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// `WritableFile::append` and `flush`.
    Write,
    /// `WritableFile::sync` and `Fs::sync_dir`.
    Sync,
    /// `Fs::rename`.
    Rename,
    /// `Fs::create` and `reopen_for_append`.
    Create,
    /// Reads through any handle.
    Read,
}

#[derive(Debug, Clone)]
struct FaultRule {
    path_contains: Option<String>,
    skip: u64,
}

#[derive(Debug, Default)]
struct FileData {
    bytes: Vec<u8>,
    synced: usize,
}

type FileRef = Arc<Mutex<FileData>>;

#[derive(Default)]
struct State {
    /// Live namespace: path -> file.
    files: BTreeMap<PathBuf, FileRef>,
    /// Directories that exist.
    dirs: BTreeMap<PathBuf, ()>,
    /// Durable namespace per directory, as of its last sync.
    durable: HashMap<PathBuf, BTreeMap<String, FileRef>>,
    faults: HashMap<FaultOp, FaultRule>,
    locks: HashMap<PathBuf, ()>,
}

struct Inner {
    state: Mutex<State>,
    /// Bumped by every crash; handles remember the epoch they were opened in.
    /// Relaxed is enough: the value is read and written under `state`'s lock or compared
    /// only to decide whether a handle is dead, and a crash happens-before the test's
    /// next step through the same lock.
    epoch: AtomicU64,
    /// `WritableFile::start_writeback` calls, all files.
    writebacks: AtomicU64,
}

/// An in-memory, crash-simulating, fault-injecting [`Fs`]. Cloning shares the same files.
///
/// Each handle belongs to one "process lifetime": after [`MemFs::crash`] or
/// [`MemFs::kill_process`], every call through an older handle (and every file opened
/// through one) fails, as a dead process can do nothing more; use the handle they return.
#[derive(Clone)]
pub struct MemFs {
    inner: Arc<Inner>,
    /// The process lifetime this handle belongs to.
    life: u64,
}

impl Default for MemFs {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemFs").finish_non_exhaustive()
    }
}

fn split(path: &Path) -> (PathBuf, String) {
    let dir = parent_dir(path).to_path_buf();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    (dir, name)
}

fn not_found(path: &Path) -> Error {
    Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        MemFs {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                epoch: AtomicU64::new(0),
                writebacks: AtomicU64::new(0),
            }),
            life: 0,
        }
    }

    fn next_life(&self, st: &mut State) -> MemFs {
        let life = self.inner.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        st.locks.clear();
        MemFs { inner: self.inner.clone(), life }
    }

    /// How many times a file asked for write-out to start (`WritableFile::start_writeback`;
    /// in memory there is nothing to do but count).
    pub fn writeback_calls(&self) -> u64 {
        self.inner.writebacks.load(Ordering::Relaxed)
    }

    /// Simulates a machine crash: unsynced bytes and non-durable directory entries are lost,
    /// and every handle dies. Returns a handle for the next process.
    pub fn crash(&self) -> MemFs {
        let mut st = self.inner.state.lock();
        let next = self.next_life(&mut st);
        let mut files = BTreeMap::new();
        for (dir, entries) in &st.durable {
            for (name, f) in entries {
                {
                    let mut d = f.lock();
                    let synced = d.synced;
                    d.bytes.truncate(synced);
                }
                files.insert(dir.join(name), f.clone());
            }
        }
        // Files of directories never synced are gone; directories themselves survive.
        st.files = files;
        next
    }

    /// Simulates a process crash: bytes handed to the OS stay; handles and locks die.
    /// Returns a handle for the next process.
    pub fn kill_process(&self) -> MemFs {
        let mut st = self.inner.state.lock();
        self.next_life(&mut st)
    }

    /// Fails every `op` on paths containing `path_contains` (any path if `None`), after
    /// letting `skip` matching operations succeed.
    pub fn inject(&self, op: FaultOp, path_contains: Option<&str>, skip: u64) {
        self.inner.state.lock().faults.insert(op, FaultRule { path_contains: path_contains.map(str::to_owned), skip });
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.inner.state.lock().faults.clear();
    }

    /// Replaces the bytes of an existing file (synced), for corruption tests.
    pub fn corrupt(&self, path: &Path, f: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let st = self.inner.state.lock();
        let file = st.files.get(path).ok_or_else(|| not_found(path))?;
        let mut d = file.lock();
        f(&mut d.bytes);
        d.synced = d.bytes.len();
        Ok(())
    }

    fn check_fault(&self, st: &mut State, op: FaultOp, path: &Path) -> Result<()> {
        if let Some(rule) = st.faults.get_mut(&op) {
            let matches = rule.path_contains.as_deref().is_none_or(|s| path.to_string_lossy().contains(s));
            if matches {
                if rule.skip > 0 {
                    rule.skip -= 1;
                } else {
                    return Err(Error::io(path, std::io::Error::other(format!("injected {op:?} fault"))));
                }
            }
        }
        Ok(())
    }

    fn fault(&self, op: FaultOp, path: &Path) -> Result<()> {
        let mut st = self.inner.state.lock();
        self.check_fault(&mut st, op, path)
    }

    /// Fails if this handle's process has crashed.
    fn alive(&self, path: &Path) -> Result<()> {
        self.check_alive(self.life, path)
    }

    fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Relaxed)
    }

    fn check_alive(&self, epoch: u64, path: &Path) -> Result<()> {
        if epoch != self.epoch() {
            return Err(Error::io(path, std::io::Error::other("handle outlived a simulated crash")));
        }
        Ok(())
    }

    fn lookup(&self, path: &Path) -> Result<FileRef> {
        self.inner.state.lock().files.get(path).cloned().ok_or_else(|| not_found(path))
    }
}

struct MemWritable {
    fs: MemFs,
    path: PathBuf,
    file: FileRef,
    epoch: u64,
    len: u64,
}

impl WritableFile for MemWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.fs.check_alive(self.epoch, &self.path)?;
        self.fs.fault(FaultOp::Write, &self.path)?;
        let mut d = self.file.lock();
        // Write at the append position: inside preallocated zeros, overwrite them.
        let pos = usize::try_from(self.len).unwrap_or(usize::MAX);
        let inside = d.bytes.len().saturating_sub(pos).min(data.len());
        if let (Some(dst), Some(src)) = (d.bytes.get_mut(pos..pos + inside), data.get(..inside)) {
            dst.copy_from_slice(src);
        }
        d.bytes.extend_from_slice(data.get(inside..).unwrap_or_default());
        self.len += data.len() as u64;
        Ok(())
    }

    fn preallocate(&mut self, len: u64) -> Result<()> {
        self.fs.check_alive(self.epoch, &self.path)?;
        self.fs.fault(FaultOp::Write, &self.path)?;
        let mut d = self.file.lock();
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if d.bytes.len() < len {
            d.bytes.resize(len, 0);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.fs.check_alive(self.epoch, &self.path)?;
        self.fs.fault(FaultOp::Write, &self.path)
    }

    fn start_writeback(&mut self) -> Result<()> {
        self.fs.check_alive(self.epoch, &self.path)?;
        self.fs.inner.writebacks.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.fs.check_alive(self.epoch, &self.path)?;
        self.fs.fault(FaultOp::Sync, &self.path)?;
        let mut d = self.file.lock();
        d.synced = d.bytes.len();
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }
}

struct MemRandom {
    fs: MemFs,
    path: PathBuf,
    file: FileRef,
    size: u64,
}

impl RandomAccessFile for MemRandom {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.fs.alive(&self.path)?;
        self.fs.fault(FaultOp::Read, &self.path)?;
        let d = self.file.lock();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let src = start.checked_add(buf.len()).and_then(|end| d.bytes.get(start..end)).ok_or_else(|| {
            Error::corruption(
                &self.path,
                Some(offset),
                format!("read of {} bytes past the end of a {}-byte file", buf.len(), d.bytes.len()),
            )
        })?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }
}

struct MemSequential {
    fs: MemFs,
    path: PathBuf,
    file: FileRef,
    pos: usize,
}

impl SequentialFile for MemSequential {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.fs.alive(&self.path)?;
        self.fs.fault(FaultOp::Read, &self.path)?;
        let d = self.file.lock();
        let rest = d.bytes.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

struct MemLock {
    fs: MemFs,
    path: PathBuf,
    epoch: u64,
}

impl FileLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        if self.epoch == self.fs.epoch() {
            self.fs.inner.state.lock().locks.remove(&self.path);
        }
    }
}

impl Fs for MemFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        self.alive(path)?;
        let mut st = self.inner.state.lock();
        self.check_fault(&mut st, FaultOp::Create, path)?;
        if !st.dirs.contains_key(parent_dir(path)) {
            return Err(not_found(parent_dir(path)));
        }
        let file: FileRef = Arc::new(Mutex::new(FileData::default()));
        st.files.insert(path.to_path_buf(), file.clone());
        Ok(Box::new(MemWritable { fs: self.clone(), path: path.to_path_buf(), file, epoch: self.life, len: 0 }))
    }

    fn reopen_for_append(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        self.alive(path)?;
        self.fault(FaultOp::Create, path)?;
        let file = self.lookup(path)?;
        let len = file.lock().bytes.len() as u64;
        Ok(Box::new(MemWritable { fs: self.clone(), path: path.to_path_buf(), file, epoch: self.life, len }))
    }

    fn open_random(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        self.alive(path)?;
        self.fault(FaultOp::Read, path)?;
        let file = self.lookup(path)?;
        let size = file.lock().bytes.len() as u64;
        Ok(Arc::new(MemRandom { fs: self.clone(), path: path.to_path_buf(), file, size }))
    }

    fn open_sequential(&self, path: &Path) -> Result<Box<dyn SequentialFile>> {
        self.alive(path)?;
        self.fault(FaultOp::Read, path)?;
        let file = self.lookup(path)?;
        Ok(Box::new(MemSequential { fs: self.clone(), path: path.to_path_buf(), file, pos: 0 }))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.alive(from)?;
        let mut st = self.inner.state.lock();
        self.check_fault(&mut st, FaultOp::Rename, from)?;
        let f = st.files.remove(from).ok_or_else(|| not_found(from))?;
        st.files.insert(to.to_path_buf(), f);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        self.alive(path)?;
        let mut st = self.inner.state.lock();
        st.files.remove(path).map(|_| ()).ok_or_else(|| not_found(path))
    }

    fn hard_link(&self, from: &Path, to: &Path) -> Result<()> {
        self.alive(from)?;
        let mut st = self.inner.state.lock();
        let f = st.files.get(from).cloned().ok_or_else(|| not_found(from))?;
        if st.files.contains_key(to) {
            return Err(Error::io(to, std::io::Error::new(std::io::ErrorKind::AlreadyExists, "link target exists")));
        }
        st.files.insert(to.to_path_buf(), f);
        Ok(())
    }

    fn create_dir_all(&self, path: &Path) -> Result<()> {
        self.alive(path)?;
        let mut st = self.inner.state.lock();
        let mut p = Some(path);
        while let Some(d) = p {
            if d.as_os_str().is_empty() {
                break;
            }
            st.dirs.insert(d.to_path_buf(), ());
            p = d.parent();
        }
        st.dirs.insert(PathBuf::from("."), ());
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> Result<Vec<String>> {
        self.alive(path)?;
        let st = self.inner.state.lock();
        if !st.dirs.contains_key(path) {
            return Err(not_found(path));
        }
        let mut out: Vec<String> = st
            .files
            .keys()
            .filter(|p| parent_dir(p) == path)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        out.extend(
            st.dirs
                .keys()
                .filter(|d| d.parent() == Some(path))
                .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned())),
        );
        out.sort();
        Ok(out)
    }

    fn exists(&self, path: &Path) -> bool {
        let st = self.inner.state.lock();
        st.files.contains_key(path) || st.dirs.contains_key(path)
    }

    fn file_size(&self, path: &Path) -> Result<u64> {
        self.alive(path)?;
        Ok(self.lookup(path)?.lock().bytes.len() as u64)
    }

    fn sync_dir(&self, path: &Path) -> Result<()> {
        self.alive(path)?;
        let mut st = self.inner.state.lock();
        self.check_fault(&mut st, FaultOp::Sync, path)?;
        let entries: BTreeMap<String, FileRef> =
            st.files.iter().filter(|(p, _)| parent_dir(p) == path).map(|(p, f)| (split(p).1, f.clone())).collect();
        st.durable.insert(path.to_path_buf(), entries);
        Ok(())
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        self.alive(path)?;
        let mut st = self.inner.state.lock();
        if st.locks.contains_key(path) {
            return Err(Error::Locked { path: path.to_path_buf() });
        }
        st.locks.insert(path.to_path_buf(), ());
        Ok(Box::new(MemLock { fs: self.clone(), path: path.to_path_buf(), epoch: self.life }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(fs: &MemFs, p: &str, data: &[u8], sync: bool) {
        let mut f = fs.create(Path::new(p)).unwrap();
        f.append(data).unwrap();
        if sync {
            f.sync().unwrap();
        }
    }

    #[test]
    fn crash_drops_unsynced_bytes_and_undurable_names() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        write(&fs, "/db/a", b"durable", true);
        fs.sync_dir(Path::new("/db")).unwrap();
        {
            let mut f = fs.reopen_for_append(Path::new("/db/a")).unwrap();
            f.append(b"-lost").unwrap();
        }
        write(&fs, "/db/b", b"never dir-synced", true);
        let fs = fs.crash();
        assert_eq!(super::super::read_all(&fs, Path::new("/db/a")).unwrap(), b"durable");
        assert!(!fs.exists(Path::new("/db/b")));
    }

    #[test]
    fn rename_without_dir_sync_reverts() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        write(&fs, "/d/x", b"1", true);
        fs.sync_dir(Path::new("/d")).unwrap();
        fs.rename(Path::new("/d/x"), Path::new("/d/y")).unwrap();
        let fs = fs.crash();
        assert!(fs.exists(Path::new("/d/x")));
        assert!(!fs.exists(Path::new("/d/y")));
    }

    #[test]
    fn handles_die_on_crash_and_faults_fire() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let mut f = fs.create(Path::new("/d/w")).unwrap();
        let old = fs.clone();
        let fs = fs.kill_process();
        assert!(f.append(b"x").is_err());
        assert!(old.remove_file(Path::new("/d/w")).is_err(), "a dead process cannot act");
        assert!(fs.exists(Path::new("/d/w")));

        fs.inject(FaultOp::Sync, Some("LOG"), 1);
        let mut g = fs.create(Path::new("/d/LOG")).unwrap();
        g.sync().unwrap();
        assert!(g.sync().unwrap_err().is_io());
        let mut h = fs.create(Path::new("/d/other")).unwrap();
        h.sync().unwrap();
        fs.clear_faults();
        g.sync().unwrap();
    }

    #[test]
    fn locks_are_exclusive() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let l = fs.lock(Path::new("/d/LOCK")).unwrap();
        assert!(matches!(fs.lock(Path::new("/d/LOCK")), Err(Error::Locked { .. })));
        drop(l);
        let _l2 = fs.lock(Path::new("/d/LOCK")).unwrap();
    }
}
