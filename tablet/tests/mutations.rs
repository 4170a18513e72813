//! Each mutation against hand-worked expected rows, on a real engine in a temp directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{cells, del_column, del_family, del_row, open, open_range, read, set};
use tablet::proto::bigtable::row_range::{EndKey, StartKey};
use tablet::proto::bigtable::{RowRange, RowSet};
use tablet::{Error, Schema};

fn schema() -> Schema {
    Schema::new().with_family("a", None).unwrap().with_family("b", None).unwrap()
}

#[test]
fn set_cell_writes_versions_newest_first_and_overwrites_same_timestamp() {
    let f = open(schema(), 0);
    let t = &f.tablet;
    t.mutate_row(b"r", &[set("a", b"q", 1000, b"one"), set("a", b"q", 3000, b"three")]).unwrap();
    t.mutate_row(b"r", &[set("a", b"q", 2000, b"two"), set("b", b"", 0, b"empty-q"), set("a", b"p", 5000, b"p")])
        .unwrap();
    t.mutate_row(b"r", &[set("a", b"q", 3000, b"THREE")]).unwrap();
    assert_eq!(read(t, b"r"), ["a:p@5000=p", "a:q@3000=THREE", "a:q@2000=two", "a:q@1000=one", "b:@0=empty-q"]);
}

#[test]
fn server_time_is_the_clock_truncated_to_milliseconds() {
    let f = open(schema(), 1_234_567_891);
    f.tablet.mutate_row(b"r", &[set("a", b"x", -1, b"1"), set("a", b"y", -1, b"2")]).unwrap();
    assert_eq!(read(&f.tablet, b"r"), ["a:x@1234567000=1", "a:y@1234567000=2"]);
}

#[test]
fn invalid_requests_write_nothing() {
    let f = open(schema(), 0);
    let t = &f.tablet;
    let e = t.mutate_row(b"r", &[set("a", b"ok", 1000, b"v"), set("a", b"bad", 1500, b"v")]).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("mutation 1") && m.contains("1500")), "{e}");
    let e = t.mutate_row(b"r", &[set("a", b"ok", 1000, b"v"), set("zz", b"q", 0, b"v")]).unwrap_err();
    assert!(matches!(&e, Error::NotFound(m) if m.contains("zz")), "{e}");
    let e = t.mutate_row(b"r", &[set("a", b"q", -5, b"v")]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)));
    assert!(matches!(t.mutate_row(b"", &[set("a", b"q", 0, b"v")]), Err(Error::InvalidArgument(_))));
    assert!(matches!(t.mutate_row(b"r", &[]), Err(Error::InvalidArgument(_))));
    assert_eq!(read(t, b"r"), Vec::<String>::new());
}

#[test]
fn delete_from_column_honours_the_time_range() {
    let f = open(schema(), 0);
    let t = &f.tablet;
    let versions: Vec<_> = (1..=5).map(|i| set("a", b"q", i * 1000, format!("v{i}").as_bytes())).collect();
    t.mutate_row(b"r", &versions).unwrap();
    t.mutate_row(b"r", &[set("a", b"other", 2000, b"o"), set("b", b"q", 2000, b"b")]).unwrap();

    // [2000, 4000): start inclusive, end exclusive.
    t.mutate_row(b"r", &[del_column("a", b"q", Some((2000, 4000)))]).unwrap();
    assert_eq!(read(t, b"r"), ["a:other@2000=o", "a:q@5000=v5", "a:q@4000=v4", "a:q@1000=v1", "b:q@2000=b"]);

    // End 0: unbounded above.
    t.mutate_row(b"r", &[del_column("a", b"q", Some((4000, 0)))]).unwrap();
    assert_eq!(read(t, b"r"), ["a:other@2000=o", "a:q@1000=v1", "b:q@2000=b"]);

    // No range: every version; other columns and families untouched.
    t.mutate_row(b"r", &[del_column("a", b"q", None)]).unwrap();
    assert_eq!(read(t, b"r"), ["a:other@2000=o", "b:q@2000=b"]);

    // Deleting what is not there is fine.
    t.mutate_row(b"r", &[del_column("a", b"nothing", None)]).unwrap();
    assert_eq!(read(t, b"r"), ["a:other@2000=o", "b:q@2000=b"]);
}

#[test]
fn delete_from_family_and_row() {
    let f = open(schema(), 0);
    let t = &f.tablet;
    t.mutate_row(b"r", &[set("a", b"x", 1000, b"1"), set("a", b"y", 1000, b"2"), set("b", b"x", 1000, b"3")]).unwrap();
    t.mutate_row(b"r2", &[set("a", b"x", 1000, b"other row")]).unwrap();
    // A row whose key extends "r": must not be touched by deletions of "r".
    t.mutate_row(b"r\x00", &[set("a", b"x", 1000, b"neighbour")]).unwrap();

    t.mutate_row(b"r", &[del_family("a")]).unwrap();
    assert_eq!(read(t, b"r"), ["b:x@1000=3"]);
    t.mutate_row(b"r", &[del_row()]).unwrap();
    assert!(t.read_row(b"r").unwrap().is_none());
    assert_eq!(read(t, b"r2"), ["a:x@1000=other row"]);
    assert_eq!(read(t, b"r\x00"), ["a:x@1000=neighbour"]);
}

#[test]
fn mutations_apply_in_order_within_one_request() {
    let f = open(schema(), 0);
    let t = &f.tablet;
    t.mutate_row(b"r", &[set("a", b"old", 1000, b"old"), set("b", b"old", 1000, b"old")]).unwrap();

    // A SetCell after DeleteFromRow survives; one before it does not.
    t.mutate_row(b"r", &[set("a", b"early", 1000, b"gone"), del_row(), set("a", b"late", 1000, b"kept")]).unwrap();
    assert_eq!(read(t, b"r"), ["a:late@1000=kept"]);

    // Set then delete the same column in one request: nothing of it remains.
    t.mutate_row(b"r", &[set("b", b"x", 2000, b"v"), del_column("b", b"x", None)]).unwrap();
    assert_eq!(read(t, b"r"), ["a:late@1000=kept"]);

    // Delete then set the same cell: the set wins; a family delete in between sees the set.
    t.mutate_row(b"r", &[del_column("a", b"late", None), set("a", b"late", 3000, b"new")]).unwrap();
    assert_eq!(read(t, b"r"), ["a:late@3000=new"]);
    t.mutate_row(b"r", &[set("b", b"y", 1000, b"y"), del_family("b"), set("b", b"z", 1000, b"z")]).unwrap();
    assert_eq!(read(t, b"r"), ["a:late@3000=new", "b:z@1000=z"]);
}

#[test]
fn deletions_reach_cells_in_tables_as_well_as_the_memtable() {
    let f = open(schema(), 0);
    let t = &f.tablet;
    t.mutate_row(b"r", &[set("a", b"q", 1000, b"flushed"), set("a", b"q", 2000, b"flushed2")]).unwrap();
    t.db().flush().unwrap();
    t.mutate_row(b"r", &[set("a", b"q", 3000, b"memtable")]).unwrap();
    t.mutate_row(b"r", &[del_column("a", b"q", Some((0, 3000)))]).unwrap();
    assert_eq!(read(t, b"r"), ["a:q@3000=memtable"]);
    t.db().compact_range(None, None).unwrap();
    assert_eq!(read(t, b"r"), ["a:q@3000=memtable"]);
}

#[test]
fn read_rows_follows_the_row_set() {
    let f = open(schema(), 0);
    let t = &f.tablet;
    for r in ["a", "b", "b\x00", "c", "d", "e"] {
        t.mutate_row(r.as_bytes(), &[set("a", b"q", 1000, r.as_bytes())]).unwrap();
    }
    let keys = |rows: &RowSet| -> Vec<String> {
        t.read_rows(rows).unwrap().iter().map(|r| String::from_utf8_lossy(&r.key).into_owned()).collect()
    };
    assert_eq!(keys(&RowSet::default()), ["a", "b", "b\0", "c", "d", "e"]);
    let set = RowSet {
        row_keys: vec![b"e".to_vec(), b"a".to_vec(), b"zz".to_vec()],
        row_ranges: vec![RowRange {
            start_key: Some(StartKey::StartKeyOpen(b"b".to_vec())),
            end_key: Some(EndKey::EndKeyClosed(b"c".to_vec())),
        }],
    };
    assert_eq!(keys(&set), ["a", "b\0", "c", "e"]);
    let closed_open = RowSet {
        row_keys: vec![],
        row_ranges: vec![RowRange {
            start_key: Some(StartKey::StartKeyClosed(b"b".to_vec())),
            end_key: Some(EndKey::EndKeyOpen(b"d".to_vec())),
        }],
    };
    assert_eq!(keys(&closed_open), ["b", "b\0", "c"]);
    // Every returned row is complete.
    assert_eq!(cells(&t.read_rows(&closed_open).unwrap()[0]), ["a:q@1000=b"]);
}

#[test]
fn a_tablet_serves_only_its_range() {
    let f = open_range(schema(), 0, b"b", b"d");
    let t = &f.tablet;
    t.mutate_row(b"b", &[set("a", b"q", 0, b"b")]).unwrap();
    t.mutate_row(b"c\xff", &[set("a", b"q", 0, b"c")]).unwrap();
    for outside in [&b"a"[..], b"d", b"d\x00", b"zzz"] {
        match t.mutate_row(outside, &[set("a", b"q", 0, b"x")]) {
            Err(Error::RowOutOfRange { row, .. }) => assert_eq!(row, outside),
            other => panic!("{outside:?}: {other:?}"),
        }
        assert!(matches!(t.read_row(outside), Err(Error::RowOutOfRange { .. })));
    }
    let all: Vec<_> = t.read_rows(&RowSet::default()).unwrap().into_iter().map(|r| r.key).collect();
    assert_eq!(all, [b"b".to_vec(), b"c\xff".to_vec()]);
    let wide = RowSet { row_keys: vec![b"a".to_vec(), b"c\xff".to_vec(), b"e".to_vec()], row_ranges: vec![] };
    assert_eq!(t.read_rows(&wide).unwrap().len(), 1);
}

#[test]
fn data_survives_reopen() {
    let f = open(schema(), 0);
    f.tablet.mutate_row(b"r", &[set("a", b"q", 1000, b"v"), set("b", b"q", 2000, b"w")]).unwrap();
    f.tablet.close().unwrap();
    let path = f.dir.path().join("tablet");
    let again = tablet::Tablet::open(&path, b"", b"", schema(), tablet::TabletOptions::default()).unwrap();
    assert_eq!(read(&again, b"r"), ["a:q@1000=v", "b:q@2000=w"]);
}

#[test]
fn mutate_rows_writes_many_rows_in_one_commit_and_fails_entries_alone() {
    let f = open_range(schema(), 7_000_000, b"b", b"y");
    let t = &f.tablet;
    t.mutate_row(b"gone", &[set("a", b"old", 1000, b"old")]).unwrap();
    let before = t.db().stats().writes;
    let (ok1, ok2, del) = ([set("a", b"q", 1000, b"1")], [set("b", b"q", -1, b"2")], [del_row()]);
    let (bad_family, bad_ts) = ([set("zz", b"q", 0, b"x")], [set("a", b"q", 1500, b"x")]);
    let entries: Vec<(&[u8], &[_])> = vec![
        (b"c", &ok1),
        (b"d", &bad_family),
        (b"e", &ok2),
        (b"a", &ok1), // outside the tablet's range
        (b"f", &bad_ts),
        (b"gone", &del),
    ];
    let results = t.mutate_rows(&entries);
    assert_eq!(results.len(), 6);
    assert!(results[0].is_ok() && results[2].is_ok() && results[5].is_ok(), "{results:?}");
    assert!(matches!(&results[1], Err(Error::NotFound(m)) if m.contains("zz")), "{:?}", results[1]);
    assert!(matches!(&results[3], Err(Error::RowOutOfRange { row, .. }) if row == b"a"), "{:?}", results[3]);
    assert!(matches!(&results[4], Err(Error::InvalidArgument(m)) if m.contains("1500")), "{:?}", results[4]);
    assert_eq!(t.db().stats().writes - before, 1, "the three good entries went to the engine as one batch");
    assert_eq!(read(t, b"c"), ["a:q@1000=1"]);
    assert_eq!(read(t, b"e"), ["b:q@7000000=2"], "server time");
    assert!(read(t, b"d").is_empty() && read(t, b"f").is_empty() && read(t, b"gone").is_empty());
}

#[test]
fn mutate_rows_applies_entries_of_one_row_in_order() {
    let f = open(schema(), 0);
    let t = &f.tablet;
    let first = [set("a", b"x", 1000, b"1"), set("a", b"y", 1000, b"2")];
    let wipe = [del_column("a", b"x", None)];
    let again = [set("a", b"z", 1000, b"3")];
    let before = t.db().stats().writes;
    let entries: Vec<(&[u8], &[_])> = vec![(b"r", &first), (b"s", &again), (b"r", &wipe), (b"r", &again)];
    assert!(t.mutate_rows(&entries).iter().all(Result::is_ok));
    // The second entry of "r" deletes what the first wrote: it is built after that is written.
    assert_eq!(read(t, b"r"), ["a:y@1000=2", "a:z@1000=3"]);
    assert_eq!(read(t, b"s"), ["a:z@1000=3"]);
    assert_eq!(t.db().stats().writes - before, 3, "a new batch at each repeated row");
    assert!(t.mutate_rows(&[]).is_empty());
}

#[test]
fn mutate_rows_fails_every_entry_of_a_failed_write() {
    let f = open(schema(), 0);
    let t = &f.tablet;
    t.close().unwrap();
    let ok = [set("a", b"q", 0, b"v")];
    let bad = [set("zz", b"q", 0, b"v")];
    let entries: Vec<(&[u8], &[_])> = vec![(b"r", &ok), (b"s", &bad), (b"r", &ok), (b"t", &ok)];
    let results = t.mutate_rows(&entries);
    assert!(matches!(&results[1], Err(Error::NotFound(_))), "validated before the write: {:?}", results[1]);
    for i in [0, 2, 3] {
        assert!(results[i].is_err(), "entry {i} of a failed write: {:?}", results[i]);
    }
}
