//! Integer and slice encodings shared by every on-disk format.
//!
//! Fixed-width integers are little-endian. Varints are LEB128 (7 bits a byte, low group
//! first, high bit set on every byte but the last): at most 5 bytes for a `u32`, 10 for a `u64`.
//! A length-prefixed slice is a varint32 length followed by that many bytes.
//!
//! Decoding goes through [`Decoder`], a cursor that never panics: running off the end or an
//! over-long varint is a [`Error::Corruption`] carrying the offset inside the decoded buffer
//! (callers add the file name and base offset with [`Error::in_file`] / [`Error::at_offset`]).

#![deny(clippy::indexing_slicing)]

use crate::error::{Error, Result};

/// Appends `v` as 4 little-endian bytes.
#[inline]
pub fn put_fixed32(dst: &mut Vec<u8>, v: u32) {
    dst.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as 8 little-endian bytes.
#[inline]
pub fn put_fixed64(dst: &mut Vec<u8>, v: u64) {
    dst.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as a varint (1 to 5 bytes).
#[inline]
pub fn put_varint32(dst: &mut Vec<u8>, v: u32) {
    put_varint64(dst, u64::from(v));
}

/// Appends `v` as a varint (1 to 10 bytes).
#[inline]
pub fn put_varint64(dst: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        dst.push((v as u8) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

/// Appends a varint length followed by `data`.
#[inline]
pub fn put_length_prefixed(dst: &mut Vec<u8>, data: &[u8]) {
    put_varint32(dst, data.len() as u32);
    dst.extend_from_slice(data);
}

/// The number of bytes `v` takes as a varint.
#[inline]
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Reads a little-endian `u32` from the first 4 bytes of `src`, if there are 4.
#[inline]
pub fn get_fixed32(src: &[u8]) -> Option<u32> {
    let b: [u8; 4] = src.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// Reads a little-endian `u64` from the first 8 bytes of `src`, if there are 8.
#[inline]
pub fn get_fixed64(src: &[u8]) -> Option<u64> {
    let b: [u8; 8] = src.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// Decodes a varint from the start of `src`: the value and the bytes it took.
/// `None` if `src` ends inside the varint or it is longer than `max_bytes`.
#[inline]
pub fn get_varint(src: &[u8], max_bytes: usize) -> Option<(u64, usize)> {
    let mut result: u64 = 0;
    for (i, &byte) in src.iter().take(max_bytes).enumerate() {
        result |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((result, i + 1));
        }
    }
    None
}

/// Decodes a varint32 from the start of `src`.
#[inline]
pub fn get_varint32(src: &[u8]) -> Option<(u32, usize)> {
    let (v, n) = get_varint(src, 5)?;
    Some((u32::try_from(v).ok()?, n))
}

/// Decodes a varint64 from the start of `src`.
#[inline]
pub fn get_varint64(src: &[u8]) -> Option<(u64, usize)> {
    get_varint(src, 10)
}

/// A cursor over an encoded buffer. Every read checks bounds and reports a corruption
/// error naming the offset (within the buffer) where decoding failed.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// The offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    fn err(&self, what: &str) -> Error {
        Error::corruption("", Some(self.pos as u64), format!("truncated or malformed {what}"))
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &str) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.err(what))?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads a little-endian `u32`.
    pub fn fixed32(&mut self, what: &str) -> Result<u32> {
        let v = get_fixed32(self.remaining()).ok_or_else(|| self.err(what))?;
        self.pos += 4;
        Ok(v)
    }

    /// Reads a little-endian `u64`.
    pub fn fixed64(&mut self, what: &str) -> Result<u64> {
        let v = get_fixed64(self.remaining()).ok_or_else(|| self.err(what))?;
        self.pos += 8;
        Ok(v)
    }

    /// Reads a varint32.
    pub fn varint32(&mut self, what: &str) -> Result<u32> {
        let (v, n) = get_varint32(self.remaining()).ok_or_else(|| self.err(what))?;
        self.pos += n;
        Ok(v)
    }

    /// Reads a varint64.
    pub fn varint64(&mut self, what: &str) -> Result<u64> {
        let (v, n) = get_varint64(self.remaining()).ok_or_else(|| self.err(what))?;
        self.pos += n;
        Ok(v)
    }

    /// Reads exactly `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.err(what))?;
        let s = self.buf.get(self.pos..end).ok_or_else(|| self.err(what))?;
        self.pos = end;
        Ok(s)
    }

    /// Reads a varint32 length and that many bytes.
    pub fn length_prefixed(&mut self, what: &str) -> Result<&'a [u8]> {
        let start = self.pos;
        let n = self.varint32(what)? as usize;
        self.bytes(n, what).inspect_err(|_| self.pos = start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip_edges() {
        let values = [0u64, 1, 127, 128, 255, 300, 16383, 16384, u32::MAX as u64, u64::MAX - 1, u64::MAX];
        let mut buf = Vec::new();
        for &v in &values {
            put_varint64(&mut buf, v);
        }
        let mut d = Decoder::new(&buf);
        for &v in &values {
            assert_eq!(d.varint64("v").unwrap(), v);
        }
        assert!(d.is_empty());
        for &v in &values {
            let mut b = Vec::new();
            put_varint64(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
        }
    }

    #[test]
    fn fixed_and_prefixed_roundtrip() {
        let mut buf = Vec::new();
        put_fixed32(&mut buf, 0xdead_beef);
        put_fixed64(&mut buf, 0x0102_0304_0506_0708);
        put_length_prefixed(&mut buf, b"hello");
        put_varint32(&mut buf, u32::MAX);
        let mut d = Decoder::new(&buf);
        assert_eq!(d.fixed32("a").unwrap(), 0xdead_beef);
        assert_eq!(d.fixed64("b").unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(d.length_prefixed("c").unwrap(), b"hello");
        assert_eq!(d.varint32("d").unwrap(), u32::MAX);
        assert!(d.is_empty());
    }

    #[test]
    fn truncation_is_corruption_with_offset() {
        let mut buf = Vec::new();
        put_fixed32(&mut buf, 7);
        put_length_prefixed(&mut buf, b"abcdef");
        for cut in 0..buf.len() {
            let mut d = Decoder::new(&buf[..cut]);
            let r = d.fixed32("a").and_then(|_| d.length_prefixed("b").map(|_| ()));
            let e = r.unwrap_err();
            assert!(e.is_corruption(), "{e}");
        }
        let mut d = Decoder::new(&buf[..6]);
        d.fixed32("a").unwrap();
        match d.length_prefixed("value").unwrap_err() {
            Error::Corruption { offset, reason, .. } => {
                assert_eq!(offset, Some(5));
                assert!(reason.contains("value"));
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn overlong_varint_rejected() {
        let buf = [0xffu8; 11];
        assert!(get_varint64(&buf).is_none());
        assert!(get_varint32(&[0xff, 0xff, 0xff, 0xff, 0x7f]).is_none(), "does not fit u32");
        assert!(get_varint32(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_some());
    }
}
