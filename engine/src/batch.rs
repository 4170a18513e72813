//! The write batch: a group of puts and deletes applied atomically. Its byte representation
//! is the payload of a WAL record, so it is part of the on-disk format.
//!
//! ```text
//!  batch  := sequence: fixed64 | count: fixed32 | record * count
//!            0                  8               12
//!  record := kind: u8 = 1 (Value)    | key: varstring | value: varstring
//!          | kind: u8 = 0 (Deletion) | key: varstring
//!  varstring := length: varint32 | length bytes
//! ```
//! `sequence` is the sequence number of the first operation; operation `i` gets
//! `sequence + i`. The kind bytes are [`ValueKind`]'s. Group commit concatenates batches by
//! appending records and summing counts (the group takes the first batch's sequence).
//!
//! Thread safety: a `WriteBatch` is plain data (`Send + Sync`, mutated through `&mut`).

#![deny(clippy::indexing_slicing)]

use crate::coding::{get_fixed32, get_fixed64, put_length_prefixed, varint_len, Decoder};
use crate::error::{Error, Result};
use crate::keys::{SequenceNumber, ValueKind};

/// Size of the batch header (sequence + count). Part of the on-disk format.
pub const BATCH_HEADER_SIZE: usize = 12;

/// Offset of the count inside the header.
const COUNT_OFFSET: usize = 8;

/// An ordered group of puts and deletes, applied atomically.
///
/// Invariant: `rep` always holds a full header, and (for batches built through this API or
/// accepted by [`WriteBatch::from_data`]) exactly `count` well-formed records.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteBatch {
    rep: Vec<u8>,
}

impl Default for WriteBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch")
            .field("sequence", &self.sequence())
            .field("count", &self.count())
            .field("bytes", &self.rep.len())
            .finish()
    }
}

/// One operation of a batch, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOp<'a> {
    /// Set `key` to `value`.
    Put {
        /// The user key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Delete `key`.
    Delete {
        /// The user key.
        key: &'a [u8],
    },
}

impl WriteBatch {
    /// An empty batch (sequence 0).
    pub fn new() -> Self {
        WriteBatch { rep: vec![0u8; BATCH_HEADER_SIZE] }
    }

    /// An empty batch with room for about `bytes` bytes of operations, so that building a
    /// large batch does not copy it as it grows (RocksDB's `reserved_bytes`).
    pub fn with_capacity(bytes: usize) -> Self {
        let mut rep = Vec::with_capacity(BATCH_HEADER_SIZE + bytes);
        rep.resize(BATCH_HEADER_SIZE, 0);
        WriteBatch { rep }
    }

    /// The bytes of operations this batch has room for without reallocating.
    pub fn capacity(&self) -> usize {
        self.rep.capacity() - BATCH_HEADER_SIZE
    }

    /// Adds a put of `key` -> `value`. Precondition: both are shorter than 4 GiB.
    #[inline]
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(u32::try_from(key.len()).is_ok() && u32::try_from(value.len()).is_ok());
        let need = 1 + varint_len(key.len() as u64) + key.len() + varint_len(value.len() as u64) + value.len();
        self.rep.reserve(need);
        self.rep.push(ValueKind::Value as u8);
        put_length_prefixed(&mut self.rep, key);
        put_length_prefixed(&mut self.rep, value);
        self.set_count(self.count().wrapping_add(1));
    }

    /// Adds a delete of `key`. Precondition: `key` is shorter than 4 GiB.
    #[inline]
    pub fn delete(&mut self, key: &[u8]) {
        debug_assert!(u32::try_from(key.len()).is_ok());
        self.rep.reserve(1 + varint_len(key.len() as u64) + key.len());
        self.rep.push(ValueKind::Deletion as u8);
        put_length_prefixed(&mut self.rep, key);
        self.set_count(self.count().wrapping_add(1));
    }

    /// Removes every operation and resets the sequence to 0 (keeps the allocation).
    pub fn clear(&mut self) {
        self.rep.clear();
        self.rep.resize(BATCH_HEADER_SIZE, 0);
    }

    /// The number of operations.
    #[inline]
    pub fn count(&self) -> u32 {
        self.rep.get(COUNT_OFFSET..).and_then(get_fixed32).unwrap_or(0)
    }

    #[inline]
    fn set_count(&mut self, n: u32) {
        if let Some(dst) = self.rep.get_mut(COUNT_OFFSET..BATCH_HEADER_SIZE) {
            dst.copy_from_slice(&n.to_le_bytes());
        }
    }

    /// True when the batch holds no operation.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The size of the batch's representation in bytes (what it adds to the WAL).
    pub fn approximate_size(&self) -> usize {
        self.rep.len()
    }

    /// Appends `other`'s operations after this batch's (this batch's sequence is kept).
    pub fn append(&mut self, other: &WriteBatch) {
        self.rep.extend_from_slice(other.rep.get(BATCH_HEADER_SIZE..).unwrap_or_default());
        self.set_count(self.count().wrapping_add(other.count()));
    }

    /// The operations in order. Items are `Err(Corruption)` only for a malformed
    /// representation (which [`WriteBatch::from_data`] rejects up front); the iterator ends
    /// after the first error.
    pub fn iter(&self) -> BatchIter<'_> {
        BatchIter::new(&self.rep)
    }

    /// The sequence number of the first operation.
    #[inline]
    pub fn sequence(&self) -> SequenceNumber {
        get_fixed64(&self.rep).unwrap_or(0)
    }

    /// Sets the sequence number of the first operation (done by the db when it commits).
    #[inline]
    pub fn set_sequence(&mut self, seq: SequenceNumber) {
        if let Some(dst) = self.rep.get_mut(..COUNT_OFFSET) {
            dst.copy_from_slice(&seq.to_le_bytes());
        }
    }

    /// The batch's representation: what is written as one WAL record.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.rep
    }

    /// Takes a representation read from a WAL record, checking the header, every record and
    /// the count. Errors are [`Error::Corruption`] with the offset inside `data` and no file
    /// name (the caller adds them with [`Error::in_file`] and [`Error::at_offset`]).
    pub fn from_data(data: Vec<u8>) -> Result<WriteBatch> {
        let mut it = BatchIter::new(&data);
        let mut n: u64 = 0;
        for op in &mut it {
            op?;
            n += 1;
        }
        let claimed = get_fixed32(data.get(COUNT_OFFSET..).unwrap_or_default()).unwrap_or(0);
        if n != u64::from(claimed) {
            return Err(Error::corruption(
                "",
                Some(COUNT_OFFSET as u64),
                format!("write batch count {claimed} but {n} records"),
            ));
        }
        Ok(WriteBatch { rep: data })
    }
}

/// Iterator over a batch's operations (see [`WriteBatch::iter`]).
pub struct BatchIter<'a> {
    dec: Decoder<'a>,
    /// Records still expected by the header's count.
    remaining: u32,
    /// Set after an error, or after the last record once trailing bytes were checked.
    done: bool,
}

impl<'a> BatchIter<'a> {
    fn new(rep: &'a [u8]) -> Self {
        let mut dec = Decoder::new(rep);
        match dec.fixed64("write batch sequence").and_then(|_| dec.fixed32("write batch count")) {
            Ok(count) => BatchIter { dec, remaining: count, done: false },
            // Report the short header from `next`.
            Err(_) => BatchIter { dec: Decoder::new(rep), remaining: 1, done: false },
        }
    }

    fn read_op(&mut self) -> Result<BatchOp<'a>> {
        let at = self.dec.position() as u64;
        let kind = self.dec.u8("write batch record kind")?;
        let key = self.dec.length_prefixed("write batch key")?;
        match ValueKind::from_u8(kind) {
            Some(ValueKind::Value) => Ok(BatchOp::Put { key, value: self.dec.length_prefixed("write batch value")? }),
            Some(ValueKind::Deletion) => Ok(BatchOp::Delete { key }),
            None => Err(Error::corruption("", Some(at), format!("unknown write batch record kind {kind}"))),
        }
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<BatchOp<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.dec.position() < BATCH_HEADER_SIZE {
            self.done = true;
            return Some(Err(Error::corruption("", Some(0), "write batch shorter than its header")));
        }
        if self.remaining == 0 {
            self.done = true;
            if self.dec.is_empty() {
                return None;
            }
            let at = self.dec.position() as u64;
            return Some(Err(Error::corruption("", Some(at), "write batch has more records than its count")));
        }
        self.remaining -= 1;
        let r = self.read_op();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(b: &WriteBatch) -> Vec<(bool, Vec<u8>, Vec<u8>)> {
        b.iter()
            .map(|op| match op.unwrap() {
                BatchOp::Put { key, value } => (true, key.to_vec(), value.to_vec()),
                BatchOp::Delete { key } => (false, key.to_vec(), Vec::new()),
            })
            .collect()
    }

    fn sample() -> WriteBatch {
        let mut b = WriteBatch::new();
        b.put(b"k1", b"v1");
        b.delete(b"k2");
        b.put(b"", b"");
        b.put(&[0xffu8; 200], &vec![7u8; 1000]);
        b.set_sequence(0x0102_0304_0506);
        b
    }

    #[test]
    fn roundtrip() {
        let b = sample();
        assert_eq!(b.count(), 4);
        assert!(!b.is_empty());
        assert_eq!(b.sequence(), 0x0102_0304_0506);
        assert_eq!(b.approximate_size(), b.data().len());
        let got = ops(&b);
        assert_eq!(got[0], (true, b"k1".to_vec(), b"v1".to_vec()));
        assert_eq!(got[1], (false, b"k2".to_vec(), vec![]));
        assert_eq!(got[2], (true, vec![], vec![]));
        assert_eq!(got[3], (true, vec![0xff; 200], vec![7; 1000]));
        let c = WriteBatch::from_data(b.data().to_vec()).unwrap();
        assert_eq!(c, b);
        assert_eq!(ops(&c), got);
    }

    #[test]
    fn empty_and_clear() {
        let mut b = WriteBatch::default();
        assert!(b.is_empty());
        assert_eq!(b.iter().count(), 0);
        assert_eq!(b.data().len(), BATCH_HEADER_SIZE);
        assert_eq!(WriteBatch::from_data(b.data().to_vec()).unwrap(), b);
        b.put(b"a", b"b");
        b.set_sequence(9);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.sequence(), 0);
        assert_eq!(b.data(), &[0u8; BATCH_HEADER_SIZE]);
    }

    #[test]
    fn reserved_batch_fills_without_moving_and_equals_a_grown_one() {
        let mut r = WriteBatch::with_capacity(100 * 1100);
        assert!(r.is_empty());
        assert_eq!(r.data(), &[0u8; BATCH_HEADER_SIZE]);
        assert!(r.capacity() >= 100 * 1100);
        let start = r.data().as_ptr();
        let mut g = WriteBatch::new();
        for i in 0..100u32 {
            let key = format!("row{i:05}");
            r.put(key.as_bytes(), &[i as u8; 1000]);
            g.put(key.as_bytes(), &[i as u8; 1000]);
        }
        assert_eq!(r.data().as_ptr(), start, "the reserved batch reallocated");
        assert_eq!(r, g);
        assert_eq!(ops(&r), ops(&g));
    }

    #[test]
    fn append_concatenates_and_keeps_sequence() {
        let mut a = WriteBatch::new();
        a.put(b"a", b"1");
        a.set_sequence(100);
        let b = sample();
        a.append(&b);
        assert_eq!(a.count(), 5);
        assert_eq!(a.sequence(), 100);
        let mut want = vec![(true, b"a".to_vec(), b"1".to_vec())];
        want.extend(ops(&b));
        assert_eq!(ops(&a), want);
        a.append(&WriteBatch::new());
        assert_eq!(a.count(), 5);
        assert!(WriteBatch::from_data(a.data().to_vec()).is_ok());
    }

    #[test]
    fn count_mismatch_is_corruption() {
        let b = sample();
        for claimed in [0u32, 3, 5, u32::MAX] {
            let mut data = b.data().to_vec();
            data[8..12].copy_from_slice(&claimed.to_le_bytes());
            let e = WriteBatch::from_data(data).unwrap_err();
            assert!(e.is_corruption(), "{e}");
        }
    }

    #[test]
    fn truncation_is_corruption() {
        let b = sample();
        let data = b.data();
        for cut in 0..data.len() {
            let e = WriteBatch::from_data(data[..cut].to_vec()).unwrap_err();
            assert!(e.is_corruption(), "cut {cut}: {e}");
        }
        let e = WriteBatch::from_data(data[..15].to_vec()).unwrap_err();
        match e {
            Error::Corruption { offset, .. } => assert!(offset.unwrap() >= BATCH_HEADER_SIZE as u64),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_kind_is_corruption() {
        let mut data = sample().data().to_vec();
        data[BATCH_HEADER_SIZE] = 9;
        match WriteBatch::from_data(data).unwrap_err() {
            Error::Corruption { offset, reason, .. } => {
                assert_eq!(offset, Some(BATCH_HEADER_SIZE as u64));
                assert!(reason.contains("kind"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flipped_bytes_never_panic() {
        let data = sample().data().to_vec();
        for i in 0..data.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = data.clone();
                bad[i] ^= mask;
                if let Ok(b) = WriteBatch::from_data(bad) {
                    // Accepted: then iterating it must succeed throughout.
                    assert!(b.iter().all(|op| op.is_ok()));
                }
            }
        }
    }
}
