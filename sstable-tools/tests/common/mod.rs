//! Fixtures for the `sst-dump` tests: a table, a WAL and a database built with fixed
//! content (a fixed-seed generator, a fixed creation time) in a temp dir, and a runner that
//! executes the binary with the temp dir as working directory and relative paths, so no
//! absolute path reaches the output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use engine::fs::Fs;
use engine::keys::{make_internal_key, ValueKind};
use engine::sstable::{TableBuilder, TableBuilderOptions};
use engine::{Compression, Db, Options, PosixFs, WriteBatch, WriteOptions};

/// Creation time written into test tables: 2023-11-14 22:13:20 UTC.
pub const CREATION_TIME: u64 = 1_700_000_000;

/// A small fixed-seed generator (xorshift64*), so content is the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The entries of the test table, in order: (user key, seq, kind, value). One key holds a
/// zero byte and its value bytes that must be escaped; every seventh key is a deletion.
pub fn table_entries(n: usize) -> Vec<(Vec<u8>, u64, ValueKind, Vec<u8>)> {
    let mut rng = Rng::new(42);
    let mut out = vec![(b"key\x00bin".to_vec(), 99, ValueKind::Value, b"\xff\x01\"quote\\".to_vec())];
    for i in 0..n {
        let key = format!("key{i:04}").into_bytes();
        let seq = 100 + i as u64;
        if i % 7 == 3 {
            out.push((key, seq, ValueKind::Deletion, Vec::new()));
        } else {
            let reps = 1 + rng.below(4) as usize;
            out.push((key, seq, ValueKind::Value, format!("value-{i}-").repeat(reps).into_bytes()));
        }
    }
    out
}

/// Writes the test table (`n` keys, 256-byte blocks, LZ4, bloom filter) at `path`.
pub fn make_table(path: &Path, n: usize) {
    let fs = PosixFs::new();
    let opts = TableBuilderOptions {
        block_size: 256,
        restart_interval: 4,
        compression: Compression::Lz4,
        bloom_bits_per_key: 10,
        creation_time: CREATION_TIME,
    };
    let mut b = TableBuilder::new(fs.create(path).unwrap(), path.to_path_buf(), opts);
    for (k, seq, kind, v) in table_entries(n) {
        b.add(&make_internal_key(&k, seq, kind), &v).unwrap();
    }
    b.finish().unwrap();
}

/// The entries of the tablet test table, in key order: (user key, seq, kind, value). Real
/// cell keys from the tablet crate's encoder — three rows (one holding a 0x00 byte), two
/// families, qualifiers with a 0x00 byte and an empty one, several timestamps (a negative
/// one too) — plus one key in the reserved metadata space that is not a cell key.
pub fn tablet_table_entries() -> Vec<(Vec<u8>, u64, ValueKind, Vec<u8>)> {
    // (row, family, qualifier, timestamp, value; None for a deletion)
    type Cell<'a> = (&'a [u8], &'a str, &'a [u8], i64, Option<&'a [u8]>);
    let cells: Vec<Cell<'_>> = vec![
        (b"com.example/a", "cf", b"name", 3_000_000, Some(b"Ada")),
        (b"com.example/a", "cf", b"name", 1_000_000, Some(b"A.")),
        (b"com.example/a", "cf", b"q\x00bin", 2_000_000, Some(b"\x01\x02")),
        (b"com.example/a", "meta", b"", 5, Some(b"empty qualifier")),
        (b"com.example/b", "cf", b"name", 2_000_000, None),
        (b"com.example/b", "cf", b"name", -1, Some(b"before the epoch")),
        (b"row\x00zero", "cf", b"\x00", 0, Some(b"zero")),
    ];
    let mut out = vec![(b"\x00\x00tablet-meta".to_vec(), 1, ValueKind::Value, b"not a cell".to_vec())];
    for (i, (row, family, qualifier, ts, value)) in cells.into_iter().enumerate() {
        let key = tablet::keys::encode_cell_key(row, family.as_bytes(), qualifier, ts);
        let seq = 10 + i as u64;
        match value {
            Some(v) => out.push((key, seq, ValueKind::Value, v.to_vec())),
            None => out.push((key, seq, ValueKind::Deletion, Vec::new())),
        }
    }
    assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "fixture keys must be in order");
    out
}

/// Writes the tablet test table ([`tablet_table_entries`]) at `path`.
pub fn make_tablet_table(path: &Path) {
    let fs = PosixFs::new();
    let opts = TableBuilderOptions {
        block_size: 256,
        restart_interval: 4,
        compression: Compression::None,
        bloom_bits_per_key: 10,
        creation_time: CREATION_TIME,
    };
    let mut b = TableBuilder::new(fs.create(path).unwrap(), path.to_path_buf(), opts);
    for (k, seq, kind, v) in tablet_table_entries() {
        b.add(&make_internal_key(&k, seq, kind), &v).unwrap();
    }
    b.finish().unwrap();
}

/// Writes a WAL of four batches at `path` (sequences 1..=7).
pub fn make_wal(path: &Path) {
    let fs = PosixFs::new();
    let mut w = engine::wal::Writer::new(fs.create(path).unwrap(), path.to_path_buf());
    let mut seq = 1;
    let batches: Vec<WriteBatch> = vec![
        {
            let mut b = WriteBatch::new();
            b.put(b"apple", b"red");
            b.put(b"banana", b"yellow");
            b.delete(b"cherry");
            b
        },
        {
            let mut b = WriteBatch::new();
            b.put(b"bin\x00key", b"\xff\xfe");
            b
        },
        {
            let mut b = WriteBatch::new();
            b.delete(b"apple");
            b.put(b"date", b"brown");
            b
        },
        {
            let mut b = WriteBatch::new();
            b.put(b"elderberry", b"purple");
            b
        },
    ];
    for mut b in batches {
        b.set_sequence(seq);
        seq += u64::from(b.count());
        w.add_record(b.data()).unwrap();
    }
    w.sync().unwrap();
}

/// Builds a database in `dir`: two flushed tables compacted into level 1, one more flushed
/// table in level 0, and a few writes left in the WAL; then closes it. Each step waits for
/// background work, so the files are the same on every run.
pub fn make_db(dir: &Path) {
    let opts = Options { block_size: 512, l0_compaction_trigger: 2, background_threads: 1, ..Options::default() };
    let db = Db::open(dir, opts).unwrap();
    let wo = WriteOptions::default();
    for i in 0..40 {
        db.put(&wo, format!("row{i:03}").as_bytes(), format!("first-{i}").as_bytes()).unwrap();
    }
    db.flush().unwrap();
    for i in (20..60).step_by(2) {
        db.put(&wo, format!("row{i:03}").as_bytes(), format!("second-{i}").as_bytes()).unwrap();
    }
    db.delete(&wo, b"row005").unwrap();
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    for i in 60..70 {
        db.put(&wo, format!("row{i:03}").as_bytes(), b"third").unwrap();
    }
    db.flush().unwrap();
    db.wait_for_compactions().unwrap();
    let mut b = WriteBatch::new();
    b.put(b"row100", b"in the wal");
    b.delete(b"row000");
    db.write(&WriteOptions { sync: true }, b).unwrap();
    db.close().unwrap();
}

/// The name of the MANIFEST that `dir/CURRENT` names.
pub fn current_manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("CURRENT")).unwrap().trim_end().to_string()
}

/// Names in `dir` with the given suffix, sorted.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    /// The run as golden text: the command, stdout, stderr, exit code.
    pub fn transcript(&self, args: &[&str]) -> String {
        let mut t = format!("$ sst-dump {}\n{}", args.join(" "), self.stdout);
        if !self.stderr.is_empty() {
            t.push_str("--- stderr\n");
            t.push_str(&self.stderr);
        }
        t.push_str(&format!("--- exit {}\n", self.code));
        t
    }
}

/// Runs `sst-dump args` in `cwd` (stderr is not a terminal, so no progress bars).
pub fn run(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_sst-dump")).args(args).current_dir(cwd).output().unwrap();
    let run = Run {
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
        code: out.status.code().unwrap_or(-1),
    };
    assert!(!run.stderr.contains("panicked"), "sst-dump panicked: {run:?}");
    run
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.txt"))
}

/// Runs `sst-dump args` in `cwd` and compares the transcript with `tests/golden/NAME.txt`;
/// with `UPDATE_GOLDEN=1` rewrites the file instead.
pub fn golden(name: &str, cwd: &Path, args: &[&str]) -> Run {
    let run = run(cwd, args);
    let got = run.transcript(args);
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, &got).unwrap();
    } else {
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1 to create it", path.display()));
        assert!(
            got == want,
            "output differs from {} (rerun with UPDATE_GOLDEN=1 to accept)\n--- got\n{got}\n--- want\n{want}",
            path.display()
        );
    }
    run
}

/// Flips every bit of the byte at `offset`.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut data = std::fs::read(path).unwrap();
    data[offset as usize] ^= 0xff;
    std::fs::write(path, data).unwrap();
}

/// Cuts `path` to `len` bytes.
pub fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}
