//! The master's state on disk: keys and records of its engine `Db` (`<root>/master/`).
//!
//! Every key starts with a one-byte kind; the records are protobuf messages (prost), so a
//! later version can add fields that an older one skips.
//!
//! ```text
//! key                                               value
//! +------+----------------------+                   +-----------------------------+
//! | 0x01 | "format"             |  meta             | u32 big-endian: FORMAT (1)   |
//! | 0x01 | "next_table_seq"     |  meta             | u64 big-endian              |
//! +------+----------------------+                   +-----------------------------+
//! | 0x02 | full table name      |  one table        | TableRecord (protobuf)      |
//! +------+----------+------+----------+             +-----------------------------+
//! | 0x03 | table id | 0x00 | tablet id |  one tablet | TabletRecord (protobuf)     |
//! +------+----------+------+----------+             +-----------------------------+
//! ```
//!
//! The table name is `projects/{p}/instances/{i}/tables/{t}`, the table id `t` plus 16 hex
//! digits, the tablet id `[0-9a-z-]{1,64}` (none contains `0x00`). A record repeats the
//! names its key holds, and decoding checks that they agree. Tablets are keyed by id, not
//! by row range: the in-memory index that orders them by range is rebuilt at start.
//!
//! Part of the on-disk format, never to change: the kind bytes, the meta names, the field
//! numbers of the records and the values of [`Assignment`].

use tablet::keys::escape_for_display;
use tablet::proto::bt::internal::v1::FamilySchema;

use crate::error::{Error, Result};

/// The format version this code writes and reads.
pub const FORMAT: u32 = 1;

/// Kind byte of meta keys.
pub const KIND_META: u8 = 0x01;
/// Kind byte of table keys.
pub const KIND_TABLE: u8 = 0x02;
/// Kind byte of tablet keys.
pub const KIND_TABLET: u8 = 0x03;

/// Meta name of the format version.
pub const META_FORMAT: &str = "format";
/// Meta name of the sequence number the next table id is made from.
pub const META_NEXT_TABLE_SEQ: &str = "next_table_seq";

/// One table: its name, id and schema.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TableRecord {
    /// `projects/{project}/instances/{instance}/tables/{table}`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `t` + 16 hex digits; names the table's directory.
    #[prost(string, tag = "2")]
    pub table_id: String,
    /// The column families, in name order, with their GC rules.
    #[prost(message, repeated, tag = "3")]
    pub families: Vec<FamilySchema>,
    /// The admin API's `Table.TimestampGranularity` value.
    #[prost(int32, tag = "4")]
    pub granularity: i32,
    /// When true, DeleteTable refuses the table.
    #[prost(bool, tag = "5")]
    pub deletion_protection: bool,
    /// Raised by every change of the families (so a load that carried an older schema can
    /// be followed by an `UpdateSchema`).
    #[prost(uint64, tag = "6")]
    pub schema_version: u64,
}

/// Where a tablet stands with respect to the servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Assignment {
    /// No server holds it (new, its server died, or a load was refused).
    Unassigned = 0,
    /// `LoadTablet` was (or is being) sent to `server_id` at `epoch`, not yet confirmed.
    Loading = 1,
    /// `server_id` serves it at `epoch`.
    Serving = 2,
}

/// One tablet: a row range of a table, its epoch and its server.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct TabletRecord {
    /// The table's id.
    #[prost(string, tag = "1")]
    pub table_id: String,
    /// Unique within the table; names the tablet's directory.
    #[prost(string, tag = "2")]
    pub tablet_id: String,
    /// First row (inclusive); empty: the start of the table.
    #[prost(bytes = "vec", tag = "3")]
    pub start_key: Vec<u8>,
    /// End row (exclusive); empty: the end of the table.
    #[prost(bytes = "vec", tag = "4")]
    pub end_key: Vec<u8>,
    /// The epoch of the latest assignment (0: never assigned).
    #[prost(uint64, tag = "5")]
    pub epoch: u64,
    /// An [`Assignment`].
    #[prost(enumeration = "Assignment", tag = "6")]
    pub state: i32,
    /// The server of the latest assignment (empty when unassigned).
    #[prost(string, tag = "7")]
    pub server_id: String,
    /// That server's address, `host:port` (empty when unassigned).
    #[prost(string, tag = "8")]
    pub address: String,
    /// The balancer's intent, written before it asks `server_id` to unload the tablet: the
    /// server the tablet is moving to (empty: not moving). The tablet stays assigned to
    /// `server_id` at `epoch` until that server has let go; then it is assigned at
    /// `epoch + 1`. A master that fails over in between finishes (or cancels) the move
    /// from this field. An older master skips the field and reloads the tablet where it
    /// was, which is also safe.
    #[prost(string, tag = "9")]
    pub moving_to: String,
}

impl TabletRecord {
    /// The record's assignment state (an unknown value reads as unassigned).
    pub fn assignment(&self) -> Assignment {
        Assignment::try_from(self.state).unwrap_or(Assignment::Unassigned)
    }

    /// The server holding (or loading) the tablet, if any.
    pub fn holder(&self) -> Option<&str> {
        match self.assignment() {
            Assignment::Unassigned => None,
            Assignment::Loading | Assignment::Serving => Some(self.server_id.as_str()),
        }
    }

    /// The server the balancer is moving the tablet to, if a move is under way.
    pub fn moving_to(&self) -> Option<&str> {
        Some(self.moving_to.as_str()).filter(|s| !s.is_empty())
    }

    /// Sets the assignment: `Some((server_id, address))` with `state`, or unassigned. Any
    /// move under way ends with it (`moving_to` is cleared).
    pub fn set_holder(&mut self, holder: Option<(&str, &str)>, state: Assignment) {
        self.moving_to.clear();
        match holder {
            Some((id, addr)) if state != Assignment::Unassigned => {
                self.server_id = id.to_string();
                self.address = addr.to_string();
                self.state = state as i32;
            }
            _ => {
                self.server_id.clear();
                self.address.clear();
                self.state = Assignment::Unassigned as i32;
            }
        }
    }

    /// True when `row` is in `[start_key, end_key)`.
    pub fn contains(&self, row: &[u8]) -> bool {
        row >= self.start_key.as_slice() && (self.end_key.is_empty() || row < self.end_key.as_slice())
    }
}

/// The key of meta entry `name`.
pub fn meta_key(name: &str) -> Vec<u8> {
    [&[KIND_META][..], name.as_bytes()].concat()
}

/// The key of table `name`.
pub fn table_key(name: &str) -> Vec<u8> {
    [&[KIND_TABLE][..], name.as_bytes()].concat()
}

/// The key of tablet `tablet_id` of table `table_id`.
pub fn tablet_key(table_id: &str, tablet_id: &str) -> Vec<u8> {
    [&[KIND_TABLET][..], table_id.as_bytes(), &[0], tablet_id.as_bytes()].concat()
}

/// A u64 meta value.
pub fn encode_u64(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// A u32 meta value.
pub fn encode_u32(v: u32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// One decoded entry of the state database.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// The format version.
    Format(u32),
    /// The next table sequence number.
    NextTableSeq(u64),
    /// A table.
    Table(TableRecord),
    /// A tablet.
    Tablet(TabletRecord),
}

fn corrupt(key: &[u8], reason: impl Into<String>) -> Error {
    Error::Corruption { key: escape_for_display(key), reason: reason.into() }
}

fn utf8<'a>(key: &[u8], part: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(part).map_err(|e| corrupt(key, format!("{what} is not UTF-8: {e}")))
}

/// Decodes one key/value pair; anything unexpected is [`Error::Corruption`] naming the key.
pub fn decode_entry(key: &[u8], value: &[u8]) -> Result<Entry> {
    let Some((&kind, rest)) = key.split_first() else { return Err(corrupt(key, "empty key")) };
    match kind {
        KIND_META => {
            let name = utf8(key, rest, "meta name")?;
            match name {
                META_FORMAT => {
                    let b: [u8; 4] = value
                        .try_into()
                        .map_err(|_| corrupt(key, format!("format version is {} bytes, expected 4", value.len())))?;
                    Ok(Entry::Format(u32::from_be_bytes(b)))
                }
                META_NEXT_TABLE_SEQ => {
                    let b: [u8; 8] = value
                        .try_into()
                        .map_err(|_| corrupt(key, format!("table sequence is {} bytes, expected 8", value.len())))?;
                    Ok(Entry::NextTableSeq(u64::from_be_bytes(b)))
                }
                _ => Err(corrupt(key, format!("unknown meta entry {name:?}"))),
            }
        }
        KIND_TABLE => {
            let name = utf8(key, rest, "table name")?;
            let rec = <TableRecord as prost::Message>::decode(value)
                .map_err(|e| corrupt(key, format!("table record does not decode: {e}")))?;
            if rec.name != name {
                return Err(corrupt(key, format!("table record names {:?}", rec.name)));
            }
            Ok(Entry::Table(rec))
        }
        KIND_TABLET => {
            let Some(sep) = rest.iter().position(|&b| b == 0) else {
                return Err(corrupt(key, "tablet key has no 0x00 between table id and tablet id"));
            };
            let (table_id, tablet_id) = (&rest[..sep], &rest[sep + 1..]);
            let table_id = utf8(key, table_id, "table id")?;
            let tablet_id = utf8(key, tablet_id, "tablet id")?;
            let rec = <TabletRecord as prost::Message>::decode(value)
                .map_err(|e| corrupt(key, format!("tablet record does not decode: {e}")))?;
            if rec.table_id != table_id || rec.tablet_id != tablet_id {
                return Err(corrupt(key, format!("tablet record names {:?}/{:?}", rec.table_id, rec.tablet_id)));
            }
            if Assignment::try_from(rec.state).is_err() {
                return Err(corrupt(key, format!("unknown assignment state {}", rec.state)));
            }
            Ok(Entry::Tablet(rec))
        }
        other => Err(corrupt(key, format!("unknown key kind {other:#04x}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use tablet::proto::bt::internal::v1::{gc_rule, GcRule};

    fn table() -> TableRecord {
        TableRecord {
            name: "projects/p/instances/i/tables/t".into(),
            table_id: "t0000000000000007".into(),
            families: vec![FamilySchema {
                name: "cf".into(),
                gc_rule: Some(GcRule { rule: Some(gc_rule::Rule::MaxNumVersions(2)) }),
            }],
            granularity: 1,
            deletion_protection: true,
            schema_version: 3,
        }
    }

    fn tablet() -> TabletRecord {
        let mut t = TabletRecord {
            table_id: "t0000000000000007".into(),
            tablet_id: "0001".into(),
            start_key: b"m\x00".to_vec(),
            end_key: vec![],
            epoch: 9,
            ..Default::default()
        };
        t.set_holder(Some(("srv-1", "127.0.0.1:7000")), Assignment::Serving);
        t.moving_to = "srv-2".into();
        t
    }

    #[test]
    fn entries_roundtrip() {
        let t = table();
        assert_eq!(decode_entry(&table_key(&t.name), &t.encode_to_vec()).unwrap(), Entry::Table(t));
        let tb = tablet();
        let key = tablet_key(&tb.table_id, &tb.tablet_id);
        assert_eq!(key, b"\x03t0000000000000007\x000001");
        assert_eq!(decode_entry(&key, &tb.encode_to_vec()).unwrap(), Entry::Tablet(tb));
        assert_eq!(decode_entry(&meta_key(META_FORMAT), &encode_u32(FORMAT)).unwrap(), Entry::Format(FORMAT));
        assert_eq!(
            decode_entry(&meta_key(META_NEXT_TABLE_SEQ), &encode_u64(1 << 40)).unwrap(),
            Entry::NextTableSeq(1 << 40)
        );
    }

    #[test]
    fn damaged_entries_are_corruption_naming_the_key() {
        let t = table();
        let tb = tablet();
        let tkey = tablet_key(&tb.table_id, &tb.tablet_id);
        let mut bad_state = tb.clone();
        bad_state.state = 7;
        let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
            (vec![], vec![], "empty key"),
            (vec![0x09, b'x'], vec![], "unknown key kind 0x09"),
            (meta_key("bogus"), vec![], "unknown meta entry"),
            (meta_key(META_FORMAT), vec![0, 1], "2 bytes, expected 4"),
            (meta_key(META_NEXT_TABLE_SEQ), vec![1; 9], "9 bytes, expected 8"),
            (table_key(&t.name), vec![0xff, 0xff, 0xff], "does not decode"),
            (table_key("projects/p/instances/i/tables/other"), t.encode_to_vec(), "table record names"),
            (vec![KIND_TABLE, 0xff], t.encode_to_vec(), "not UTF-8"),
            (vec![KIND_TABLET, b't'], tb.encode_to_vec(), "no 0x00"),
            (tablet_key(&tb.table_id, "0002"), tb.encode_to_vec(), "tablet record names"),
            (tkey.clone(), tb.encode_to_vec()[..5].to_vec(), "does not decode"),
            (tkey, bad_state.encode_to_vec(), "unknown assignment state 7"),
        ];
        for (key, value, want) in cases {
            match decode_entry(&key, &value) {
                Err(e @ Error::Corruption { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{msg}");
                    assert!(msg.contains("corrupt master state record"), "{msg}");
                }
                other => panic!("{key:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn holder_follows_state() {
        let mut t = tablet();
        assert_eq!((t.holder(), t.moving_to()), (Some("srv-1"), Some("srv-2")));
        // A new holder (or none) ends a move.
        t.set_holder(Some(("srv-3", "h:3")), Assignment::Loading);
        assert_eq!((t.holder(), t.moving_to()), (Some("srv-3"), None));
        t.moving_to = "srv-2".into();
        t.set_holder(None, Assignment::Serving);
        assert_eq!(t.moving_to(), None);
        assert_eq!((t.holder(), t.assignment(), t.address.as_str()), (None, Assignment::Unassigned, ""));
        assert!(t.contains(b"m\x00") && t.contains(b"zzz") && !t.contains(b"m"));
    }
}
