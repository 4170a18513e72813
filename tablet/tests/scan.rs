//! `Tablet::scan`: forward and reversed, over keys and ranges (open, closed, unbounded,
//! overlapping), with filters, inside a tablet's range, lazily (`.take(n)`), and from one
//! consistent view while writes go on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{cells, open, open_range, set};
use tablet::proto::bigtable::row_filter::{Chain, Filter};
use tablet::proto::bigtable::row_range::{EndKey, StartKey};
use tablet::proto::bigtable::{RowFilter, RowRange, RowSet};
use tablet::{GcRule, Schema, Tablet};

fn schema() -> Schema {
    Schema::new().with_family("a", None).unwrap().with_family("b", Some(GcRule::MaxNumVersions(2))).unwrap()
}

/// Rows r0..r9; each has a:x (two versions), a:y and b:z (three versions, two visible).
fn fill(t: &Tablet) {
    for i in 0..10 {
        let row = format!("r{i}");
        t.mutate_row(
            row.as_bytes(),
            &[
                set("a", b"x", 1000, b"x1"),
                set("a", b"x", 2000, b"x2"),
                set("a", b"y", 1000, format!("y{i}").as_bytes()),
                set("b", b"z", 1000, b"z1"),
                set("b", b"z", 2000, b"z2"),
                set("b", b"z", 3000, b"z3"),
            ],
        )
        .unwrap();
        if i == 4 {
            t.db().flush().unwrap(); // some rows in a table, the rest in the memtable
        }
    }
}

fn scan_keys(t: &Tablet, rows: &RowSet, filter: Option<&RowFilter>, reversed: bool) -> Vec<String> {
    t.scan(rows, filter, reversed).unwrap().map(|r| String::from_utf8(r.unwrap().key).unwrap()).collect()
}

fn range(start: Option<StartKey>, end: Option<EndKey>) -> RowRange {
    RowRange { start_key: start, end_key: end }
}

fn closed(k: &str) -> Option<StartKey> {
    Some(StartKey::StartKeyClosed(k.into()))
}

fn open_start(k: &str) -> Option<StartKey> {
    Some(StartKey::StartKeyOpen(k.into()))
}

fn end_open(k: &str) -> Option<EndKey> {
    Some(EndKey::EndKeyOpen(k.into()))
}

fn end_closed(k: &str) -> Option<EndKey> {
    Some(EndKey::EndKeyClosed(k.into()))
}

#[test]
fn reversed_scans_mirror_forward_scans() {
    let fx = open(schema(), 0);
    let t = &fx.tablet;
    fill(t);
    let sets = [
        (RowSet::default(), "r0 r1 r2 r3 r4 r5 r6 r7 r8 r9"),
        (RowSet { row_keys: vec![b"r7".to_vec(), b"r2".to_vec(), b"nope".to_vec()], row_ranges: vec![] }, "r2 r7"),
        (RowSet { row_keys: vec![], row_ranges: vec![range(closed("r3"), end_open("r6"))] }, "r3 r4 r5"),
        (RowSet { row_keys: vec![], row_ranges: vec![range(open_start("r3"), end_closed("r6"))] }, "r4 r5 r6"),
        (RowSet { row_keys: vec![], row_ranges: vec![range(None, end_open("r2"))] }, "r0 r1"),
        (RowSet { row_keys: vec![], row_ranges: vec![range(closed("r8"), None)] }, "r8 r9"),
        (
            RowSet {
                row_keys: vec![b"r0".to_vec(), b"r5".to_vec()],
                row_ranges: vec![
                    range(closed("r2"), end_closed("r3")),
                    range(closed("r3"), end_open("r5")),
                    range(open_start("r8"), None),
                ],
            },
            "r0 r2 r3 r4 r5 r9",
        ),
        (RowSet { row_keys: vec![], row_ranges: vec![range(closed("r5"), end_open("r5"))] }, ""),
    ];
    for (rows, expected) in sets {
        let forward = scan_keys(t, &rows, None, false);
        assert_eq!(forward.join(" "), expected, "{rows:?}");
        let mut reversed = scan_keys(t, &rows, None, true);
        reversed.reverse();
        assert_eq!(reversed, forward, "{rows:?}");
    }
}

#[test]
fn reversed_rows_keep_their_cells_in_normal_order() {
    let fx = open(schema(), 0);
    let t = &fx.tablet;
    fill(t);
    let forward: Vec<_> = t.scan(&RowSet::default(), None, false).unwrap().map(|r| r.unwrap()).collect();
    let mut reversed: Vec<_> = t.scan(&RowSet::default(), None, true).unwrap().map(|r| r.unwrap()).collect();
    reversed.reverse();
    assert_eq!(reversed, forward);
    // Hand-worked: versions newest first, b:z's third version hidden by its GC rule.
    assert_eq!(cells(&reversed[3]), ["a:x@2000=x2", "a:x@1000=x1", "a:y@1000=y3", "b:z@3000=z3", "b:z@2000=z2"]);
}

#[test]
fn reversed_scans_with_filters() {
    let fx = open(schema(), 0);
    let t = &fx.tablet;
    fill(t);
    let f = |filter| RowFilter { filter: Some(filter) };
    // Rows whose a:y value ends in an odd digit, first cell of each row.
    let odd_y = f(Filter::Chain(Chain {
        filters: vec![
            f(Filter::Condition(Box::new(tablet::proto::bigtable::row_filter::Condition {
                predicate_filter: Some(Box::new(f(Filter::ValueRegexFilter(b"y[13579]".to_vec())))),
                true_filter: Some(Box::new(f(Filter::PassAllFilter(true)))),
                false_filter: None,
            }))),
            f(Filter::CellsPerRowLimitFilter(1)),
        ],
    }));
    let rows = RowSet { row_keys: vec![], row_ranges: vec![range(closed("r2"), end_closed("r8"))] };
    let got: Vec<_> = t.scan(&rows, Some(&odd_y), true).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(
        got.iter().map(|r| String::from_utf8_lossy(&r.key).into_owned()).collect::<Vec<_>>(),
        ["r7", "r5", "r3"]
    );
    for r in &got {
        assert_eq!(cells(r), ["a:x@2000=x2"], "the row's first cell in normal order, not its last");
    }
    // Per-row offsets count from the row's start in reversed scans too.
    let offset = f(Filter::CellsPerRowOffsetFilter(4));
    let got: Vec<_> = t.scan(&RowSet::default(), Some(&offset), true).unwrap().take(2).map(|r| r.unwrap()).collect();
    assert_eq!(got.iter().map(cells).collect::<Vec<_>>(), [vec!["b:z@2000=z2"], vec!["b:z@2000=z2"]]);
    assert_eq!(got[0].key, b"r9");
}

#[test]
fn scans_stay_inside_the_tablet() {
    let fx = open_range(schema(), 0, b"r3", b"r7");
    let t = &fx.tablet;
    for i in 3..7 {
        t.mutate_row(format!("r{i}").as_bytes(), &[set("a", b"x", 0, b"v")]).unwrap();
    }
    assert_eq!(scan_keys(t, &RowSet::default(), None, true), ["r6", "r5", "r4", "r3"]);
    let rows = RowSet { row_keys: vec![b"r1".to_vec(), b"r9".to_vec()], row_ranges: vec![range(closed("r5"), None)] };
    assert_eq!(scan_keys(t, &rows, None, true), ["r6", "r5"]);
    assert_eq!(scan_keys(t, &rows, None, false), ["r5", "r6"]);
}

#[test]
fn take_stops_early_and_a_scan_sees_one_moment() {
    let fx = open(schema(), 0);
    let t = &fx.tablet;
    fill(t);
    for reversed in [false, true] {
        let mut scan = t.scan(&RowSet::default(), None, reversed).unwrap();
        let first = scan.next().unwrap().unwrap();
        // Changes after the scan started are not seen: a deleted row still comes back, a
        // new row does not, a rewritten row shows its old cells.
        t.mutate_row(b"r5", &[common::del_row()]).unwrap();
        t.mutate_row(b"r55", &[set("a", b"x", 0, b"new")]).unwrap();
        t.mutate_row(b"r6", &[set("a", b"y", 1000, b"changed")]).unwrap();
        let rest: Vec<_> = scan.map(|r| r.unwrap()).collect();
        assert_eq!(rest.len(), 9);
        assert!(rest.iter().all(|r| r.key != b"r55"));
        let r6 = rest.iter().find(|r| r.key == b"r6").unwrap();
        assert!(cells(r6).contains(&"a:y@1000=y6".to_string()));
        assert_eq!(first.key, if reversed { b"r9" } else { b"r0" });
        // Put things back for the other direction.
        t.mutate_row(b"r55", &[common::del_row()]).unwrap();
        fill(t);
    }
    let two: Vec<_> = t.scan(&RowSet::default(), None, true).unwrap().take(2).map(|r| r.unwrap().key).collect();
    assert_eq!(two, [b"r9".to_vec(), b"r8".to_vec()]);
}
