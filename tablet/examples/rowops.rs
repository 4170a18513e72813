//! Times the row operations on one tablet in a temporary directory: loading rows, forward
//! and reversed full scans, increments of one hot row, and dropping every row.
//!
//! `cargo run --release -p tablet --example rowops [ROWS]` (default 200000 rows of three
//! cells). Prints one line per operation; nothing is asserted.

use std::time::Instant;

use tablet::proto::bigtable::mutation::{Mutation as Kind, SetCell};
use tablet::proto::bigtable::read_modify_write_rule::Rule;
use tablet::proto::bigtable::{Mutation, ReadModifyWriteRule, RowSet};
use tablet::{Schema, Tablet, TabletOptions};

fn set(q: &[u8], value: &[u8]) -> Mutation {
    Mutation {
        mutation: Some(Kind::SetCell(SetCell {
            family_name: "cf".into(),
            column_qualifier: q.to_vec(),
            timestamp_micros: 1000,
            value: value.to_vec().into(),
        })),
    }
}

fn report(what: &str, n: usize, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!("{what:<28} {n:>9} in {secs:>7.3} s  {:>10.0}/s", n as f64 / secs.max(1e-9));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    let schema = Schema::new().with_family("cf", None)?;
    let t = Tablet::open(dir.path(), b"", b"", schema, TabletOptions::default())?;

    let start = Instant::now();
    let value = [b'v'; 100];
    for i in 0..rows {
        let key = format!("user{i:010}");
        t.mutate_row(key.as_bytes(), &[set(b"a", &value), set(b"b", &value), set(b"c", &value)])?;
    }
    report("mutate_row (3 cells)", rows, start);
    t.db().flush()?;

    for reversed in [false, true] {
        let start = Instant::now();
        let mut n = 0;
        for row in t.scan(&RowSet::default(), None, reversed)? {
            row?;
            n += 1;
        }
        report(if reversed { "scan reversed" } else { "scan forward" }, n, start);
    }

    let incr = ReadModifyWriteRule {
        family_name: "cf".into(),
        column_qualifier: b"n".to_vec(),
        rule: Some(Rule::IncrementAmount(1)),
    };
    let start = Instant::now();
    let increments = 20_000;
    for _ in 0..increments {
        t.read_modify_write_row(b"hot", std::slice::from_ref(&incr))?;
    }
    report("read_modify_write (1 row)", increments, start);

    let start = Instant::now();
    let stats = t.drop_row_range(None)?;
    report("drop_row_range(None) rows", usize::try_from(stats.rows)?, start);
    println!("  {} cells in {} batches", stats.cells, stats.batches);
    Ok(())
}
