//! Read-modify-write: append to or increment the newest cells of columns, atomically
//! ([`Tablet::read_modify_write_row`]).
//!
//! Bigtable's `ReadModifyWriteRow` semantics, rule by rule, in order:
//!
//! - A rule reads the **newest visible cell** of its column (GC rules applied; a column
//!   without one counts as an empty value, or zero for an increment). A later rule on the
//!   same column reads what the earlier rule produced.
//! - `append_value` appends its bytes to that value.
//! - `increment_amount` reads the value as a 64-bit big-endian two's-complement integer,
//!   adds the amount with wrap-around (`i64::MAX + 1` is `i64::MIN`), and writes the 8
//!   bytes back. A value of any other length than 8 bytes fails the request.
//! - The new cell is written at the server's time in milliseconds, or at the old cell's
//!   timestamp when that is later (a cell from the future is overwritten rather than left
//!   newer than the result, as Google's emulator does). A new cell with the timestamp of
//!   an existing one replaces it.
//!
//! All of it happens under the row's lock and as one engine batch: concurrent
//! read-modify-writes of one row never lose an update, and readers see all of a request's
//! new cells or none. The answer holds the new cell of each modified column (one cell per
//! column, families and qualifiers in bytewise order, the row's usual order). The rules
//! are validated before anything is read: an empty list, a rule without a kind or an
//! unknown family fails the request and writes nothing.

use std::collections::BTreeMap;

use engine::{ReadOptions, WriteBatch};

use crate::error::{Error, Result};
use crate::keys::{column_key_range, decode_cell_key, encode_cell_key, escape_for_display, row_key_range};
use crate::mutation::{server_timestamp, validate_row_key, MAX_MUTATIONS};
use crate::proto::bigtable::read_modify_write_rule::Rule;
use crate::proto::bigtable::{Cell, Column, Family, ReadModifyWriteRule, Row};
use crate::schema::Schema;
use crate::tablet::Tablet;

/// Bytes of the integer an increment reads and writes.
pub const INCREMENT_VALUE_LEN: usize = 8;

/// Checks a rule list against `schema` without touching any data; errors name the rule.
pub fn validate_rules(rules: &[ReadModifyWriteRule], schema: &Schema) -> Result<()> {
    if rules.is_empty() {
        return Err(Error::invalid("read_modify_write_row needs at least one rule (none given)"));
    }
    if rules.len() > MAX_MUTATIONS {
        return Err(Error::invalid(format!("{} rules in one request, more than {MAX_MUTATIONS}", rules.len())));
    }
    for (i, r) in rules.iter().enumerate() {
        if r.rule.is_none() {
            return Err(Error::invalid(format!("rule {i} sets neither append_value nor increment_amount")));
        }
        if !schema.has_family(&r.family_name) {
            return Err(Error::NotFound(format!(
                "rule {i}: column family {:?} does not exist in the table",
                r.family_name
            )));
        }
    }
    Ok(())
}

/// The result of rule `i` applied to the column's current value (`None`: no cell).
fn apply_rule(i: usize, rule: &ReadModifyWriteRule, current: Option<&[u8]>) -> Result<Vec<u8>> {
    match &rule.rule {
        Some(Rule::AppendValue(suffix)) => {
            let mut v = current.unwrap_or_default().to_vec();
            v.extend_from_slice(suffix);
            Ok(v)
        }
        Some(Rule::IncrementAmount(amount)) => {
            let old = match current {
                None => 0,
                Some(bytes) => {
                    let arr: [u8; INCREMENT_VALUE_LEN] = bytes.try_into().map_err(|_| {
                        Error::invalid(format!(
                            "rule {i} (increment_amount): the newest cell of {}:{} holds {} bytes; an increment \
                             needs a {INCREMENT_VALUE_LEN}-byte big-endian integer",
                            rule.family_name,
                            escape_for_display(&rule.column_qualifier),
                            bytes.len()
                        ))
                    })?;
                    i64::from_be_bytes(arr)
                }
            };
            Ok(old.wrapping_add(*amount).to_be_bytes().to_vec())
        }
        None => Err(Error::invalid(format!("rule {i} sets neither append_value nor increment_amount"))),
    }
}

/// Reads the newest visible cell of columns of one row, through one engine iterator.
struct NewestCells<'a> {
    it: engine::DbIterator,
    row: &'a [u8],
    schema: &'a Schema,
    now_micros: i64,
}

impl<'a> NewestCells<'a> {
    fn new(tablet: &Tablet, row: &'a [u8], schema: &'a Schema, now_micros: i64) -> Result<Self> {
        let keys = row_key_range(row);
        let ro = ReadOptions { lower_bound: Some(keys.start), upper_bound: keys.end, ..Default::default() };
        Ok(NewestCells { it: tablet.db.iter(&ro)?, row, schema, now_micros })
    }

    /// The timestamp and value of the newest visible cell of `family:qualifier`. Only the
    /// newest stored cell is read: a GC rule that collects it collects every older one too
    /// (version counts and ages only grow going back), and one that spares it shows it.
    fn get(&mut self, family: &str, qualifier: &[u8]) -> Result<Option<(i64, Vec<u8>)>> {
        let column = column_key_range(self.row, family.as_bytes(), qualifier);
        self.it.seek(&column.start);
        if !self.it.valid() || !column.contains(self.it.key()) {
            self.it.status()?;
            return Ok(None);
        }
        let ts = decode_cell_key(self.it.key())?.timestamp_micros;
        if self.schema.gc_rule(family).is_some_and(|rule| rule.collects(0, ts, self.now_micros)) {
            return Ok(None);
        }
        Ok(Some((ts, self.it.value().to_vec())))
    }
}

impl Tablet {
    /// Applies `rules` to the newest cells of their columns in `row`, atomically and in
    /// order, and returns the new cells (see the module docs).
    ///
    /// Errors (nothing written): `RowOutOfRange`; `InvalidArgument` for a bad row key, no
    /// rules, a rule without a kind, or an increment of a value that is not 8 bytes (the
    /// message names the rule); `NotFound` for an unknown family.
    pub fn read_modify_write_row(&self, row: &[u8], rules: &[ReadModifyWriteRule]) -> Result<Row> {
        self.check_row(row)?;
        validate_row_key(row)?;
        let schema = self.schema.get();
        validate_rules(rules, &schema)?;

        let guard = self.locks.lock(row);
        // Taken under the lock, so successive writes to the row get non-decreasing times.
        let now_micros = self.clock.now_micros();
        let now = server_timestamp(now_micros);
        let mut newest = NewestCells::new(self, row, &schema, now_micros)?;
        // (family, qualifier) -> (timestamp, value) of the new cell; ordered as a row is.
        let mut written: BTreeMap<(String, Vec<u8>), (i64, Vec<u8>)> = BTreeMap::new();
        for (i, rule) in rules.iter().enumerate() {
            let column = (rule.family_name.clone(), rule.column_qualifier.clone());
            let stored;
            let before = match written.get(&column) {
                Some((ts, v)) => Some((*ts, v.as_slice())),
                None => {
                    stored = newest.get(&rule.family_name, &rule.column_qualifier)?;
                    stored.as_ref().map(|(ts, v)| (*ts, v.as_slice()))
                }
            };
            let value = apply_rule(i, rule, before.map(|(_, v)| v))?;
            let ts = before.map_or(now, |(ts, _)| ts.max(now));
            written.insert(column, (ts, value));
        }

        let mut batch = WriteBatch::new();
        for ((family, qualifier), (ts, value)) in &written {
            batch.put(&encode_cell_key(row, family.as_bytes(), qualifier, *ts), value);
        }
        self.db.write(&self.write, batch)?;
        drop(guard);

        let mut out = Row { key: row.to_vec(), families: Vec::new() };
        for ((family, qualifier), (ts, value)) in written {
            if out.families.last().is_none_or(|f| f.name != family) {
                out.families.push(Family { name: family, columns: Vec::new() });
            }
            if let Some(f) = out.families.last_mut() {
                let cell = Cell { timestamp_micros: ts, value, labels: Vec::new() };
                f.columns.push(Column { qualifier, cells: vec![cell] });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(family: &str, q: &[u8], r: Rule) -> ReadModifyWriteRule {
        ReadModifyWriteRule { family_name: family.into(), column_qualifier: q.to_vec(), rule: Some(r) }
    }

    #[test]
    fn increments_wrap_and_need_eight_bytes() {
        let inc = |n| rule("cf", b"c", Rule::IncrementAmount(n));
        assert_eq!(apply_rule(0, &inc(5), None).unwrap(), 5i64.to_be_bytes());
        assert_eq!(apply_rule(0, &inc(1), Some(&i64::MAX.to_be_bytes())).unwrap(), i64::MIN.to_be_bytes());
        assert_eq!(apply_rule(0, &inc(-1), Some(&i64::MIN.to_be_bytes())).unwrap(), i64::MAX.to_be_bytes());
        assert_eq!(apply_rule(0, &inc(-3), Some(&1i64.to_be_bytes())).unwrap(), (-2i64).to_be_bytes());
        let e = apply_rule(3, &inc(1), Some(b"1234567")).unwrap_err();
        assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("rule 3") && m.contains("7 bytes")), "{e}");
        assert!(apply_rule(0, &inc(1), Some(b"")).is_err(), "an empty cell is not zero");
    }

    #[test]
    fn appends_to_nothing_or_the_value() {
        let app = rule("cf", b"c", Rule::AppendValue(b"xy".to_vec()));
        assert_eq!(apply_rule(0, &app, None).unwrap(), b"xy");
        assert_eq!(apply_rule(0, &app, Some(b"ab")).unwrap(), b"abxy");
    }

    #[test]
    fn validation_names_the_rule() {
        let s = Schema::new().with_family("cf", None).unwrap();
        assert!(matches!(validate_rules(&[], &s), Err(Error::InvalidArgument(_))));
        let none = ReadModifyWriteRule { family_name: "cf".into(), column_qualifier: vec![], rule: None };
        let ok = rule("cf", b"c", Rule::AppendValue(vec![]));
        let e = validate_rules(&[ok.clone(), none], &s).unwrap_err();
        assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("rule 1")), "{e}");
        let e = validate_rules(&[rule("nope", b"c", Rule::IncrementAmount(1))], &s).unwrap_err();
        assert!(matches!(&e, Error::NotFound(m) if m.contains("rule 0") && m.contains("nope")), "{e}");
        validate_rules(&[ok], &s).unwrap();
    }
}
