//! Internal keys: how user keys, sequence numbers and entry kinds are laid out and ordered.
//!
//! ```text
//! internal key = user_key (n bytes) ++ tag (8 bytes, little-endian)
//! tag          = sequence << 8 | kind        (sequence < 2^56)
//! ```
//! Internal keys order by user key ascending (bytewise), then by tag *descending*: for one
//! user key the newest entry comes first, and among equal sequences a `Value` (1) sorts before
//! a `Deletion` (0). A seek for `(key, seq)` with kind [`ValueKind::SEEK`] therefore lands on
//! the newest entry for `key` visible at `seq`. This layout is part of every on-disk format.

use std::cmp::Ordering;

use crate::coding::get_fixed64;

/// A sequence number: the order of writes. Every write batch takes a consecutive range.
pub type SequenceNumber = u64;

/// The largest sequence number that fits in a tag.
pub const MAX_SEQUENCE: SequenceNumber = (1 << 56) - 1;

/// Length of the tag appended to every user key.
pub const TAG_LEN: usize = 8;

/// What an internal entry records. The numeric values are part of the on-disk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key was deleted.
    Deletion = 0,
    /// A value was put.
    Value = 1,
}

impl ValueKind {
    /// The kind used in seek keys: the highest kind, so a seek lands before every entry
    /// with the same user key and sequence.
    pub const SEEK: ValueKind = ValueKind::Value;

    /// Decodes a kind byte.
    pub fn from_u8(b: u8) -> Option<ValueKind> {
        match b {
            0 => Some(ValueKind::Deletion),
            1 => Some(ValueKind::Value),
            _ => None,
        }
    }
}

/// Packs a sequence number and kind into a tag.
#[inline]
pub fn pack_tag(seq: SequenceNumber, kind: ValueKind) -> u64 {
    debug_assert!(seq <= MAX_SEQUENCE);
    (seq << 8) | kind as u64
}

/// Appends the internal key for (`user_key`, `seq`, `kind`) to `dst`.
#[inline]
pub fn append_internal_key(dst: &mut Vec<u8>, user_key: &[u8], seq: SequenceNumber, kind: ValueKind) {
    dst.reserve(user_key.len() + TAG_LEN);
    dst.extend_from_slice(user_key);
    dst.extend_from_slice(&pack_tag(seq, kind).to_le_bytes());
}

/// A new internal key.
#[inline]
pub fn make_internal_key(user_key: &[u8], seq: SequenceNumber, kind: ValueKind) -> Vec<u8> {
    let mut v = Vec::with_capacity(user_key.len() + TAG_LEN);
    append_internal_key(&mut v, user_key, seq, kind);
    v
}

/// The user key part of an internal key (the whole slice if it is too short to hold a tag,
/// which only corrupt input produces; the decoders report that separately).
#[inline]
pub fn user_key(ikey: &[u8]) -> &[u8] {
    ikey.get(..ikey.len().saturating_sub(TAG_LEN)).unwrap_or(ikey)
}

/// The tag of an internal key (0 if too short).
#[inline]
pub fn tag(ikey: &[u8]) -> u64 {
    ikey.len().checked_sub(TAG_LEN).and_then(|n| ikey.get(n..)).and_then(get_fixed64).unwrap_or(0)
}

/// An internal key split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The user's key.
    pub user_key: &'a [u8],
    /// The write's sequence number.
    pub seq: SequenceNumber,
    /// What the entry records.
    pub kind: ValueKind,
}

/// Splits an internal key; `None` if it is shorter than a tag or has an unknown kind.
#[inline]
pub fn parse_internal_key(ikey: &[u8]) -> Option<ParsedKey<'_>> {
    if ikey.len() < TAG_LEN {
        return None;
    }
    let t = tag(ikey);
    let kind = ValueKind::from_u8((t & 0xff) as u8)?;
    Some(ParsedKey { user_key: user_key(ikey), seq: t >> 8, kind })
}

/// The total order of internal keys (see the module docs).
#[inline]
pub fn compare_internal(a: &[u8], b: &[u8]) -> Ordering {
    match user_key(a).cmp(user_key(b)) {
        Ordering::Equal => tag(b).cmp(&tag(a)),
        o => o,
    }
}

/// A shortest byte string `s` with `start <= s < limit` (user keys), used to shorten index
/// separators. Returns `start` itself when no shorter string works.
pub fn shortest_separator(start: &[u8], limit: &[u8]) -> Vec<u8> {
    let common = start.iter().zip(limit).take_while(|(a, b)| a == b).count();
    if common < start.len().min(limit.len()) {
        if let (Some(&b), Some(&l)) = (start.get(common), limit.get(common)) {
            if b < 0xff && b + 1 < l {
                let mut out = start.get(..=common).unwrap_or(start).to_vec();
                if let Some(last) = out.last_mut() {
                    *last += 1;
                }
                return out;
            }
        }
    }
    start.to_vec()
}

/// A short byte string `s >= key` (user keys), used for the last index entry.
pub fn short_successor(key: &[u8]) -> Vec<u8> {
    for (i, &b) in key.iter().enumerate() {
        if b != 0xff {
            let mut out = key.get(..=i).unwrap_or(key).to_vec();
            if let Some(last) = out.last_mut() {
                *last = b + 1;
            }
            return out;
        }
    }
    key.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_newest_first() {
        let a1 = make_internal_key(b"a", 1, ValueKind::Value);
        let a2 = make_internal_key(b"a", 2, ValueKind::Value);
        let a2d = make_internal_key(b"a", 2, ValueKind::Deletion);
        let b0 = make_internal_key(b"b", 0, ValueKind::Value);
        let ab = make_internal_key(b"ab", 100, ValueKind::Value);
        let mut v = vec![b0.clone(), a1.clone(), ab.clone(), a2d.clone(), a2.clone()];
        v.sort_by(|x, y| compare_internal(x, y));
        assert_eq!(v, vec![a2, a2d, a1, ab, b0]);
    }

    #[test]
    fn parse_roundtrip_and_rejects() {
        let k = make_internal_key(b"user", MAX_SEQUENCE, ValueKind::Deletion);
        let p = parse_internal_key(&k).unwrap();
        assert_eq!(p, ParsedKey { user_key: b"user", seq: MAX_SEQUENCE, kind: ValueKind::Deletion });
        assert!(parse_internal_key(b"short").is_none());
        let mut bad = k.clone();
        let n = bad.len();
        bad[n - TAG_LEN] = 7;
        assert!(parse_internal_key(&bad).is_none());
    }

    #[test]
    fn separators() {
        assert_eq!(shortest_separator(b"abcd", b"abzz"), b"abd".to_vec());
        assert_eq!(shortest_separator(b"abc", b"abd"), b"abc".to_vec());
        assert_eq!(shortest_separator(b"abc", b"abc"), b"abc".to_vec());
        assert_eq!(shortest_separator(b"ab", b"abc"), b"ab".to_vec());
        assert_eq!(short_successor(b"abc"), b"b".to_vec());
        assert_eq!(short_successor(&[0xff, 0xff, 3]), vec![0xff, 0xff, 4]);
        assert_eq!(short_successor(&[0xff]), vec![0xff]);
        for (s, l) in [(&b"a1"[..], &b"b"[..]), (b"hello", b"help"), (b"", b"x")] {
            let sep = shortest_separator(s, l);
            assert!(sep.as_slice() >= s && sep.as_slice() < l);
        }
    }
}
