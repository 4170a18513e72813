//! Reading rows back: cells in engine-key order become `Row`s, with GC applied.
//!
//! The engine yields a row's cells contiguously, families and then qualifiers in bytewise
//! order, versions newest first (see [`crate::keys`]), which is exactly the nesting of
//! `Row { families: [Family { columns: [Column { cells }] }] }`. [`RowCollector`] appends
//! each cell to the row under construction and hands back a row when the next one starts.
//!
//! **Family order.** The API leaves the order of families in a row unspecified
//! (`data.proto`: "the mutual ordering of column families is not specified"); Google's
//! emulator happens to return them in the order the families were created. We return them
//! in bytewise order of their names, the order the key encoding gives for free; clients
//! must not, and the official ones do not, depend on either.
//!
//! **GC at read time.** A cell whose family's rule collects it is skipped (its version
//! index counts the cells of its column seen so far, newest first). Cells of families the
//! schema does not have (a dropped family) are skipped too. A row left with no cell is not
//! returned at all, as Bigtable never returns empty rows.

use std::sync::Arc;

use crate::error::Result;
use crate::keys::{decode_cell_key, CellKey};
use crate::proto::bigtable::{Cell, Column, Family, Row};
use crate::schema::Schema;

/// Assembles rows from cells given in engine-key order; see the module docs.
#[derive(Debug)]
pub struct RowCollector {
    schema: Arc<Schema>,
    now_micros: i64,
    /// The row being built (its key is set even while it has no visible cell yet).
    row: Option<Row>,
    /// The column of the previous cell (family, qualifier) and its next version index.
    column: Option<(String, Vec<u8>)>,
    next_version: usize,
}

impl RowCollector {
    /// A collector applying `schema`'s GC rules as of `now_micros`.
    pub fn new(schema: Arc<Schema>, now_micros: i64) -> Self {
        RowCollector { schema, now_micros, row: None, column: None, next_version: 0 }
    }

    /// Adds one stored cell, decoding its engine `key`. Cells must come in engine-key
    /// order. Returns the previous row when this cell starts a new one and that row has
    /// visible cells.
    pub fn push_encoded(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Row>> {
        Ok(self.push(decode_cell_key(key)?, value))
    }

    /// Adds one cell; see [`RowCollector::push_encoded`].
    pub fn push(&mut self, cell: CellKey, value: &[u8]) -> Option<Row> {
        let CellKey { row, family, qualifier, timestamp_micros } = cell;
        let mut finished = None;
        if self.row.as_ref().is_none_or(|r| r.key != row) {
            finished = self.take_row();
            self.row = Some(Row { key: row, families: Vec::new() });
        }
        let same_column = self.column.as_ref().is_some_and(|(f, q)| *f == family && *q == qualifier);
        if !same_column {
            self.column = Some((family.clone(), qualifier.clone()));
            self.next_version = 0;
        }
        let version = self.next_version;
        self.next_version += 1;

        if !self.schema.has_family(&family) {
            return finished;
        }
        if let Some(rule) = self.schema.gc_rule(&family) {
            if rule.collects(version, timestamp_micros, self.now_micros) {
                return finished;
            }
        }
        let Some(r) = self.row.as_mut() else { return finished };
        if r.families.last().is_none_or(|f| f.name != family) {
            r.families.push(Family { name: family, columns: Vec::new() });
        }
        if let Some(f) = r.families.last_mut() {
            if f.columns.last().is_none_or(|c| c.qualifier != qualifier) {
                f.columns.push(Column { qualifier, cells: Vec::new() });
            }
            if let Some(c) = f.columns.last_mut() {
                c.cells.push(Cell { timestamp_micros, value: value.to_vec(), labels: Vec::new() });
            }
        }
        finished
    }

    /// The row under construction, if it has visible cells; the collector is then empty.
    pub fn take_row(&mut self) -> Option<Row> {
        self.column = None;
        self.next_version = 0;
        self.row.take().filter(|r| !r.families.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::GcRule;

    fn ck(row: &str, fam: &str, q: &str, ts: i64) -> CellKey {
        CellKey { row: row.into(), family: fam.into(), qualifier: q.into(), timestamp_micros: ts }
    }

    #[test]
    fn nests_cells_into_rows_families_and_columns() {
        let schema = Arc::new(Schema::new().with_family("a", None).unwrap().with_family("b", None).unwrap());
        let mut c = RowCollector::new(schema, 0);
        assert_eq!(c.push(ck("r1", "a", "x", 2000), b"1"), None);
        assert_eq!(c.push(ck("r1", "a", "x", 1000), b"2"), None);
        assert_eq!(c.push(ck("r1", "a", "y", 1000), b"3"), None);
        assert_eq!(c.push(ck("r1", "b", "x", 1000), b"4"), None);
        let r1 = c.push(ck("r2", "b", "", 0), b"5").unwrap();
        let cell = |ts, v: &[u8]| Cell { timestamp_micros: ts, value: v.to_vec(), labels: vec![] };
        assert_eq!(
            r1,
            Row {
                key: b"r1".to_vec(),
                families: vec![
                    Family {
                        name: "a".into(),
                        columns: vec![
                            Column { qualifier: b"x".to_vec(), cells: vec![cell(2000, b"1"), cell(1000, b"2")] },
                            Column { qualifier: b"y".to_vec(), cells: vec![cell(1000, b"3")] },
                        ],
                    },
                    Family {
                        name: "b".into(),
                        columns: vec![Column { qualifier: b"x".to_vec(), cells: vec![cell(1000, b"4")] }]
                    },
                ],
            }
        );
        let r2 = c.take_row().unwrap();
        assert_eq!(r2.key, b"r2");
        assert_eq!(c.take_row(), None);
    }

    #[test]
    fn hides_collected_cells_unknown_families_and_empty_rows() {
        let schema = Arc::new(Schema::new().with_family("v", Some(GcRule::MaxNumVersions(1))).unwrap());
        let mut c = RowCollector::new(schema, 0);
        c.push(ck("r1", "dropped", "x", 5000), b"hidden");
        c.push(ck("r1", "v", "x", 3000), b"newest");
        c.push(ck("r1", "v", "x", 2000), b"old");
        // The next row has only a hidden cell: it is not returned.
        let r1 = c.push(ck("r2", "dropped", "x", 1000), b"hidden").unwrap();
        assert_eq!(r1.families.len(), 1);
        assert_eq!(r1.families[0].columns[0].cells.len(), 1);
        assert_eq!(r1.families[0].columns[0].cells[0].value, b"newest");
        assert_eq!(c.push(ck("r3", "v", "x", 1000), b"x"), None, "r2 had nothing visible");
        assert_eq!(c.take_row().unwrap().key, b"r3");
    }

    #[test]
    fn push_encoded_reports_corrupt_keys() {
        let mut c = RowCollector::new(Arc::new(Schema::new()), 0);
        assert!(c.push_encoded(b"not a key", b"").is_err());
    }
}
