//! Concurrent writers to one row, each deleting the row and writing one value to every
//! column at a timestamp of its own, while readers read the row: no reader ever sees a mix
//! of two writes, a half-deleted row or two versions of a column, through flushes and
//! compactions. Two versions would mean two writers' deletions each missed the other's
//! cells: the row lock is what prevents it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{del_row, open, set};
use tablet::proto::bigtable::{Mutation, Row};
use tablet::Schema;

const COLUMNS: usize = 20;
const WRITERS: usize = 3;
const WRITES_EACH: usize = 150;
const READERS: usize = 2;

/// One request: delete the row, then write one value to every column (of two families) at
/// a timestamp no other write uses.
fn write_all(writer: usize, i: usize) -> Vec<Mutation> {
    let value = format!("w{writer}-{i}");
    let ts = ((i * WRITERS + writer) as i64 + 1) * 1000;
    let mut ms = vec![del_row()];
    for c in 0..COLUMNS {
        let fam = if c % 2 == 0 { "even" } else { "odd" };
        ms.push(set(fam, format!("c{c:02}").as_bytes(), ts, value.as_bytes()));
    }
    ms
}

/// Panics unless the row holds exactly one version of every column, all with one value.
fn check_whole(row: &Row) -> String {
    let mut values = Vec::new();
    for f in &row.families {
        for c in &f.columns {
            assert_eq!(c.cells.len(), 1, "column {:?} has {} versions", c.qualifier, c.cells.len());
            values.push(c.cells[0].value.clone());
        }
    }
    assert_eq!(values.len(), COLUMNS, "row has {} columns, expected {COLUMNS}", values.len());
    assert!(
        values.windows(2).all(|w| w[0] == w[1]),
        "mixed row: {:?}",
        values.iter().map(|v| String::from_utf8_lossy(v)).collect::<Vec<_>>()
    );
    String::from_utf8_lossy(&values[0]).into_owned()
}

#[test]
fn concurrent_writers_and_readers_see_whole_rows_only() {
    let schema = Schema::new().with_family("even", None).unwrap().with_family("odd", None).unwrap();
    let f = Arc::new(open(schema, 0));
    // The first write, so that from here on every read must find a whole row.
    f.tablet.mutate_row(b"hot", &write_all(0, WRITES_EACH)).unwrap();
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (f, done) = (f.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0usize;
                // Relaxed: the flag only ends the loop; the join below orders everything else.
                while !done.load(Ordering::Relaxed) || reads == 0 {
                    let row = f.tablet.read_row(b"hot").unwrap().expect("row never disappears");
                    check_whole(&row);
                    reads += 1;
                }
                reads
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let f = f.clone();
            std::thread::spawn(move || {
                for i in 0..WRITES_EACH {
                    f.tablet.mutate_row(b"hot", &write_all(w, i)).unwrap();
                    if w == 0 && i % 50 == 25 {
                        f.tablet.db().flush().unwrap();
                    }
                    if w == 1 && i == WRITES_EACH / 2 {
                        f.tablet.db().compact_range(None, None).unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }

    // The final row is whole and holds the last write of one of the writers.
    let last = check_whole(&f.tablet.read_row(b"hot").unwrap().unwrap());
    assert!((0..WRITERS).any(|w| last == format!("w{w}-{}", WRITES_EACH - 1)), "final value {last}");
}
