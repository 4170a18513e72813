//! Replays the committed fuzz corpora through the fuzz targets' bodies, without libFuzzer:
//! every file under `fuzz/corpus/<target>/` (seeds) and `fuzz/regressions/<target>/`
//! (inputs that once found a bug) must run without a panic. The bodies are
//! `fuzz/src/targets.rs`, the same code the libFuzzer binaries call (see README, Fuzzing).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

#[path = "../../fuzz/src/targets.rs"]
mod targets;

use std::fs;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none if the directory does not exist).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.map(|e| e.unwrap().path()).filter(|p| p.is_file() && !p.ends_with(".gitkeep")).collect();
    files.sort();
    files
}

/// The first seed of `target` whose file name contains `part` (seed names hold the file
/// numbers the generating databases happened to use, which may change).
fn seed(target: &str, part: &str) -> PathBuf {
    inputs("corpus", target)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(part)))
        .unwrap_or_else(|| panic!("no {target} seed named *{part}*"))
}

/// Runs `body` on every corpus and regression input of `target`; a panic names the file.
fn replay(target: &str, body: fn(&[u8])) {
    let seeds = inputs("corpus", target);
    assert!(!seeds.is_empty(), "no seed corpus for {target}: run scripts/fuzz-seed-corpus.sh");
    for path in seeds.iter().chain(&inputs("regressions", target)) {
        let data = fs::read(path).unwrap();
        if let Err(e) = std::panic::catch_unwind(|| body(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("fuzz target {target} failed on {}: {msg}", path.display());
        }
    }
}

#[test]
fn block_corpus() {
    replay("block", targets::block);
}

#[test]
fn sstable_corpus() {
    replay("sstable", targets::sstable);
}

#[test]
fn wal_corpus() {
    replay("wal", targets::wal);
}

#[test]
fn manifest_corpus() {
    replay("manifest", targets::manifest);
}

#[test]
fn write_batch_corpus() {
    replay("write_batch", targets::write_batch);
}

#[test]
fn engine_ops_corpus() {
    replay("engine_ops", targets::engine_ops);
}

// ---------------------------------------------------------------------------------------
// Seed corpus generation (run by scripts/fuzz-seed-corpus.sh; ignored in normal runs).
// ---------------------------------------------------------------------------------------

mod common;

use std::sync::Arc;

use common::Rng;
use engine::fs::read_all;
use engine::sstable::format::{decode_block_contents, BLOCK_TRAILER_LEN};
use engine::sstable::{BlockKind, Table};
use engine::wal::Reader;
use engine::{Compression, Db, Fs, MemFs, Options, WriteBatch, WriteOptions};

/// Options that flush after a few KiB, so a short workload leaves several small tables.
fn seed_options(fs: &MemFs, lz4: bool, bloom: bool, restart_interval: usize) -> Options {
    Options {
        fs: Arc::new(fs.clone()),
        write_buffer_size: 4 << 10,
        block_size: 512,
        block_restart_interval: restart_interval,
        target_file_size: 8 << 10,
        level1_max_bytes: 32 << 10,
        compression: if lz4 { Compression::Lz4 } else { Compression::None },
        bloom_bits_per_key: if bloom { 10 } else { 0 },
        background_threads: 1,
        ..Options::default()
    }
}

fn seed_key(i: u64) -> Vec<u8> {
    format!("user{i:05}").into_bytes()
}

/// A workload of puts, deletes and batches with text-like values.
fn seed_workload(db: &Db, rng: &mut Rng, ops: usize) {
    let wo = WriteOptions::default();
    for _ in 0..ops {
        let k = seed_key(rng.below(300));
        match rng.below(10) {
            0 => db.delete(&wo, &k).unwrap(),
            1 => {
                let mut b = WriteBatch::new();
                for _ in 0..rng.below(6) + 1 {
                    let len = rng.below(40) as usize;
                    b.put(&seed_key(rng.below(300)), &rng.bytes(len));
                }
                b.delete(&seed_key(rng.below(300)));
                db.write(&wo, b).unwrap();
            }
            _ => {
                let len = rng.below(60) as usize;
                db.put(&wo, &k, &rng.bytes(len)).unwrap();
            }
        }
    }
}

/// The files of `dir` whose names end with `suffix` (or start with it, for MANIFESTs).
fn files_named(fs: &MemFs, dir: &Path, pick: impl Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = fs.list_dir(dir).unwrap().into_iter().filter(|n| pick(n)).collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), read_all(fs, &dir.join(&n)).unwrap())).collect()
}

/// Every logical record of a log-format file (a WAL or a MANIFEST).
fn records(data: &[u8]) -> Vec<Vec<u8>> {
    let fs = MemFs::new();
    let path = Path::new("/x/log");
    fs.create_dir_all(Path::new("/x")).unwrap();
    let mut f = fs.create(path).unwrap();
    f.append(data).unwrap();
    f.sync().unwrap();
    let mut r = Reader::new(fs.open_sequential(path).unwrap(), path.to_path_buf(), true);
    let mut out = Vec::new();
    while let Some(rec) = r.read_record().unwrap() {
        out.push(rec.data.to_vec());
    }
    out
}

/// Every block of a table, decoded (uncompressed), with its kind.
fn blocks_of(name: &str, data: &[u8]) -> Vec<(BlockKind, Vec<u8>)> {
    let fs = MemFs::new();
    let path = Path::new("/x").join(name);
    fs.create_dir_all(Path::new("/x")).unwrap();
    let mut f = fs.create(&path).unwrap();
    f.append(data).unwrap();
    f.sync().unwrap();
    let table = Table::open(fs.open_random(&path).unwrap(), path, data.len() as u64, None, true).unwrap();
    table.verify().unwrap();
    let mut out = Vec::new();
    for b in table.blocks().unwrap() {
        let start = b.handle.offset as usize;
        let raw = data[start..start + b.handle.size as usize + BLOCK_TRAILER_LEN].to_vec();
        out.push((b.kind, decode_block_contents(raw).unwrap()));
    }
    out
}

struct SeedWriter {
    root: PathBuf,
    files: usize,
    bytes: usize,
}

impl SeedWriter {
    fn put(&mut self, target: &str, name: &str, data: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), data).unwrap();
        self.files += 1;
        self.bytes += data.len();
    }
}

/// Writes the seed corpus under `fuzz/corpus/` from files a real database wrote. Run by
/// `scripts/fuzz-seed-corpus.sh`, which first removes the old seeds.
#[test]
#[ignore = "writes fuzz/corpus; run by scripts/fuzz-seed-corpus.sh"]
fn generate_seed_corpus() {
    let mut out = SeedWriter { root: fuzz_dir().join("corpus"), files: 0, bytes: 0 };
    let dir = Path::new("/db");
    let mut rng = Rng::new(2024);

    // Databases with tables in both compressions, with and without filters; keep each
    // one's smallest tables and MANIFEST, and a WAL holding unflushed writes.
    for (i, (lz4, bloom, restart)) in [(true, true, 16), (false, false, 1), (true, false, 4)].into_iter().enumerate() {
        let fs = MemFs::new();
        let db = Db::open(dir, seed_options(&fs, lz4, bloom, restart)).unwrap();
        seed_workload(&db, &mut rng, 400);
        db.flush().unwrap();
        db.compact_range(None, None).unwrap();
        seed_workload(&db, &mut rng, 250);
        db.flush().unwrap();
        seed_workload(&db, &mut rng, 30); // left in the WAL
        db.close().unwrap();
        drop(db);

        let mut tables = files_named(&fs, dir, |n| n.ends_with(".sst"));
        tables.sort_by_key(|(_, d)| d.len());
        for (name, data) in tables.iter().take(2) {
            out.put("sstable", &format!("db{i}-{name}"), data);
        }
        if let Some((name, data)) = tables.first() {
            let mut kinds_seen = Vec::new();
            for (kind, block) in blocks_of(name, data) {
                let n = kinds_seen.iter().filter(|k| **k == kind).count();
                if kind == BlockKind::Data && n < 2 || matches!(kind, BlockKind::Index | BlockKind::Metaindex) && n < 1
                {
                    out.put("block", &format!("db{i}-{kind:?}-{n}").to_lowercase(), &block);
                }
                kinds_seen.push(kind);
            }
        }
        for (name, data) in files_named(&fs, dir, |n| n.starts_with("MANIFEST-")) {
            out.put("manifest", &format!("db{i}-{name}"), &data);
            for (j, rec) in records(&data).iter().enumerate().take(3) {
                out.put("manifest", &format!("db{i}-{name}-edit{j}"), rec);
            }
        }
        for (name, data) in files_named(&fs, dir, |n| n.ends_with(".log")) {
            if data.is_empty() {
                continue;
            }
            out.put("wal", &format!("db{i}-{name}"), &data);
            for (j, rec) in records(&data).iter().enumerate().take(3) {
                out.put("write_batch", &format!("db{i}-{name}-batch{j}"), rec);
            }
        }
    }

    // A WAL whose one record spans two blocks (FIRST/MIDDLE/LAST fragments), and one cut
    // off in the middle of its second record (a torn tail).
    {
        let fs = MemFs::new();
        let db = Db::open(dir, seed_options(&fs, true, true, 16)).unwrap();
        db.put(&WriteOptions { sync: true }, b"small", b"v").unwrap();
        db.put(&WriteOptions { sync: true }, b"big", &vec![b'x'; 33 << 10]).unwrap();
        db.close().unwrap();
        drop(db);
        let logs = files_named(&fs, dir, |n| n.ends_with(".log"));
        let (_, data) = logs.iter().find(|(_, d)| d.len() > 32 << 10).unwrap();
        out.put("wal", "fragmented", data);
        out.put("wal", "torn-tail", &data[..100]);
    }

    // A MANIFEST listing no table (nothing was ever flushed), which the `manifest` target
    // can open as a database on its own.
    {
        let fs = MemFs::new();
        let db = Db::open(dir, seed_options(&fs, true, true, 16)).unwrap();
        db.put(&WriteOptions::default(), b"k", b"v").unwrap();
        db.close().unwrap();
        drop(db);
        for (name, data) in files_named(&fs, dir, |n| n.starts_with("MANIFEST-")) {
            out.put("manifest", &format!("no-tables-{name}"), &data);
        }
    }

    // engine_ops: structured inputs are read with `arbitrary`, so random bytes of a few
    // lengths are as good a start as any; the fuzzer finds the structure.
    for (i, len) in [64usize, 256, 1024, 2048, 4096].into_iter().enumerate() {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        out.put("engine_ops", &format!("random-{i}-{len}"), &bytes);
    }
    // A few hand-made edge cases for the byte-level targets.
    for t in ["block", "sstable", "wal", "manifest", "write_batch"] {
        out.put(t, "empty", b"");
    }

    assert!(out.bytes < 1 << 20, "seed corpus is {} bytes; keep it under 1 MiB", out.bytes);
    println!("wrote {} seed files, {} bytes, under {}", out.files, out.bytes, out.root.display());
}

/// The checksum repair the byte-level targets use must restore damaged checksums exactly,
/// or the repaired runs would only test checksum failures again.
#[test]
fn checksum_repair_restores_damaged_checksums() {
    let table = fs::read(seed("sstable", ".sst")).unwrap();
    let mut damaged = table.clone();
    let blocks = {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/x")).unwrap();
        let path = Path::new("/x/t.sst");
        let mut f = fs.create(path).unwrap();
        f.append(&table).unwrap();
        f.sync().unwrap();
        Table::open(fs.open_random(path).unwrap(), path.to_path_buf(), table.len() as u64, None, false)
            .unwrap()
            .blocks()
            .unwrap()
    };
    assert!(blocks.len() >= 4);
    for b in &blocks {
        damaged[(b.handle.offset + b.handle.size) as usize + 2] ^= 0x5a; // a stored CRC byte
    }
    assert_eq!(targets::fix_table_crcs(&damaged).unwrap(), table);
    assert!(targets::fix_table_crcs(&table).is_none(), "a sound table needs no repair");

    let wal = fs::read(fuzz_dir().join("corpus/wal/fragmented")).unwrap();
    let mut damaged = wal.clone();
    damaged[0] ^= 0xff;
    assert_eq!(targets::fix_log_crcs(&damaged).unwrap(), wal);
    assert!(targets::fix_log_crcs(&wal).is_none(), "a sound log needs no repair");
}

/// The `wal` and `manifest` targets reach database recovery with real files, not only the
/// decoders: a seed WAL replays into a database holding keys, and a MANIFEST listing no
/// table opens.
#[test]
fn seed_files_open_as_databases() {
    let wal = fs::read(seed("wal", ".log")).unwrap();
    assert!(targets::wal_file(&wal).unwrap() > 0);
    assert!(targets::manifest_file(&fs::read(seed("manifest", "no-tables-")).unwrap()).is_some());
}
