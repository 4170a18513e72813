//! Damaged files of every kind — SSTable, WAL, MANIFEST, CURRENT — flipped, truncated or
//! deleted. Every outcome must be one of: the database refuses to open with a corruption
//! error naming the file (and the offset, where there is one); or it opens and every read
//! returns the right data or a corruption error naming the damaged file. Never wrong data,
//! never a panic. With `paranoid_checks`, damage anywhere in a table but its data blocks
//! stops the open. (recovery.rs covers the torn WAL tail, a flipped WAL record before valid
//! ones, garbage in CURRENT, a missing CURRENT and a missing table.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::key;
use engine::sstable::{BlockKind, Table};
use engine::{Compression, Db, Error, Fs, MemFs, Options, ReadOptions, WriteOptions};

const DIR: &str = "/db";
const KEYS: u64 = 200;

fn value(i: u64) -> Vec<u8> {
    format!("value-{i}-{}", "v".repeat((i % 40) as usize)).into_bytes()
}

fn options(fs: &MemFs, paranoid: bool) -> Options {
    let dynfs: Arc<dyn Fs> = Arc::new(fs.clone());
    Options {
        fs: dynfs,
        paranoid_checks: paranoid,
        block_size: 256,
        compression: Compression::None,
        write_buffer_size: 1 << 20,
        ..Options::default()
    }
}

/// A database's files, by name, as bytes: a pristine copy to damage over and over.
struct Image(BTreeMap<String, Vec<u8>>);

impl Image {
    fn take(fs: &MemFs) -> Image {
        let names = fs.list_dir(Path::new(DIR)).unwrap();
        Image(
            names
                .into_iter()
                .filter(|n| n != "LOCK")
                .map(|n| {
                    let bytes = engine::fs::read_all(fs, &Path::new(DIR).join(&n)).unwrap();
                    (n, bytes)
                })
                .collect(),
        )
    }

    /// A fresh file system holding the image with `name` changed by `damage` (removed when
    /// `damage` returns false).
    fn restore(&self, name: &str, damage: impl FnOnce(&mut Vec<u8>) -> bool) -> MemFs {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new(DIR)).unwrap();
        let mut damage = Some(damage);
        for (n, bytes) in &self.0 {
            let mut b = bytes.clone();
            if n == name && !(damage.take().unwrap())(&mut b) {
                continue;
            }
            let mut f = fs.create(&Path::new(DIR).join(n)).unwrap();
            f.append(&b).unwrap();
            f.sync().unwrap();
        }
        assert!(damage.is_none(), "no file {name} in the image");
        fs.sync_dir(Path::new(DIR)).unwrap();
        fs
    }

    fn named(&self, suffix: &str) -> String {
        self.0.keys().find(|n| n.ends_with(suffix)).unwrap_or_else(|| panic!("no *{suffix} file")).clone()
    }

    fn len(&self, name: &str) -> usize {
        self.0[name].len()
    }

    /// The length of the written part of a preallocated log: up to its last non-zero byte,
    /// plus a few bytes of the zero tail (damage there must be handled too).
    fn written_len(&self, name: &str) -> usize {
        let b = &self.0[name];
        let last = b.iter().rposition(|x| *x != 0).map_or(0, |p| p + 1);
        (last + 64).min(b.len())
    }
}

/// Asserts `err` is a corruption error naming `file`, with an offset when `offset` is set.
fn assert_names(err: &Error, file: &str, offset: bool, what: &str) {
    let (path, off): (&PathBuf, Option<u64>) = match err {
        Error::Corruption { file, offset, .. } | Error::ChecksumMismatch { file, offset, .. } => (file, *offset),
        other => panic!("{what}: expected a corruption error, got {other}"),
    };
    assert!(path.to_string_lossy().ends_with(file), "{what}: error names {}, not {file}: {err}", path.display());
    if offset {
        assert!(off.is_some(), "{what}: error has no offset: {err}");
    }
}

/// Every key reads back right or fails naming `file`; a full scan yields only right
/// entries, in order, then ends cleanly or with such an error. Returns the keys that failed.
fn check_reads(db: &Db, file: &str, what: &str) -> usize {
    let ro = ReadOptions::default();
    let mut failed = 0;
    for i in 0..KEYS {
        match db.get(&ro, &key(i)) {
            Ok(Some(v)) => assert_eq!(v, value(i), "{what}: wrong value for key {i}"),
            Ok(None) => panic!("{what}: key {i} silently missing"),
            Err(e) => {
                assert_names(&e, file, true, what);
                failed += 1;
            }
        }
    }
    let mut it = match db.iter(&ro) {
        Ok(it) => it,
        Err(e) => {
            assert_names(&e, file, true, what);
            return failed;
        }
    };
    it.seek_to_first();
    let mut next = 0;
    while it.valid() {
        // A damaged block may be skipped only by ending the scan with an error, never silently.
        assert_eq!(it.key(), key(next), "{what}: scan skipped or invented a key");
        assert_eq!(it.value(), value(next), "{what}: scan returned a wrong value");
        next += 1;
        it.next();
    }
    match it.status() {
        Ok(()) => assert_eq!(next, KEYS, "{what}: scan ended early without an error"),
        Err(e) => assert_names(&e, file, true, what),
    }
    failed
}

/// A database whose keys all sit in one table (and nothing in the WAL).
fn table_image() -> Image {
    let fs = MemFs::new();
    let db = Db::open(DIR, options(&fs, false)).unwrap();
    for i in 0..KEYS {
        db.put(&WriteOptions::default(), &key(i), &value(i)).unwrap();
    }
    db.flush().unwrap();
    db.close().unwrap();
    Image::take(&fs)
}

/// Byte ranges of the data blocks of the table in `bytes` (with their trailers).
fn data_blocks(fs: &MemFs, name: &str) -> Vec<(u64, u64)> {
    let path = Path::new(DIR).join(name);
    let size = fs.file_size(&path).unwrap();
    let table = Table::open(fs.open_random(&path).unwrap(), path, size, None, true).unwrap();
    let blocks = table.blocks().unwrap();
    blocks.iter().filter(|b| b.kind == BlockKind::Data).map(|b| (b.handle.offset, b.handle.end().unwrap())).collect()
}

#[test]
fn flipped_table_bytes_are_reported_never_served() {
    let image = table_image();
    let sst = image.named(".sst");
    let len = image.len(&sst);
    let data = data_blocks(&image.restore(&sst, |_| true), &sst);
    assert!(data.len() > 5, "the table has several data blocks");
    let in_data = |off: usize| data.iter().any(|&(s, e)| (s..e).contains(&(off as u64)));
    // Every 29th byte, plus every byte of the last 150 (index, meta blocks, footer).
    let offsets: Vec<usize> = (0..len).filter(|o| o % 29 == 0 || *o + 150 >= len).collect();
    let mut refused = 0;
    for &off in &offsets {
        let what = format!("{sst} byte {off} flipped");
        let damaged = || {
            image.restore(&sst, |b| {
                b[off] ^= 0x20;
                true
            })
        };
        // Without paranoid checks: the open succeeds (tables open lazily) and reads obey.
        let db = Db::open(DIR, options(&damaged(), false)).unwrap();
        let failed = check_reads(&db, &sst, &what);
        assert!(failed > 0, "{what}: a damaged byte went unnoticed by every read");
        drop(db);
        // Paranoid: damage outside the data blocks stops the open.
        match Db::open(DIR, options(&damaged(), true)) {
            Err(e) => {
                assert_names(&e, &sst, true, &what);
                refused += 1;
            }
            Ok(db) => {
                assert!(in_data(off), "{what}: paranoid open accepted damage outside the data blocks");
                check_reads(&db, &sst, &what);
            }
        }
    }
    assert!(refused > 100, "paranoid open refused {refused} of {} damaged tables", offsets.len());
}

#[test]
fn a_damaged_data_block_fails_only_its_own_keys() {
    let image = table_image();
    let sst = image.named(".sst");
    let fs = image.restore(&sst, |_| true);
    let (start, end) = data_blocks(&fs, &sst)[2];
    let mid = ((start + end) / 2) as usize;
    let fs = image.restore(&sst, |b| {
        b[mid] ^= 0x01;
        true
    });
    let db = Db::open(DIR, options(&fs, true)).unwrap();
    let mut bad = Vec::new();
    for i in 0..KEYS {
        match db.get(&ReadOptions::default(), &key(i)) {
            Ok(v) => assert_eq!(v, Some(value(i))),
            Err(e) => {
                match &e {
                    Error::ChecksumMismatch { offset, .. } => assert_eq!(*offset, Some(start), "{e}"),
                    other => panic!("expected a checksum mismatch, got {other}"),
                }
                assert!(e.to_string().contains(&sst) && e.to_string().contains(&format!("offset {start}")), "{e}");
                bad.push(i);
            }
        }
    }
    // The failing keys are one contiguous run: exactly the block's keys.
    assert!(!bad.is_empty() && bad.len() < 40, "{bad:?}");
    assert_eq!(bad.last().unwrap() - bad.first().unwrap() + 1, bad.len() as u64, "{bad:?}");
    // A read error is the reader's: writes still work.
    db.put(&WriteOptions::default(), b"zzz", b"new").unwrap();
    assert_eq!(db.get(&ReadOptions::default(), b"zzz").unwrap(), Some(b"new".to_vec()));
}

#[test]
fn truncated_tables_are_reported() {
    let image = table_image();
    let sst = image.named(".sst");
    let len = image.len(&sst);
    for cut in [0, 1, 30, 55, 56, len / 2, len - 57, len - 56, len - 1] {
        let what = format!("{sst} cut to {cut} of {len} bytes");
        let fs = image.restore(&sst, |b| {
            b.truncate(cut);
            true
        });
        let err = Db::open(DIR, options(&fs, true)).err().unwrap_or_else(|| panic!("{what}: paranoid open succeeded"));
        assert_names(&err, &sst, true, &what);
        assert!(err.to_string().contains("MANIFEST records"), "{what}: {err}");
        let fs = image.restore(&sst, |b| {
            b.truncate(cut);
            true
        });
        let db = Db::open(DIR, options(&fs, false)).unwrap();
        assert_eq!(check_reads(&db, &sst, &what), KEYS as usize, "{what}: every read fails");
    }
}

#[test]
fn a_deleted_table_is_reported_with_paranoid_checks_too() {
    let image = table_image();
    let sst = image.named(".sst");
    for paranoid in [false, true] {
        let err = Db::open(DIR, options(&image.restore(&sst, |_| false), paranoid)).err().unwrap();
        assert_names(&err, &sst, false, "deleted table");
    }
}

/// A database whose writes all sit in the WAL: one record per put.
fn wal_image() -> Image {
    let fs = MemFs::new();
    let db = Db::open(DIR, options(&fs, false)).unwrap();
    for i in 0..60 {
        db.put(&WriteOptions::default(), &key(i), &value(i)).unwrap();
    }
    let fs = fs.kill_process();
    drop(db);
    Image::take(&fs)
}

/// The keys present after opening: must be `0..n` with the right values; returns `n`.
fn recovered_prefix(db: &Db, what: &str) -> u64 {
    let got: Vec<bool> = (0..60)
        .map(|i| match db.get(&ReadOptions::default(), &key(i)).unwrap() {
            Some(v) => {
                assert_eq!(v, value(i), "{what}: wrong value for key {i}");
                true
            }
            None => false,
        })
        .collect();
    let n = got.iter().take_while(|p| **p).count();
    assert!(got[n..].iter().all(|p| !p), "{what}: a hole after key {n}");
    n as u64
}

#[test]
fn every_flipped_wal_byte_is_an_error_or_costs_only_the_last_record() {
    let image = wal_image();
    let log = image.named(".log");
    let len = image.written_len(&log);
    let (mut errors, mut tails) = (0, 0);
    for off in (0..len).step_by(3) {
        let what = format!("{log} byte {off} flipped");
        {
            let paranoid = off % 2 == 0;
            let fs = image.restore(&log, |b| {
                b[off] ^= 0x08;
                true
            });
            match Db::open(DIR, options(&fs, paranoid)) {
                Err(e) => {
                    assert_names(&e, &log, true, &what);
                    errors += 1;
                }
                Ok(db) => {
                    assert!(recovered_prefix(&db, &what) >= 59, "{what}: more than the last record lost");
                    tails += 1;
                }
            }
        }
    }
    assert!(errors > 0 && tails > 0, "errors {errors}, damaged tails {tails}");
}

#[test]
fn a_wal_cut_anywhere_recovers_the_records_before_the_cut() {
    let image = wal_image();
    let log = image.named(".log");
    let len = image.written_len(&log);
    let mut last = 0;
    for cut in (0..=len).filter(|c| c % 4 == 0 || *c == len).chain([image.len(&log)]) {
        let what = format!("{log} cut to {cut} bytes");
        let fs = image.restore(&log, |b| {
            b.truncate(cut);
            true
        });
        let db = Db::open(DIR, options(&fs, true)).unwrap_or_else(|e| panic!("{what}: {e}"));
        let n = recovered_prefix(&db, &what);
        assert!(n >= last, "{what}: a longer log recovered less ({n} < {last})");
        last = n;
    }
    assert_eq!(last, 60);
}

/// A database with a few flushes and a compaction recorded in its MANIFEST, data in both
/// tables and the WAL.
fn manifest_image() -> Image {
    let fs = MemFs::new();
    let db = Db::open(DIR, options(&fs, false)).unwrap();
    for i in 0..KEYS {
        db.put(&WriteOptions::default(), &key(i), &value(i)).unwrap();
        if i % 50 == 49 {
            db.flush().unwrap();
        }
    }
    db.compact_range(None, Some(&key(80))).unwrap();
    let fs = fs.kill_process();
    drop(db);
    Image::take(&fs)
}

#[test]
fn every_flipped_manifest_byte_stops_the_open() {
    let image = manifest_image();
    let manifest = image.named(&image.0.keys().find(|n| n.starts_with("MANIFEST-")).unwrap().clone());
    for off in 0..image.len(&manifest) {
        let what = format!("{manifest} byte {off} flipped");
        let fs = image.restore(&manifest, |b| {
            b[off] ^= 0x10;
            true
        });
        match Db::open(DIR, options(&fs, false)) {
            Err(e) => assert_names(&e, &manifest, false, &what),
            // Only a flip that makes the last record look cut off (its length now runs past
            // the end) can be taken for a torn append; then the last edit is lost, and the
            // data must still all be there or the open must have failed.
            Ok(db) => {
                check_reads(&db, &manifest, &what);
            }
        }
    }
}

/// A MANIFEST cut short at a record boundary looks like a clean, shorter MANIFEST: the log
/// format cannot tell. Every open (paranoid or not) notices that edits were lost (the WAL
/// its log number names is gone) or that tables are missing, and refuses; it never opens
/// with data missing.
#[test]
fn a_truncated_or_deleted_manifest_stops_the_open() {
    let image = manifest_image();
    let manifest = image.0.keys().find(|n| n.starts_with("MANIFEST-")).unwrap().clone();
    let len = image.len(&manifest);
    for (cut, paranoid) in (0..len).flat_map(|c| [(c, true), (c, false)]) {
        let what = format!("{manifest} cut to {cut} of {len} bytes (paranoid: {paranoid})");
        let fs = image.restore(&manifest, |b| {
            b.truncate(cut);
            true
        });
        match Db::open(DIR, options(&fs, paranoid)) {
            Err(err) => assert_names(&err, &manifest, false, &what),
            Ok(db) => {
                check_reads(&db, &manifest, &what);
            }
        }
    }
    for cut in [0, 1, 6, 7] {
        let fs = image.restore(&manifest, |b| {
            b.truncate(cut);
            true
        });
        let err = Db::open(DIR, options(&fs, false)).err().unwrap();
        assert_names(&err, &manifest, false, "MANIFEST cut inside its first record");
    }
    let err = Db::open(DIR, options(&image.restore(&manifest, |_| false), false)).err().unwrap();
    assert_names(&err, "CURRENT", true, "deleted MANIFEST");
    assert!(err.to_string().contains(&manifest), "{err}");
}

#[test]
fn every_damaged_current_stops_the_open() {
    let image = manifest_image();
    let len = image.len("CURRENT");
    for off in 0..len {
        for bit in [0x01, 0x08, 0x40] {
            let what = format!("CURRENT byte {off} ^ {bit:#x}");
            let fs = image.restore("CURRENT", |b| {
                b[off] ^= bit;
                true
            });
            let err = Db::open(DIR, options(&fs, false)).err().unwrap_or_else(|| panic!("{what}: opened"));
            assert_names(&err, "CURRENT", false, &what);
        }
    }
    for cut in 0..len - 1 {
        let what = format!("CURRENT cut to {cut} bytes");
        let fs = image.restore("CURRENT", |b| {
            b.truncate(cut);
            true
        });
        let err = Db::open(DIR, options(&fs, false)).err().unwrap_or_else(|| panic!("{what}: opened"));
        assert_names(&err, "CURRENT", false, &what);
    }
}
