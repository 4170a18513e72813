//! `sst-dump wal FILE`: every record of a write-ahead log with its write batch, then how the
//! log ends. A torn tail (what a crash during an append leaves) is reported, not an error;
//! damage followed by intact records is an error, as it is for `Db::open`.
//!
//! Read-only and lock-free: it works on the WAL of a live database (whose last record may
//! be half written at the moment it is read, which shows as a torn tail).

use std::io::Write;
use std::path::Path;

use engine::batch::BatchOp;
use engine::fs::Fs;
use engine::wal::{Reader, TornTail};
use engine::{PosixFs, WriteBatch};
use serde::Serialize;

use crate::error::Result;
use crate::progress;
use crate::report::Report;
use crate::show::{self, ByteStyle, Cell, KeyDecode};

/// One operation of a batch.
#[derive(Serialize)]
struct OpOut {
    op: &'static str,
    seq: u64,
    key: String,
    /// The key decoded (`--decode tablet` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    cell: Option<Cell>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    /// The key as text output shows it.
    #[serde(skip)]
    shown: String,
}

/// One record: a write batch.
#[derive(Serialize)]
struct RecordOut {
    offset: u64,
    sequence: u64,
    count: u32,
    ops: Vec<OpOut>,
}

/// Where and why a log ended early.
#[derive(Debug, Clone, Serialize)]
pub struct TornOut {
    /// The valid log is `0..offset`.
    pub offset: u64,
    /// What was found there.
    pub reason: String,
    /// Cut off (an interrupted append) rather than present but damaged.
    pub truncated: bool,
}

impl From<&TornTail> for TornOut {
    fn from(t: &TornTail) -> Self {
        TornOut { offset: t.offset, reason: t.reason.clone(), truncated: t.truncated }
    }
}

#[derive(Serialize)]
struct SummaryOut {
    records: u64,
    ops: u64,
    first_sequence: Option<u64>,
    last_sequence: Option<u64>,
    valid_len: u64,
}

/// Decodes a record's write batch; errors name the file, the record's offset and the byte
/// within the record.
pub fn decode_batch(path: &Path, offset: u64, data: &[u8]) -> engine::Result<WriteBatch> {
    WriteBatch::from_data(data.to_vec()).map_err(|e| match e {
        engine::Error::Corruption { offset: at, reason, .. } => engine::Error::corruption(
            path,
            Some(offset),
            format!("log record: write batch: {reason} (at byte {} of the record)", at.unwrap_or(0)),
        ),
        other => other.in_file(path),
    })
}

/// How reading a whole log ended.
#[derive(Debug, Clone)]
pub struct LogEnd {
    /// Records read.
    pub records: u64,
    /// Length of the valid log (zero padding after the last record not counted).
    pub valid_len: u64,
    /// The torn tail, if the log ended early.
    pub torn: Option<TornOut>,
}

/// Reads every record of the log at `path`, calling `each` with the record's offset, its
/// batch and the valid length so far. A log whose first record is already damaged in
/// place (not cut off) is not taken for a log at all: that is an error.
pub fn read_log(path: &Path, mut each: impl FnMut(u64, &WriteBatch, u64) -> Result<()>) -> Result<LogEnd> {
    let fs = PosixFs::new();
    let file = fs.open_sequential(path)?;
    let mut reader = Reader::new(file, path.to_path_buf(), true);
    let mut records = 0;
    while let Some(rec) = reader.read_record()? {
        let batch = decode_batch(path, rec.offset, rec.data)?;
        let offset = rec.offset;
        records += 1;
        each(offset, &batch, reader.valid_len())?;
    }
    let torn = reader.torn_tail().map(TornOut::from);
    if let Some(t) = &torn {
        if records == 0 && !t.truncated {
            return Err(engine::Error::corruption(
                path,
                Some(t.offset),
                format!("not a log, or its first record is damaged: {}", t.reason),
            )
            .into());
        }
    }
    Ok(LogEnd { records, valid_len: reader.valid_len(), torn })
}

/// Reads a whole log without printing (for `db --verify`); returns the end and the number
/// of operations.
pub fn check_log(path: &Path) -> Result<(LogEnd, u64)> {
    let mut ops = 0;
    let end = read_log(path, |_, b, _| {
        ops += u64::from(b.count());
        Ok(())
    })?;
    Ok((end, ops))
}

/// Dumps the log at `path` into `report`; the report is finished either way.
pub fn run<W: Write>(path: &Path, style: ByteStyle, decode: KeyDecode, mut report: Report<W>) -> Result<()> {
    let result = dump(path, style, decode, &mut report);
    let message = result.as_ref().err().map(ToString::to_string);
    report.finish(message.as_deref())?;
    result
}

fn dump<W: Write>(path: &Path, style: ByteStyle, decode: KeyDecode, r: &mut Report<W>) -> Result<()> {
    r.field("file", &path.display().to_string(), |w, v| writeln!(w, "file      {v}"))?;
    let size = PosixFs::new().file_size(path)?;
    r.field("file_size", &size, |w, v| writeln!(w, "size      {v} bytes"))?;
    r.begin_list("records", |_| Ok(()))?;
    let pb = progress::byte_bar(size, size >= progress::LONG_BYTES && progress::streaming_allowed(), "reading log");
    let mut ops: u64 = 0;
    let mut first_sequence = None;
    let mut last_sequence = None;
    let result = read_log(path, |offset, batch, valid_len| {
        let seq = batch.sequence();
        let mut out = RecordOut { offset, sequence: seq, count: batch.count(), ops: Vec::new() };
        for (i, op) in batch.iter().enumerate() {
            let op_seq = seq.wrapping_add(i as u64);
            let (op, key, value) = match op? {
                BatchOp::Put { key, value } => ("put", key, Some(show::bytes(value, style))),
                BatchOp::Delete { key } => ("del", key, None),
            };
            out.ops.push(OpOut {
                op,
                seq: op_seq,
                key: show::bytes(key, style),
                cell: Cell::new(key, style, decode),
                value,
                shown: show::user_key(key, style, decode),
            });
        }
        ops += u64::from(batch.count());
        first_sequence.get_or_insert(seq);
        if batch.count() > 0 {
            last_sequence = Some(seq + u64::from(batch.count()) - 1);
        }
        r.item(&out, |w, rec| print_record(w, rec, style))?;
        pb.set_position(valid_len);
        Ok(())
    });
    pb.finish_and_clear();
    let LogEnd { records, valid_len, torn } = result?;
    r.end_list()?;
    let summary = SummaryOut { records, ops, first_sequence, last_sequence, valid_len };
    r.field("summary", &summary, |w, s| {
        write!(w, "{}, {}", show::count(s.records, "record"), show::count(s.ops, "op"))?;
        if let (Some(a), Some(b)) = (s.first_sequence, s.last_sequence) {
            write!(w, ", sequences {a}..{b}")?;
        }
        writeln!(w)
    })?;
    r.field("torn_tail", &torn, |w, t| match t {
        Some(t) => writeln!(
            w,
            "torn tail at offset {}: {} ({})",
            t.offset,
            t.reason,
            if t.truncated { "cut off, as an interrupted append leaves it" } else { "last record damaged" }
        ),
        None => writeln!(w, "log ends cleanly"),
    })?;
    Ok(())
}

fn print_record<W: Write>(w: &mut W, rec: &RecordOut, style: ByteStyle) -> std::io::Result<()> {
    let wrap = |s: &str| show::wrap(s, style);
    writeln!(w, "record @{}: sequence {}, {}", rec.offset, rec.sequence, show::count(rec.count, "op"))?;
    for op in &rec.ops {
        match &op.value {
            Some(v) => writeln!(w, "  @{} put {} {}", op.seq, op.shown, wrap(v))?,
            None => writeln!(w, "  @{} del {}", op.seq, op.shown)?,
        }
    }
    Ok(())
}
