//! Turning one row's list of `Mutation`s into one engine `WriteBatch`.
//!
//! The prost-generated `Mutation` is the data model; this module gives it Bigtable's
//! semantics:
//!
//! - **SetCell** writes the cell `(row, family, qualifier, timestamp)`, replacing a cell with
//!   the same coordinates. Timestamp `-1` means the server's time, in microseconds truncated
//!   to milliseconds (Cloud Bigtable's default granularity); every `-1` of one request gets
//!   the same time. Other timestamps must be non-negative multiples of 1000.
//! - **DeleteFromColumn** deletes the column's cells with timestamps in
//!   `[start, end)` (`end` 0 = unbounded; no range = all).
//! - **DeleteFromFamily** / **DeleteFromRow** delete every cell of the family / row.
//!
//! Deletions of ranges read the cells the row holds (under the row's lock, which the caller
//! holds exclusively: [`RowGuard`]; a list of SetCells only reads nothing and needs the lock
//! only shared, see [`needs_exclusive_lock`]) and delete each matching key; the deletes and
//! the sets go into the same batch, so the request is atomic. Mutations apply in order: a
//! SetCell after a DeleteFromRow in the same request survives, a SetCell followed by a
//! DeleteFromColumn that covers it does not. The whole list is validated before anything is built: an
//! invalid mutation anywhere fails the request and writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use engine::{Db, ReadOptions, WriteBatch};

use crate::error::{Error, Result};
use crate::keys::{
    column_key_range, decode_cell_key, encode_cell_key, escape_for_display, family_key_range, row_key_range, KeyRange,
};
use crate::locks::{RowGuard, RowLocks};
use crate::proto::bigtable::mutation::{self, Mutation as Kind};
use crate::proto::bigtable::{Mutation, TimestampRange};
use crate::schema::Schema;

/// Most mutations one request may carry (Bigtable's limit).
pub const MAX_MUTATIONS: usize = 100_000;
/// Longest row key Bigtable accepts.
pub const MAX_ROW_KEY_LEN: usize = 4096;
/// Timestamp granularity in microseconds (milliseconds, Cloud Bigtable's default).
pub const TIMESTAMP_GRANULARITY: i64 = 1000;
/// The SetCell timestamp that asks for the server's time.
pub const SERVER_TIME: i64 = -1;

/// Checks a row key: non-empty, at most [`MAX_ROW_KEY_LEN`] bytes.
pub fn validate_row_key(row: &[u8]) -> Result<()> {
    if row.is_empty() {
        return Err(Error::invalid("row key must not be empty"));
    }
    if row.len() > MAX_ROW_KEY_LEN {
        return Err(Error::invalid(format!("row key is {} bytes, more than {MAX_ROW_KEY_LEN}", row.len())));
    }
    Ok(())
}

/// The server timestamp for a request arriving at `now_micros`: truncated to milliseconds.
pub fn server_timestamp(now_micros: i64) -> i64 {
    now_micros - now_micros.rem_euclid(TIMESTAMP_GRANULARITY)
}

fn need_family(schema: &Schema, family: &str, i: usize, what: &str) -> Result<()> {
    if schema.has_family(family) {
        Ok(())
    } else {
        Err(Error::NotFound(format!("mutation {i} ({what}): column family {family:?} does not exist in the table")))
    }
}

fn validate_range(r: &TimestampRange, i: usize) -> Result<()> {
    let (start, end) = (r.start_timestamp_micros, r.end_timestamp_micros);
    if start < 0 || end < 0 {
        return Err(Error::invalid(format!(
            "mutation {i} (delete_from_column): time range [{start}, {end}) has a negative end"
        )));
    }
    if end != 0 && end < start {
        return Err(Error::invalid(format!(
            "mutation {i} (delete_from_column): time range [{start}, {end}) ends before it starts"
        )));
    }
    Ok(())
}

/// Checks a whole mutation list against `schema` without touching any data. Errors name
/// the mutation by its index and say what is wrong.
pub fn validate(mutations: &[Mutation], schema: &Schema) -> Result<()> {
    if mutations.is_empty() {
        return Err(Error::invalid("no mutations given"));
    }
    if mutations.len() > MAX_MUTATIONS {
        return Err(Error::invalid(format!("{} mutations in one request, more than {MAX_MUTATIONS}", mutations.len())));
    }
    for (i, m) in mutations.iter().enumerate() {
        match &m.mutation {
            None => return Err(Error::invalid(format!("mutation {i} sets no mutation kind"))),
            Some(Kind::SetCell(s)) => {
                need_family(schema, &s.family_name, i, "set_cell")?;
                let ts = s.timestamp_micros;
                if ts != SERVER_TIME && (ts < 0 || ts % TIMESTAMP_GRANULARITY != 0) {
                    return Err(Error::invalid(format!(
                        "mutation {i} (set_cell): timestamp_micros {ts} is invalid: use -1 for server time or a \
                         non-negative multiple of {TIMESTAMP_GRANULARITY} (the table's granularity is milliseconds)"
                    )));
                }
            }
            Some(Kind::DeleteFromColumn(d)) => {
                need_family(schema, &d.family_name, i, "delete_from_column")?;
                if let Some(r) = &d.time_range {
                    validate_range(r, i)?;
                }
            }
            Some(Kind::DeleteFromFamily(d)) => need_family(schema, &d.family_name, i, "delete_from_family")?,
            Some(Kind::DeleteFromRow(_)) => {}
        }
    }
    Ok(())
}

/// The row as this request sees it while its mutations are applied in order.
struct PendingRow<'a> {
    db: &'a Db,
    row: &'a [u8],
    /// Keys of the cells stored in the row before the request; read on the first deletion.
    stored: Option<BTreeSet<Vec<u8>>>,
    /// The request's net effect so far, per key: `Some(value)` put (borrowed from the
    /// request: values are copied once, into the batch), `None` delete.
    writes: BTreeMap<Vec<u8>, Option<&'a [u8]>>,
}

impl PendingRow<'_> {
    /// Reads the keys the row holds in the engine, once.
    fn load_stored(&mut self) -> Result<()> {
        if self.stored.is_none() {
            let range = row_key_range(self.row);
            let ro = ReadOptions { lower_bound: Some(range.start), upper_bound: range.end, ..Default::default() };
            let mut it = self.db.iter(&ro)?;
            let mut keys = BTreeSet::new();
            it.seek_to_first();
            while it.valid() {
                keys.insert(it.key().to_vec());
                it.next();
            }
            it.status()?;
            self.stored = Some(keys);
        }
        Ok(())
    }

    /// Deletes every cell of `range` that exists at this point of the request and whose
    /// timestamp `matches` accepts.
    fn delete(&mut self, range: &KeyRange, matches: impl Fn(i64) -> bool) -> Result<()> {
        let bounds =
            (Bound::Included(range.start.clone()), range.end.clone().map_or(Bound::Unbounded, Bound::Excluded));
        self.load_stored()?;
        let empty = BTreeSet::new();
        let stored = self.stored.as_ref().unwrap_or(&empty);
        let mut victims: Vec<(Vec<u8>, bool)> = stored.range(bounds.clone()).map(|k| (k.clone(), true)).collect();
        for (k, v) in self.writes.range(bounds) {
            if v.is_some() && !stored.contains(k) {
                victims.push((k.clone(), false));
            }
        }
        for (key, is_stored) in victims {
            if !matches(decode_cell_key(&key)?.timestamp_micros) {
                continue;
            }
            if is_stored {
                self.writes.insert(key, None);
            } else {
                // Written earlier in this request only: forget the put, no tombstone needed.
                self.writes.remove(&key);
            }
        }
        Ok(())
    }
}

/// About the bytes the cells `mutations` set on `row` take in a write batch (keys with their
/// separators and timestamp, values, lengths), to reserve a batch's room up front
/// ([`Db::batch_with_capacity`]) instead of copying it as it grows.
pub fn batch_bytes_hint(row: &[u8], mutations: &[Mutation]) -> usize {
    mutations
        .iter()
        .map(|m| match &m.mutation {
            Some(Kind::SetCell(s)) => {
                // Key: three components (escaping at most doubles them) with terminators
                // and the timestamp; the op's type byte and two length varints.
                2 * (row.len() + s.family_name.len() + s.column_qualifier.len()) + s.value.len() + 32
            }
            _ => 0,
        })
        .sum()
}

/// True when applying `mutations` reads the row (any deletion), so the row's lock must be
/// held exclusively; a list of SetCells only needs it shared (see [`crate::locks`]).
pub fn needs_exclusive_lock(mutations: &[Mutation]) -> bool {
    mutations.iter().any(|m| !matches!(m.mutation, Some(Kind::SetCell(_))))
}

/// Builds the batch that applies `mutations` to `row`, in order. `guard` must hold `row`'s
/// lock in `locks`, exclusively when [`needs_exclusive_lock`] says so (both checked), and
/// the caller must write the batch before releasing it; `now_micros` is the request's
/// arrival time (used for `-1` timestamps).
pub fn build_batch(
    db: &Db,
    locks: &RowLocks,
    guard: &RowGuard<'_>,
    row: &[u8],
    mutations: &[Mutation],
    schema: &Schema,
    now_micros: i64,
) -> Result<WriteBatch> {
    let mut batch = db.batch_with_capacity(batch_bytes_hint(row, mutations));
    append_row(db, locks, guard, row, mutations, schema, now_micros, &mut batch)?;
    Ok(batch)
}

/// [`build_batch`] appending to `batch` (which may hold other rows' operations: a bulk
/// write builds one batch for many rows). On `Err` nothing was appended.
#[allow(clippy::too_many_arguments)]
pub fn append_row(
    db: &Db,
    locks: &RowLocks,
    guard: &RowGuard<'_>,
    row: &[u8],
    mutations: &[Mutation],
    schema: &Schema,
    now_micros: i64,
    batch: &mut WriteBatch,
) -> Result<()> {
    if !guard.covers(locks, row) {
        return Err(Error::invalid(format!("internal: row lock of {} not held", escape_for_display(row))));
    }
    if !guard.is_exclusive() && needs_exclusive_lock(mutations) {
        return Err(Error::invalid(format!(
            "internal: row lock of {} held shared for mutations that read the row",
            escape_for_display(row)
        )));
    }
    validate_row_key(row)?;
    validate(mutations, schema)?;
    let server_ts = server_timestamp(now_micros);
    let mut pending = PendingRow { db, row, stored: None, writes: BTreeMap::new() };
    for m in mutations {
        match &m.mutation {
            Some(Kind::SetCell(s)) => {
                let ts = if s.timestamp_micros == SERVER_TIME { server_ts } else { s.timestamp_micros };
                let key = encode_cell_key(row, s.family_name.as_bytes(), &s.column_qualifier, ts);
                pending.writes.insert(key, Some(&s.value[..]));
            }
            Some(Kind::DeleteFromColumn(mutation::DeleteFromColumn { family_name, column_qualifier, time_range })) => {
                let range = column_key_range(row, family_name.as_bytes(), column_qualifier);
                let (start, end) =
                    time_range.as_ref().map_or((0, 0), |r| (r.start_timestamp_micros, r.end_timestamp_micros));
                pending.delete(&range, |ts| ts >= start && (end == 0 || ts < end))?;
            }
            Some(Kind::DeleteFromFamily(d)) => {
                pending.delete(&family_key_range(row, d.family_name.as_bytes()), |_| true)?;
            }
            Some(Kind::DeleteFromRow(_)) => pending.delete(&row_key_range(row), |_| true)?,
            // `validate` refused it above.
            None => return Err(Error::invalid("mutation sets no mutation kind")),
        }
    }
    for (key, value) in &pending.writes {
        match value {
            Some(v) => batch.put(key, v),
            None => batch.delete(key),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::bigtable::mutation::{DeleteFromFamily, DeleteFromRow, SetCell};

    fn schema() -> Schema {
        Schema::new().with_family("cf", None).unwrap()
    }

    fn set(fam: &str, q: &str, ts: i64) -> Mutation {
        Mutation {
            mutation: Some(Kind::SetCell(SetCell {
                family_name: fam.into(),
                column_qualifier: q.into(),
                timestamp_micros: ts,
                value: bytes::Bytes::from_static(b"v"),
            })),
        }
    }

    #[test]
    fn server_timestamps_truncate_to_milliseconds() {
        assert_eq!(server_timestamp(1_234_567), 1_234_000);
        assert_eq!(server_timestamp(5_000), 5_000);
        assert_eq!(server_timestamp(0), 0);
    }

    #[test]
    fn validation_names_the_mutation_and_the_problem() {
        let s = schema();
        let err = |ms: &[Mutation]| validate(ms, &s).unwrap_err();
        assert!(matches!(err(&[]), Error::InvalidArgument(m) if m.contains("no mutations")));
        let e = err(&[set("cf", "a", 1000), set("cf", "a", 1500)]);
        assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("mutation 1") && m.contains("1500")), "{e}");
        assert!(matches!(err(&[set("cf", "a", -2)]), Error::InvalidArgument(_)));
        assert!(matches!(err(&[set("nope", "a", 0)]), Error::NotFound(m) if m.contains("\"nope\"")));
        assert!(matches!(err(&[Mutation { mutation: None }]), Error::InvalidArgument(m) if m.contains("mutation 0")));
        let fam = Mutation { mutation: Some(Kind::DeleteFromFamily(DeleteFromFamily { family_name: "x".into() })) };
        assert!(matches!(err(&[fam]), Error::NotFound(_)));
        let col = |start, end| Mutation {
            mutation: Some(Kind::DeleteFromColumn(mutation::DeleteFromColumn {
                family_name: "cf".into(),
                column_qualifier: b"q".to_vec(),
                time_range: Some(TimestampRange { start_timestamp_micros: start, end_timestamp_micros: end }),
            })),
        };
        assert!(matches!(err(&[col(5000, 1000)]), Error::InvalidArgument(m) if m.contains("ends before")));
        assert!(matches!(err(&[col(-1000, 0)]), Error::InvalidArgument(_)));
        validate(&[col(5000, 0), col(0, 0), col(1000, 1000), set("cf", "a", -1), set("cf", "", 0)], &s).unwrap();
        let row = Mutation { mutation: Some(Kind::DeleteFromRow(DeleteFromRow {})) };
        validate(&[row], &s).unwrap();
        let too_many = vec![set("cf", "a", 0); MAX_MUTATIONS + 1];
        assert!(matches!(err(&too_many), Error::InvalidArgument(m) if m.contains("100000")));
    }

    #[test]
    fn the_batch_hint_covers_the_cells_written() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), engine::Options::default()).unwrap();
        let locks = RowLocks::new(1024);
        // Zero bytes in keys are escaped (two bytes each): the worst case for the hint.
        let row = vec![0u8; 40];
        let g = locks.lock(&row);
        let mut ms: Vec<Mutation> = (0..10).map(|i| set("cf", &"\0".repeat(i), 1000 * i as i64)).collect();
        if let Some(Kind::SetCell(s)) = &mut ms[3].mutation {
            s.value = bytes::Bytes::from(vec![7u8; 1000]);
        }
        let hint = batch_bytes_hint(&row, &ms);
        let batch = build_batch(&db, &locks, &g, &row, &ms, &schema(), 0).unwrap();
        assert_eq!(batch.count(), 10);
        assert!(hint >= batch.approximate_size() - 12, "hint {hint} < {}", batch.approximate_size());
        assert!(hint <= 2 * batch.approximate_size(), "hint {hint} far above {}", batch.approximate_size());
        let delete = Mutation { mutation: Some(Kind::DeleteFromRow(DeleteFromRow {})) };
        assert_eq!(batch_bytes_hint(&row, &[delete]), 0);
    }

    #[test]
    fn row_keys_are_checked() {
        assert!(validate_row_key(b"").is_err());
        assert!(validate_row_key(&vec![b'x'; MAX_ROW_KEY_LEN + 1]).is_err());
        validate_row_key(&vec![0; MAX_ROW_KEY_LEN]).unwrap();
    }

    #[test]
    fn build_batch_refuses_without_the_rows_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), engine::Options::default()).unwrap();
        let locks = RowLocks::new(1024);
        let other = RowLocks::new(1024);
        let g = other.lock(b"r");
        let e = build_batch(&db, &locks, &g, b"r", &[set("cf", "a", 0)], &schema(), 0).unwrap_err();
        assert!(e.to_string().contains("row lock"), "{e}");
        drop(g);
        let g = locks.lock(b"r");
        let b = build_batch(&db, &locks, &g, b"r", &[set("cf", "a", 0), set("cf", "a", 0)], &schema(), 0).unwrap();
        assert_eq!(b.count(), 1, "same cell twice: one put");
    }

    #[test]
    fn only_lists_that_read_the_row_need_it_exclusively() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), engine::Options::default()).unwrap();
        let locks = RowLocks::new(16);
        let sets = [set("cf", "a", 0), set("cf", "b", -1)];
        let delete = Mutation { mutation: Some(Kind::DeleteFromRow(DeleteFromRow {})) };
        let mixed = [delete.clone(), set("cf", "a", 0)];
        assert!(!needs_exclusive_lock(&sets));
        assert!(needs_exclusive_lock(&mixed));
        assert!(needs_exclusive_lock(&[delete]));
        let shared = locks.lock_shared(b"r");
        assert_eq!(build_batch(&db, &locks, &shared, b"r", &sets, &schema(), 0).unwrap().count(), 2);
        let e = build_batch(&db, &locks, &shared, b"r", &mixed, &schema(), 0).unwrap_err();
        assert!(e.to_string().contains("held shared"), "{e}");
        drop(shared);
        let exclusive = locks.lock(b"r");
        assert_eq!(build_batch(&db, &locks, &exclusive, b"r", &mixed, &schema(), 0).unwrap().count(), 1);
    }
}
