//! The public API, end to end on the real file system.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

mod common;

use std::sync::Arc;

use common::{key, small_options};
use engine::{
    BackgroundPool, BlockCache, CompactionFilter, CompactionFilterFactory, Db, Decision, Error, FilterContext, Fs,
    Options, PosixFs, ReadOptions, TableCache, WriteBatch, WriteOptions,
};

fn posix() -> Arc<dyn Fs> {
    Arc::new(PosixFs::new())
}

#[test]
fn put_get_delete_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let wo = WriteOptions::default();
    let ro = ReadOptions::default();
    {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        db.put(&wo, b"a", b"1").unwrap();
        db.put(&wo, b"b", b"2").unwrap();
        db.put(&wo, b"a", b"3").unwrap();
        db.delete(&wo, b"b").unwrap();
        db.put(&WriteOptions { sync: true }, b"", b"empty key").unwrap();
        assert_eq!(db.get(&ro, b"a").unwrap(), Some(b"3".to_vec()));
        assert_eq!(db.get(&ro, b"b").unwrap(), None);
        assert_eq!(db.get(&ro, b"").unwrap(), Some(b"empty key".to_vec()));
        db.close().unwrap();
        assert!(matches!(db.get(&ro, b"a"), Err(Error::Closed)));
        assert!(matches!(db.put(&wo, b"a", b"x"), Err(Error::Closed)));
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(&ro, b"a").unwrap(), Some(b"3".to_vec()));
    assert_eq!(db.get(&ro, b"b").unwrap(), None);
    db.flush().unwrap();
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(&ro, b"a").unwrap(), Some(b"3".to_vec()));
    assert_eq!(db.stats().levels[0].files, 1);
}

#[test]
fn second_open_is_locked_and_existence_flags_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let err = Db::open(dir.path(), Options::default()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    drop(db);
    let err = Db::open(dir.path(), Options { error_if_exists: true, ..Options::default() }).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let err =
        Db::open(empty.path().join("nope"), Options { create_if_missing: false, ..Options::default() }).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    let err = Db::open(dir.path(), Options { write_buffer_size: 1, ..Options::default() }).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[test]
fn batches_are_atomic_and_iterators_respect_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options(posix())).unwrap();
    let wo = WriteOptions::default();
    let mut b = WriteBatch::new();
    for i in 0..100 {
        b.put(&key(i), format!("v{i}").as_bytes());
    }
    b.delete(&key(50));
    db.write(&wo, b).unwrap();
    db.flush().unwrap();
    let ro = ReadOptions { lower_bound: Some(key(10)), upper_bound: Some(key(20)), ..Default::default() };
    let mut it = db.iter(&ro).unwrap();
    it.seek_to_first();
    let mut n = 0;
    while it.valid() {
        assert_eq!(it.key(), key(10 + n).as_slice());
        n += 1;
        it.next();
    }
    assert_eq!(n, 10);
    it.seek_to_last();
    assert_eq!(it.key(), key(19).as_slice());
    it.seek(&key(5));
    assert_eq!(it.key(), key(10).as_slice());
    it.seek_for_prev(&key(99));
    assert_eq!(it.key(), key(19).as_slice());
    let mut it = db.iter(&ReadOptions::default()).unwrap();
    it.seek(&key(49));
    it.next();
    assert_eq!(it.key(), key(51).as_slice(), "deleted key skipped");
    it.prev();
    assert_eq!(it.key(), key(49).as_slice());
}

#[test]
fn snapshots_see_a_fixed_state_across_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options(posix())).unwrap();
    let wo = WriteOptions::default();
    for i in 0..2000 {
        db.put(&wo, &key(i % 200), format!("old{i}").as_bytes()).unwrap();
    }
    let snap = db.snapshot();
    let before: Vec<_> = (0..200).map(|i| db.get(&ReadOptions::default(), &key(i)).unwrap()).collect();
    for i in 0..2000 {
        if i % 3 == 0 {
            db.delete(&wo, &key(i % 200)).unwrap();
        } else {
            db.put(&wo, &key(i % 200), format!("new{i}").as_bytes()).unwrap();
        }
    }
    db.compact_range(None, None).unwrap();
    let ro = ReadOptions { snapshot: Some(snap.clone()), ..Default::default() };
    for i in 0..200 {
        assert_eq!(db.get(&ro, &key(i)).unwrap(), before[i as usize], "key {i}");
    }
    let mut it = db.iter(&ro).unwrap();
    it.seek_to_first();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next();
    }
    assert_eq!(n, 200);
    drop(it);
    drop(ro);
    drop(snap);
    db.compact_range(None, None).unwrap();
    let stats = db.stats();
    assert!(stats.compactions > 0 && stats.flushes > 0, "{stats}");
    assert_eq!(stats.live_snapshots, 0);
}

struct DropEvenValues;
struct DropEven;
impl CompactionFilter for DropEven {
    fn filter(&mut self, _key: &[u8], value: &[u8]) -> Decision {
        if value.last().is_some_and(|b| (b - b'0') % 2 == 0) {
            Decision::Remove
        } else {
            Decision::Keep
        }
    }
}
impl CompactionFilterFactory for DropEvenValues {
    fn create(&self, ctx: &FilterContext) -> Option<Box<dyn CompactionFilter>> {
        (!ctx.is_flush).then(|| Box::new(DropEven) as Box<dyn CompactionFilter>)
    }
}

#[test]
fn compaction_filter_drops_entries_without_resurrecting_old_versions() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { compaction_filter_factory: Some(Arc::new(DropEvenValues)), ..small_options(posix()) };
    let db = Db::open(dir.path(), opts).unwrap();
    let wo = WriteOptions::default();
    // Old versions end in an odd digit (kept by the filter); the newest end in 0..9.
    for i in 0..100 {
        db.put(&wo, &key(i), b"old1").unwrap();
    }
    db.compact_range(None, None).unwrap();
    for i in 0..100 {
        db.put(&wo, &key(i), format!("new{}", i % 10).as_bytes()).unwrap();
    }
    db.flush().unwrap();
    // Compact level 0 into level 1 only: the old versions below must not resurface.
    db.compact_range(None, None).unwrap();
    let ro = ReadOptions::default();
    for i in 0..100 {
        let got = db.get(&ro, &key(i)).unwrap();
        if (i % 10) % 2 == 0 {
            assert_eq!(got, None, "key {i} filtered");
        } else {
            assert_eq!(got, Some(format!("new{}", i % 10).into_bytes()), "key {i}");
        }
    }
}

#[test]
fn caches_and_pool_are_shared_between_databases() {
    let cache = BlockCache::new(1 << 20);
    let tables = Arc::new(TableCache::new(100));
    let pool = BackgroundPool::new(2);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let dbs: Vec<Db> = dirs
        .iter()
        .map(|d| {
            let opts = Options {
                block_cache: Some(cache.clone()),
                table_cache: Some(tables.clone()),
                background_pool: Some(pool.clone()),
                ..small_options(posix())
            };
            Db::open(d.path(), opts).unwrap()
        })
        .collect();
    for (n, db) in dbs.iter().enumerate() {
        for i in 0..500 {
            db.put(&WriteOptions::default(), &key(i), format!("db{n}-{i}").as_bytes()).unwrap();
        }
        db.flush().unwrap();
    }
    for (n, db) in dbs.iter().enumerate() {
        for i in 0..500 {
            let v = db.get(&ReadOptions::default(), &key(i)).unwrap();
            assert_eq!(v, Some(format!("db{n}-{i}").into_bytes()));
        }
    }
    assert!(cache.usage() > 0);
    assert!(!tables.is_empty());
    let hits_before = cache.hits();
    for db in &dbs {
        db.get(&ReadOptions::default(), &key(7)).unwrap();
    }
    assert!(cache.hits() > hits_before);
}

#[test]
fn stats_report_levels_and_write_amplification() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options(posix())).unwrap();
    for i in 0..5000 {
        db.put(&WriteOptions::default(), &key(i), &[b'x'; 100]).unwrap();
    }
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    let s = db.stats();
    assert!(s.total_table_bytes() > 0);
    assert!(s.user_bytes_written >= 5000 * 100);
    assert!(s.write_amplification() > 1.0, "{s}");
    let text = s.to_string();
    assert!(text.contains("write amplification"), "{text}");
}

#[test]
fn compact_range_moves_level0_down_even_when_nothing_is_below() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(&WriteOptions::default(), b"a", b"1").unwrap();
    db.delete(&WriteOptions::default(), b"b").unwrap();
    db.flush().unwrap();
    assert_eq!(db.stats().levels[0].files, 1);
    db.compact_range(None, None).unwrap();
    let s = db.stats();
    assert_eq!(s.levels[0].files, 0, "{s}");
    assert_eq!(s.levels[1].files, 1, "{s}");
    assert_eq!(db.get(&ReadOptions::default(), b"a").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn compaction_deletes_the_files_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small_options(posix())).unwrap();
    for round in 0..3 {
        for i in 0..2000 {
            db.put(&WriteOptions::default(), &key(i), format!("r{round}-{i:>60}").as_bytes()).unwrap();
        }
        db.flush().unwrap();
    }
    db.compact_range(None, None).unwrap();
    db.wait_for_compactions().unwrap();
    let live: u64 = db.stats().total_table_bytes();
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sst"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk, live, "obsolete tables left on disk");
}

struct DropWhenArmed(Arc<std::sync::atomic::AtomicBool>);
struct DropAll;
impl CompactionFilter for DropAll {
    fn filter(&mut self, _key: &[u8], _value: &[u8]) -> Decision {
        Decision::Remove
    }
}
impl CompactionFilterFactory for DropWhenArmed {
    fn create(&self, _ctx: &FilterContext) -> Option<Box<dyn CompactionFilter>> {
        self.0.load(std::sync::atomic::Ordering::SeqCst).then(|| Box::new(DropAll) as Box<dyn CompactionFilter>)
    }
}

#[test]
fn compact_range_puts_the_bottommost_level_through_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opts =
        Options { compaction_filter_factory: Some(Arc::new(DropWhenArmed(armed.clone()))), ..small_options(posix()) };
    let db = Db::open(dir.path(), opts).unwrap();
    for i in 0..300 {
        db.put(&WriteOptions::default(), &key(i), b"v").unwrap();
    }
    db.compact_range(None, None).unwrap();
    assert_eq!(db.get(&ReadOptions::default(), &key(7)).unwrap(), Some(b"v".to_vec()));
    assert_eq!(db.stats().levels[0].files, 0);
    // Nothing will ever be compacted into the data now; a manual compaction must still
    // show it to the filter.
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    db.compact_range(None, None).unwrap();
    assert_eq!(db.get(&ReadOptions::default(), &key(7)).unwrap(), None);
    assert_eq!(db.stats().total_table_bytes(), 0, "{}", db.stats());
}
