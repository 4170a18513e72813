//! `sst-dump manifest FILE`: the version edits of a MANIFEST in order, then the tables
//! live after all of them. A MANIFEST is accepted exactly when `Db::open` would accept it:
//! a cut-off last record is a torn tail (reported, not an error); a last record present in
//! full but damaged, damage followed by intact records, or a MANIFEST that never states the
//! log number, next file number and last sequence is an error naming file and offset.
//!
//! Read-only and lock-free: it works on the MANIFEST of a live database.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use engine::filename::table_file;
use engine::fs::Fs;
use engine::version::edit::VersionEdit;
use engine::wal::Reader;
use engine::PosixFs;
use serde::Serialize;

use crate::error::Result;
use crate::report::Report;
use crate::show::{self, ByteStyle, InternalKey, KeyDecode};
use crate::wal::TornOut;

#[derive(Serialize)]
struct PointerOut {
    level: usize,
    key: InternalKey,
}

#[derive(Serialize)]
struct DeletedOut {
    level: usize,
    number: u64,
}

/// A table added by an edit.
#[derive(Serialize)]
pub struct NewFileOut {
    /// Its level.
    pub level: usize,
    /// Its file number.
    pub number: u64,
    /// Its file name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Smallest internal key.
    pub smallest: InternalKey,
    /// Largest internal key.
    pub largest: InternalKey,
    /// Smallest sequence number.
    pub smallest_seq: u64,
    /// Largest sequence number.
    pub largest_seq: u64,
}

#[derive(Serialize)]
struct EditOut {
    offset: u64,
    log_number: Option<u64>,
    next_file_number: Option<u64>,
    last_sequence: Option<u64>,
    compact_pointers: Vec<PointerOut>,
    deleted_files: Vec<DeletedOut>,
    new_files: Vec<NewFileOut>,
}

#[derive(Serialize)]
struct FinalOut {
    edits: u64,
    log_number: Option<u64>,
    next_file_number: Option<u64>,
    last_sequence: Option<u64>,
    /// Live tables per level after every edit.
    tables_per_level: Vec<usize>,
    /// Their bytes per level.
    bytes_per_level: Vec<u64>,
}

/// The name of table `number` (`000007.sst`).
pub fn table_name(number: u64) -> String {
    table_file(Path::new(""), number).display().to_string()
}

/// A table added by an edit, for output.
pub fn new_file_out(f: &engine::version::edit::NewFile, style: ByteStyle, decode: KeyDecode) -> NewFileOut {
    NewFileOut {
        level: f.level,
        number: f.number,
        name: table_name(f.number),
        size: f.size,
        smallest: InternalKey::new(&f.smallest, style, decode),
        largest: InternalKey::new(&f.largest, style, decode),
        smallest_seq: f.smallest_seq,
        largest_seq: f.largest_seq,
    }
}

/// One line about a table: `L0 000007.sst  4000 bytes  "a" @1 put .. "z" @9 put  seq 1..9`.
pub fn table_line(
    level: usize,
    number: u64,
    size: u64,
    (smallest, largest): (&[u8], &[u8]),
    seqs: (u64, u64),
    style: ByteStyle,
    decode: KeyDecode,
) -> String {
    format!(
        "L{level} {}  {size} bytes  {} .. {}  seq {}..{}",
        table_name(number),
        show::internal_key(smallest, style, decode),
        show::internal_key(largest, style, decode),
        seqs.0,
        seqs.1
    )
}

/// Dumps the MANIFEST at `path` into `report`; the report is finished either way.
pub fn run<W: Write>(path: &Path, style: ByteStyle, decode: KeyDecode, mut report: Report<W>) -> Result<()> {
    let result = dump(path, style, decode, &mut report);
    let message = result.as_ref().err().map(ToString::to_string);
    report.finish(message.as_deref())?;
    result
}

fn dump<W: Write>(path: &Path, style: ByteStyle, decode: KeyDecode, r: &mut Report<W>) -> Result<()> {
    let fs = PosixFs::new();
    r.field("file", &path.display().to_string(), |w, v| writeln!(w, "file      {v}"))?;
    let size = fs.file_size(path)?;
    r.field("file_size", &size, |w, v| writeln!(w, "size      {v} bytes"))?;

    let mut reader = Reader::new(fs.open_sequential(path)?, path.to_path_buf(), true);
    let mut fin = FinalOut {
        edits: 0,
        log_number: None,
        next_file_number: None,
        last_sequence: None,
        tables_per_level: Vec::new(),
        bytes_per_level: Vec::new(),
    };
    let mut live: BTreeMap<(usize, u64), u64> = BTreeMap::new();
    r.begin_list("edits", |_| Ok(()))?;
    while let Some(rec) = reader.read_record()? {
        let edit = VersionEdit::decode(rec.data).map_err(|e| e.in_file(path).at_offset(rec.offset))?;
        fin.edits += 1;
        fin.log_number = edit.log_number.or(fin.log_number);
        fin.next_file_number = edit.next_file_number.or(fin.next_file_number);
        fin.last_sequence = edit.last_sequence.or(fin.last_sequence);
        for &(level, number) in &edit.deleted_files {
            live.remove(&(level, number));
        }
        for f in &edit.new_files {
            live.insert((f.level, f.number), f.size);
        }
        let out = edit_out(rec.offset, &edit, style, decode);
        r.item(&out, |w, e| print_edit(w, e, &edit, style, decode))?;
    }
    r.end_list()?;

    let levels = live.keys().map(|(l, _)| l + 1).max().unwrap_or(0);
    fin.tables_per_level = (0..levels).map(|l| live.keys().filter(|(lv, _)| *lv == l).count()).collect();
    fin.bytes_per_level =
        (0..levels).map(|l| live.iter().filter(|((lv, _), _)| *lv == l).map(|(_, s)| s).sum()).collect();
    r.field("final", &fin, |w, f| {
        writeln!(w, "{}", show::count(f.edits, "edit"))?;
        let opt = |v: Option<u64>| v.map_or_else(|| "(missing)".to_string(), |n| n.to_string());
        writeln!(
            w,
            "final: log number {}, next file {}, last sequence {}",
            opt(f.log_number),
            opt(f.next_file_number),
            opt(f.last_sequence)
        )?;
        for (level, (n, b)) in f.tables_per_level.iter().zip(&f.bytes_per_level).enumerate() {
            writeln!(w, "  L{level}: {}, {b} bytes", show::count(*n as u64, "table"))?;
        }
        Ok(())
    })?;

    let torn = reader.torn_tail().map(TornOut::from);
    r.field("torn_tail", &torn, |w, t| match t {
        Some(t) => writeln!(w, "torn tail at offset {}: {}", t.offset, t.reason),
        None => writeln!(w, "MANIFEST ends cleanly"),
    })?;
    if let Some(t) = torn.filter(|t| !t.truncated) {
        return Err(
            engine::Error::corruption(path, Some(t.offset), format!("damaged last record: {}", t.reason)).into()
        );
    }
    if fin.log_number.is_none() || fin.next_file_number.is_none() || fin.last_sequence.is_none() {
        return Err(engine::Error::corruption(
            path,
            Some(0),
            "MANIFEST lacks the log number, next file number or last sequence (not a MANIFEST, or cut off in its first record)",
        )
        .into());
    }
    Ok(())
}

fn edit_out(offset: u64, e: &VersionEdit, style: ByteStyle, decode: KeyDecode) -> EditOut {
    EditOut {
        offset,
        log_number: e.log_number,
        next_file_number: e.next_file_number,
        last_sequence: e.last_sequence,
        compact_pointers: e
            .compact_pointers
            .iter()
            .map(|(level, key)| PointerOut { level: *level, key: InternalKey::new(key, style, decode) })
            .collect(),
        deleted_files: e.deleted_files.iter().map(|&(level, number)| DeletedOut { level, number }).collect(),
        new_files: e.new_files.iter().map(|f| new_file_out(f, style, decode)).collect(),
    }
}

fn print_edit<W: Write>(
    w: &mut W,
    out: &EditOut,
    e: &VersionEdit,
    style: ByteStyle,
    decode: KeyDecode,
) -> std::io::Result<()> {
    writeln!(w, "edit @{}", out.offset)?;
    if let Some(n) = e.log_number {
        writeln!(w, "  log number       {n}")?;
    }
    if let Some(n) = e.next_file_number {
        writeln!(w, "  next file        {n}")?;
    }
    if let Some(n) = e.last_sequence {
        writeln!(w, "  last sequence    {n}")?;
    }
    for (level, key) in &e.compact_pointers {
        writeln!(w, "  compact pointer  L{level} {}", show::internal_key(key, style, decode))?;
    }
    for (level, number) in &e.deleted_files {
        writeln!(w, "  remove           L{level} {}", table_name(*number))?;
    }
    for f in &e.new_files {
        let line = table_line(
            f.level,
            f.number,
            f.size,
            (&f.smallest, &f.largest),
            (f.smallest_seq, f.largest_seq),
            style,
            decode,
        );
        writeln!(w, "  add              {line}")?;
    }
    Ok(())
}
