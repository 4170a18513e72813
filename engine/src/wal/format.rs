//! The write-ahead log's physical format (LevelDB's log format). Every constant here is part
//! of the on-disk format and must never change.
//!
//! A log file is a sequence of 32 KiB blocks (the last one may be short). A block holds
//! physical records back to back; a block tail shorter than a header is zero-filled.
//!
//! ```text
//!  block (BLOCK_SIZE = 32768 bytes)
//! +----------+----------+-----+----------+-----------------+
//! | record 0 | record 1 | ... | record n | zeros (0..=6 B) |
//! +----------+----------+-----+----------+-----------------+
//!
//!  physical record (HEADER_SIZE = 7 bytes of header, then the payload)
//! +---------------+---------------+----------+---------------------+
//! | crc: fixed32  | length: u16   | type: u8 | payload             |
//! | (masked CRC32C| little-endian |          | (`length` bytes)    |
//! |  of type byte |               |          |                     |
//! |  + payload)   |               |          |                     |
//! +---------------+---------------+----------+---------------------+
//!   0             4               6          7                 7+length
//! ```
//!
//! A logical record (a write batch, or many merged by group commit) that fits in what is
//! left of the block is one `FULL` record. Otherwise it is cut into fragments: `FIRST`, zero
//! or more `MIDDLE`, then `LAST`, each filling the rest of its block; every block after the
//! first of a record starts with its next fragment. Type 0 is reserved: it never appears in a
//! written header, so zero bytes (padding, pre-allocation) never parse as a record.
//!
//! This module only encodes and decodes headers; the writer and reader implement the block
//! layout and the recovery rules (see `docs/wal_format.md`).

#![deny(clippy::indexing_slicing)]

use crate::checksum;
use crate::coding::get_fixed32;

/// Size of a log block. Part of the on-disk format.
pub const BLOCK_SIZE: usize = 32 * 1024;

/// Size of a physical record header: crc (4) + length (2) + type (1). Part of the format.
pub const HEADER_SIZE: usize = 7;

/// The largest payload one physical record can hold.
pub const MAX_FRAGMENT: usize = BLOCK_SIZE - HEADER_SIZE;

/// The type of a physical record. The numeric values are part of the on-disk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordType {
    /// A whole logical record.
    Full = 1,
    /// The first fragment of a logical record.
    First = 2,
    /// An inner fragment.
    Middle = 3,
    /// The last fragment.
    Last = 4,
}

/// The reserved type byte of zero-filled (padding or pre-allocated) space.
pub const ZERO_TYPE: u8 = 0;

impl RecordType {
    /// Decodes a type byte; `None` for the reserved zero type and unknown types.
    #[inline]
    pub fn from_u8(b: u8) -> Option<RecordType> {
        match b {
            1 => Some(RecordType::Full),
            2 => Some(RecordType::First),
            3 => Some(RecordType::Middle),
            4 => Some(RecordType::Last),
            _ => None,
        }
    }
}

/// The (unmasked) CRC32C a header stores: over the type byte, then the payload.
/// The payload is summed in place; nothing is copied.
#[inline]
pub fn record_crc(type_byte: u8, payload: &[u8]) -> u32 {
    checksum::extend(checksum::crc32c(&[type_byte]), payload)
}

/// Encodes the header of a physical record holding `payload`.
///
/// Precondition: `payload.len() <= MAX_FRAGMENT` (the writer never builds a longer one).
#[inline]
pub fn encode_header(ty: RecordType, payload: &[u8]) -> [u8; HEADER_SIZE] {
    debug_assert!(payload.len() <= MAX_FRAGMENT);
    let crc = checksum::mask(record_crc(ty as u8, payload));
    let len = payload.len() as u16;
    let c = crc.to_le_bytes();
    let l = len.to_le_bytes();
    [c[0], c[1], c[2], c[3], l[0], l[1], ty as u8]
}

/// A decoded but not yet validated header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The stored, masked CRC.
    pub masked_crc: u32,
    /// The payload length.
    pub length: u16,
    /// The raw type byte (may be zero or unknown in damaged or padded space).
    pub type_byte: u8,
}

impl Header {
    /// Decodes the header at the start of `src`; `None` if `src` is shorter than a header.
    #[inline]
    pub fn decode(src: &[u8]) -> Option<Header> {
        let masked_crc = get_fixed32(src)?;
        let length = u16::from_le_bytes([*src.get(4)?, *src.get(5)?]);
        let type_byte = *src.get(6)?;
        Some(Header { masked_crc, length, type_byte })
    }

    /// The CRC the header claims (unmasked).
    #[inline]
    pub fn expected_crc(&self) -> u32 {
        checksum::unmask(self.masked_crc)
    }

    /// True when `payload` (exactly `length` bytes) matches the stored checksum.
    #[inline]
    pub fn matches(&self, payload: &[u8]) -> bool {
        record_crc(self.type_byte, payload) == self.expected_crc()
    }
}

/// Checks whether a complete, intact physical record starts at `block[pos..]`: a known type,
/// a payload that fits in `block`, and a matching checksum. Returns its type and payload
/// length. Used by the reader's forward scan after a damaged spot.
pub fn valid_record_at(block: &[u8], pos: usize) -> Option<(RecordType, usize)> {
    let h = Header::decode(block.get(pos..)?)?;
    let ty = RecordType::from_u8(h.type_byte)?;
    let start = pos.checked_add(HEADER_SIZE)?;
    let payload = block.get(start..start.checked_add(usize::from(h.length))?)?;
    h.matches(payload).then_some((ty, payload.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(ty: RecordType, payload: &[u8]) -> Vec<u8> {
        let mut v = encode_header(ty, payload).to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn header_roundtrip() {
        for (ty, payload) in [
            (RecordType::Full, &b""[..]),
            (RecordType::First, b"hello"),
            (RecordType::Middle, &[0u8; 300][..]),
            (RecordType::Last, b"x"),
        ] {
            let rec = encode(ty, payload);
            let h = Header::decode(&rec).unwrap();
            assert_eq!(usize::from(h.length), payload.len());
            assert_eq!(RecordType::from_u8(h.type_byte), Some(ty));
            assert!(h.matches(payload));
            assert_eq!(valid_record_at(&rec, 0), Some((ty, payload.len())));
        }
        let big = vec![7u8; MAX_FRAGMENT];
        let rec = encode(RecordType::Full, &big);
        assert_eq!(valid_record_at(&rec, 0), Some((RecordType::Full, MAX_FRAGMENT)));
    }

    #[test]
    fn type_bytes_are_fixed() {
        assert_eq!(RecordType::Full as u8, 1);
        assert_eq!(RecordType::First as u8, 2);
        assert_eq!(RecordType::Middle as u8, 3);
        assert_eq!(RecordType::Last as u8, 4);
        assert_eq!(RecordType::from_u8(ZERO_TYPE), None);
        assert_eq!(RecordType::from_u8(5), None);
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let rec = encode(RecordType::Full, b"some payload bytes");
        for i in 0..rec.len() {
            for bit in 0..8 {
                let mut bad = rec.clone();
                bad[i] ^= 1 << bit;
                assert_eq!(valid_record_at(&bad, 0), None, "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn truncation_is_detected() {
        let rec = encode(RecordType::Last, b"abcdef");
        for cut in 0..rec.len() {
            assert_eq!(valid_record_at(&rec[..cut], 0), None);
            if cut < HEADER_SIZE {
                assert_eq!(Header::decode(&rec[..cut]), None);
            }
        }
        assert_eq!(valid_record_at(&rec, 1), None);
        assert_eq!(valid_record_at(&rec, usize::MAX), None);
    }

    #[test]
    fn zeros_never_parse() {
        let z = [0u8; 64];
        for pos in 0..z.len() {
            assert_eq!(valid_record_at(&z, pos), None);
        }
    }
}
