//! The SSTable file format: constants, block handles, the block trailer and the footer.
//!
//! Everything in this file is part of the on-disk format and must never change without a
//! new [`FORMAT_VERSION`]. The full description with examples is `docs/sstable_format.md`.
//!
//! ```text
//! file   := data_block* filter_block? index_block properties_block metaindex_block footer
//! block  := contents trailer
//! trailer:= type: u8 (0 none, 1 lz4) | crc: fixed32 = mask(crc32c(contents ++ type))   (5 bytes)
//! lz4 contents := uncompressed_len: varint32 | lz4 block bytes
//!
//! handle := offset: varint64 | size: varint64          (size excludes the trailer; <= 20 bytes)
//!
//! footer (56 bytes, at the very end of the file):
//! +------------------+---------------+---------+----------------+--------------+-------------+
//! | metaindex handle | index handle  | zeros   | format_version | footer crc   | magic       |
//! | varint64 x 2     | varint64 x 2  | pad to  | fixed32        | fixed32      | fixed64     |
//! |                  |               | byte 40 | (bytes 40..44) | (bytes 44..48)| (48..56)   |
//! +------------------+---------------+---------+----------------+--------------+-------------+
//! footer crc = mask(crc32c(footer[0..44]))
//! ```
//!
//! Blocks are decoded by [`decode_block_contents`], which checks the trailer's checksum and
//! undoes the compression; it never allocates more than a bounded multiple of the bytes read.

#![deny(clippy::indexing_slicing)]

use crate::checksum;
use crate::coding::{get_fixed32, get_fixed64, put_fixed32, put_fixed64, put_varint32, put_varint64, Decoder};
use crate::error::{Error, Result};

/// The last 8 bytes of every table file. Part of the on-disk format.
pub const TABLE_MAGIC: u64 = 0x4c53_4d54_424c_3031; // "LSMTBL01" read as a big-endian word
/// The table format version written by this code (and the only one it reads).
pub const FORMAT_VERSION: u32 = 1;
/// Bytes after every block: compression type (1) and masked CRC32C (4).
pub const BLOCK_TRAILER_LEN: usize = 5;
/// The longest encoding of a [`BlockHandle`].
pub const MAX_HANDLE_LEN: usize = 20;
/// Size of the footer.
pub const FOOTER_LEN: usize = 56;
/// Bytes of the footer holding the two handles (zero padded).
const FOOTER_HANDLES_LEN: usize = 2 * MAX_HANDLE_LEN;
/// Compression type byte: stored as is.
pub const TYPE_NONE: u8 = 0;
/// Compression type byte: LZ4 block with a varint32 uncompressed-length prefix.
pub const TYPE_LZ4: u8 = 1;
/// Compression is kept only if it saves at least 1/8 (12.5%) of the block.
pub const MIN_COMPRESSION_SAVING_SHIFT: u32 = 3;
/// LZ4 cannot expand by more than ~255x; a larger claimed size is corruption.
const LZ4_MAX_RATIO: usize = 255;

/// Metaindex name of the bloom filter block.
pub const FILTER_BLOCK_NAME: &str = "filter.bloom";
/// Metaindex name of the properties block.
pub const PROPERTIES_BLOCK_NAME: &str = "properties";

/// How data and index blocks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Stored as is.
    None,
    /// LZ4 block compression (kept only when it saves at least 12.5%).
    #[default]
    Lz4,
}

impl Compression {
    /// The trailer type byte for blocks compressed this way.
    pub fn type_byte(self) -> u8 {
        match self {
            Compression::None => TYPE_NONE,
            Compression::Lz4 => TYPE_LZ4,
        }
    }

    /// Decodes a trailer type byte.
    pub fn from_type_byte(b: u8) -> Option<Compression> {
        match b {
            TYPE_NONE => Some(Compression::None),
            TYPE_LZ4 => Some(Compression::Lz4),
            _ => None,
        }
    }
}

/// Where a block lives: its offset and the size of its contents (trailer excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockHandle {
    /// Offset of the block's first byte in the file.
    pub offset: u64,
    /// Size of the contents, without the 5-byte trailer.
    pub size: u64,
}

impl BlockHandle {
    /// Appends the handle's encoding (two varint64s).
    pub fn encode_to(&self, dst: &mut Vec<u8>) {
        put_varint64(dst, self.offset);
        put_varint64(dst, self.size);
    }

    /// Decodes a handle from the cursor.
    pub fn decode_from(d: &mut Decoder<'_>) -> Result<BlockHandle> {
        let offset = d.varint64("block handle offset")?;
        let size = d.varint64("block handle size")?;
        Ok(BlockHandle { offset, size })
    }

    /// Decodes a handle that must fill `src` exactly (an index or metaindex value). Errors
    /// carry no offset: the caller names the block holding the value.
    pub fn decode_exact(src: &[u8]) -> Result<BlockHandle> {
        let mut d = Decoder::new(src);
        match BlockHandle::decode_from(&mut d) {
            Ok(h) if d.is_empty() => Ok(h),
            Ok(_) => Err(Error::corruption("", None, "trailing bytes after a block handle")),
            Err(_) => Err(Error::corruption("", None, "malformed block handle")),
        }
    }

    /// The offset just past the block's trailer, or `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.size)?.checked_add(BLOCK_TRAILER_LEN as u64)
    }
}

/// The fixed-size record at the end of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// The metaindex block.
    pub metaindex: BlockHandle,
    /// The index block.
    pub index: BlockHandle,
    /// The table format version.
    pub format_version: u32,
}

impl Footer {
    /// Appends the 56-byte footer.
    pub fn encode_to(&self, dst: &mut Vec<u8>) {
        let start = dst.len();
        self.metaindex.encode_to(dst);
        self.index.encode_to(dst);
        dst.resize(start + FOOTER_HANDLES_LEN, 0);
        put_fixed32(dst, self.format_version);
        let crc = checksum::mask(checksum::crc32c(dst.get(start..).unwrap_or_default()));
        put_fixed32(dst, crc);
        put_fixed64(dst, TABLE_MAGIC);
    }

    /// Decodes a footer from exactly [`FOOTER_LEN`] bytes. Errors carry offsets relative to
    /// the footer's start.
    pub fn decode(src: &[u8]) -> Result<Footer> {
        if src.len() != FOOTER_LEN {
            return Err(Error::corruption("", Some(0), "file too short to hold a table footer"));
        }
        let magic = src.get(48..).and_then(get_fixed64).unwrap_or(0);
        if magic != TABLE_MAGIC {
            return Err(Error::corruption("", Some(48), format!("bad table magic number {magic:#018x}")));
        }
        let stored = src.get(44..).and_then(get_fixed32).unwrap_or(0);
        let actual = checksum::crc32c(src.get(..44).unwrap_or_default());
        if checksum::unmask(stored) != actual {
            return Err(Error::ChecksumMismatch {
                file: Default::default(),
                offset: Some(0),
                expected: checksum::unmask(stored),
                actual,
            });
        }
        let format_version = src.get(40..).and_then(get_fixed32).unwrap_or(0);
        if format_version != FORMAT_VERSION {
            return Err(Error::corruption("", Some(40), format!("unsupported table format version {format_version}")));
        }
        let mut d = Decoder::new(src.get(..FOOTER_HANDLES_LEN).unwrap_or_default());
        let metaindex = BlockHandle::decode_from(&mut d)?;
        let index = BlockHandle::decode_from(&mut d)?;
        Ok(Footer { metaindex, index, format_version })
    }
}

/// Reusable scratch space for [`compress_block`].
#[derive(Debug, Default)]
pub struct CompressScratch {
    buf: Vec<u8>,
}

/// Compresses `raw` if `compression` asks for it and it pays off. Returns the bytes to store
/// and the trailer type byte; the bytes borrow either `raw` or `scratch`.
pub fn compress_block<'a>(raw: &'a [u8], compression: Compression, scratch: &'a mut CompressScratch) -> (&'a [u8], u8) {
    if compression == Compression::Lz4 && !raw.is_empty() && u32::try_from(raw.len()).is_ok() {
        let buf = &mut scratch.buf;
        buf.clear();
        put_varint32(buf, raw.len() as u32);
        let prefix = buf.len();
        buf.resize(prefix + lz4_flex::block::get_maximum_output_size(raw.len()), 0);
        if let Ok(n) = lz4_flex::block::compress_into(raw, buf.get_mut(prefix..).unwrap_or_default()) {
            buf.truncate(prefix + n);
            if buf.len() <= raw.len() - (raw.len() >> MIN_COMPRESSION_SAVING_SHIFT) {
                return (scratch.buf.as_slice(), TYPE_LZ4);
            }
        }
    }
    (raw, TYPE_NONE)
}

/// The trailer for `contents` stored with type byte `ty`.
pub fn block_trailer(contents: &[u8], ty: u8) -> [u8; BLOCK_TRAILER_LEN] {
    let crc = checksum::mask(checksum::extend(checksum::crc32c(contents), &[ty]));
    let c = crc.to_le_bytes();
    [ty, c[0], c[1], c[2], c[3]]
}

/// The stored and the actual checksum of a block read with its trailer (`raw` = contents ++
/// trailer), both unmasked, and the type byte. `None` if `raw` is shorter than a trailer.
pub fn block_checksums(raw: &[u8]) -> Option<(u32, u32, u8)> {
    let n = raw.len().checked_sub(BLOCK_TRAILER_LEN)?;
    let ty = *raw.get(n)?;
    let stored = checksum::unmask(get_fixed32(raw.get(n + 1..)?)?);
    let actual = checksum::crc32c(raw.get(..n + 1)?);
    Some((stored, actual, ty))
}

/// Checks the trailer of `raw` (contents ++ trailer, as read from the file) and returns the
/// uncompressed contents, reusing `raw`'s allocation when the block is not compressed.
///
/// Errors have no file name and no offset; the caller adds the block's (see
/// [`Error::in_file`], [`Error::at_offset`]).
pub fn decode_block_contents(mut raw: Vec<u8>) -> Result<Vec<u8>> {
    let (stored, actual, ty) =
        block_checksums(&raw).ok_or_else(|| Error::corruption("", None, "block shorter than its trailer"))?;
    if stored != actual {
        return Err(Error::ChecksumMismatch { file: Default::default(), offset: None, expected: stored, actual });
    }
    let n = raw.len() - BLOCK_TRAILER_LEN;
    match ty {
        TYPE_NONE => {
            raw.truncate(n);
            Ok(raw)
        }
        TYPE_LZ4 => {
            let mut d = Decoder::new(raw.get(..n).unwrap_or_default());
            let len = d.varint32("lz4 uncompressed length")? as usize;
            let input = d.remaining();
            if len > input.len().saturating_mul(LZ4_MAX_RATIO).saturating_add(64) {
                return Err(Error::corruption("", None, format!("implausible lz4 uncompressed length {len}")));
            }
            let out = lz4_flex::block::decompress(input, len)
                .map_err(|e| Error::corruption("", None, format!("lz4 decompression failed: {e}")))?;
            if out.len() != len {
                return Err(Error::corruption(
                    "",
                    None,
                    format!("lz4 block decompressed to {} bytes, expected {len}", out.len()),
                ));
            }
            Ok(out)
        }
        other => Err(Error::corruption("", None, format!("unknown block compression type {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(raw: &[u8], c: Compression) -> Vec<u8> {
        let mut scratch = CompressScratch::default();
        let (contents, ty) = compress_block(raw, c, &mut scratch);
        let mut v = contents.to_vec();
        v.extend_from_slice(&block_trailer(contents, ty));
        v
    }

    #[test]
    fn handle_roundtrip() {
        for h in [BlockHandle { offset: 0, size: 0 }, BlockHandle { offset: u64::MAX, size: u64::MAX }] {
            let mut v = Vec::new();
            h.encode_to(&mut v);
            assert!(v.len() <= MAX_HANDLE_LEN);
            assert_eq!(BlockHandle::decode_exact(&v).unwrap(), h);
            assert!(BlockHandle::decode_exact(&v[..v.len() - 1]).unwrap_err().is_corruption());
        }
    }

    #[test]
    fn footer_roundtrip_and_corruption() {
        let f = Footer {
            metaindex: BlockHandle { offset: 12345, size: 77 },
            index: BlockHandle { offset: u64::MAX / 3, size: 1 << 40 },
            format_version: FORMAT_VERSION,
        };
        let mut v = Vec::new();
        f.encode_to(&mut v);
        assert_eq!(v.len(), FOOTER_LEN);
        assert_eq!(Footer::decode(&v).unwrap(), f);
        for i in 0..v.len() {
            let mut bad = v.clone();
            bad[i] ^= 0x10;
            assert!(Footer::decode(&bad).unwrap_err().is_corruption(), "byte {i}");
        }
        for n in 0..v.len() {
            assert!(Footer::decode(&v[..n]).is_err());
        }
    }

    #[test]
    fn block_roundtrip_both_compressions() {
        let compressible: Vec<u8> = (0..4000u32).map(|i| (i % 7) as u8).collect();
        let mut rng = crate::sstable::testutil::Rng::new(1);
        let random: Vec<u8> = (0..4000u32).map(|_| rng.next_u64() as u8).collect();
        for data in [&compressible, &random, &Vec::new()] {
            for c in [Compression::None, Compression::Lz4] {
                let s = stored(data, c);
                assert_eq!(&decode_block_contents(s).unwrap(), data);
            }
        }
        assert_eq!(
            stored(&compressible, Compression::Lz4)[stored(&compressible, Compression::Lz4).len() - 5],
            TYPE_LZ4
        );
        let r = stored(&random, Compression::Lz4);
        assert_eq!(r[r.len() - 5], TYPE_NONE, "incompressible data is stored raw");
    }

    #[test]
    fn block_flips_and_truncation_detected() {
        let data: Vec<u8> = (0..300u32).map(|i| (i % 5) as u8).collect();
        for c in [Compression::None, Compression::Lz4] {
            let s = stored(&data, c);
            for i in 0..s.len() {
                for bit in [0x01u8, 0x80] {
                    let mut bad = s.clone();
                    bad[i] ^= bit;
                    let e = decode_block_contents(bad).unwrap_err();
                    assert!(e.is_corruption(), "{e}");
                }
            }
            for n in 0..s.len() {
                assert!(decode_block_contents(s[..n].to_vec()).is_err());
            }
        }
    }

    #[test]
    fn lz4_garbage_with_valid_checksum_is_corruption() {
        // A checksum-valid block whose lz4 payload is nonsense must not panic or over-allocate.
        for payload in [vec![0xffu8; 10], vec![0x80, 0x80, 0x80, 0x80, 0x0f, 1, 2, 3], vec![5, 0xf0, 1]] {
            let mut raw = payload.clone();
            raw.extend_from_slice(&block_trailer(&payload, TYPE_LZ4));
            assert!(decode_block_contents(raw).unwrap_err().is_corruption());
        }
        let mut raw = vec![1u8, 2, 3];
        raw.extend_from_slice(&block_trailer(&[1, 2, 3], 9));
        assert!(decode_block_contents(raw).unwrap_err().to_string().contains("compression type"));
    }

    #[test]
    fn compression_enum() {
        assert_eq!(Compression::default(), Compression::Lz4);
        for c in [Compression::None, Compression::Lz4] {
            assert_eq!(Compression::from_type_byte(c.type_byte()), Some(c));
        }
        assert_eq!(Compression::from_type_byte(2), None);
    }
}
