//! Helpers shared by the tablet's scenario tests: mutation builders, a compact text view
//! of rows, and a tablet on a temporary directory with a manual clock.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use tablet::proto::bigtable::mutation::{self, Mutation as Kind};
use tablet::proto::bigtable::{Mutation, Row, TimestampRange};
use tablet::{ManualClock, Schema, Tablet, TabletOptions};

pub fn set(family: &str, qualifier: &[u8], ts: i64, value: &[u8]) -> Mutation {
    Mutation {
        mutation: Some(Kind::SetCell(mutation::SetCell {
            family_name: family.into(),
            column_qualifier: qualifier.to_vec(),
            timestamp_micros: ts,
            value: value.to_vec().into(),
        })),
    }
}

pub fn del_column(family: &str, qualifier: &[u8], range: Option<(i64, i64)>) -> Mutation {
    Mutation {
        mutation: Some(Kind::DeleteFromColumn(mutation::DeleteFromColumn {
            family_name: family.into(),
            column_qualifier: qualifier.to_vec(),
            time_range: range.map(|(s, e)| TimestampRange { start_timestamp_micros: s, end_timestamp_micros: e }),
        })),
    }
}

pub fn del_family(family: &str) -> Mutation {
    Mutation { mutation: Some(Kind::DeleteFromFamily(mutation::DeleteFromFamily { family_name: family.into() })) }
}

pub fn del_row() -> Mutation {
    Mutation { mutation: Some(Kind::DeleteFromRow(mutation::DeleteFromRow {})) }
}

/// A row as lines `family:qualifier@ts=value`, in the order the row holds them.
pub fn cells(row: &Row) -> Vec<String> {
    let mut out = Vec::new();
    for f in &row.families {
        for c in &f.columns {
            for cell in &c.cells {
                out.push(format!(
                    "{}:{}@{}={}",
                    f.name,
                    String::from_utf8_lossy(&c.qualifier),
                    cell.timestamp_micros,
                    String::from_utf8_lossy(&cell.value)
                ));
            }
        }
    }
    out
}

/// The cells of `row` in `t`, empty when the row has none.
pub fn read(t: &Tablet, row: &[u8]) -> Vec<String> {
    t.read_row(row).unwrap().map(|r| cells(&r)).unwrap_or_default()
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub tablet: Tablet,
}

/// A tablet over all rows with `schema`, small engine buffers, and a clock at `now`.
pub fn open(schema: Schema, now: i64) -> Fixture {
    open_range(schema, now, b"", b"")
}

pub fn open_range(schema: Schema, now: i64, start: &[u8], end: &[u8]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let opts = TabletOptions {
        engine: engine::Options { write_buffer_size: 64 << 10, ..engine::Options::default() },
        clock: clock.clone(),
        ..TabletOptions::default()
    };
    let tablet = Tablet::open(dir.path().join("tablet"), start, end, schema, opts).unwrap();
    Fixture { dir, clock, tablet }
}
