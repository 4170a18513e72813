//! Many threads on one row at once: increments (read-modify-write) and check-and-mutate
//! "compare and swap" steps never lose an update, and readers never see half of a
//! check-and-mutate, through flushes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::{open, set};
use tablet::proto::bigtable::read_modify_write_rule::Rule;
use tablet::proto::bigtable::row_filter::Filter;
use tablet::proto::bigtable::{ReadModifyWriteRule, Row, RowFilter};
use tablet::{GcRule, Schema, SystemClock, Tablet, TabletOptions};

const THREADS: usize = 4;
const STEPS: usize = 150;

fn counter(row: &Row, qualifier: &[u8]) -> i64 {
    let column = row.families[0].columns.iter().find(|c| c.qualifier == qualifier).unwrap();
    i64::from_be_bytes(column.cells[0].value.as_slice().try_into().unwrap())
}

#[test]
fn concurrent_increments_and_check_and_mutates_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::new().with_family("c", Some(GcRule::MaxNumVersions(1))).unwrap();
    // The real clock: successive writes get new timestamps as well as same-millisecond
    // overwrites, both of which must keep the count.
    let opts = TabletOptions {
        engine: engine::Options { write_buffer_size: 32 << 10, ..engine::Options::default() },
        clock: std::sync::Arc::new(SystemClock),
        ..TabletOptions::default()
    };
    let t = Tablet::open(dir.path(), b"", b"", schema, opts).unwrap();
    let incr = ReadModifyWriteRule {
        family_name: "c".into(),
        column_qualifier: b"n".to_vec(),
        rule: Some(Rule::IncrementAmount(1)),
    };

    // Check-and-mutate as compare-and-swap on column "cas": read v, then "if cas == v set
    // cas = v + 1", retrying on a miss. Each success is one increment.
    let cas_step = |t: &Tablet| loop {
        let v = t.read_row(b"row").unwrap().map_or(0, |r| {
            r.families[0].columns.iter().find(|c| c.qualifier == b"cas").map_or(0, |_| counter(&r, b"cas"))
        });
        let predicate = RowFilter {
            filter: Some(Filter::Chain(tablet::proto::bigtable::row_filter::Chain {
                filters: vec![
                    RowFilter { filter: Some(Filter::ColumnQualifierRegexFilter(b"cas".to_vec())) },
                    RowFilter { filter: Some(Filter::ValueRegexFilter(regex_bytes(&v.to_be_bytes()))) },
                ],
            })),
        };
        let swap = [set("c", b"cas", -1, &(v + 1).to_be_bytes())];
        let matched = if v == 0 {
            // No cell yet: succeed only if the row still has no "cas" column.
            !t.check_and_mutate_row(b"row", Some(&predicate_any_cas()), &[], &swap).unwrap()
        } else {
            t.check_and_mutate_row(b"row", Some(&predicate), &swap, &[]).unwrap()
        };
        if matched {
            return;
        }
    };

    std::thread::scope(|s| {
        for i in 0..THREADS {
            let (t, incr) = (&t, &incr);
            s.spawn(move || {
                for step in 0..STEPS {
                    t.read_modify_write_row(b"row", std::slice::from_ref(incr)).unwrap();
                    cas_step(t);
                    if i == 0 && step % 50 == 0 {
                        t.db().flush().unwrap();
                    }
                }
            });
        }
    });
    let row = t.read_row(b"row").unwrap().unwrap();
    assert_eq!(counter(&row, b"n"), (THREADS * STEPS) as i64);
    assert_eq!(counter(&row, b"cas"), (THREADS * STEPS) as i64);
}

/// A regex matching exactly `bytes` (every byte escaped as `\xNN`).
fn regex_bytes(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().flat_map(|b| format!("\\x{b:02x}").into_bytes()).collect()
}

fn predicate_any_cas() -> RowFilter {
    RowFilter { filter: Some(Filter::ColumnQualifierRegexFilter(b"cas".to_vec())) }
}

#[test]
fn readers_never_see_half_a_check_and_mutate() {
    let fx = open(Schema::new().with_family("c", Some(GcRule::MaxNumVersions(1))).unwrap(), 1_000_000);
    let t = &fx.tablet;
    t.mutate_row(b"row", &[set("c", b"a", 0, b"0"), set("c", b"b", 0, b"0"), set("c", b"c", 0, b"0")]).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..3)
            .map(|w| {
                s.spawn(move || {
                    for i in 0..100 {
                        let v = format!("{w}-{i}");
                        let ts = ((i * 3 + w) as i64 + 1) * 1000;
                        let all: Vec<_> = [b"a", b"b", b"c"].iter().map(|q| set("c", *q, ts, v.as_bytes())).collect();
                        // Either branch writes all three columns with one value.
                        let p = RowFilter { filter: Some(Filter::ValueRegexFilter(b"[02468].*".to_vec())) };
                        t.check_and_mutate_row(b"row", Some(&p), &all, &all).unwrap();
                    }
                })
            })
            .collect();
        let reader = s.spawn(|| {
            let mut reads = 0;
            while !stop.load(Ordering::Acquire) || reads < 50 {
                let row = t.read_row(b"row").unwrap().unwrap();
                let values: Vec<_> = row.families[0].columns.iter().map(|c| c.cells[0].value.clone()).collect();
                assert_eq!(values.len(), 3);
                assert!(values.windows(2).all(|w| w[0] == w[1]), "half a write: {values:?}");
                reads += 1;
            }
        });
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Release);
        reader.join().unwrap();
    });
}
