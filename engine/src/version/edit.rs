//! Version edits: the records of the MANIFEST.
//!
//! A MANIFEST is a write-ahead log (same record framing as the WAL, see `docs/wal_format.md`)
//! whose every record is one encoded [`VersionEdit`]. The first record of a MANIFEST is a
//! full snapshot (every live file); later records are deltas. An edit is a sequence of
//! tagged fields; tag values are part of the on-disk format and must never change:
//!
//! ```text
//! edit   := field*
//! field  := tag:varint32 payload
//! tag 1  LogNumber       number:varint64            WALs below this are obsolete
//! tag 2  NextFileNumber  number:varint64
//! tag 3  LastSequence    seq:varint64
//! tag 4  CompactPointer  level:varint32 ikey:lenprefixed
//! tag 5  DeletedFile     level:varint32 number:varint64
//! tag 6  NewFile         level:varint32 number:varint64 size:varint64
//!                        smallest:lenprefixed largest:lenprefixed
//!                        smallest_seq:varint64 largest_seq:varint64
//! ```

#![deny(clippy::indexing_slicing)]

use crate::coding::{put_length_prefixed, put_varint32, put_varint64, Decoder};
use crate::error::{Error, Result};
use crate::keys::SequenceNumber;

/// Number of levels in the tree.
pub const NUM_LEVELS: usize = 7;

const TAG_LOG_NUMBER: u32 = 1;
const TAG_NEXT_FILE: u32 = 2;
const TAG_LAST_SEQUENCE: u32 = 3;
const TAG_COMPACT_POINTER: u32 = 4;
const TAG_DELETED_FILE: u32 = 5;
const TAG_NEW_FILE: u32 = 6;

/// A table file as a version edit records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// The level it joins.
    pub level: usize,
    /// Its file number (`NNNNNN.sst`).
    pub number: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Smallest internal key.
    pub smallest: Vec<u8>,
    /// Largest internal key.
    pub largest: Vec<u8>,
    /// Smallest sequence number of its entries.
    pub smallest_seq: SequenceNumber,
    /// Largest sequence number of its entries.
    pub largest_seq: SequenceNumber,
}

/// A change from one version of the tree to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// WALs with a smaller number are no longer needed.
    pub log_number: Option<u64>,
    /// The next file number to hand out.
    pub next_file_number: Option<u64>,
    /// The last sequence number used.
    pub last_sequence: Option<SequenceNumber>,
    /// Where the next size compaction of a level starts (level, internal key).
    pub compact_pointers: Vec<(usize, Vec<u8>)>,
    /// Files removed: (level, number).
    pub deleted_files: Vec<(usize, u64)>,
    /// Files added.
    pub new_files: Vec<NewFile>,
}

impl VersionEdit {
    /// Appends the encoding of this edit to `dst`.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        if let Some(n) = self.log_number {
            put_varint32(dst, TAG_LOG_NUMBER);
            put_varint64(dst, n);
        }
        if let Some(n) = self.next_file_number {
            put_varint32(dst, TAG_NEXT_FILE);
            put_varint64(dst, n);
        }
        if let Some(s) = self.last_sequence {
            put_varint32(dst, TAG_LAST_SEQUENCE);
            put_varint64(dst, s);
        }
        for (level, key) in &self.compact_pointers {
            put_varint32(dst, TAG_COMPACT_POINTER);
            put_varint32(dst, *level as u32);
            put_length_prefixed(dst, key);
        }
        for (level, number) in &self.deleted_files {
            put_varint32(dst, TAG_DELETED_FILE);
            put_varint32(dst, *level as u32);
            put_varint64(dst, *number);
        }
        for f in &self.new_files {
            put_varint32(dst, TAG_NEW_FILE);
            put_varint32(dst, f.level as u32);
            put_varint64(dst, f.number);
            put_varint64(dst, f.size);
            put_length_prefixed(dst, &f.smallest);
            put_length_prefixed(dst, &f.largest);
            put_varint64(dst, f.smallest_seq);
            put_varint64(dst, f.largest_seq);
        }
    }

    /// Decodes an edit. Errors are corruption errors with the offset inside `src`.
    pub fn decode(src: &[u8]) -> Result<VersionEdit> {
        let mut d = Decoder::new(src);
        let mut e = VersionEdit::default();
        while !d.is_empty() {
            let at = d.position() as u64;
            let tag = d.varint32("version edit tag")?;
            match tag {
                TAG_LOG_NUMBER => e.log_number = Some(d.varint64("log number")?),
                TAG_NEXT_FILE => e.next_file_number = Some(d.varint64("next file number")?),
                TAG_LAST_SEQUENCE => e.last_sequence = Some(d.varint64("last sequence")?),
                TAG_COMPACT_POINTER => {
                    let level = level(&mut d)?;
                    e.compact_pointers.push((level, d.length_prefixed("compact pointer")?.to_vec()));
                }
                TAG_DELETED_FILE => {
                    let level = level(&mut d)?;
                    e.deleted_files.push((level, d.varint64("deleted file number")?));
                }
                TAG_NEW_FILE => {
                    let level = level(&mut d)?;
                    let f = NewFile {
                        level,
                        number: d.varint64("file number")?,
                        size: d.varint64("file size")?,
                        smallest: d.length_prefixed("smallest key")?.to_vec(),
                        largest: d.length_prefixed("largest key")?.to_vec(),
                        smallest_seq: d.varint64("smallest sequence")?,
                        largest_seq: d.varint64("largest sequence")?,
                    };
                    e.new_files.push(f);
                }
                other => {
                    return Err(Error::corruption("", Some(at), format!("unknown version edit tag {other}")));
                }
            }
        }
        Ok(e)
    }
}

fn level(d: &mut Decoder<'_>) -> Result<usize> {
    let at = d.position() as u64;
    let l = d.varint32("level")? as usize;
    if l >= NUM_LEVELS {
        return Err(Error::corruption("", Some(at), format!("level {l} out of range")));
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{make_internal_key, ValueKind};

    fn sample() -> VersionEdit {
        VersionEdit {
            log_number: Some(12),
            next_file_number: Some(40),
            last_sequence: Some(1 << 40),
            compact_pointers: vec![(1, make_internal_key(b"m", 5, ValueKind::Value))],
            deleted_files: vec![(0, 7), (2, 9)],
            new_files: vec![NewFile {
                level: 6,
                number: 39,
                size: 1 << 33,
                smallest: make_internal_key(b"a", 1, ValueKind::Value),
                largest: make_internal_key(b"z", 2, ValueKind::Deletion),
                smallest_seq: 1,
                largest_seq: 2,
            }],
        }
    }

    #[test]
    fn roundtrip() {
        let e = sample();
        let mut buf = Vec::new();
        e.encode(&mut buf);
        assert_eq!(VersionEdit::decode(&buf).unwrap(), e);
        let empty = VersionEdit::default();
        let mut buf = Vec::new();
        empty.encode(&mut buf);
        assert!(buf.is_empty());
        assert_eq!(VersionEdit::decode(&buf).unwrap(), empty);
    }

    #[test]
    fn truncation_and_garbage_are_corruption() {
        let mut buf = Vec::new();
        sample().encode(&mut buf);
        for cut in 1..buf.len() {
            // Every strict prefix either fails or decodes to something else; none panics.
            if let Ok(e) = VersionEdit::decode(&buf[..cut]) {
                assert_ne!(e, sample());
            }
        }
        let mut bad = buf.clone();
        bad[0] = 99;
        let err = VersionEdit::decode(&bad).unwrap_err();
        assert!(err.is_corruption() && err.to_string().contains("tag 99"), "{err}");
        let mut bad_level = Vec::new();
        put_varint32(&mut bad_level, TAG_DELETED_FILE);
        put_varint32(&mut bad_level, 9);
        put_varint64(&mut bad_level, 1);
        assert!(VersionEdit::decode(&bad_level).unwrap_err().to_string().contains("level 9"));
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let mut buf = Vec::new();
        sample().encode(&mut buf);
        for i in 0..buf.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = buf.clone();
                b[i] ^= bit;
                let _ = VersionEdit::decode(&b);
            }
        }
    }
}
