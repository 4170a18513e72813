//! Damaged, truncated, empty and foreign inputs: every one gives a clear error naming the
//! file and the offset and a non-zero exit, never a panic — except where the engine itself
//! accepts the file (a WAL cut off by a crash ends in a torn tail; an empty WAL is a fresh
//! log), which is reported, with exit 0.
//!
//! The exhaustive sweeps (every byte flipped, every length cut) call the library in-process
//! to stay fast; a few cases per kind go through the binary for the exit code and stderr.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{flip_byte, make_db, make_table, make_wal, run};
use sstable_tools::report::Report;
use sstable_tools::show::{ByteStyle, KeyDecode};
use sstable_tools::sst::SstOptions;
use sstable_tools::{manifest, sst, wal};

const TEXT: &[u8] = b"this is not a table, a log or a MANIFEST; just some text that goes on for a while.\n";

fn sst_in_process(path: &Path, verify: bool) -> Result<String, String> {
    let mut out = Vec::new();
    let opts = SstOptions { scan: !verify, verify, ..SstOptions::default() };
    let r = sst::run(path, &opts, Report::new(&mut out, false).unwrap());
    r.map(|()| String::from_utf8(out).unwrap()).map_err(|e| e.to_string())
}

fn wal_in_process(path: &Path) -> Result<String, String> {
    let mut out = Vec::new();
    let r = wal::run(path, ByteStyle::Readable, KeyDecode::None, Report::new(&mut out, false).unwrap());
    r.map(|()| String::from_utf8(out).unwrap()).map_err(|e| e.to_string())
}

fn manifest_in_process(path: &Path) -> Result<String, String> {
    let mut out = Vec::new();
    let r = manifest::run(path, ByteStyle::Readable, KeyDecode::None, Report::new(&mut out, false).unwrap());
    r.map(|()| String::from_utf8(out).unwrap()).map_err(|e| e.to_string())
}

/// An error message that names `file` and an offset.
fn assert_names_file_and_offset(msg: &str, file: &str) {
    assert!(msg.contains(file), "error does not name {file}: {msg}");
    assert!(msg.contains("offset"), "error does not give an offset: {msg}");
}

/// Runs the binary and checks it failed with an error naming `file` and an offset.
fn assert_cli_fails(cwd: &Path, args: &[&str], file: &str) -> String {
    let r = run(cwd, args);
    assert_eq!(r.code, 1, "{args:?} should fail: {r:?}");
    assert!(r.stderr.starts_with("sst-dump: error: "), "{r:?}");
    assert_names_file_and_offset(&r.stderr, file);
    r.stderr
}

#[test]
fn sst_every_flipped_byte_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.sst");
    make_table(&good, 25);
    let data = std::fs::read(&good).unwrap();
    let path = dir.path().join("000007.sst");
    for offset in 0..data.len() {
        std::fs::write(&path, &data).unwrap();
        flip_byte(&path, offset as u64);
        // Even without --verify: every byte is under a block checksum or the footer's.
        for verify in [false, true] {
            match sst_in_process(&path, verify) {
                Ok(out) => panic!("flip at {offset} (verify {verify}) not detected:\n{out}"),
                Err(e) => assert_names_file_and_offset(&e, "000007.sst"),
            }
        }
    }
    make_table(&path, 60);
    flip_byte(&path, 300);
    let err = assert_cli_fails(dir.path(), &["000007.sst", "--verify"], "000007.sst");
    assert!(err.contains("at offset 166"), "{err}");
    flip_byte(&path, 300);
    flip_byte(&path, std::fs::metadata(&path).unwrap().len() - 1); // the magic
    assert_cli_fails(dir.path(), &["000007.sst"], "000007.sst");
}

#[test]
fn sst_truncated_empty_and_foreign_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let path = p.join("000007.sst");
    make_table(&path, 60);
    let len = std::fs::metadata(&path).unwrap().len();
    let data = std::fs::read(&path).unwrap();
    for cut in 0..len {
        std::fs::write(&path, &data[..cut as usize]).unwrap();
        let e = sst_in_process(&path, false).unwrap_err();
        assert_names_file_and_offset(&e, "000007.sst");
    }
    std::fs::write(&path, &data[..1000]).unwrap();
    assert_cli_fails(p, &["000007.sst"], "000007.sst");
    std::fs::write(&path, b"").unwrap();
    let err = assert_cli_fails(p, &["sst", "000007.sst"], "000007.sst");
    assert!(err.contains("too short for a table"), "{err}");
    std::fs::write(p.join("notes.txt"), TEXT.repeat(3)).unwrap();
    assert_cli_fails(p, &["notes.txt"], "notes.txt");
    make_wal(&p.join("000003.log"));
    assert_cli_fails(p, &["000003.log", "--scan"], "000003.log");
    // Not there at all, and a directory: I/O errors naming the path.
    for what in ["missing.sst", "."] {
        let r = run(p, &[what]);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(r.stderr.contains(&format!("I/O error on {what}")), "{r:?}");
    }
}

#[test]
fn wal_flipped_bytes_truncation_empty_and_foreign_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let good = p.join("good.log");
    make_wal(&good);
    let data = std::fs::read(&good).unwrap();
    let last_record = 122; // offset of the fourth and last record (see the golden output)
    let path = p.join("000003.log");
    for offset in 0..data.len() {
        std::fs::write(&path, &data).unwrap();
        flip_byte(&path, offset as u64);
        match wal_in_process(&path) {
            // Damage in the last record is a torn tail, as at recovery.
            Ok(out) if offset >= last_record => {
                assert!(out.contains("torn tail at offset 122"), "flip at {offset}:\n{out}")
            }
            Ok(out) => panic!("flip at {offset} not reported:\n{out}"),
            Err(e) => {
                assert!(offset < last_record, "flip at {offset}: {e}");
                assert_names_file_and_offset(&e, "000003.log");
            }
        }
    }
    std::fs::write(&path, &data).unwrap();
    flip_byte(&path, 60);
    let err = assert_cli_fails(p, &["wal", "000003.log"], "000003.log");
    assert!(err.contains("at offset 53"), "{err}");

    // Cut anywhere: the records before the cut, then a torn tail (none at a record boundary).
    let boundaries = [0, 53, 84, 122, data.len()];
    for cut in 0..data.len() {
        std::fs::write(&path, &data[..cut]).unwrap();
        let out = wal_in_process(&path).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(out.contains("torn tail"), !boundaries.contains(&cut), "cut at {cut}:\n{out}");
        let whole = boundaries.iter().filter(|&&b| b > 0 && b <= cut).count();
        assert_eq!(out.matches("record @").count(), whole, "cut at {cut}:\n{out}");
    }
    std::fs::write(&path, &data[..100]).unwrap();
    let r = run(p, &["wal", "000003.log"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("torn tail at offset 84: payload of 31 bytes cut off"), "{r:?}");

    // An empty log is a fresh log (Db::open creates one): no records, exit 0.
    std::fs::write(&path, b"").unwrap();
    let r = run(p, &["wal", "000003.log"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("0 records, 0 ops\nlog ends cleanly"), "{r:?}");

    // Not a log: text, and a table.
    std::fs::write(p.join("notes.txt"), TEXT.repeat(3)).unwrap();
    let err = assert_cli_fails(p, &["wal", "notes.txt"], "notes.txt");
    assert!(err.contains("not a log"), "{err}");
    make_table(&p.join("000007.sst"), 60);
    assert_cli_fails(p, &["wal", "000007.sst"], "000007.sst");
}

#[test]
fn manifest_flipped_bytes_truncation_empty_and_foreign_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    make_db(&p.join("db"));
    let name = common::current_manifest(&p.join("db"));
    let data = std::fs::read(p.join("db").join(&name)).unwrap();
    let path = p.join(&name);
    let last_record = 169; // offset of the last edit (see the golden output)
                           // Every record is checked, the last one too (a damaged edit may have been acted on).
    for offset in 0..data.len() {
        std::fs::write(&path, &data).unwrap();
        flip_byte(&path, offset as u64);
        match manifest_in_process(&path) {
            // A flip that makes the last record's length run past the end of the file is
            // indistinguishable from an append cut off by a crash: a torn tail, as at open.
            Ok(out) if [last_record + 4, last_record + 5].contains(&offset) => {
                assert!(out.contains(&format!("torn tail at offset {last_record}: payload")), "{out}")
            }
            Ok(out) => panic!("flip at {offset} not reported:\n{out}"),
            Err(e) => assert_names_file_and_offset(&e, &name),
        }
    }
    std::fs::write(&path, &data).unwrap();
    flip_byte(&path, 20);
    let err = assert_cli_fails(p, &["manifest", &name], &name);
    assert!(err.contains("at offset 13"), "{err}");

    // Cut inside the first record (the snapshot): not a usable MANIFEST. Cut later: the
    // edits before the cut and a torn tail, as `Db::open` reads it.
    for cut in 0..data.len() {
        std::fs::write(&path, &data[..cut]).unwrap();
        match manifest_in_process(&path) {
            Ok(out) => {
                assert!(cut >= 13, "cut at {cut} accepted:\n{out}");
                // A cut that leaves only zero bytes of the next header is a clean end.
                let edge = [13, 63, 113, 169].into_iter().filter(|&b| b <= cut).max().unwrap();
                let clean = data[edge..cut].iter().all(|&b| b == 0);
                assert_eq!(out.contains("torn tail"), !clean, "cut at {cut}:\n{out}");
            }
            Err(e) => {
                assert!(cut < 13, "cut at {cut}: {e}");
                assert_names_file_and_offset(&e, &name);
            }
        }
    }
    std::fs::write(&path, &data[..10]).unwrap();
    assert_cli_fails(p, &["manifest", &name], &name);
    std::fs::write(&path, &data[..100]).unwrap();
    let r = run(p, &["manifest", &name]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("torn tail at offset 63"), "{r:?}");

    std::fs::write(&path, b"").unwrap();
    let err = assert_cli_fails(p, &["manifest", &name], &name);
    assert!(err.contains("lacks the log number"), "{err}");
    std::fs::write(p.join("notes.txt"), TEXT.repeat(3)).unwrap();
    assert_cli_fails(p, &["manifest", "notes.txt"], "notes.txt");
    make_wal(&p.join("000003.log"));
    assert_cli_fails(p, &["manifest", "000003.log"], "000003.log");
    make_table(&p.join("000007.sst"), 60);
    assert_cli_fails(p, &["manifest", "000007.sst"], "000007.sst");
}

#[test]
fn db_damage_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    make_db(&p.join("db"));

    // A flipped byte in a table: the summary does not read tables, --verify does.
    flip_byte(&p.join("db/000007.sst"), 100);
    assert_eq!(run(p, &["db", "db"]).code, 0);
    let r = run(p, &["db", "db", "--verify"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("000007.sst  FAILED: checksum mismatch in db/000007.sst at offset 0"), "{r:?}");
    assert!(r.stdout.contains("000009.sst  ok"), "{r:?}");
    assert!(r.stderr.contains("verify failed: 1 of 3 files damaged"), "{r:?}");
    flip_byte(&p.join("db/000007.sst"), 100);

    // Damage in the middle of the live WAL.
    let mut b = engine::WriteBatch::new();
    b.put(b"k", b"v");
    b.set_sequence(72);
    let wal = p.join("db/000008.log");
    let mut w = engine::wal::Writer::with_offset(
        engine::fs::Fs::reopen_for_append(&engine::PosixFs::new(), &wal).unwrap(),
        wal.clone(),
        std::fs::metadata(&wal).unwrap().len(),
    );
    w.add_record(b.data()).unwrap();
    w.sync().unwrap();
    drop(w);
    flip_byte(&wal, 10);
    let r = run(p, &["db", "db", "--verify"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("000008.log  FAILED: checksum mismatch in db/000008.log at offset 0"), "{r:?}");

    // A torn tail in a WAL followed by records in a later WAL: corruption, as at open.
    std::fs::write(&wal, &std::fs::read(&wal).unwrap()[..40]).unwrap();
    let next = p.join("db/000010.log");
    let mut w = engine::wal::Writer::new(engine::fs::Fs::create(&engine::PosixFs::new(), &next).unwrap(), next);
    b.set_sequence(73);
    w.add_record(b.data()).unwrap();
    w.sync().unwrap();
    drop(w);
    let r = run(p, &["db", "db", "--verify"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains(
            "000008.log  FAILED: corruption in db/000008.log at offset 0: torn WAL record (payload of 39 bytes \
             cut off at end of file) is followed by later records in db/000010.log\n  000010.log  ok: 1 record, 1 op"
        ),
        "{r:?}"
    );

    // A table the MANIFEST names is gone.
    std::fs::remove_file(p.join("db/000009.sst")).unwrap();
    let r = run(p, &["db", "db"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("000009.sst  579 bytes") && r.stdout.contains("MISSING"), "{r:?}");
    assert!(r.stderr.contains("db/000009.sst") && r.stderr.contains("missing"), "{r:?}");

    // CURRENT names a MANIFEST that is not there; no CURRENT at all; not a directory.
    std::fs::write(p.join("db/CURRENT"), "MANIFEST-000099\n").unwrap();
    let err = assert_cli_fails(p, &["db", "db"], "db/CURRENT");
    assert!(err.contains("MANIFEST-000099"), "{err}");
    std::fs::remove_file(p.join("db/CURRENT")).unwrap();
    let r = run(p, &["db", "db"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("db/CURRENT"), "{r:?}");
    let r = run(p, &["db", "nowhere"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("nowhere/CURRENT"), "{r:?}");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    make_table(&dir.path().join("t.sst"), 10);
    let r = run(dir.path(), &["t.sst", "--from", "\\xZZ"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("invalid argument") && r.stderr.contains("two hex digits"), "{r:?}");
    let r = run(dir.path(), &["t.sst", "--hex", "--to", "abc"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("odd number of digits"), "{r:?}");
    let r = run(dir.path(), &[]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = run(dir.path(), &["t.sst", "--limit", "x"]);
    assert_eq!(r.code, 2, "{r:?}");
    for args in [&["t.sst", "--decode", "bigtable"][..], &["wal", "x.log", "--decode", ""], &["db", ".", "--decode"]] {
        let r = run(dir.path(), args);
        assert_eq!(r.code, 2, "{r:?}");
        assert!(r.stderr.contains("--decode"), "{r:?}");
    }
    assert_eq!(run(dir.path(), &["t.sst", "--decode", "none"]).code, 0);
    for cmd in [&["--help"][..], &["sst", "--help"], &["wal", "--help"], &["manifest", "--help"], &["db", "--help"]] {
        let r = run(dir.path(), cmd);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains("Usage: sst-dump"), "{r:?}");
    }
}
