//! How bytes, internal keys and times are shown, and how keys typed on the command line are
//! read back.
//!
//! Readable form: printable ASCII (`0x20..=0x7e`) as is, except `\` and `"`, which are
//! written `\\` and `\"`; every other byte as `\xNN`. The form is reversible:
//! [`parse_bytes`] reads it back, so a key printed by the tool can be pasted into `--from`.
//! Hex form (`--hex`): two lowercase hex digits a byte.
//!
//! With `--decode tablet` ([`KeyDecode::Tablet`]), user keys are read as the tablet crate's
//! cell keys (`tablet::keys::decode_cell_key`) and shown as `"row" / family:"qualifier" @ ts`
//! (text) or a `"cell"` object beside the raw key (JSON). A key that does not decode is shown
//! raw with the marker `(not a tablet key)`; decoding never fails the command.

use engine::keys::{parse_internal_key, ValueKind};
use serde::Serialize;
use tablet::keys::decode_cell_key;

/// How byte strings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ByteStyle {
    /// Printable ASCII as is, the rest escaped (`\x00`).
    #[default]
    Readable,
    /// Every byte as two hex digits.
    Hex,
}

/// How user keys are interpreted (`--decode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KeyDecode {
    /// Raw bytes.
    #[default]
    None,
    /// The tablet crate's cell keys: row, family, qualifier, timestamp.
    Tablet,
}

/// A user key decoded as a tablet cell key, as carried in JSON (the `"cell"` member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    /// The key is a cell key.
    Decoded {
        /// The row key, in the output's byte style.
        row: String,
        /// The column family name (readable form).
        family: String,
        /// The column qualifier, in the output's byte style.
        qualifier: String,
        /// The version's timestamp in microseconds.
        timestamp_micros: i64,
    },
    /// The key does not decode (metadata key, or not from a tablet); why not.
    NotTablet {
        /// The decoder's reason.
        not_a_tablet_key: String,
    },
}

impl Cell {
    /// `user_key` decoded as `decode` says; `None` when not decoding.
    pub fn new(user_key: &[u8], style: ByteStyle, decode: KeyDecode) -> Option<Self> {
        match decode {
            KeyDecode::None => None,
            KeyDecode::Tablet => Some(match decode_cell_key(user_key) {
                Ok(c) => Cell::Decoded {
                    row: bytes(&c.row, style),
                    family: bytes(c.family.as_bytes(), ByteStyle::Readable),
                    qualifier: bytes(&c.qualifier, style),
                    timestamp_micros: c.timestamp_micros,
                },
                Err(e) => Cell::NotTablet { not_a_tablet_key: tablet_reason(e) },
            }),
        }
    }
}

/// The reason of a decode error, without the key (the output shows it already).
fn tablet_reason(e: tablet::Error) -> String {
    match e {
        tablet::Error::Corruption { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// A user key in text output: `"key"` (or `0x...`), or with [`KeyDecode::Tablet`]
/// `"row" / family:"qualifier" @ timestamp`, or `"key" (not a tablet key)`.
pub fn user_key(key: &[u8], style: ByteStyle, decode: KeyDecode) -> String {
    match decode {
        KeyDecode::None => quoted(key, style),
        KeyDecode::Tablet => match decode_cell_key(key) {
            Ok(c) => format!(
                "{} / {}:{} @ {}",
                quoted(&c.row, style),
                bytes(c.family.as_bytes(), ByteStyle::Readable),
                quoted(&c.qualifier, style),
                c.timestamp_micros
            ),
            Err(_) => format!("{} (not a tablet key)", quoted(key, style)),
        },
    }
}

/// The bare form of `b` (no quotes), as carried in JSON strings.
pub fn bytes(b: &[u8], style: ByteStyle) -> String {
    let mut out = String::with_capacity(b.len());
    match style {
        ByteStyle::Hex => {
            for c in b {
                out.push_str(&format!("{c:02x}"));
            }
        }
        ByteStyle::Readable => {
            for &c in b {
                match c {
                    b'\\' => out.push_str("\\\\"),
                    b'"' => out.push_str("\\\""),
                    0x20..=0x7e => out.push(char::from(c)),
                    _ => out.push_str(&format!("\\x{c:02x}")),
                }
            }
        }
    }
    out
}

/// The form of `b` in text output: `"..."` (readable) or `0x...` (hex), so that an empty
/// string stays visible.
pub fn quoted(b: &[u8], style: ByteStyle) -> String {
    wrap(&bytes(b, style), style)
}

/// Wraps the bare form made by [`bytes`] as [`quoted`] does.
pub fn wrap(shown: &str, style: ByteStyle) -> String {
    match style {
        ByteStyle::Readable => format!("\"{shown}\""),
        ByteStyle::Hex => format!("0x{shown}"),
    }
}

/// Reads a key typed on the command line: the readable form (`\xNN`, `\\`, `\"`; other
/// characters as their UTF-8 bytes) or, with `Hex`, hex digits (an optional `0x` prefix).
pub fn parse_bytes(s: &str, style: ByteStyle) -> Result<Vec<u8>, String> {
    match style {
        ByteStyle::Hex => {
            let digits = s.strip_prefix("0x").unwrap_or(s);
            if !digits.len().is_multiple_of(2) {
                return Err(format!("hex key {s:?} has an odd number of digits"));
            }
            (0..digits.len())
                .step_by(2)
                .map(|i| {
                    digits
                        .get(i..i + 2)
                        .and_then(|d| u8::from_str_radix(d, 16).ok())
                        .ok_or_else(|| format!("hex key {s:?} has a non-hex digit near position {i}"))
                })
                .collect()
        }
        ByteStyle::Readable => {
            let mut out = Vec::with_capacity(s.len());
            let mut chars = s.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    continue;
                }
                match chars.next() {
                    Some('\\') => out.push(b'\\'),
                    Some('"') => out.push(b'"'),
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        let byte = (hex.len() == 2)
                            .then(|| u8::from_str_radix(&hex, 16).ok())
                            .flatten()
                            .ok_or_else(|| format!("key {s:?}: \\x must be followed by two hex digits"))?;
                        out.push(byte);
                    }
                    other => {
                        return Err(format!(
                            "key {s:?}: unknown escape \\{} (use \\xNN, \\\\ or \\\")",
                            other.map(String::from).unwrap_or_default()
                        ))
                    }
                }
            }
            Ok(out)
        }
    }
}

/// `n` and a noun, plural unless `n` is 1: `1 record`, `3 records`, `2 entries`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    match (n.into(), noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (n, Some(stem)) => format!("{n} {stem}ies"),
        (n, None) => format!("{n} {noun}s"),
    }
}

/// The name of an entry kind.
pub fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Value => "put",
        ValueKind::Deletion => "del",
    }
}

/// An internal key (`user_key ++ tag`) as carried in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum InternalKey {
    /// A well-formed internal key.
    Parsed {
        /// The user key.
        user_key: String,
        /// The sequence number.
        seq: u64,
        /// `put` or `del`.
        kind: &'static str,
        /// The user key decoded (`--decode tablet` only).
        #[serde(skip_serializing_if = "Option::is_none")]
        cell: Option<Cell>,
    },
    /// Bytes that do not form an internal key (too short, or an unknown kind).
    Malformed {
        /// The raw bytes.
        raw: String,
    },
}

impl InternalKey {
    /// Splits `ikey` into its parts (and decodes the user key as `decode` says).
    pub fn new(ikey: &[u8], style: ByteStyle, decode: KeyDecode) -> Self {
        match parse_internal_key(ikey) {
            Some(p) => InternalKey::Parsed {
                user_key: bytes(p.user_key, style),
                seq: p.seq,
                kind: kind_name(p.kind),
                cell: Cell::new(p.user_key, style, decode),
            },
            None => InternalKey::Malformed { raw: bytes(ikey, style) },
        }
    }
}

/// An internal key in text output: `"user" @7 put` (the user key as [`user_key`] shows it).
pub fn internal_key(ikey: &[u8], style: ByteStyle, decode: KeyDecode) -> String {
    match parse_internal_key(ikey) {
        Some(p) => format!("{} @{} {}", user_key(p.user_key, style, decode), p.seq, kind_name(p.kind)),
        None if ikey.is_empty() => "(none)".to_string(),
        None => format!("{} (not an internal key)", quoted(ikey, style)),
    }
}

/// A compression type byte of a block trailer or the properties.
pub fn compression_name(type_byte: u8) -> String {
    match engine::sstable::Compression::from_type_byte(type_byte) {
        Some(engine::sstable::Compression::None) => "none".into(),
        Some(engine::sstable::Compression::Lz4) => "lz4".into(),
        None => format!("unknown({type_byte})"),
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
pub fn utc_time(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::keys::make_internal_key;

    #[test]
    fn readable_escapes_and_parses_back() {
        let raw = b"a b\x00\xff\\\"~\x7f\n".to_vec();
        let shown = bytes(&raw, ByteStyle::Readable);
        assert_eq!(shown, "a b\\x00\\xff\\\\\\\"~\\x7f\\x0a");
        assert_eq!(parse_bytes(&shown, ByteStyle::Readable).unwrap(), raw);
        assert_eq!(quoted(b"", ByteStyle::Readable), "\"\"");
    }

    #[test]
    fn hex_roundtrip_and_errors() {
        assert_eq!(bytes(b"\x00\xabz", ByteStyle::Hex), "00ab7a");
        assert_eq!(quoted(b"", ByteStyle::Hex), "0x");
        assert_eq!(parse_bytes("0x00ab7a", ByteStyle::Hex).unwrap(), b"\x00\xabz");
        assert!(parse_bytes("abc", ByteStyle::Hex).unwrap_err().contains("odd"));
        assert!(parse_bytes("zz", ByteStyle::Hex).unwrap_err().contains("non-hex"));
    }

    #[test]
    fn bad_escapes_are_errors_not_panics() {
        for bad in ["\\", "\\x", "\\x1", "\\xg0", "\\n", "ab\\"] {
            assert!(parse_bytes(bad, ByteStyle::Readable).is_err(), "{bad}");
        }
        assert_eq!(parse_bytes("é", ByteStyle::Readable).unwrap(), "é".as_bytes());
    }

    #[test]
    fn internal_keys() {
        let k = make_internal_key(b"k\x01", 42, ValueKind::Deletion);
        assert_eq!(internal_key(&k, ByteStyle::Readable, KeyDecode::None), "\"k\\x01\" @42 del");
        assert_eq!(
            InternalKey::new(&k, ByteStyle::Hex, KeyDecode::None),
            InternalKey::Parsed { user_key: "6b01".into(), seq: 42, kind: "del", cell: None }
        );
        assert_eq!(internal_key(b"abc", ByteStyle::Readable, KeyDecode::None), "\"abc\" (not an internal key)");
        assert_eq!(internal_key(b"", ByteStyle::Readable, KeyDecode::None), "(none)");
    }

    #[test]
    fn tablet_keys_decode_or_are_marked() {
        let cell = tablet::keys::encode_cell_key(b"r\x00w", b"cf", b"q\x00", -5);
        let t = KeyDecode::Tablet;
        assert_eq!(user_key(&cell, ByteStyle::Readable, t), "\"r\\x00w\" / cf:\"q\\x00\" @ -5");
        assert_eq!(user_key(&cell, ByteStyle::Hex, t), "0x720077 / cf:0x7100 @ -5");
        assert_eq!(user_key(&cell, ByteStyle::Readable, KeyDecode::None), quoted(&cell, ByteStyle::Readable));
        let ik = make_internal_key(&cell, 7, ValueKind::Value);
        assert_eq!(internal_key(&ik, ByteStyle::Readable, t), "\"r\\x00w\" / cf:\"q\\x00\" @ -5 @7 put");
        assert_eq!(
            Cell::new(&cell, ByteStyle::Readable, t),
            Some(Cell::Decoded {
                row: "r\\x00w".into(),
                family: "cf".into(),
                qualifier: "q\\x00".into(),
                timestamp_micros: -5
            })
        );
        assert_eq!(Cell::new(&cell, ByteStyle::Readable, KeyDecode::None), None);
        for raw in [&b""[..], b"\x00\x00meta", b"abc", b"r\x00\x01f\x00\x01q\x00\x01short", b"\xff\x00"] {
            assert_eq!(
                user_key(raw, ByteStyle::Readable, t),
                format!("{} (not a tablet key)", quoted(raw, ByteStyle::Readable))
            );
            assert!(matches!(Cell::new(raw, ByteStyle::Readable, t), Some(Cell::NotTablet { .. })), "{raw:?}");
        }
    }

    #[test]
    fn counts() {
        assert_eq!(count(1u64, "entry"), "1 entry");
        assert_eq!(count(0u64, "entry"), "0 entries");
        assert_eq!(count(3u32, "op"), "3 ops");
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
