//! The order-preserving encoding of a cell's coordinates into one engine key.
//!
//! A cell is addressed by (row, family, qualifier, timestamp). Its engine key is
//!
//! ```text
//! +-------------+-------+----------------+-------+-------------------+-------+-----------------+
//! | escaped row | 00 01 | escaped family | 00 01 | escaped qualifier | 00 01 | !(ts ^ 1<<63)   |
//! +-------------+-------+----------------+-------+-------------------+-------+-----------------+
//!   n bytes               m bytes                  k bytes                     8 bytes, big-endian
//! ```
//!
//! *Escaping*: every `00` byte of a component becomes `00 FF`; every other byte is copied.
//! *Terminator*: `00 01` closes each component. So a component never contains the
//! terminator, and a component that is a proper prefix of another sorts first: after the
//! shared bytes one has `00 01`, the other either a byte `>= 01` or the escape `00 FF`.
//! Bytewise order of keys is therefore the order of (row, family, qualifier) compared
//! component by component as plain byte strings, then the timestamp *descending*: the
//! timestamp's sign bit is flipped (so signed order becomes unsigned order) and all bits
//! inverted, so the newest version of a column comes first.
//!
//! Consequences the tablet relies on:
//! - all cells of a row are contiguous, and rows are in row-key order;
//! - within a row, families then qualifiers are in bytewise order, versions newest first;
//! - every key of row `r` starts with `escape(r) 00 01`, and `escape(r) 00 02` is above all
//!   of them and below every greater row, so row ranges map to engine key ranges exactly
//!   ([`row_start`], [`row_end`], [`RowBound`]).
//!
//! Keys beginning `00 00` .. `00 FE` never encode a cell (a row key is never empty, and a
//! leading `00` of a row escapes to `00 FF`): that space is reserved for tablet metadata.
//!
//! The format is documented in `docs/tablet_key_encoding.md`; it is part of the on-disk
//! format and must not change.

use crate::error::{Error, Result};

/// The escape byte: `00` inside a component is written `00 FF`.
pub const ESCAPE: u8 = 0x00;
/// Second byte of an escaped `00`.
pub const ESCAPED_ZERO: u8 = 0xFF;
/// Second byte of the component terminator `00 01`.
pub const TERMINATOR: u8 = 0x01;
/// Second byte of the "just past this component" bound `00 02`.
const PAST_TERMINATOR: u8 = 0x02;
/// Bytes of the encoded timestamp.
pub const TIMESTAMP_LEN: usize = 8;

/// The decoded coordinates of one cell.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CellKey {
    /// The row key.
    pub row: Vec<u8>,
    /// The column family name (UTF-8; schema names are ASCII).
    pub family: String,
    /// The column qualifier.
    pub qualifier: Vec<u8>,
    /// The version's timestamp in microseconds.
    pub timestamp_micros: i64,
}

impl CellKey {
    /// The engine key of this cell.
    pub fn encode(&self) -> Vec<u8> {
        encode_cell_key(&self.row, self.family.as_bytes(), &self.qualifier, self.timestamp_micros)
    }
}

/// Appends `component` escaped and terminated.
fn put_component(out: &mut Vec<u8>, component: &[u8]) {
    for &b in component {
        out.push(b);
        if b == ESCAPE {
            out.push(ESCAPED_ZERO);
        }
    }
    out.push(ESCAPE);
    out.push(TERMINATOR);
}

/// Appends `component` escaped, without a terminator.
fn put_escaped(out: &mut Vec<u8>, component: &[u8]) {
    for &b in component {
        out.push(b);
        if b == ESCAPE {
            out.push(ESCAPED_ZERO);
        }
    }
}

/// The 8 bytes that make timestamps sort newest first.
pub fn encode_timestamp(ts: i64) -> [u8; TIMESTAMP_LEN] {
    (!((ts as u64) ^ (1 << 63))).to_be_bytes()
}

/// Inverse of [`encode_timestamp`].
pub fn decode_timestamp(bytes: [u8; TIMESTAMP_LEN]) -> i64 {
    ((!u64::from_be_bytes(bytes)) ^ (1 << 63)) as i64
}

/// The engine key of cell (row, family, qualifier, timestamp).
pub fn encode_cell_key(row: &[u8], family: &[u8], qualifier: &[u8], timestamp_micros: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(row.len() + family.len() + qualifier.len() + 6 + TIMESTAMP_LEN + 4);
    put_component(&mut out, row);
    put_component(&mut out, family);
    put_component(&mut out, qualifier);
    out.extend_from_slice(&encode_timestamp(timestamp_micros));
    out
}

/// Reads one escaped, terminated component starting at `*pos`; leaves `*pos` after the
/// terminator. `what` names the component for errors.
fn take_component(key: &[u8], pos: &mut usize, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = *pos;
    loop {
        let Some(&b) = key.get(i) else {
            return Err(corrupt(key, format!("{what} starting at offset {} has no terminator", *pos)));
        };
        if b != ESCAPE {
            out.push(b);
            i += 1;
            continue;
        }
        match key.get(i + 1) {
            Some(&ESCAPED_ZERO) => {
                out.push(0);
                i += 2;
            }
            Some(&TERMINATOR) => {
                *pos = i + 2;
                return Ok(out);
            }
            Some(&other) => {
                return Err(corrupt(key, format!("bad escape 00 {other:02x} in {what} at offset {i}")));
            }
            None => return Err(corrupt(key, format!("{what} ends in a lone 00 at offset {i}"))),
        }
    }
}

fn corrupt(key: &[u8], reason: String) -> Error {
    Error::Corruption { key: key.to_vec(), reason }
}

/// Decodes an engine key into a cell's coordinates. Anything that is not exactly one
/// encoded cell key (bad escapes, missing terminators, a family that is not UTF-8, a
/// timestamp of other than 8 bytes) is [`Error::Corruption`]; never a panic.
pub fn decode_cell_key(key: &[u8]) -> Result<CellKey> {
    let mut pos = 0;
    let row = take_component(key, &mut pos, "row")?;
    if row.is_empty() {
        return Err(corrupt(key, "empty row key (reserved key space)".into()));
    }
    let family = take_component(key, &mut pos, "family")?;
    let family = String::from_utf8(family)
        .map_err(|e| corrupt(key, format!("family is not UTF-8 (byte {} of it)", e.utf8_error().valid_up_to())))?;
    let qualifier = take_component(key, &mut pos, "qualifier")?;
    let rest = key.get(pos..).unwrap_or_default();
    let ts: [u8; TIMESTAMP_LEN] = rest.try_into().map_err(|_| {
        corrupt(key, format!("timestamp at offset {pos} has {} bytes, expected {TIMESTAMP_LEN}", rest.len()))
    })?;
    Ok(CellKey { row, family, qualifier, timestamp_micros: decode_timestamp(ts) })
}

/// The row key of an engine key, decoding only the first component.
pub fn decode_row(key: &[u8]) -> Result<Vec<u8>> {
    let mut pos = 0;
    take_component(key, &mut pos, "row")
}

/// The key prefix shared by every cell of `row`: `escape(row) 00 01`. Also the smallest
/// engine key of the row.
pub fn row_start(row: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(row.len() + 2);
    put_component(&mut out, row);
    out
}

/// The smallest engine key above every cell of `row` and below every cell of any greater
/// row: `escape(row) 00 02`.
pub fn row_end(row: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(row.len() + 2);
    put_escaped(&mut out, row);
    out.push(ESCAPE);
    out.push(PAST_TERMINATOR);
    out
}

/// A half-open range of engine keys `[start, end)`; `end: None` is unbounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// Inclusive lower end.
    pub start: Vec<u8>,
    /// Exclusive upper end; `None` for no upper end.
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// True when `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|e| key < e)
    }

    /// True when no key lies in the range.
    pub fn is_empty(&self) -> bool {
        self.end.as_deref().is_some_and(|e| e <= self.start.as_slice())
    }
}

/// The engine keys of every cell of `row`.
pub fn row_key_range(row: &[u8]) -> KeyRange {
    KeyRange { start: row_start(row), end: Some(row_end(row)) }
}

/// The engine keys of every cell of rows in `[start_row, end_row)`; an empty `end_row` is
/// unbounded (the tablet convention for "end of table").
pub fn rows_key_range(start_row: &[u8], end_row: &[u8]) -> KeyRange {
    let start = if start_row.is_empty() { Vec::new() } else { row_start(start_row) };
    let end = if end_row.is_empty() { None } else { Some(row_start(end_row)) };
    KeyRange { start, end }
}

/// The engine keys of every cell of `family` in `row`.
pub fn family_key_range(row: &[u8], family: &[u8]) -> KeyRange {
    let mut start = row_start(row);
    let mut end = start.clone();
    put_component(&mut start, family);
    put_escaped(&mut end, family);
    end.push(ESCAPE);
    end.push(PAST_TERMINATOR);
    KeyRange { start, end: Some(end) }
}

/// The engine keys of every version of column `family:qualifier` in `row`.
pub fn column_key_range(row: &[u8], family: &[u8], qualifier: &[u8]) -> KeyRange {
    let mut start = row_start(row);
    put_component(&mut start, family);
    let mut end = start.clone();
    put_component(&mut start, qualifier);
    put_escaped(&mut end, qualifier);
    end.push(ESCAPE);
    end.push(PAST_TERMINATOR);
    KeyRange { start, end: Some(end) }
}

/// One end of a row interval, as a `RowRange` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowBound<'a> {
    /// This row is in the interval.
    Closed(&'a [u8]),
    /// This row is not, but its neighbours on the inside are.
    Open(&'a [u8]),
    /// No limit on this side.
    Unbounded,
}

/// The engine key range of the rows between `lower` and `upper`.
pub fn row_bounds_key_range(lower: RowBound<'_>, upper: RowBound<'_>) -> KeyRange {
    let start = match lower {
        RowBound::Closed(r) => row_start(r),
        RowBound::Open(r) => row_end(r),
        RowBound::Unbounded => Vec::new(),
    };
    let end = match upper {
        RowBound::Closed(r) => Some(row_end(r)),
        RowBound::Open(r) => Some(row_start(r)),
        RowBound::Unbounded => None,
    };
    KeyRange { start, end }
}

/// Printable form of a byte string for messages: ASCII kept, other bytes `\xNN`.
pub fn escape_for_display(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(row: &[u8], fam: &str, q: &[u8], ts: i64) -> Vec<u8> {
        encode_cell_key(row, fam.as_bytes(), q, ts)
    }

    #[test]
    fn layout_is_as_documented() {
        let k = key(b"r\x00", "f", b"", 0);
        let mut want = vec![b'r', 0x00, 0xFF, 0x00, 0x01, b'f', 0x00, 0x01, 0x00, 0x01];
        want.extend_from_slice(&[0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(k, want);
    }

    #[test]
    fn timestamps_sort_newest_first() {
        let stamps = [i64::MIN, -1_000, -1, 0, 1, 1_000, 2_000_000, i64::MAX];
        for w in stamps.windows(2) {
            assert!(encode_timestamp(w[1]) < encode_timestamp(w[0]), "{} vs {}", w[0], w[1]);
        }
        for ts in stamps {
            assert_eq!(decode_timestamp(encode_timestamp(ts)), ts);
        }
    }

    #[test]
    fn prefixes_and_zero_bytes_sort_by_component() {
        // Rows "a" < "a\x00" < "a\x00\x00" < "a\x01" < "ab"; every cell of a smaller row
        // sorts before every cell of a larger one whatever the family and qualifier.
        let rows: [&[u8]; 5] = [b"a", b"a\x00", b"a\x00\x00", b"a\x01", b"ab"];
        for w in rows.windows(2) {
            let hi_of_lo = key(w[0], "zzzz", b"\xff\xff\xff", i64::MIN);
            let lo_of_hi = key(w[1], "", b"", i64::MAX);
            assert!(hi_of_lo < lo_of_hi, "{:?} vs {:?}", w[0], w[1]);
            assert!(row_end(w[0]) <= row_start(w[1]));
        }
    }

    #[test]
    fn ranges_cover_exactly_their_cells() {
        let r = row_key_range(b"row");
        assert!(r.contains(&key(b"row", "f", b"q", 5)));
        assert!(r.contains(&key(b"row", "", b"", i64::MAX)));
        assert!(!r.contains(&key(b"row\x00", "f", b"q", 5)));
        assert!(!r.contains(&key(b"ro", "f", b"q", 5)));
        assert!(!r.contains(&key(b"rowa", "f", b"q", 5)));

        let f = family_key_range(b"row", b"fam");
        assert!(f.contains(&key(b"row", "fam", b"", 1)));
        assert!(f.contains(&key(b"row", "fam", b"\xff", i64::MIN)));
        assert!(!f.contains(&key(b"row", "fam2", b"", 1)));
        assert!(!f.contains(&key(b"row", "fa", b"", 1)));

        let c = column_key_range(b"row", b"fam", b"q\x00");
        assert!(c.contains(&key(b"row", "fam", b"q\x00", i64::MIN)));
        assert!(c.contains(&key(b"row", "fam", b"q\x00", i64::MAX)));
        assert!(!c.contains(&key(b"row", "fam", b"q", 0)));
        assert!(!c.contains(&key(b"row", "fam", b"q\x00\x00", 0)));
        assert!(!c.contains(&key(b"row", "fam", b"q\x01", 0)));
    }

    #[test]
    fn row_bounds_follow_open_and_closed_ends() {
        let k = |r: &[u8]| key(r, "f", b"q", 1);
        let closed = row_bounds_key_range(RowBound::Closed(b"b"), RowBound::Closed(b"d"));
        assert!(closed.contains(&k(b"b")) && closed.contains(&k(b"d")) && !closed.contains(&k(b"d\x00")));
        assert!(!closed.contains(&k(b"a\xff")));
        let open = row_bounds_key_range(RowBound::Open(b"b"), RowBound::Open(b"d"));
        assert!(!open.contains(&k(b"b")) && open.contains(&k(b"b\x00")) && open.contains(&k(b"c")));
        assert!(!open.contains(&k(b"d")));
        let all = row_bounds_key_range(RowBound::Unbounded, RowBound::Unbounded);
        assert!(all.contains(&k(b"\x00")) && all.contains(&k(b"\xff\xff")));
        assert!(row_bounds_key_range(RowBound::Open(b"b"), RowBound::Open(b"b")).is_empty());
        let tablet = rows_key_range(b"m", b"");
        assert!(tablet.contains(&k(b"m")) && !tablet.contains(&k(b"l\xff")) && tablet.end.is_none());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = key(b"r", "f", b"q", 7);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "no terminator"),
            (b"abc".to_vec(), "no terminator"),
            (vec![b'a', 0x00], "lone 00"),
            (vec![b'a', 0x00, 0x05], "bad escape"),
            (vec![0x00, 0x01, b'f', 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0], "empty row"),
            (good[..good.len() - 1].to_vec(), "timestamp"),
            ([good.as_slice(), &[0]].concat(), "timestamp"),
            (vec![b'r', 0x00, 0x01, 0xC3, 0x28, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0], "UTF-8"),
        ];
        for (bytes, want) in cases {
            match decode_cell_key(&bytes) {
                Err(Error::Corruption { reason, .. }) => assert!(reason.contains(want), "{reason} !~ {want}"),
                other => panic!("{bytes:?}: expected corruption, got {other:?}"),
            }
        }
    }

    #[test]
    fn decode_row_reads_the_first_component() {
        assert_eq!(decode_row(&key(b"a\x00b", "f", b"q", 1)).unwrap(), b"a\x00b");
        assert!(decode_row(b"a\x00").is_err());
    }

    fn cell() -> impl Strategy<Value = CellKey> {
        (
            proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(0xFFu8), any::<u8>()], 1..8),
            "[a-c_.-]{0,4}",
            proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(2u8), any::<u8>()], 0..8),
            prop_oneof![Just(0i64), Just(-1i64), Just(i64::MAX), Just(i64::MIN), any::<i64>()],
        )
            .prop_map(|(row, family, qualifier, timestamp_micros)| CellKey {
                row,
                family,
                qualifier,
                timestamp_micros,
            })
    }

    proptest! {
        #[test]
        fn roundtrip(c in cell()) {
            let k = c.encode();
            prop_assert_eq!(decode_cell_key(&k).unwrap(), c.clone());
            prop_assert_eq!(decode_row(&k).unwrap(), c.row.clone());
            prop_assert!(row_key_range(&c.row).contains(&k));
            prop_assert!(family_key_range(&c.row, c.family.as_bytes()).contains(&k));
            prop_assert!(column_key_range(&c.row, c.family.as_bytes(), &c.qualifier).contains(&k));
        }

        #[test]
        fn order_matches_coordinates(a in cell(), b in cell()) {
            let by_coords = (&a.row, a.family.as_bytes(), &a.qualifier, std::cmp::Reverse(a.timestamp_micros))
                .cmp(&(&b.row, b.family.as_bytes(), &b.qualifier, std::cmp::Reverse(b.timestamp_micros)));
            prop_assert_eq!(a.encode().cmp(&b.encode()), by_coords);
        }

        #[test]
        fn row_ranges_match_row_order(c in cell(), lo in proptest::collection::vec(any::<u8>(), 1..4),
                                      hi in proptest::collection::vec(any::<u8>(), 1..4)) {
            let k = c.encode();
            let r = c.row.as_slice();
            let half_open = row_bounds_key_range(RowBound::Closed(&lo), RowBound::Open(&hi));
            prop_assert_eq!(half_open.contains(&k), lo.as_slice() <= r && r < hi.as_slice());
            let open_closed = row_bounds_key_range(RowBound::Open(&lo), RowBound::Closed(&hi));
            prop_assert_eq!(open_closed.contains(&k), lo.as_slice() < r && r <= hi.as_slice());
            prop_assert_eq!(rows_key_range(&lo, &hi).contains(&k), lo.as_slice() <= r && r < hi.as_slice());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(c) = decode_cell_key(&bytes) {
                // Whatever decodes re-encodes to the same bytes: the encoding is canonical.
                prop_assert_eq!(c.encode(), bytes.clone());
            }
            let _ = decode_row(&bytes);
        }
    }
}
