//! `Tablet::check_and_mutate_row` against hand-worked rows: with and without a predicate,
//! both branches, empty branches, validation of both lists before anything is written,
//! GC-hidden cells not matching, and errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{del_column, del_row, open, read, set};
use tablet::proto::bigtable::row_filter::Filter;
use tablet::proto::bigtable::RowFilter;
use tablet::{Error, GcRule, Schema};

fn schema() -> Schema {
    Schema::new().with_family("cf", None).unwrap().with_family("v1", Some(GcRule::MaxNumVersions(1))).unwrap()
}

fn value_regex(re: &[u8]) -> RowFilter {
    RowFilter { filter: Some(Filter::ValueRegexFilter(re.to_vec())) }
}

fn qualifier_regex(re: &[u8]) -> RowFilter {
    RowFilter { filter: Some(Filter::ColumnQualifierRegexFilter(re.to_vec())) }
}

#[test]
fn without_predicate_the_row_having_any_cell_decides() {
    let fx = open(schema(), 10_000_000);
    let t = &fx.tablet;
    // Empty row: false branch.
    let matched =
        t.check_and_mutate_row(b"r", None, &[set("cf", b"t", 1000, b"T")], &[set("cf", b"f", 1000, b"F")]).unwrap();
    assert!(!matched);
    assert_eq!(read(t, b"r"), ["cf:f@1000=F"]);
    // Now it has a cell: true branch.
    let matched =
        t.check_and_mutate_row(b"r", None, &[set("cf", b"t", 2000, b"T")], &[set("cf", b"f", 2000, b"F")]).unwrap();
    assert!(matched);
    assert_eq!(read(t, b"r"), ["cf:f@1000=F", "cf:t@2000=T"]);
}

#[test]
fn predicate_filter_output_decides() {
    let fx = open(schema(), 10_000_000);
    let t = &fx.tablet;
    t.mutate_row(b"r", &[set("cf", b"status", 1000, b"open"), set("cf", b"n", 1000, b"1")]).unwrap();

    // Matches: value "open" exists. True branch deletes the status column and sets another.
    let matched = t
        .check_and_mutate_row(
            b"r",
            Some(&value_regex(b"open")),
            &[del_column("cf", b"status", None), set("cf", b"closed_by", 2000, b"me")],
            &[set("cf", b"wrong", 2000, b"x")],
        )
        .unwrap();
    assert!(matched);
    assert_eq!(read(t, b"r"), ["cf:closed_by@2000=me", "cf:n@1000=1"]);

    // Same predicate no longer matches: false branch.
    let matched = t
        .check_and_mutate_row(
            b"r",
            Some(&value_regex(b"open")),
            &[set("cf", b"wrong", 3000, b"x")],
            &[set("cf", b"n", 3000, b"2")],
        )
        .unwrap();
    assert!(!matched);
    assert_eq!(read(t, b"r"), ["cf:closed_by@2000=me", "cf:n@3000=2", "cf:n@1000=1"]);

    // A predicate on a row that does not exist never matches.
    let matched =
        t.check_and_mutate_row(b"absent", Some(&qualifier_regex(b".*")), &[set("cf", b"x", 0, b"")], &[]).unwrap();
    assert!(!matched);
    assert_eq!(read(t, b"absent"), Vec::<String>::new(), "the empty false branch wrote nothing");
}

#[test]
fn an_empty_branch_writes_nothing_and_a_match_still_reports() {
    let fx = open(schema(), 10_000_000);
    let t = &fx.tablet;
    t.mutate_row(b"r", &[set("cf", b"a", 1000, b"x")]).unwrap();
    assert!(t.check_and_mutate_row(b"r", Some(&qualifier_regex(b"a")), &[], &[del_row()]).unwrap());
    assert_eq!(read(t, b"r"), ["cf:a@1000=x"]);
    assert!(!t.check_and_mutate_row(b"r", Some(&qualifier_regex(b"zzz")), &[], &[del_row()]).unwrap());
    assert_eq!(read(t, b"r"), Vec::<String>::new(), "false branch deleted the row");
}

#[test]
fn cells_hidden_by_gc_do_not_match() {
    let fx = open(schema(), 10_000_000);
    let t = &fx.tablet;
    // v1 keeps one version: "old" is hidden by the GC rule though still on disk.
    t.mutate_row(b"r", &[set("v1", b"c", 1000, b"old"), set("v1", b"c", 2000, b"new")]).unwrap();
    assert!(!t
        .check_and_mutate_row(b"r", Some(&value_regex(b"old")), &[del_row()], &[set("cf", b"x", 0, b"")])
        .unwrap());
    assert!(t.check_and_mutate_row(b"r", Some(&value_regex(b"new")), &[set("cf", b"y", 0, b"")], &[]).unwrap());
    assert_eq!(read(t, b"r"), ["cf:x@0=", "cf:y@0=", "v1:c@2000=new"]);
}

#[test]
fn both_lists_are_validated_before_anything_is_written() {
    let fx = open(schema(), 10_000_000);
    let t = &fx.tablet;
    t.mutate_row(b"r", &[set("cf", b"a", 1000, b"x")]).unwrap();
    let good = [set("cf", b"b", 1000, b"written?")];

    // The row has a cell, so the true branch would be taken; the bad false branch still fails.
    let e = t.check_and_mutate_row(b"r", None, &good, &[set("cf", b"q", 1500, b"bad ts")]).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument(m) if m.contains("false_mutations") && m.contains("mutation 0")),
        "{e}"
    );
    let e =
        t.check_and_mutate_row(b"r", None, &[set("cf", b"c", 0, b""), set("nope", b"q", 0, b"")], &good).unwrap_err();
    assert!(matches!(&e, Error::NotFound(m) if m.contains("true_mutations") && m.contains("mutation 1")), "{e}");
    assert_eq!(read(t, b"r"), ["cf:a@1000=x"], "nothing written by failed requests");

    let e = t.check_and_mutate_row(b"r", None, &[], &[]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)));
    let bad = RowFilter { filter: Some(Filter::CellsPerRowLimitFilter(-1)) };
    let e = t.check_and_mutate_row(b"r", Some(&bad), &good, &[]).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("predicate_filter")), "{e}");
    assert!(matches!(t.check_and_mutate_row(b"", None, &good, &[]), Err(Error::InvalidArgument(_))));
    assert_eq!(read(t, b"r"), ["cf:a@1000=x"]);
}

#[test]
fn rows_outside_the_tablet_are_refused() {
    let fx = common::open_range(schema(), 0, b"m", b"t");
    let e = fx.tablet.check_and_mutate_row(b"a", None, &[set("cf", b"x", 0, b"")], &[]).unwrap_err();
    assert!(matches!(e, Error::RowOutOfRange { .. }));
}
