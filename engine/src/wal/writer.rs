//! Appends logical records to a log file (see [`mod@super::format`] for the layout).

#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use super::format::{encode_header, RecordType, BLOCK_SIZE, HEADER_SIZE};
use crate::error::Result;
use crate::fs::WritableFile;

/// Zeros for a block tail too short to hold a header.
const PADDING: [u8; HEADER_SIZE - 1] = [0; HEADER_SIZE - 1];

/// Appends records to a log.
///
/// Durability: [`Writer::add_record`] only appends to the file's buffer. The record survives
/// a process crash after [`Writer::flush`] and a machine crash after [`Writer::sync`].
///
/// After any error the file's tail is in an unknown state (a record may be half written);
/// the caller must stop appending to this log. A reader will see the damage as a torn tail.
///
/// Not thread-safe by itself (`&mut self`); the database serializes writers (group commit
/// appends one merged record per group, then flushes or syncs once).
pub struct Writer {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    /// Bytes already used in the current block, in `0..=BLOCK_SIZE`.
    block_offset: usize,
    /// Reserve file space in steps of this many bytes (0: never), once the log was synced.
    prealloc_step: u64,
    /// Bytes reserved so far.
    allocated: u64,
    /// `sync` was called: from then on space is reserved ahead (`with_preallocation`).
    synced: bool,
    /// Start write-out each time this many bytes were flushed since the last time (0: never).
    writeback_step: u64,
    /// The log's length when write-out was last started.
    written_back: u64,
}

impl Writer {
    /// A writer for a new, empty log file.
    pub fn new(file: Box<dyn WritableFile>, path: PathBuf) -> Self {
        Writer::with_offset(file, path, 0)
    }

    /// A writer that continues a log already `existing_len` bytes long (the file was opened
    /// with `Fs::reopen_for_append`).
    ///
    /// Precondition: the existing log reads cleanly to its end (no torn tail); a log with a
    /// torn tail must be truncated to its valid prefix first or replaced by a new log, or the
    /// reader would see a damaged record followed by valid ones and report corruption.
    pub fn with_offset(file: Box<dyn WritableFile>, path: PathBuf, existing_len: u64) -> Self {
        let block_offset = (existing_len % BLOCK_SIZE as u64) as usize;
        Writer {
            file,
            path,
            block_offset,
            prealloc_step: 0,
            allocated: 0,
            synced: false,
            writeback_step: 0,
            written_back: existing_len,
        }
    }

    /// Reserves file space ahead of the appends in steps of `step` bytes (see
    /// [`WritableFile::preallocate`]) once the log has been synced: a `sync` after an append
    /// inside reserved space does not have to update the file's size, which roughly halves
    /// its cost on ext4. The zeros past the last record read as a clean end of the log.
    ///
    /// A log that is never synced gains nothing from the zeros and would pay for writing
    /// every byte twice into the page cache (about 3% of a tablet server's CPU under bulk
    /// writes, `BENCHMARKS.md` run 12), so nothing is reserved before the first `sync`.
    pub fn with_preallocation(mut self, step: u64) -> Self {
        self.prealloc_step = step;
        self
    }

    /// Starts the OS writing the log out ([`WritableFile::start_writeback`]) each time
    /// `step` bytes were flushed since it last did (0: never), so that a `sync` of a log
    /// written without syncs (the database syncs the old log when it switches memtables)
    /// finds at most about `step` bytes still to write instead of the whole log.
    pub fn with_writeback(mut self, step: u64) -> Self {
        self.writeback_step = step;
        self
    }

    /// Appends one logical record, fragmenting it across blocks as needed. An empty `data`
    /// is a valid (empty) record.
    ///
    /// Writes only the 7-byte headers, the payload slices and any block padding into the
    /// file; no per-record allocation.
    pub fn add_record(&mut self, data: &[u8]) -> Result<()> {
        if self.prealloc_step > 0 && self.synced {
            // Upper bound of the bytes this record adds: payload, a header per block touched,
            // and a block tail of padding.
            let need = self.file.len() + data.len() as u64 + (data.len() / BLOCK_SIZE + 2) as u64 * HEADER_SIZE as u64;
            if need > self.allocated {
                let target = need.div_ceil(self.prealloc_step) * self.prealloc_step;
                self.file.preallocate(target)?;
                self.allocated = target;
            }
        }
        let mut left = data;
        let mut begin = true;
        loop {
            let leftover = BLOCK_SIZE - self.block_offset;
            if leftover < HEADER_SIZE {
                if leftover > 0 {
                    self.file.append(PADDING.get(..leftover).unwrap_or_default())?;
                }
                self.block_offset = 0;
            }
            let avail = BLOCK_SIZE - self.block_offset - HEADER_SIZE;
            let (fragment, rest) = left.split_at(left.len().min(avail));
            let end = rest.is_empty();
            let ty = match (begin, end) {
                (true, true) => RecordType::Full,
                (true, false) => RecordType::First,
                (false, false) => RecordType::Middle,
                (false, true) => RecordType::Last,
            };
            self.emit(ty, fragment)?;
            left = rest;
            begin = false;
            if end {
                return Ok(());
            }
        }
    }

    fn emit(&mut self, ty: RecordType, fragment: &[u8]) -> Result<()> {
        let header = encode_header(ty, fragment);
        self.block_offset += HEADER_SIZE + fragment.len();
        self.file.append(&header)?;
        self.file.append(fragment)
    }

    /// Hands buffered bytes to the OS (they survive a process crash); starts write-out
    /// every `with_writeback` step.
    pub fn flush(&mut self) -> Result<()> {
        self.file.flush()?;
        let len = self.file.len();
        if self.writeback_step > 0 && len.saturating_sub(self.written_back) >= self.writeback_step {
            self.file.start_writeback()?;
            self.written_back = len;
        }
        Ok(())
    }

    /// Makes every appended record durable (survives a machine crash).
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync()?;
        self.synced = true;
        self.written_back = self.file.len();
        Ok(())
    }

    /// The log's length in bytes, including buffered bytes.
    pub fn len(&self) -> u64 {
        self.file.len()
    }

    /// True when nothing has been written to the log.
    pub fn is_empty(&self) -> bool {
        self.file.is_empty()
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{read_all, FaultOp, Fs, MemFs};
    use crate::wal::format::Header;

    fn mem_writer() -> (MemFs, PathBuf, Writer) {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/db")).unwrap();
        let path = PathBuf::from("/db/000001.log");
        let w = Writer::new(fs.create(&path).unwrap(), path.clone());
        (fs, path, w)
    }

    #[test]
    fn layout_of_small_and_fragmented_records() {
        let (fs, path, mut w) = mem_writer();
        w.add_record(b"abc").unwrap();
        let big = vec![9u8; BLOCK_SIZE + 10];
        w.add_record(&big).unwrap();
        w.flush().unwrap();
        let bytes = read_all(&fs, &path).unwrap();
        assert_eq!(bytes.len() as u64, w.len());
        let h = Header::decode(&bytes).unwrap();
        assert_eq!((h.length, h.type_byte), (3, RecordType::Full as u8));
        let h = Header::decode(&bytes[10..]).unwrap();
        assert_eq!(h.type_byte, RecordType::First as u8);
        assert_eq!(usize::from(h.length), BLOCK_SIZE - 10 - HEADER_SIZE);
        let h = Header::decode(&bytes[BLOCK_SIZE..]).unwrap();
        assert_eq!(h.type_byte, RecordType::Last as u8);
        assert_eq!(bytes.len(), BLOCK_SIZE + HEADER_SIZE + usize::from(h.length));
    }

    #[test]
    fn pads_short_block_tails_with_zeros() {
        for tail in 0..HEADER_SIZE {
            let (fs, path, mut w) = mem_writer();
            w.add_record(&vec![1u8; BLOCK_SIZE - HEADER_SIZE - tail]).unwrap();
            w.add_record(b"x").unwrap();
            let bytes = read_all(&fs, &path).unwrap();
            assert!(bytes[BLOCK_SIZE - tail..BLOCK_SIZE].iter().all(|&b| b == 0));
            assert_eq!(bytes.len(), BLOCK_SIZE + HEADER_SIZE + 1);
        }
    }

    #[test]
    fn space_is_reserved_only_once_the_log_was_synced() {
        let (fs, path, w) = mem_writer();
        let mut w = w.with_preallocation(64 * 1024);
        w.add_record(&[1u8; 1000]).unwrap();
        w.flush().unwrap();
        assert_eq!(read_all(&fs, &path).unwrap().len() as u64, w.len(), "no zeros ahead before a sync");
        w.sync().unwrap();
        w.add_record(&[2u8; 1000]).unwrap();
        w.flush().unwrap();
        let bytes = read_all(&fs, &path).unwrap();
        assert_eq!(bytes.len(), 64 * 1024, "reserved after the first sync");
        assert!(bytes[w.len() as usize..].iter().all(|&b| b == 0));
    }

    /// Counts `start_writeback` calls of the file under it.
    struct CountWriteback(Box<dyn WritableFile>, std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl WritableFile for CountWriteback {
        fn append(&mut self, data: &[u8]) -> Result<()> {
            self.0.append(data)
        }
        fn flush(&mut self) -> Result<()> {
            self.0.flush()
        }
        fn sync(&mut self) -> Result<()> {
            self.0.sync()
        }
        fn start_writeback(&mut self) -> Result<()> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.start_writeback()
        }
        fn len(&self) -> u64 {
            self.0.len()
        }
    }

    #[test]
    fn write_out_starts_every_step_of_flushed_bytes() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        for (step, want) in [(0u64, 0usize), (10_000, 2), (1 << 20, 0)] {
            let fs = MemFs::new();
            fs.create_dir_all(Path::new("/db")).unwrap();
            let path = PathBuf::from("/db/000001.log");
            let calls = std::sync::Arc::new(AtomicUsize::new(0));
            let file = Box::new(CountWriteback(fs.create(&path).unwrap(), calls.clone()));
            let mut w = Writer::new(file, path).with_writeback(step);
            for _ in 0..25 {
                w.add_record(&[3u8; 1000]).unwrap(); // 25 * 1007 bytes: past 10,000 twice
                w.flush().unwrap();
            }
            assert_eq!(calls.load(Ordering::Relaxed), want, "step {step}");
            // A sync counts as written out: the next step starts from it.
            w.sync().unwrap();
            for _ in 0..9 {
                w.add_record(&[4u8; 1000]).unwrap();
                w.flush().unwrap();
            }
            assert_eq!(calls.load(Ordering::Relaxed), want, "step {step} after a sync");
        }
    }

    #[test]
    fn write_error_is_reported() {
        let (fs, _path, mut w) = mem_writer();
        fs.inject(FaultOp::Write, Some("log"), 0);
        assert!(w.add_record(b"abc").unwrap_err().is_io());
    }
}
