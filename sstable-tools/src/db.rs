//! `sst-dump db DIR`: a database directory at a glance: CURRENT and its MANIFEST (replayed
//! with `VersionSet::recover`, which only reads), the tables per level with sizes and key
//! ranges, the live WALs, other files, totals. With `--verify`, every live table is
//! checked with `Table::verify` and every live WAL is read to its end, with the rules of
//! `Db::open` (a torn tail is fine only where no later WAL holds records).
//!
//! Never takes the database's LOCK and never writes: it works beside a live `Db` (a file
//! deleted by a compaction between the MANIFEST read and the check shows as missing; run
//! again).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use engine::filename::{log_file, manifest_name, parse_file_name, table_file, FileKind};
use engine::fs::Fs;
use engine::version::edit::NUM_LEVELS;
use engine::version::set::VersionSet;
use engine::PosixFs;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::{table_line, table_name};
use crate::progress;
use crate::report::Report;
use crate::show::{self, ByteStyle, InternalKey, KeyDecode};

#[derive(Serialize)]
struct HeaderOut {
    current: String,
    manifest_size: u64,
    log_number: u64,
    next_file_number: u64,
    last_sequence: u64,
}

#[derive(Serialize)]
struct LevelOut {
    level: usize,
    tables: usize,
    bytes: u64,
}

#[derive(Serialize)]
struct TableOut {
    level: usize,
    number: u64,
    name: String,
    size: u64,
    smallest: InternalKey,
    largest: InternalKey,
    smallest_seq: u64,
    largest_seq: u64,
    missing: bool,
}

#[derive(Serialize)]
struct WalOut {
    number: u64,
    name: String,
    size: u64,
}

#[derive(Serialize)]
struct OtherOut {
    name: String,
    note: &'static str,
}

#[derive(Serialize)]
struct TotalsOut {
    tables: usize,
    table_bytes: u64,
    wals: usize,
    wal_bytes: u64,
}

#[derive(Serialize)]
struct CheckOut {
    name: String,
    ok: bool,
    detail: String,
}

#[derive(Serialize)]
struct VerifySummaryOut {
    checked: usize,
    damaged: usize,
}

/// Summarizes (and with `verify`, checks) the database in `dir`; the report is finished
/// either way.
pub fn run<W: Write>(
    dir: &Path,
    verify: bool,
    style: ByteStyle,
    decode: KeyDecode,
    mut report: Report<W>,
) -> Result<()> {
    let result = dump(dir, verify, style, decode, &mut report);
    let message = result.as_ref().err().map(ToString::to_string);
    report.finish(message.as_deref())?;
    result
}

fn dump<W: Write>(dir: &Path, verify: bool, style: ByteStyle, decode: KeyDecode, r: &mut Report<W>) -> Result<()> {
    let fs: Arc<dyn Fs> = Arc::new(PosixFs::new());
    r.field("dir", &dir.display().to_string(), |w, v| writeln!(w, "database          {v}"))?;
    let vs = VersionSet::recover(Arc::clone(&fs), dir, u64::MAX)?;
    let manifest = manifest_name(vs.manifest_number());
    let header = HeaderOut {
        manifest_size: fs.file_size(&dir.join(&manifest))?,
        current: manifest,
        log_number: vs.log_number,
        next_file_number: vs.file_number_counter().load(std::sync::atomic::Ordering::Relaxed),
        last_sequence: vs.last_sequence,
    };
    r.field("manifest", &header, |w, h| {
        writeln!(w, "CURRENT           {} ({} bytes)", h.current, h.manifest_size)?;
        writeln!(w, "log number        {}", h.log_number)?;
        writeln!(w, "next file         {}", h.next_file_number)?;
        writeln!(w, "last sequence     {}", h.last_sequence)
    })?;

    let version = Arc::clone(vs.peek_current());
    r.begin_list("levels", |w| writeln!(w, "levels\n  level  tables        bytes"))?;
    for level in 0..NUM_LEVELS {
        let out = LevelOut { level, tables: version.num_files(level), bytes: version.level_bytes(level) };
        r.item(&out, |w, l| writeln!(w, "  L{:<4} {:>7} {:>12}", l.level, l.tables, l.bytes))?;
    }
    r.end_list()?;

    let mut missing = None;
    let mut totals = TotalsOut { tables: 0, table_bytes: 0, wals: 0, wal_bytes: 0 };
    r.begin_list("tables", |w| writeln!(w, "tables"))?;
    for (level, files) in version.files.iter().enumerate() {
        for f in files {
            let is_missing = !fs.exists(&table_file(dir, f.number));
            if is_missing && missing.is_none() {
                missing = Some(f.number);
            }
            totals.tables += 1;
            totals.table_bytes += f.size;
            let out = TableOut {
                level,
                number: f.number,
                name: table_name(f.number),
                size: f.size,
                smallest: InternalKey::new(&f.smallest, style, decode),
                largest: InternalKey::new(&f.largest, style, decode),
                smallest_seq: f.smallest_seq,
                largest_seq: f.largest_seq,
                missing: is_missing,
            };
            r.item(&out, |w, t| {
                let line = table_line(
                    level,
                    f.number,
                    f.size,
                    (&f.smallest, &f.largest),
                    (t.smallest_seq, t.largest_seq),
                    style,
                    decode,
                );
                writeln!(w, "  {line}{}", if t.missing { "  MISSING" } else { "" })
            })?;
        }
    }
    r.end_list()?;

    let mut names = fs.list_dir(dir)?;
    names.sort();
    let live: std::collections::HashSet<u64> = version.files.iter().flatten().map(|f| f.number).collect();
    let mut wals = Vec::new();
    let mut others = Vec::new();
    for name in names {
        let note = match parse_file_name(&name) {
            Some(FileKind::Log(n)) if n >= vs.log_number => {
                let size = fs.file_size(&log_file(dir, n))?;
                wals.push(WalOut { number: n, name, size });
                continue;
            }
            Some(FileKind::Table(n)) if live.contains(&n) => continue,
            Some(FileKind::Manifest(n)) if n == vs.manifest_number() => continue,
            Some(FileKind::Current | FileKind::Lock) => continue,
            Some(FileKind::Log(_)) => "obsolete WAL (below the log number)",
            Some(FileKind::Table(_)) => "table not in the current version (obsolete, or being written)",
            Some(FileKind::Manifest(_)) => "old MANIFEST",
            Some(FileKind::Temp) => "temporary file",
            None => "not a database file",
        };
        others.push(OtherOut { name, note });
    }
    wals.sort_by_key(|w| w.number);
    r.begin_list("wals", |w| writeln!(w, "live WALs"))?;
    for wal in &wals {
        totals.wals += 1;
        totals.wal_bytes += wal.size;
        r.item(wal, |w, l| writeln!(w, "  {}  {} bytes", l.name, l.size))?;
    }
    r.end_list()?;
    r.begin_list("other_files", |w| match others.is_empty() {
        true => Ok(()),
        false => writeln!(w, "other files"),
    })?;
    for o in &others {
        r.item(o, |w, o| writeln!(w, "  {}  ({})", o.name, o.note))?;
    }
    r.end_list()?;
    r.field("totals", &totals, |w, t| {
        writeln!(
            w,
            "totals            {}, {} bytes; {}, {} bytes",
            show::count(t.tables as u64, "table"),
            t.table_bytes,
            show::count(t.wals as u64, "WAL"),
            t.wal_bytes
        )
    })?;

    if verify {
        let files: Vec<(usize, Arc<engine::version::FileMeta>)> =
            version.files.iter().enumerate().flat_map(|(l, fs)| fs.iter().map(move |f| (l, Arc::clone(f)))).collect();
        verify_all(dir, &files, &wals, r)?;
    }
    match missing {
        Some(n) => Err(engine::Error::corruption(
            table_file(dir, n),
            None,
            "table named by the MANIFEST is missing (deleted by a compaction since? run again)",
        )
        .into()),
        None => Ok(()),
    }
}

fn verify_all<W: Write>(
    dir: &Path,
    tables: &[(usize, Arc<engine::version::FileMeta>)],
    wals: &[WalOut],
    r: &mut Report<W>,
) -> Result<()> {
    let total: u64 = tables.iter().map(|(_, f)| f.size).chain(wals.iter().map(|w| w.size)).sum();
    let count = tables.len() + wals.len();
    let pb = progress::byte_bar(total, total >= progress::LONG_BYTES || count >= 64, "verifying");
    let mut first: Option<engine::Error> = None;
    let mut damaged = 0;
    let mut note = |e: engine::Error, first: &mut Option<engine::Error>| {
        damaged += 1;
        let msg = e.to_string();
        first.get_or_insert(e);
        msg
    };
    let mut checks = Vec::new();
    for (_, f) in tables {
        let path = table_file(dir, f.number);
        let outcome = check_table(&path, f.size);
        pb.inc(f.size);
        let out = match outcome {
            Ok(detail) => CheckOut { name: table_name(f.number), ok: true, detail },
            Err(e) => CheckOut { name: table_name(f.number), ok: false, detail: note(e, &mut first) },
        };
        checks.push(out);
    }
    // As at `Db::open`: a torn tail is the end of the log only if no later WAL has records.
    // Remembered: the index of the torn WAL's line, its path, the offset and the reason.
    let mut torn_before: Option<(usize, std::path::PathBuf, u64, String)> = None;
    for wal in wals {
        let path = log_file(dir, wal.number);
        let outcome = crate::wal::check_log(&path);
        pb.inc(wal.size);
        let out = match outcome {
            Ok((end, ops)) => {
                if end.records > 0 {
                    if let Some((line, tpath, offset, reason)) = torn_before.take() {
                        let e = engine::Error::corruption(
                            &tpath,
                            Some(offset),
                            format!("torn WAL record ({reason}) is followed by later records in {}", path.display()),
                        );
                        let detail = note(e, &mut first);
                        if let Some(c) = checks.get_mut(line) {
                            *c = CheckOut { name: c.name.clone(), ok: false, detail };
                        }
                    }
                }
                let mut detail = format!("{}, {}", show::count(end.records, "record"), show::count(ops, "op"));
                if let Some(t) = end.torn {
                    detail.push_str(&format!(", torn tail at offset {}: {}", t.offset, t.reason));
                    torn_before = Some((checks.len(), path.clone(), t.offset, t.reason));
                }
                CheckOut { name: wal.name.clone(), ok: true, detail }
            }
            Err(Error::Engine(e)) => CheckOut { name: wal.name.clone(), ok: false, detail: note(e, &mut first) },
            Err(other) => return Err(other),
        };
        checks.push(out);
    }
    pb.finish_and_clear();

    r.begin_list("verify", |w| writeln!(w, "verify"))?;
    for c in &checks {
        r.item(c, |w, c| writeln!(w, "  {}  {}: {}", c.name, if c.ok { "ok" } else { "FAILED" }, c.detail))?;
    }
    r.end_list()?;
    let summary = VerifySummaryOut { checked: count, damaged };
    r.field("verify_summary", &summary, |w, s| {
        writeln!(w, "verify: {} checked, {} damaged", show::count(s.checked as u64, "file"), s.damaged)
    })?;
    match first {
        Some(first) => Err(Error::VerifyDb { failed: damaged, checked: count, first }),
        None => Ok(()),
    }
}

/// Opens and verifies one table; checks its size against the MANIFEST's.
fn check_table(path: &Path, manifest_size: u64) -> std::result::Result<String, engine::Error> {
    let table = crate::sst::open_table(path).map_err(|e| match e {
        Error::Engine(e) => e,
        other => engine::Error::corruption(path, None, other.to_string()),
    })?;
    if table.file_size() != manifest_size {
        return Err(engine::Error::corruption(
            path,
            None,
            format!("file is {} bytes, the MANIFEST says {manifest_size}", table.file_size()),
        ));
    }
    let rep = table.verify()?;
    Ok(format!("{} in {}", show::count(rep.entries, "entry"), show::count(rep.data_blocks, "data block")))
}
