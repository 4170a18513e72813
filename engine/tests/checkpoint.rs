//! Checkpoints of open and closed databases, key samples, background range compactions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{key, mem_fs, small_options};
use engine::fs::{FileLock, RandomAccessFile, SequentialFile, WritableFile};
use engine::{
    checkpoint_closed, CompactionFilter, CompactionFilterFactory, Db, Decision, FilterContext, Fs, PosixFs,
    ReadOptions, WriteBatch, WriteOptions,
};

fn contents(db: &Db) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut it = db.iter(&ReadOptions::default()).unwrap();
    it.seek_to_first();
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().unwrap();
    out
}

/// Puts, overwrites and deletes, some compacted, some flushed, some only in the memtable.
fn fill(db: &Db) {
    let wo = WriteOptions::default();
    for i in 0..3000u64 {
        db.put(&wo, &key(i % 1200), format!("v{i}-{}", "x".repeat((i % 50) as usize)).as_bytes()).unwrap();
        if i % 7 == 0 {
            db.delete(&wo, &key(i / 3)).unwrap();
        }
        if i == 2000 {
            db.compact_range(None, None).unwrap();
        }
    }
    let mut b = WriteBatch::new();
    b.put(b"batch-a", b"1");
    b.put(b"batch-b", b"2");
    db.write(&wo, b).unwrap();
}

fn checkpoint_equals_original(fs: Arc<dyn Fs>, root: &Path) {
    let db = Db::open(root.join("src"), small_options(fs.clone())).unwrap();
    fill(&db);
    let want = contents(&db);
    let stats = db.checkpoint(root.join("copy")).unwrap();
    assert!(stats.linked > 0 && stats.copied == 0, "{stats:?}");
    // The original goes on; the copy does not see it.
    db.put(&WriteOptions::default(), b"after", b"1").unwrap();
    db.compact_range(None, None).unwrap();
    let copy = Db::open(root.join("copy"), small_options(fs.clone())).unwrap();
    assert_eq!(contents(&copy), want);
    assert_eq!(copy.get(&ReadOptions::default(), b"after").unwrap(), None);
    // The copy is a database of its own: it writes, compacts and reopens.
    copy.put(&WriteOptions::default(), b"copy-only", b"1").unwrap();
    copy.compact_range(None, None).unwrap();
    copy.close().unwrap();
    let copy = Db::open(root.join("copy"), small_options(fs.clone())).unwrap();
    assert_eq!(contents(&copy).len(), want.len() + 1);
    assert_eq!(db.get(&ReadOptions::default(), b"copy-only").unwrap(), None);
    // The original still holds everything it had after the copy's compaction deleted its
    // own names of the shared tables.
    db.close().unwrap();
    let db = Db::open(root.join("src"), small_options(fs)).unwrap();
    assert_eq!(contents(&db).len(), want.len() + 1);
}

#[test]
fn checkpoint_of_an_open_db_equals_it_on_memfs() {
    let (_fs, dynfs) = mem_fs();
    checkpoint_equals_original(dynfs, Path::new("/root"));
}

#[test]
fn checkpoint_of_an_open_db_equals_it_on_posix() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint_equals_original(Arc::new(PosixFs::new()), dir.path());
}

#[test]
fn a_checkpoint_survives_a_machine_crash_right_after_it() {
    let (fs, dynfs) = mem_fs();
    let db = Db::open("/src", small_options(dynfs)).unwrap();
    fill(&db);
    let want = contents(&db);
    db.checkpoint("/copy").unwrap();
    let fs = fs.crash();
    drop(db);
    let copy = Db::open("/copy", small_options(Arc::new(fs))).unwrap();
    assert_eq!(contents(&copy), want);
}

#[test]
fn checkpoint_refuses_a_non_empty_target() {
    let (fs, dynfs) = mem_fs();
    let db = Db::open("/src", small_options(dynfs)).unwrap();
    fs.create_dir_all(Path::new("/copy")).unwrap();
    fs.create(Path::new("/copy/x")).unwrap();
    let e = db.checkpoint("/copy").unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
}

/// Writers and compactions keep going during checkpoints: every write acknowledged before
/// a checkpoint started is in it, and what it holds is a prefix of the writes.
#[test]
fn checkpoints_taken_under_load_hold_every_earlier_write() {
    let (_fs, dynfs) = mem_fs();
    let db = Arc::new(Db::open("/src", small_options(dynfs.clone())).unwrap());
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, acked, stop) = (db.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Acquire) && i < 20_000 {
                db.put(&WriteOptions::default(), &key(i), &[b'v'; 64]).unwrap();
                i += 1;
                acked.store(i, Ordering::Release);
            }
        })
    };
    let mut checked = 0;
    for round in 0..6 {
        while acked.load(Ordering::Acquire) < 500 * (round + 1) && !writer.is_finished() {
            std::thread::yield_now();
        }
        let before = acked.load(Ordering::Acquire);
        let dir = format!("/copy{round}");
        db.checkpoint(&dir).unwrap();
        let copy = Db::open(&dir, small_options(dynfs.clone())).unwrap();
        let got = contents(&copy);
        assert!(got.len() as u64 >= before, "round {round}: {} < {before}", got.len());
        for (i, (k, _)) in got.iter().enumerate() {
            assert_eq!(k, &key(i as u64), "round {round}: a hole at {i}");
        }
        checked += 1;
    }
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    assert_eq!(checked, 6);
}

/// A database left open (its process paused) or killed, with writes only in its WAL.
#[test]
fn closed_checkpoint_recovers_unflushed_wal_writes() {
    for kill in [false, true] {
        let (fs, dynfs) = mem_fs();
        let db = Db::open("/src", small_options(dynfs.clone())).unwrap();
        for i in 0..300 {
            db.put(&WriteOptions { sync: i % 2 == 0 }, &key(i), b"value").unwrap();
        }
        db.flush().unwrap();
        for i in 300..400 {
            db.put(&WriteOptions::default(), &key(i), b"in the wal only").unwrap();
        }
        let want = contents(&db);
        let fs = if kill {
            let next = fs.kill_process();
            drop(db);
            next
        } else {
            std::mem::forget(db); // paused forever: LOCK held, nothing flushed
            fs
        };
        let dynfs: Arc<dyn Fs> = Arc::new(fs);
        let stats = checkpoint_closed(&dynfs, Path::new("/src"), Path::new("/copy")).unwrap();
        assert_eq!(stats.attempts, 1);
        let copy = Db::open("/copy", small_options(dynfs)).unwrap();
        assert_eq!(contents(&copy), want, "kill = {kill}");
    }
}

#[test]
fn closed_checkpoint_on_posix() {
    let dir = tempfile::tempdir().unwrap();
    let fs: Arc<dyn Fs> = Arc::new(PosixFs::new());
    let db = Db::open(dir.path().join("src"), small_options(fs.clone())).unwrap();
    fill(&db);
    let want = contents(&db);
    checkpoint_closed(&fs, &dir.path().join("src"), &dir.path().join("copy")).unwrap();
    // The old owner goes on writing into its own directory: invisible to the copy.
    db.put(&WriteOptions::default(), b"late", b"1").unwrap();
    db.compact_range(None, None).unwrap();
    let copy = Db::open(dir.path().join("copy"), small_options(fs)).unwrap();
    assert_eq!(contents(&copy), want);
}

/// The source's owner compacts while the copy is taken: the copy retries until it gets a
/// consistent set of files, and holds every write.
#[test]
fn closed_checkpoint_while_the_owner_compacts() {
    let (_fs, dynfs) = mem_fs();
    let db = Arc::new(Db::open("/src", small_options(dynfs.clone())).unwrap());
    fill(&db);
    db.flush().unwrap();
    let want = contents(&db);
    let stop = Arc::new(AtomicBool::new(false));
    let compactor = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            for i in 0..40 {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let k = key(i * 30);
                db.compact_range(Some(&k), None).unwrap();
            }
        })
    };
    let mut ok = 0;
    for round in 0..5 {
        let dst = format!("/copy{round}");
        if checkpoint_closed(&dynfs, Path::new("/src"), Path::new(&dst)).is_ok() {
            let copy = Db::open(&dst, small_options(dynfs.clone())).unwrap();
            assert_eq!(contents(&copy), want, "round {round}");
            ok += 1;
        }
    }
    stop.store(true, Ordering::Release);
    compactor.join().unwrap();
    assert!(ok > 0, "no checkpoint succeeded");
}

type Hook = Box<dyn FnOnce() + Send>;

/// A file system that runs a hook (once) at the first hard link: the moment a closed
/// checkpoint has copied the MANIFEST and starts linking the tables it names.
struct HookFs {
    inner: Arc<dyn Fs>,
    hook: std::sync::Mutex<Option<Hook>>,
}

impl Fs for HookFs {
    fn create(&self, path: &Path) -> engine::Result<Box<dyn WritableFile>> {
        self.inner.create(path)
    }
    fn reopen_for_append(&self, path: &Path) -> engine::Result<Box<dyn WritableFile>> {
        self.inner.reopen_for_append(path)
    }
    fn open_random(&self, path: &Path) -> engine::Result<Arc<dyn RandomAccessFile>> {
        self.inner.open_random(path)
    }
    fn open_sequential(&self, path: &Path) -> engine::Result<Box<dyn SequentialFile>> {
        self.inner.open_sequential(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> engine::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> engine::Result<()> {
        self.inner.remove_file(path)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> engine::Result<()> {
        let hook = self.hook.lock().unwrap().take();
        if let Some(h) = hook {
            h();
        }
        self.inner.hard_link(from, to)
    }
    fn create_dir_all(&self, path: &Path) -> engine::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> engine::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn file_size(&self, path: &Path) -> engine::Result<u64> {
        self.inner.file_size(path)
    }
    fn sync_dir(&self, path: &Path) -> engine::Result<()> {
        self.inner.sync_dir(path)
    }
    fn lock(&self, path: &Path) -> engine::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
}

/// The paused owner wakes up right after the MANIFEST was copied, flushes its WAL and
/// compacts everything: the tables and WAL the copied MANIFEST names are gone. The copy
/// notices, starts again, and ends up with every write.
#[test]
fn closed_checkpoint_retries_when_the_owner_changes_the_files() {
    let (_fs, dynfs) = mem_fs();
    let db = Arc::new(Db::open("/src", small_options(dynfs.clone())).unwrap());
    fill(&db);
    db.flush().unwrap();
    for i in 0..50 {
        db.put(&WriteOptions::default(), &key(i), b"wal only").unwrap();
    }
    let want = contents(&db);
    let owner = db.clone();
    let hooked: Arc<dyn Fs> = Arc::new(HookFs {
        inner: dynfs.clone(),
        hook: std::sync::Mutex::new(Some(Box::new(move || {
            owner.compact_range(None, None).unwrap();
        }))),
    });
    let stats = checkpoint_closed(&hooked, Path::new("/src"), Path::new("/copy")).unwrap();
    assert_eq!(stats.attempts, 2, "{stats:?}");
    let copy = Db::open("/copy", small_options(dynfs)).unwrap();
    assert_eq!(contents(&copy), want);
}

/// A database on `fs` holding keys 0..4000 with 100-byte values, flushed to table files.
fn flushed_db_of_4000_keys(fs: Arc<dyn Fs>) -> Db {
    let db = Db::open("/db", small_options(fs)).unwrap();
    for i in 0..4000u64 {
        db.put(&WriteOptions::default(), &key(i), &[b'v'; 100]).unwrap();
    }
    db.flush().unwrap();
    db
}

#[test]
fn key_samples_are_ordered_and_find_the_middle() {
    let (_fs, dynfs) = mem_fs();
    let db = flushed_db_of_4000_keys(dynfs);
    db.put(&WriteOptions::default(), b"zzz", b"in the memtable").unwrap();
    let s = db.approximate_key_samples().unwrap();
    assert!(s.samples.len() > 10, "{}", s.samples.len());
    assert!(s.samples.windows(2).all(|w| w[0].key <= w[1].key && w[0].offset <= w[1].offset));
    assert_eq!(s.samples.last().unwrap().offset, s.table_bytes);
    assert!(s.memtable_bytes > 0);
    let total = db.stats().levels.iter().map(|l| l.bytes).sum::<u64>();
    assert_eq!(s.table_bytes, total);
    let middle = s.samples.iter().find(|x| x.offset >= s.table_bytes / 2).unwrap();
    assert!(middle.key >= key(1600) && middle.key <= key(2400), "{:?}", String::from_utf8_lossy(&middle.key));
}

#[test]
fn approximate_size_in_counts_whole_files_inside_and_the_blocks_of_straddling_ones() {
    let (_fs, dynfs) = mem_fs();
    let db = flushed_db_of_4000_keys(dynfs);
    db.wait_for_compactions().unwrap();
    let samples = db.approximate_key_samples().unwrap();
    let total = samples.table_bytes;
    // Everything; nothing (a range past every key, an empty range).
    let all = db.approximate_size_in(b"", None).unwrap();
    assert_eq!(all.table_bytes, total);
    assert_eq!(all.memtable_bytes, samples.memtable_bytes);
    assert_eq!(db.approximate_size_in(b"zzz", None).unwrap().table_bytes, 0);
    assert_eq!(db.approximate_size_in(&key(10), Some(&key(10))).unwrap().table_bytes, 0);
    assert_eq!(db.approximate_size_in(b"", Some(b"a")).unwrap().table_bytes, 0);
    // Halves add up to about the whole, each about half, near what the samples say.
    let (lo, hi) = (
        db.approximate_size_in(b"", Some(&key(2000))).unwrap().table_bytes,
        db.approximate_size_in(&key(2000), None).unwrap().table_bytes,
    );
    assert!(lo + hi <= total + total / 20 && lo + hi >= total - total / 20, "{lo} + {hi} vs {total}");
    assert!(lo > total * 2 / 5 && hi > total * 2 / 5, "{lo} / {hi} of {total}");
    let by_samples: u64 = {
        let mut prev = 0;
        let mut sum = 0;
        for x in &samples.samples {
            if x.key.as_slice() < key(2000).as_slice() {
                sum += x.offset - prev;
            }
            prev = x.offset;
        }
        sum
    };
    assert!(lo.abs_diff(by_samples) <= total / 20, "{lo} vs samples {by_samples}");
    // A narrow range inside one file counts a few blocks, not the file.
    let narrow = db.approximate_size_in(&key(1000), Some(&key(1100))).unwrap().table_bytes;
    assert!(narrow > 0 && narrow < total / 10, "{narrow} of {total}");
    db.close().unwrap();
    assert!(db.approximate_size_in(b"", None).is_err());
}

/// Drops keys starting with `drop`.
struct DropPrefix;
struct DropPrefixFilter;
impl CompactionFilter for DropPrefixFilter {
    fn filter(&mut self, key: &[u8], _value: &[u8]) -> Decision {
        if key.starts_with(b"drop") {
            Decision::Remove
        } else {
            Decision::Keep
        }
    }
}
impl CompactionFilterFactory for DropPrefix {
    fn create(&self, _ctx: &FilterContext) -> Option<Box<dyn CompactionFilter>> {
        Some(Box::new(DropPrefixFilter))
    }
}

#[test]
fn compact_range_in_background_runs_the_filter() {
    let (_fs, dynfs) = mem_fs();
    let mut opts = small_options(dynfs.clone());
    let db = Db::open("/db", opts.clone()).unwrap();
    for i in 0..2000u64 {
        db.put(&WriteOptions::default(), format!("drop{i:05}").as_bytes(), &[1; 50]).unwrap();
        db.put(&WriteOptions::default(), format!("keep{i:05}").as_bytes(), &[1; 50]).unwrap();
    }
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    db.close().unwrap();
    // Reopen with the filter: the data is there until a compaction rewrites it.
    opts.compaction_filter_factory = Some(Arc::new(DropPrefix));
    let db = Db::open("/db", opts).unwrap();
    db.compact_range_in_background(None, None).unwrap();
    db.wait_for_compactions().unwrap();
    let got = contents(&db);
    assert_eq!(got.len(), 2000);
    assert!(got.iter().all(|(k, _)| k.starts_with(b"keep")));
    // Closing while one runs stops it cleanly.
    db.compact_range_in_background(None, None).unwrap();
    db.close().unwrap();
}
