//! `sst-dump [sst] FILE`: footer, metaindex, properties and block list of a table; with
//! `--scan` its entries (streamed through the table iterator), with `--verify` a full check
//! through `Table::verify`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use engine::fs::Fs;
use engine::iterator::InternalIterator;
use engine::keys::{make_internal_key, parse_internal_key, user_key, ValueKind, MAX_SEQUENCE};
use engine::sstable::{BlockHandle, BlockInfo, BlockKind, Table, TableReadOptions};
use engine::PosixFs;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::progress;
use crate::report::Report;
use crate::show::{self, ByteStyle, Cell, InternalKey, KeyDecode};

/// What to do besides the summary.
#[derive(Debug, Clone, Default)]
pub struct SstOptions {
    /// Print entries.
    pub scan: bool,
    /// First user key to print (inclusive).
    pub from: Option<Vec<u8>>,
    /// User key to stop before (exclusive).
    pub to: Option<Vec<u8>>,
    /// Most entries to print.
    pub limit: Option<u64>,
    /// Run `Table::verify`.
    pub verify: bool,
    /// How keys and values are written.
    pub style: ByteStyle,
    /// How user keys are interpreted.
    pub decode: KeyDecode,
}

/// A block handle in the output.
#[derive(Debug, Serialize)]
pub struct Handle {
    /// First byte of the block.
    pub offset: u64,
    /// Size without the 5-byte trailer.
    pub size: u64,
}

impl From<BlockHandle> for Handle {
    fn from(h: BlockHandle) -> Self {
        Handle { offset: h.offset, size: h.size }
    }
}

#[derive(Serialize)]
struct FooterOut {
    metaindex: Handle,
    index: Handle,
    format_version: u32,
}

#[derive(Serialize)]
struct MetaOut {
    name: String,
    offset: u64,
    size: u64,
}

#[derive(Serialize)]
struct PropsOut {
    entries: u64,
    deletions: u64,
    raw_key_size: u64,
    raw_value_size: u64,
    data_blocks: u64,
    data_size: u64,
    index_size: u64,
    filter_size: u64,
    filter_bits_per_key: u32,
    compression: String,
    smallest_key: Option<InternalKey>,
    largest_key: Option<InternalKey>,
    smallest_seq: u64,
    largest_seq: u64,
    creation_time: u64,
    creation_time_utc: String,
    format_version: u32,
}

#[derive(Serialize)]
struct BlockOut {
    kind: &'static str,
    offset: u64,
    size: u64,
    compression: String,
    stored_checksum: u32,
    actual_checksum: u32,
    checksum_ok: bool,
}

#[derive(Serialize)]
struct ScanOut {
    from: Option<String>,
    to: Option<String>,
    limit: Option<u64>,
}

/// One entry of a scan.
#[derive(Serialize)]
struct EntryOut {
    key: String,
    /// The user key decoded (`--decode tablet` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    cell: Option<Cell>,
    /// `None` for a key that is not an internal key.
    seq: Option<u64>,
    /// `put`, `del`, or `malformed`.
    kind: &'static str,
    value: String,
    /// The key as text output shows it.
    #[serde(skip)]
    shown: String,
}

#[derive(Serialize)]
struct VerifyOut {
    ok: bool,
    data_blocks: u64,
    entries: u64,
    deletions: u64,
    filter_checked: bool,
    error: Option<String>,
}

fn kind_name(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::Data => "data",
        BlockKind::Filter => "filter",
        BlockKind::Index => "index",
        BlockKind::Properties => "properties",
        BlockKind::Metaindex => "metaindex",
        BlockKind::Unknown => "unknown",
    }
}

fn opt_key(k: &[u8], style: ByteStyle, decode: KeyDecode) -> Option<InternalKey> {
    (!k.is_empty()).then(|| InternalKey::new(k, style, decode))
}

/// Opens a table read-only (no block cache, no paranoid index check: `--verify` does that).
pub fn open_table(path: &Path) -> Result<Arc<Table>> {
    let file = PosixFs::new().open_random(path)?;
    let size = file.size();
    Ok(Table::open(file, path.to_path_buf(), size, None, false)?)
}

/// Dumps the table at `path` into `report`. Errors name the file and offset; the report
/// is finished either way.
pub fn run<W: Write>(path: &Path, opts: &SstOptions, mut report: Report<W>) -> Result<()> {
    let result = dump(path, opts, &mut report);
    let message = result.as_ref().err().map(ToString::to_string);
    report.finish(message.as_deref())?;
    result
}

fn dump<W: Write>(path: &Path, opts: &SstOptions, r: &mut Report<W>) -> Result<()> {
    let (style, decode) = (opts.style, opts.decode);
    r.field("file", &path.display().to_string(), |w, v| writeln!(w, "file              {v}"))?;
    let table = open_table(path)?;
    r.field("file_size", &table.file_size(), |w, v| writeln!(w, "size              {v} bytes"))?;

    let f = table.footer();
    let footer = FooterOut { metaindex: f.metaindex.into(), index: f.index.into(), format_version: f.format_version };
    r.field("footer", &footer, |w, f| {
        writeln!(w, "footer")?;
        writeln!(w, "  metaindex       offset {}, size {}", f.metaindex.offset, f.metaindex.size)?;
        writeln!(w, "  index           offset {}, size {}", f.index.offset, f.index.size)?;
        writeln!(w, "  format version  {}", f.format_version)
    })?;

    let meta: Vec<MetaOut> = table
        .metaindex()
        .iter()
        .map(|(name, h)| MetaOut { name: name.clone(), offset: h.offset, size: h.size })
        .collect();
    r.field("metaindex", &meta, |w, meta| {
        writeln!(w, "metaindex")?;
        for m in meta {
            writeln!(w, "  {:<15} offset {}, size {}", m.name, m.offset, m.size)?;
        }
        Ok(())
    })?;

    let p = table.properties();
    let props = PropsOut {
        entries: p.num_entries,
        deletions: p.num_deletions,
        raw_key_size: p.raw_key_size,
        raw_value_size: p.raw_value_size,
        data_blocks: p.num_data_blocks,
        data_size: p.data_size,
        index_size: p.index_size,
        filter_size: p.filter_size,
        filter_bits_per_key: p.bloom_bits_per_key,
        compression: show::compression_name(p.compression.type_byte()),
        smallest_key: opt_key(&p.smallest_key, style, decode),
        largest_key: opt_key(&p.largest_key, style, decode),
        smallest_seq: p.smallest_seq,
        largest_seq: p.largest_seq,
        creation_time: p.creation_time,
        creation_time_utc: show::utc_time(p.creation_time),
        format_version: p.format_version,
    };
    r.field("properties", &props, |w, v| {
        writeln!(w, "properties")?;
        writeln!(w, "  entries         {}", v.entries)?;
        writeln!(w, "  deletions       {}", v.deletions)?;
        writeln!(w, "  raw key bytes   {}", v.raw_key_size)?;
        writeln!(w, "  raw value bytes {}", v.raw_value_size)?;
        writeln!(w, "  data blocks     {}", v.data_blocks)?;
        writeln!(w, "  data size       {}", v.data_size)?;
        writeln!(w, "  index size      {}", v.index_size)?;
        writeln!(w, "  filter size     {} ({} bits per key)", v.filter_size, v.filter_bits_per_key)?;
        writeln!(w, "  compression     {}", v.compression)?;
        writeln!(w, "  smallest key    {}", show::internal_key(&p.smallest_key, style, decode))?;
        writeln!(w, "  largest key     {}", show::internal_key(&p.largest_key, style, decode))?;
        writeln!(w, "  sequences       {}..{}", v.smallest_seq, v.largest_seq)?;
        writeln!(w, "  creation time   {} ({})", v.creation_time, v.creation_time_utc)?;
        writeln!(w, "  format version  {}", v.format_version)
    })?;

    let spinner = progress::spinner(table.file_size() >= progress::LONG_BYTES, "reading blocks");
    let blocks = table.blocks();
    spinner.finish_and_clear();
    let blocks = blocks?;
    let bad_block = blocks.iter().find(|b| !b.checksum_ok()).cloned();
    list_blocks(r, &blocks)?;

    if opts.scan {
        scan(r, &table, opts)?;
    }
    if opts.verify {
        verify(r, &table)?;
    }
    match bad_block {
        Some(b) => Err(Error::Engine(engine::Error::ChecksumMismatch {
            file: path.to_path_buf(),
            offset: Some(b.handle.offset),
            expected: b.stored_checksum,
            actual: b.actual_checksum,
        })),
        None => Ok(()),
    }
}

fn list_blocks<W: Write>(r: &mut Report<W>, blocks: &[BlockInfo]) -> Result<()> {
    r.begin_list("blocks", |w| {
        writeln!(w, "blocks ({})", blocks.len())?;
        writeln!(
            w,
            "  {:<10} {:>10} {:>8}  {:<11}  {:<10}  {:<10}  checksum",
            "kind", "offset", "size", "compression", "stored", "actual"
        )
    })?;
    for b in blocks {
        let out = BlockOut {
            kind: kind_name(b.kind),
            offset: b.handle.offset,
            size: b.handle.size,
            compression: show::compression_name(b.compression_type),
            stored_checksum: b.stored_checksum,
            actual_checksum: b.actual_checksum,
            checksum_ok: b.checksum_ok(),
        };
        r.item(&out, |w, b| {
            writeln!(
                w,
                "  {:<10} {:>10} {:>8}  {:<11}  {:#010x}  {:#010x}  {}",
                b.kind,
                b.offset,
                b.size,
                b.compression,
                b.stored_checksum,
                b.actual_checksum,
                if b.checksum_ok { "ok" } else { "MISMATCH" }
            )
        })?;
    }
    r.end_list()?;
    Ok(())
}

/// Streams entries through the table iterator: one data block in memory at a time.
fn scan<W: Write>(r: &mut Report<W>, table: &Arc<Table>, opts: &SstOptions) -> Result<()> {
    let style = opts.style;
    let bounds = ScanOut {
        from: opts.from.as_deref().map(|k| show::bytes(k, style)),
        to: opts.to.as_deref().map(|k| show::bytes(k, style)),
        limit: opts.limit,
    };
    r.field("scan", &bounds, |w, _| {
        let mut parts = Vec::new();
        if let Some(k) = &opts.from {
            parts.push(format!("from {}", show::quoted(k, style)));
        }
        if let Some(k) = &opts.to {
            parts.push(format!("to {} (exclusive)", show::quoted(k, style)));
        }
        if let Some(n) = opts.limit {
            parts.push(format!("limit {n}"));
        }
        match parts.is_empty() {
            true => writeln!(w, "entries"),
            false => writeln!(w, "entries ({})", parts.join(", ")),
        }
    })?;
    r.begin_list("entries", |_| Ok(()))?;

    let expected = opts.limit.map_or(table.properties().num_entries, |l| l.min(table.properties().num_entries));
    let long = (expected >= progress::LONG_ENTRIES || table.file_size() >= progress::LONG_BYTES)
        && progress::streaming_allowed();
    let pb = progress::bar(expected, long, "scanning");
    let mut it = table.iter(TableReadOptions { verify_checksums: true, fill_cache: false });
    let mut shown: u64 = 0;
    let mut walk = || -> Result<()> {
        match &opts.from {
            Some(from) => it.seek(&make_internal_key(from, MAX_SEQUENCE, ValueKind::SEEK))?,
            None => it.seek_to_first()?,
        }
        while it.valid() && opts.limit.is_none_or(|l| shown < l) {
            if opts.to.as_deref().is_some_and(|to| user_key(it.key()) >= to) {
                break;
            }
            let entry = match parse_internal_key(it.key()) {
                Some(p) => EntryOut {
                    key: show::bytes(p.user_key, style),
                    cell: Cell::new(p.user_key, style, opts.decode),
                    seq: Some(p.seq),
                    kind: show::kind_name(p.kind),
                    value: show::bytes(it.value(), style),
                    shown: show::user_key(p.user_key, style, opts.decode),
                },
                None => EntryOut {
                    key: show::bytes(it.key(), style),
                    cell: None,
                    seq: None,
                    kind: "malformed",
                    value: show::bytes(it.value(), style),
                    shown: show::quoted(it.key(), style),
                },
            };
            r.item(&entry, |w, e| print_entry(w, e, style))?;
            shown += 1;
            pb.inc(1);
            it.next()?;
        }
        Ok(())
    };
    let result = walk();
    pb.finish_and_clear();
    result?;
    r.end_list()?;
    r.field("shown", &shown, |w, n| writeln!(w, "{} shown", show::count(*n, "entry")))?;
    Ok(())
}

fn print_entry<W: Write>(w: &mut W, e: &EntryOut, style: ByteStyle) -> std::io::Result<()> {
    let wrap = |s: &str| show::wrap(s, style);
    match (e.seq, e.kind) {
        (Some(seq), "del") => writeln!(w, "  {} @{seq} del", e.shown),
        (Some(seq), kind) => writeln!(w, "  {} @{seq} {kind} {}", e.shown, wrap(&e.value)),
        (None, _) => writeln!(w, "  {} (not an internal key) {}", e.shown, wrap(&e.value)),
    }
}

fn verify<W: Write>(r: &mut Report<W>, table: &Arc<Table>) -> Result<()> {
    let spinner = progress::spinner(table.file_size() >= progress::LONG_BYTES, "verifying");
    let result = table.verify();
    spinner.finish_and_clear();
    let out = match &result {
        Ok(rep) => VerifyOut {
            ok: true,
            data_blocks: rep.data_blocks,
            entries: rep.entries,
            deletions: rep.deletions,
            filter_checked: rep.filter_checked,
            error: None,
        },
        Err(e) => VerifyOut {
            ok: false,
            data_blocks: 0,
            entries: 0,
            deletions: 0,
            filter_checked: false,
            error: Some(e.to_string()),
        },
    };
    r.field("verify", &out, |w, v| match &v.error {
        None => writeln!(
            w,
            "verify            ok: {} data blocks, {} entries, {} deletions, {}",
            v.data_blocks,
            v.entries,
            v.deletions,
            if v.filter_checked { "bloom filter checked" } else { "no bloom filter" }
        ),
        Some(e) => writeln!(w, "verify            FAILED: {e}"),
    })?;
    result.map(|_| ()).map_err(Error::Verify)
}
