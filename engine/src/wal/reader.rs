//! Reads logical records back from a log file and applies the recovery rules.
//!
//! # Recovery rules
//! The reader walks physical records in order. Anything that is not an intact record in its
//! expected place is a *damaged spot*: a header or payload cut off, a zero or unknown type, a
//! length running past its block, a checksum mismatch, or a fragment out of order (a `MIDDLE`
//! or `LAST` with no record open, a `FULL` or `FIRST` while one is open).
//!
//! At the first damaged spot the reader scans the rest of the file for any intact *logical*
//! record (a `FULL`, or a `FIRST`, `MIDDLE`*, `LAST` chain, every fragment with a good
//! checksum). It re-synchronizes byte by byte after damage and follows headers otherwise; a
//! block always begins with a header, so later blocks are found exactly.
//! - If one exists, the damage is in the middle of the log: `read_record` returns
//!   [`Error::ChecksumMismatch`] or [`Error::Corruption`] naming the damaged spot's offset.
//! - If none exists, the damage is a *torn tail*: `read_record` returns `Ok(None)` and
//!   [`Reader::torn_tail`] tells where the valid log ends and why.
//! - If the damaged spot and everything after it are zero bytes (pre-allocation, padding)
//!   and no record is open, that is simply the end of the log (no torn tail).
//!
//! After `Ok(None)` or a corruption error, every later call returns `Ok(None)`. An I/O error
//! while reading records is returned and leaves the reader where it was (the call may be
//! retried); one during the forward scan also ends the reader.

#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use super::format::{valid_record_at, Header, RecordType, BLOCK_SIZE, HEADER_SIZE, ZERO_TYPE};
use crate::error::{Error, Result};
use crate::fs::SequentialFile;

/// One logical record, borrowed from the reader until its next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// File offset of the record's first physical record (its header).
    pub offset: u64,
    /// The record's bytes.
    pub data: &'a [u8],
}

/// Where and why a log ended early (its valid prefix is `0..offset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// File offset of the first byte not part of the valid log: the header of the incomplete
    /// or damaged record (the first fragment's header if a fragmented record was open).
    pub offset: u64,
    /// What was found there.
    pub reason: String,
    /// True when the log simply ends early (a cut-off header, payload or fragmented
    /// record), as an interrupted append leaves it; false when the last record is present
    /// in full but damaged (a bad checksum, length or type).
    pub truncated: bool,
}

impl std::fmt::Display for TornTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "torn tail at offset {}: {}", self.offset, self.reason)
    }
}

/// What was wrong at a damaged spot.
#[derive(Debug, Clone, Copy)]
enum Problem {
    TruncatedHeader,
    TruncatedPayload { length: u16 },
    BadLength { length: u16 },
    ZeroType,
    UnknownType(u8),
    Checksum { expected: u32, actual: u32 },
    Orphan(RecordType),
    Unfinished(RecordType),
}

impl Problem {
    fn describe(self) -> String {
        match self {
            Problem::TruncatedHeader => "record header cut off at end of file".into(),
            Problem::TruncatedPayload { length } => format!("payload of {length} bytes cut off at end of file"),
            Problem::BadLength { length } => format!("record length {length} runs past its block"),
            Problem::ZeroType => "zero record type".into(),
            Problem::UnknownType(t) => format!("unknown record type {t}"),
            Problem::Checksum { expected, actual } => {
                format!("checksum mismatch: expected {expected:#010x}, actual {actual:#010x}")
            }
            Problem::Orphan(t) => format!("{t:?} fragment with no record open"),
            Problem::Unfinished(t) => format!("fragmented record not finished before a {t:?} record"),
        }
    }
}

/// A damaged spot: its file offset, where in the current block it is, and where a forward
/// scan for intact records must start.
#[derive(Debug, Clone, Copy)]
struct Damage {
    offset: u64,
    pos: usize,
    scan_from: usize,
    problem: Problem,
}

enum Physical {
    Record { ty: RecordType, offset: u64, start: usize, end: usize },
    Eof,
    Damaged(Damage),
}

/// Reads the logical records of one log file from its start. Reads whole blocks; holds one
/// block and the fragments of one open record in memory (bounded by the file's size).
/// Not shared between threads.
pub struct Reader {
    file: Box<dyn SequentialFile>,
    path: PathBuf,
    verify_checksums: bool,
    /// The current block; `block[..block_len]` holds file bytes.
    block: Box<[u8]>,
    block_len: usize,
    /// File offset of `block[0]`.
    block_start: u64,
    /// Next unread byte in the block.
    pos: usize,
    /// The current block is the file's last (a read came up short).
    last_block: bool,
    /// Fragments of the open record.
    scratch: Vec<u8>,
    /// Offset of the open record's `FIRST` fragment, if one is open.
    open_record: Option<u64>,
    /// File offset just past the last record returned.
    valid_len: u64,
    finished: bool,
    torn: Option<TornTail>,
}

impl Reader {
    /// A reader over `file` (named `path` in errors). With `verify_checksums` false, records
    /// are returned without checking their CRC (the forward scan after damage still checks).
    pub fn new(file: Box<dyn SequentialFile>, path: PathBuf, verify_checksums: bool) -> Self {
        Reader {
            file,
            path,
            verify_checksums,
            block: vec![0u8; BLOCK_SIZE].into_boxed_slice(),
            block_len: 0,
            block_start: 0,
            pos: 0,
            last_block: false,
            scratch: Vec::new(),
            open_record: None,
            valid_len: 0,
            finished: false,
            torn: None,
        }
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Set once `read_record` has returned `Ok(None)` because of a torn tail.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// File offset just past the last record returned: once the log has ended, the length
    /// of its valid prefix (zero padding after the last record is not counted).
    pub fn valid_len(&self) -> u64 {
        self.valid_len
    }

    /// The next logical record; `Ok(None)` at the end of the log (clean or torn, see the
    /// module docs). The record borrows the reader until the next call.
    pub fn read_record(&mut self) -> Result<Option<Record<'_>>> {
        if self.finished {
            return Ok(None);
        }
        loop {
            match self.next_physical()? {
                Physical::Eof => {
                    self.finished = true;
                    if let Some(offset) = self.open_record {
                        self.torn = Some(TornTail {
                            offset,
                            reason: "fragmented record has no LAST fragment before end of file".into(),
                            truncated: true,
                        });
                    }
                    return Ok(None);
                }
                Physical::Damaged(d) => return self.on_damage(d).map(|()| None),
                Physical::Record { ty, offset, start, end } => {
                    // Each arm borrows the payload itself: a borrow taken before the match
                    // and returned from one arm would stay live across the loop.
                    match (ty, self.open_record) {
                        (RecordType::Full, None) => {
                            self.valid_len = self.block_start + end as u64;
                            let data = self.block.get(start..end).unwrap_or_default();
                            return Ok(Some(Record { offset, data }));
                        }
                        (RecordType::First, None) => {
                            self.scratch.clear();
                            self.scratch.extend_from_slice(self.block.get(start..end).unwrap_or_default());
                            self.open_record = Some(offset);
                        }
                        (RecordType::Middle, Some(_)) => {
                            self.scratch.extend_from_slice(self.block.get(start..end).unwrap_or_default());
                        }
                        (RecordType::Last, Some(first)) => {
                            self.scratch.extend_from_slice(self.block.get(start..end).unwrap_or_default());
                            self.open_record = None;
                            self.valid_len = self.block_start + end as u64;
                            return Ok(Some(Record { offset: first, data: &self.scratch }));
                        }
                        (RecordType::Middle | RecordType::Last, None) => {
                            let pos = start - HEADER_SIZE;
                            let problem = Problem::Orphan(ty);
                            return self.on_damage(Damage { offset, pos, scan_from: end, problem }).map(|()| None);
                        }
                        (RecordType::Full | RecordType::First, Some(first)) => {
                            // The new record may itself be intact: scan from its header.
                            let pos = start - HEADER_SIZE;
                            let problem = Problem::Unfinished(ty);
                            return self
                                .on_damage(Damage { offset: first, pos, scan_from: pos, problem })
                                .map(|()| None);
                        }
                    }
                }
            }
        }
    }

    /// Reads the next block into `block`. At the end of the file `block_len` is 0.
    fn read_block(&mut self) -> Result<()> {
        self.block_start += self.block_len as u64;
        self.block_len = 0;
        self.pos = 0;
        while self.block_len < BLOCK_SIZE {
            let dst = self.block.get_mut(self.block_len..).unwrap_or_default();
            let room = dst.len();
            let n = self.file.read(dst).map_err(|e| e.in_file(&self.path))?;
            if n == 0 {
                self.last_block = true;
                break;
            }
            self.block_len += n.min(room);
        }
        Ok(())
    }

    fn next_physical(&mut self) -> Result<Physical> {
        loop {
            let rest = self.block.get(self.pos..self.block_len).unwrap_or_default();
            let offset = self.block_start + self.pos as u64;
            let pos = self.pos;
            let Some(h) = Header::decode(rest) else {
                if !self.last_block {
                    // A full block's short tail is padding; the next block starts a header.
                    self.read_block()?;
                    continue;
                }
                if rest.iter().all(|&b| b == 0) {
                    return Ok(Physical::Eof);
                }
                let problem = Problem::TruncatedHeader;
                return Ok(Physical::Damaged(Damage { offset, pos, scan_from: self.block_len, problem }));
            };
            let damaged = |problem| Ok(Physical::Damaged(Damage { offset, pos, scan_from: pos + 1, problem }));
            let length = h.length;
            let Some(ty) = RecordType::from_u8(h.type_byte) else {
                if h.type_byte == ZERO_TYPE {
                    return damaged(Problem::ZeroType);
                }
                return damaged(Problem::UnknownType(h.type_byte));
            };
            let start = pos + HEADER_SIZE;
            let end = start + usize::from(length);
            if end > self.block_len {
                if end > BLOCK_SIZE || !self.last_block {
                    return damaged(Problem::BadLength { length });
                }
                return damaged(Problem::TruncatedPayload { length });
            }
            let payload = self.block.get(start..end).unwrap_or_default();
            if self.verify_checksums && !h.matches(payload) {
                let expected = h.expected_crc();
                let actual = super::format::record_crc(h.type_byte, payload);
                return damaged(Problem::Checksum { expected, actual });
            }
            self.pos = end;
            return Ok(Physical::Record { ty, offset, start, end });
        }
    }

    /// Decides whether damage is a torn tail or corruption (see the module docs). Consumes
    /// the rest of the file; the reader is finished afterwards.
    fn on_damage(&mut self, d: Damage) -> Result<()> {
        // The scan moves past the damaged spot for good, whatever it finds.
        self.finished = true;
        let scan = self.scan_forward(d.pos, d.scan_from)?;
        if scan.found_record {
            return Err(match d.problem {
                Problem::Checksum { expected, actual } => {
                    Error::ChecksumMismatch { file: self.path.clone(), offset: Some(d.offset), expected, actual }
                }
                p => Error::corruption(&self.path, Some(d.offset), format!("log record: {}", p.describe())),
            });
        }
        match self.open_record {
            None if scan.all_zero => {}
            open => {
                let truncated = matches!(d.problem, Problem::TruncatedHeader | Problem::TruncatedPayload { .. });
                self.torn =
                    Some(TornTail { offset: open.unwrap_or(d.offset), reason: d.problem.describe(), truncated });
            }
        }
        Ok(())
    }

    /// Scans from `scan_from` in the current block to the end of the file for an intact
    /// logical record; also reports whether every byte from `zero_from` on is zero.
    fn scan_forward(&mut self, zero_from: usize, scan_from: usize) -> Result<ScanResult> {
        let current = self.block.get(..self.block_len).unwrap_or_default();
        let mut all_zero = current.get(zero_from..).unwrap_or_default().iter().all(|&b| b == 0);
        let mut open = false;
        if scan_block(current, scan_from, &mut open) {
            return Ok(ScanResult { found_record: true, all_zero: false });
        }
        while !self.last_block {
            self.read_block()?;
            let block = self.block.get(..self.block_len).unwrap_or_default();
            if block.iter().all(|&b| b == 0) {
                open = false;
                continue;
            }
            all_zero = false;
            if scan_block(block, 0, &mut open) {
                return Ok(ScanResult { found_record: true, all_zero });
            }
        }
        Ok(ScanResult { found_record: false, all_zero })
    }
}

struct ScanResult {
    found_record: bool,
    all_zero: bool,
}

/// Walks `block` from `pos`, following headers of intact physical records and moving one byte
/// at a time over anything else. `open` carries an open `FIRST` chain across blocks.
/// True when an intact logical record completes.
fn scan_block(block: &[u8], mut pos: usize, open: &mut bool) -> bool {
    while pos + HEADER_SIZE <= block.len() {
        match valid_record_at(block, pos) {
            Some((ty, len)) => {
                match ty {
                    RecordType::Full => return true,
                    RecordType::First => *open = true,
                    RecordType::Middle => {}
                    RecordType::Last if *open => return true,
                    RecordType::Last => {}
                }
                pos += HEADER_SIZE + len;
            }
            None => {
                *open = false;
                // Re-sync: jump to the next position whose type byte is a record type.
                let type_byte = pos + 1 + HEADER_SIZE - 1;
                let tail = block.get(type_byte..).unwrap_or_default();
                match tail.iter().position(|&b| b.wrapping_sub(1) < RecordType::Last as u8) {
                    Some(skip) => pos += 1 + skip,
                    None => return false,
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{Fs, MemFs, WritableFile};
    use crate::wal::Writer;
    use xorshift::{Rng, SeedableRng, Xorshift128};

    /// A log image in memory, read through the `SequentialFile` seam in odd-sized chunks.
    struct Bytes {
        data: Vec<u8>,
        pos: usize,
    }

    impl SequentialFile for Bytes {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
            let n = buf.len().min(self.data.len() - self.pos).min(10_000);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// An in-memory `WritableFile` writing into a shared vector.
    struct Sink(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);

    impl WritableFile for Sink {
        fn append(&mut self, data: &[u8]) -> Result<()> {
            self.0.lock().extend_from_slice(data);
            Ok(())
        }
        fn flush(&mut self) -> Result<()> {
            Ok(())
        }
        fn sync(&mut self) -> Result<()> {
            Ok(())
        }
        fn len(&self) -> u64 {
            self.0.lock().len() as u64
        }
    }

    fn payload(rng: &mut Xorshift128, len: usize) -> Vec<u8> {
        (0..len).map(|_| rng.gen::<u8>()).collect()
    }

    /// Random bytes that are never a record type (1..=4). After damage the reader re-syncs
    /// byte by byte and checksums every candidate header; with no candidates inside payloads
    /// the exhaustive tests stay fast in debug builds.
    fn quiet_payload(rng: &mut Xorshift128, len: usize) -> Vec<u8> {
        (0..len).map(|_| rng.gen_range(5u8, 255)).collect()
    }

    /// Writes `records`; returns the log image and each record's (offset, end).
    fn build(records: &[Vec<u8>]) -> (Vec<u8>, Vec<(u64, u64)>) {
        let buf = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let mut w = Writer::new(Box::new(Sink(buf.clone())), PathBuf::from("t.log"));
        let mut spans = Vec::new();
        for r in records {
            let start = w.len();
            w.add_record(r).unwrap();
            // A record that starts in a block tail too short for a header starts in the next.
            let block = BLOCK_SIZE as u64;
            let start = if block - start % block < HEADER_SIZE as u64 { start.next_multiple_of(block) } else { start };
            spans.push((start, w.len()));
        }
        let data = buf.lock().clone();
        (data, spans)
    }

    fn reader(data: &[u8]) -> Reader {
        Reader::new(Box::new(Bytes { data: data.to_vec(), pos: 0 }), PathBuf::from("t.log"), true)
    }

    /// Reads to the end: the records (offset, data), or the error.
    fn read_all(r: &mut Reader) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        while let Some(rec) = r.read_record()? {
            out.push((rec.offset, rec.data.to_vec()));
        }
        Ok(out)
    }

    fn sample_records(rng: &mut Xorshift128) -> Vec<Vec<u8>> {
        // Small records, one spanning the first block boundary, more small ones.
        let mut v: Vec<Vec<u8>> = (0..5).map(|i| quiet_payload(rng, 100 * i + 3)).collect();
        v.push(quiet_payload(rng, BLOCK_SIZE - 500));
        v.extend((0..4).map(|i| quiet_payload(rng, 50 + i)));
        v
    }

    #[test]
    fn roundtrip_many_sizes() {
        let mut rng = Xorshift128::from_seed(&[7u64, 11]);
        let mut records = vec![vec![], vec![1], payload(&mut rng, BLOCK_SIZE - HEADER_SIZE)];
        records.push(payload(&mut rng, BLOCK_SIZE));
        records.push(payload(&mut rng, 100 * 1024));
        for _ in 0..200 {
            let len = match rng.gen_range(0, 4) {
                0 => rng.gen_range(0, 100),
                1 => rng.gen_range(0, 4096),
                2 => rng.gen_range(0, 40_000),
                _ => rng.gen_range(0, 100 * 1024 + 1),
            };
            records.push(payload(&mut rng, len));
        }
        let (data, spans) = build(&records);
        let mut r = reader(&data);
        let got = read_all(&mut r).unwrap();
        assert_eq!(got.len(), records.len());
        for ((g, want), span) in got.iter().zip(&records).zip(&spans) {
            assert_eq!(&g.1, want);
            assert_eq!(g.0, span.0);
        }
        assert!(r.torn_tail().is_none());
        assert_eq!(r.valid_len(), data.len() as u64);
        assert!(r.read_record().unwrap().is_none(), "stays at the end");
    }

    #[test]
    fn block_boundaries() {
        for tail in 0..=HEADER_SIZE + 1 {
            let first = vec![3u8; BLOCK_SIZE - HEADER_SIZE - tail];
            let records = vec![first, b"second".to_vec(), vec![5u8; 100], vec![]];
            let (data, spans) = build(&records);
            let got = read_all(&mut reader(&data)).unwrap();
            let want: Vec<_> = spans.iter().map(|s| s.0).zip(records.iter().cloned()).collect();
            assert_eq!(got, want, "tail {tail}");
            if tail < HEADER_SIZE {
                assert_eq!(spans[1].0, BLOCK_SIZE as u64, "tail {tail}: padded");
            } else {
                assert_eq!(spans[1].0, (BLOCK_SIZE - tail) as u64);
            }
        }
    }

    #[test]
    fn truncation_at_every_offset_is_a_clean_torn_tail() {
        let mut rng = Xorshift128::from_seed(&[1u64, 2]);
        let records = sample_records(&mut rng);
        let (data, spans) = build(&records);
        assert!(data.len() > BLOCK_SIZE);
        for cut in 0..=data.len() {
            let mut r = reader(&data[..cut]);
            let got = read_all(&mut r).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            let complete = spans.iter().take_while(|s| s.1 <= cut as u64).count();
            assert_eq!(got.len(), complete, "cut {cut}");
            for (g, want) in got.iter().zip(&records) {
                assert_eq!(&g.1, want);
            }
            let at_boundary = cut == 0 || spans.iter().any(|s| s.1 == cut as u64);
            let inside_payload = spans.iter().any(|s| s.0 + (HEADER_SIZE as u64) < cut as u64 && (cut as u64) < s.1);
            if at_boundary {
                assert!(r.torn_tail().is_none(), "cut {cut}: {:?}", r.torn_tail());
            }
            if inside_payload {
                let torn = r.torn_tail().unwrap_or_else(|| panic!("cut {cut}: no torn tail"));
                assert_eq!(torn.offset, spans[complete].0, "cut {cut}");
            }
        }
    }

    #[test]
    fn flipped_byte_in_middle_record_is_corruption_at_its_offset() {
        let mut rng = Xorshift128::from_seed(&[3u64, 4]);
        let records = sample_records(&mut rng);
        let (data, spans) = build(&records);
        let victim = 3;
        let (start, end) = spans[victim];
        for i in start..end {
            let mut bad = data.clone();
            bad[i as usize] ^= 0x20;
            let mut r = reader(&bad);
            let mut good = 0;
            let err = loop {
                match r.read_record() {
                    Ok(Some(_)) => good += 1,
                    Ok(None) => panic!("byte {i}: damage not reported"),
                    Err(e) => break e,
                }
            };
            assert_eq!(good, victim, "byte {i}");
            assert!(err.is_corruption(), "byte {i}: {err}");
            match err {
                Error::Corruption { offset, ref file, .. } | Error::ChecksumMismatch { offset, ref file, .. } => {
                    assert_eq!(offset, Some(start), "byte {i}: {err}");
                    assert_eq!(file, Path::new("t.log"));
                }
                other => panic!("{other:?}"),
            }
            assert!(r.read_record().unwrap().is_none());
        }
    }

    #[test]
    fn flipped_byte_in_last_record_is_a_torn_tail() {
        let mut rng = Xorshift128::from_seed(&[5u64, 6]);
        let mut records = sample_records(&mut rng);
        for last in [payload(&mut rng, 40), payload(&mut rng, BLOCK_SIZE)] {
            records.push(last);
            let (data, spans) = build(&records);
            let (start, end) = *spans.last().unwrap();
            // Every byte of the first fragment's header and of the next block's start (where
            // a fragment header sits), and a stride through the payload.
            let block = BLOCK_SIZE as u64;
            let next_block = start.next_multiple_of(block);
            let bytes =
                (start..end).filter(|&i| i < start + 64 || (next_block..next_block + 64).contains(&i) || i % 61 == 0);
            for i in bytes {
                let mut bad = data.clone();
                bad[i as usize] ^= 0x01;
                let mut r = reader(&bad);
                let got = read_all(&mut r).unwrap_or_else(|e| panic!("byte {i}: {e}"));
                assert_eq!(got.len(), records.len() - 1, "byte {i}");
                let torn = r.torn_tail().unwrap_or_else(|| panic!("byte {i}: no torn tail"));
                assert_eq!(torn.offset, start, "byte {i}");
                assert_eq!(r.valid_len(), spans[spans.len() - 2].1);
            }
            records.pop();
        }
    }

    #[test]
    fn zero_filled_tail_is_the_end() {
        let records = vec![b"a".to_vec(), b"bb".to_vec()];
        let (mut data, _) = build(&records);
        data.resize(3 * BLOCK_SIZE + 17, 0);
        let mut r = reader(&data);
        assert_eq!(read_all(&mut r).unwrap().len(), 2);
        assert!(r.torn_tail().is_none());
    }

    #[test]
    fn zeros_inside_an_open_record_are_a_torn_tail() {
        let records = vec![b"a".to_vec(), vec![9u8; 2 * BLOCK_SIZE]];
        let (mut data, spans) = build(&records);
        data.truncate(BLOCK_SIZE);
        data.resize(2 * BLOCK_SIZE, 0);
        let mut r = reader(&data);
        assert_eq!(read_all(&mut r).unwrap().len(), 1);
        assert_eq!(r.torn_tail().unwrap().offset, spans[1].0);
    }

    #[test]
    fn out_of_order_fragments_are_reported() {
        // A FIRST that is never finished, followed by an intact record: corruption at the FIRST.
        let (a, _) = build(&[vec![1u8; BLOCK_SIZE]]);
        let first_fragment = a[..BLOCK_SIZE].to_vec();
        let (b, _) = build(&[b"later".to_vec()]);
        let mut data = first_fragment.clone();
        data.extend_from_slice(&b);
        let err = read_all(&mut reader(&data)).unwrap_err();
        assert!(matches!(err, Error::Corruption { offset: Some(0), .. }), "{err}");

        // An orphan LAST followed by an intact record: corruption at the LAST.
        let mut data = a[BLOCK_SIZE..].to_vec();
        let at = data.len();
        data.resize(BLOCK_SIZE, 0);
        data.extend_from_slice(&b);
        let err = read_all(&mut reader(&data)).unwrap_err();
        assert!(matches!(err, Error::Corruption { offset: Some(0), .. }), "{err} (next at {at})");

        // An orphan LAST with nothing after it: a torn tail.
        let mut r = reader(&a[BLOCK_SIZE..]);
        assert!(read_all(&mut r).unwrap().is_empty());
        assert_eq!(r.torn_tail().unwrap().offset, 0);
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Xorshift128::from_seed(&[9u64, 9]);
        for len in [0, 1, 6, 7, 8, 100, BLOCK_SIZE, BLOCK_SIZE + 3, 3 * BLOCK_SIZE] {
            let data = payload(&mut rng, len);
            let _ = read_all(&mut reader(&data));
        }
        // Plausible headers with lengths past the block.
        let mut data = vec![0xffu8; BLOCK_SIZE * 2];
        data[6] = RecordType::Full as u8;
        let _ = read_all(&mut reader(&data));
    }

    #[test]
    fn with_offset_continues_a_log() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let path = PathBuf::from("/db/000003.log");
        let mut want = Vec::new();
        let mut w = Writer::new(fs.create(&path).unwrap(), path.clone());
        for i in 0..10usize {
            let rec = vec![i as u8; i * 5000];
            w.add_record(&rec).unwrap();
            want.push(rec);
        }
        w.sync().unwrap();
        drop(w);
        for round in 0..3usize {
            let len = fs.file_size(&path).unwrap();
            let mut w = Writer::with_offset(fs.reopen_for_append(&path).unwrap(), path.clone(), len);
            for i in 0..7usize {
                let rec = vec![(round * 10 + i) as u8; 3 + i * 4099];
                w.add_record(&rec).unwrap();
                want.push(rec);
            }
            w.flush().unwrap();
        }
        let mut r = Reader::new(fs.open_sequential(&path).unwrap(), path.clone(), true);
        let got: Vec<_> = read_all(&mut r).unwrap().into_iter().map(|(_, d)| d).collect();
        assert_eq!(got, want);
        assert!(r.torn_tail().is_none());
    }

    #[test]
    fn machine_crash_leaves_the_synced_prefix() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        fs.sync_dir(Path::new("/")).unwrap();
        let path = PathBuf::from("/db/000005.log");
        let mut w = Writer::new(fs.create(&path).unwrap(), path.clone());
        fs.sync_dir(Path::new("/db")).unwrap();
        for i in 0..5u8 {
            w.add_record(&vec![i; 20_000]).unwrap();
        }
        w.sync().unwrap();
        let synced = w.len();
        w.add_record(&vec![9u8; 50_000]).unwrap();
        w.flush().unwrap();
        let fs = fs.crash();
        assert_eq!(fs.file_size(&path).unwrap(), synced);
        let mut r = Reader::new(fs.open_sequential(&path).unwrap(), path.clone(), true);
        let got = read_all(&mut r).unwrap();
        assert_eq!(got.len(), 5);
        assert!(r.torn_tail().is_none());
        assert_eq!(r.valid_len(), synced);
    }

    #[test]
    fn unverified_reads_skip_checksums() {
        let (mut data, _) = build(&[b"hello".to_vec(), b"world".to_vec()]);
        data[HEADER_SIZE] ^= 1;
        let mut r = Reader::new(Box::new(Bytes { data, pos: 0 }), PathBuf::from("t.log"), false);
        let got = read_all(&mut r).unwrap();
        assert_eq!(got[0].1, b"iello");
        assert_eq!(got[1].1, b"world");
    }
}
