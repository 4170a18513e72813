//! Builds one block: prefix-compressed entries followed by a restart array.
//!
//! ```text
//! entry    := shared: varint32 | unshared: varint32 | value_len: varint32
//!             | key[shared..] (unshared bytes) | value (value_len bytes)
//! block    := entry* | restart: fixed32 * num_restarts | num_restarts: fixed32
//! ```
//! Every `restart_interval`-th entry is a *restart point*: it stores its whole key
//! (`shared = 0`) and its offset is listed in the restart array, so a reader can binary
//! search the restart points. An empty block still has one restart (offset 0).
//!
//! The builder does not check key order; the table builder does.

use crate::coding::{put_fixed32, put_varint32};

/// Accumulates entries of one block. Reused across blocks via [`BlockBuilder::reset`].
#[derive(Debug)]
pub struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    /// Entries since the last restart point.
    counter: usize,
    entries: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    /// A builder placing a restart point every `restart_interval` entries (at least 1).
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: vec![0],
            restart_interval: restart_interval.max(1),
            counter: 0,
            entries: 0,
            last_key: Vec::new(),
        }
    }

    /// Forgets every entry, keeping the allocations.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.restarts.push(0);
        self.counter = 0;
        self.entries = 0;
        self.last_key.clear();
    }

    /// Appends an entry. Keys are expected in increasing order (not checked here).
    pub fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.restart_interval {
            self.last_key.iter().zip(key).take_while(|(a, b)| a == b).count()
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        let unshared = key.get(shared..).unwrap_or_default();
        put_varint32(&mut self.buf, shared as u32);
        put_varint32(&mut self.buf, unshared.len() as u32);
        put_varint32(&mut self.buf, value.len() as u32);
        self.buf.extend_from_slice(unshared);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(unshared);
        self.counter += 1;
        self.entries += 1;
    }

    /// The size the block will have once finished.
    pub fn current_size_estimate(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// True when no entry has been added since the last reset.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Entries added since the last reset.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// The last key added (empty if none).
    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Appends the restart array and returns the finished block contents. The builder must be
    /// [`reset`](Self::reset) before it is used again.
    pub fn finish(&mut self) -> &[u8] {
        for &r in &self.restarts {
            put_fixed32(&mut self.buf, r);
        }
        put_fixed32(&mut self.buf, self.restarts.len() as u32);
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_small_block() {
        let mut b = BlockBuilder::new(2);
        b.add(b"apple", b"1");
        b.add(b"apricot", b"22");
        b.add(b"banana", b"");
        assert_eq!(b.len(), 3);
        let est = b.current_size_estimate();
        let out = b.finish().to_vec();
        assert_eq!(out.len(), est);
        let mut expect = vec![0, 5, 1];
        expect.extend_from_slice(b"apple1");
        expect.extend_from_slice(&[2, 5, 2]);
        expect.extend_from_slice(b"ricot22");
        let second_restart = expect.len() as u32;
        expect.extend_from_slice(&[0, 6, 0]);
        expect.extend_from_slice(b"banana");
        expect.extend_from_slice(&0u32.to_le_bytes());
        expect.extend_from_slice(&second_restart.to_le_bytes());
        expect.extend_from_slice(&2u32.to_le_bytes());
        assert_eq!(out, expect);
        b.reset();
        assert!(b.is_empty());
        assert_eq!(b.finish(), &[0, 0, 0, 0, 1, 0, 0, 0]);
    }
}
