//! The properties block: facts about a table, written by the builder, read at open.
//!
//! ```text
//! properties block := property*          (names strictly ascending, each at most once)
//! property         := name: varint32 len + bytes | value: varint32 len + bytes
//! ```
//! Numbers are stored as a varint64 filling the value exactly; keys as raw bytes;
//! `compression` as the trailer type byte (varint). Unknown names are skipped, so new
//! properties can be added without a format change. A missing known property reads as 0 / empty.
//!
//! | name | meaning |
//! |---|---|
//! | `compression` | type byte of the compression asked for (0 none, 1 lz4) |
//! | `creation.time` | unix seconds, as passed in by the caller |
//! | `data.blocks` | number of data blocks |
//! | `data.size` | bytes of all data blocks, trailers included |
//! | `filter.bits.per.key` | bloom bits per key (0 = no filter) |
//! | `filter.size` | bytes of the filter block, trailer included |
//! | `format.version` | table format version |
//! | `index.size` | bytes of the index block, trailer included |
//! | `key.largest` / `key.smallest` | largest / smallest internal key |
//! | `num.deletions` / `num.entries` | tombstones / all entries |
//! | `raw.key.size` / `raw.value.size` | sum of internal key / value lengths |
//! | `seq.largest` / `seq.smallest` | largest / smallest sequence number |

#![deny(clippy::indexing_slicing)]

use crate::coding::{put_length_prefixed, put_varint64, Decoder};
use crate::error::{Error, Result};
use crate::sstable::format::Compression;

/// Facts about a table. See the module docs for the encoding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    /// Table format version.
    pub format_version: u32,
    /// Entries (puts and deletions).
    pub num_entries: u64,
    /// Deletion entries.
    pub num_deletions: u64,
    /// Sum of internal key lengths.
    pub raw_key_size: u64,
    /// Sum of value lengths.
    pub raw_value_size: u64,
    /// Data blocks.
    pub num_data_blocks: u64,
    /// Bytes of the data blocks (with trailers).
    pub data_size: u64,
    /// Bytes of the index block (with trailer).
    pub index_size: u64,
    /// Bytes of the filter block (with trailer; 0 without a filter).
    pub filter_size: u64,
    /// The compression the builder was asked for (blocks that did not shrink are stored raw).
    pub compression: Compression,
    /// Bloom bits per key (0 = no filter).
    pub bloom_bits_per_key: u32,
    /// Smallest internal key (empty for an empty table).
    pub smallest_key: Vec<u8>,
    /// Largest internal key (empty for an empty table).
    pub largest_key: Vec<u8>,
    /// Smallest sequence number (0 for an empty table).
    pub smallest_seq: u64,
    /// Largest sequence number.
    pub largest_seq: u64,
    /// Unix seconds when the table was written (given by the caller).
    pub creation_time: u64,
}

enum Value<'a> {
    Num(u64),
    Bytes(&'a [u8]),
}

impl Properties {
    /// Every property as (name, value), names ascending.
    fn fields(&self) -> [(&'static str, Value<'_>); 16] {
        [
            ("compression", Value::Num(u64::from(self.compression.type_byte()))),
            ("creation.time", Value::Num(self.creation_time)),
            ("data.blocks", Value::Num(self.num_data_blocks)),
            ("data.size", Value::Num(self.data_size)),
            ("filter.bits.per.key", Value::Num(u64::from(self.bloom_bits_per_key))),
            ("filter.size", Value::Num(self.filter_size)),
            ("format.version", Value::Num(u64::from(self.format_version))),
            ("index.size", Value::Num(self.index_size)),
            ("key.largest", Value::Bytes(&self.largest_key)),
            ("key.smallest", Value::Bytes(&self.smallest_key)),
            ("num.deletions", Value::Num(self.num_deletions)),
            ("num.entries", Value::Num(self.num_entries)),
            ("raw.key.size", Value::Num(self.raw_key_size)),
            ("raw.value.size", Value::Num(self.raw_value_size)),
            ("seq.largest", Value::Num(self.largest_seq)),
            ("seq.smallest", Value::Num(self.smallest_seq)),
        ]
    }

    /// Appends the encoded properties.
    pub fn encode_to(&self, dst: &mut Vec<u8>) {
        let mut num = Vec::with_capacity(10);
        for (name, value) in self.fields() {
            put_length_prefixed(dst, name.as_bytes());
            match value {
                Value::Num(n) => {
                    num.clear();
                    put_varint64(&mut num, n);
                    put_length_prefixed(dst, &num);
                }
                Value::Bytes(b) => put_length_prefixed(dst, b),
            }
        }
    }

    /// Every property as printable (name, value) pairs, for inspection tools.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        self.fields()
            .into_iter()
            .map(|(name, v)| {
                let s = match v {
                    Value::Num(n) => n.to_string(),
                    Value::Bytes(b) => b.iter().map(|c| format!("{c:02x}")).collect(),
                };
                (name, s)
            })
            .collect()
    }

    /// Decodes properties. Errors carry offsets relative to the block start.
    pub fn decode(src: &[u8]) -> Result<Properties> {
        let mut p = Properties::default();
        let mut d = Decoder::new(src);
        let mut last_name: Option<&[u8]> = None;
        while !d.is_empty() {
            let at = d.position() as u64;
            let name = d.length_prefixed("property name")?;
            let value = d.length_prefixed("property value")?;
            if last_name.is_some_and(|l| l >= name) {
                return Err(Error::corruption("", Some(at), "property names out of order"));
            }
            last_name = Some(name);
            let num = || -> Result<u64> {
                let mut vd = Decoder::new(value);
                let n = vd.varint64("numeric property")?;
                if !vd.is_empty() {
                    return Err(Error::corruption("", None, "trailing bytes after a numeric property"));
                }
                Ok(n)
            };
            let num32 = || -> Result<u32> {
                u32::try_from(num()?).map_err(|_| Error::corruption("", None, "property out of range"))
            };
            let r: Result<()> = (|| {
                match name {
                    b"compression" => {
                        p.compression = u8::try_from(num()?)
                            .ok()
                            .and_then(Compression::from_type_byte)
                            .ok_or_else(|| Error::corruption("", None, "unknown compression"))?
                    }
                    b"creation.time" => p.creation_time = num()?,
                    b"data.blocks" => p.num_data_blocks = num()?,
                    b"data.size" => p.data_size = num()?,
                    b"filter.bits.per.key" => p.bloom_bits_per_key = num32()?,
                    b"filter.size" => p.filter_size = num()?,
                    b"format.version" => p.format_version = num32()?,
                    b"index.size" => p.index_size = num()?,
                    b"key.largest" => p.largest_key = value.to_vec(),
                    b"key.smallest" => p.smallest_key = value.to_vec(),
                    b"num.deletions" => p.num_deletions = num()?,
                    b"num.entries" => p.num_entries = num()?,
                    b"raw.key.size" => p.raw_key_size = num()?,
                    b"raw.value.size" => p.raw_value_size = num()?,
                    b"seq.largest" => p.largest_seq = num()?,
                    b"seq.smallest" => p.smallest_seq = num()?,
                    _ => {}
                }
                Ok(())
            })();
            r.map_err(|e| match e {
                Error::Corruption { reason, .. } => {
                    Error::corruption("", Some(at), format!("property {}: {reason}", String::from_utf8_lossy(name)))
                }
                other => other,
            })?;
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::put_length_prefixed;

    fn sample() -> Properties {
        Properties {
            format_version: 1,
            num_entries: 1000,
            num_deletions: 12,
            raw_key_size: 24_000,
            raw_value_size: 100_000,
            num_data_blocks: 31,
            data_size: 90_000,
            index_size: 700,
            filter_size: 1300,
            compression: Compression::Lz4,
            bloom_bits_per_key: 10,
            smallest_key: b"aaa\x01\0\0\0\0\0\0\0".to_vec(),
            largest_key: b"zzz\x01\0\0\0\0\0\0\0".to_vec(),
            smallest_seq: 1,
            largest_seq: u64::MAX >> 8,
            creation_time: 1_700_000_000,
        }
    }

    #[test]
    fn roundtrip() {
        for p in [sample(), Properties::default()] {
            let mut v = Vec::new();
            p.encode_to(&mut v);
            assert_eq!(Properties::decode(&v).unwrap(), p);
        }
        assert_eq!(sample().to_pairs().len(), 16);
    }

    #[test]
    fn unknown_names_skipped() {
        let mut v = Vec::new();
        put_length_prefixed(&mut v, b"a.new.thing");
        put_length_prefixed(&mut v, b"whatever");
        sample().encode_to(&mut v);
        assert_eq!(Properties::decode(&v).unwrap(), sample());
    }

    #[test]
    fn corruption_detected() {
        let mut v = Vec::new();
        sample().encode_to(&mut v);
        for n in 0..v.len() {
            // Truncation either fails or (at a property boundary) yields fewer properties.
            if let Ok(p) = Properties::decode(&v[..n]) {
                assert_ne!(p, sample());
            }
        }
        let mut dup = Vec::new();
        sample().encode_to(&mut dup);
        sample().encode_to(&mut dup);
        assert!(Properties::decode(&dup).unwrap_err().to_string().contains("out of order"));
        let mut bad = Vec::new();
        put_length_prefixed(&mut bad, b"num.entries");
        put_length_prefixed(&mut bad, &[0x80]);
        assert!(Properties::decode(&bad).unwrap_err().to_string().contains("num.entries"));
        let mut bad = Vec::new();
        put_length_prefixed(&mut bad, b"compression");
        put_length_prefixed(&mut bad, &[7]);
        assert!(Properties::decode(&bad).unwrap_err().is_corruption());
    }
}
