//! Each RowFilter against hand-worked expected output on a small fixed row set, nested
//! compositions, invalid filters, and `Tablet::read_rows_filtered` on a real engine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use tablet::filter::{compile, compile_with_seed};
use tablet::proto::bigtable::row_filter::{Chain, Condition, Filter, Interleave};
use tablet::proto::bigtable::{
    column_range, value_range, Cell, Column, ColumnRange, Family, Row, RowFilter, RowSet, TimestampRange, ValueRange,
};
use tablet::{Error, Schema};

fn cell(ts: i64, v: &[u8]) -> Cell {
    Cell { timestamp_micros: ts, value: v.to_vec(), labels: vec![] }
}

fn col(q: &[u8], cells: Vec<Cell>) -> Column {
    Column { qualifier: q.to_vec(), cells }
}

/// Row r1: family a has qualifiers "\0q" (3000, 1000), "x" (2000, 1000), "y" (1000, a
/// binary value); family b has "x" (5000) and "z" (4000, 2000).
fn r1() -> Row {
    Row {
        key: b"r1".to_vec(),
        families: vec![
            Family {
                name: "a".into(),
                columns: vec![
                    col(b"\0q", vec![cell(3000, b"v3"), cell(1000, b"v1")]),
                    col(b"x", vec![cell(2000, b"x2"), cell(1000, b"x1")]),
                    col(b"y", vec![cell(1000, b"\xff\x00")]),
                ],
            },
            Family {
                name: "b".into(),
                columns: vec![
                    col(b"x", vec![cell(5000, b"bx5")]),
                    col(b"z", vec![cell(4000, b"z4"), cell(2000, b"z2")]),
                ],
            },
        ],
    }
}

/// Row "r\n3": one cell.
fn r3() -> Row {
    Row {
        key: b"r\n3".to_vec(),
        families: vec![Family { name: "b".into(), columns: vec![col(b"x", vec![cell(1000, b"only")])] }],
    }
}

const ALL_R1: [&str; 8] = [
    "a:\\x00q@3000=v3",
    "a:\\x00q@1000=v1",
    "a:x@2000=x2",
    "a:x@1000=x1",
    "a:y@1000=\\xff\\x00",
    "b:x@5000=bx5",
    "b:z@4000=z4",
    "b:z@2000=z2",
];

/// The filtered row as `family:qualifier@ts=value[labels]` lines (bytes escaped); empty
/// when the filter outputs no row.
fn run_on(filter: &RowFilter, row: &Row) -> Vec<String> {
    let esc = |b: &[u8]| b.escape_ascii().to_string();
    let compiled = compile(filter).unwrap();
    // Taking the row gives exactly what borrowing it gives.
    let owned = compiled.apply_owned(row.clone());
    let Some(out) = compiled.apply(row) else {
        assert_eq!(owned, None);
        return vec![];
    };
    assert_eq!(owned.as_ref(), Some(&out));
    assert_eq!(out.key, row.key);
    let mut lines = Vec::new();
    for f in &out.families {
        assert!(!f.columns.is_empty(), "no empty family in the output");
        for c in &f.columns {
            assert!(!c.cells.is_empty(), "no empty column in the output");
            for cell in &c.cells {
                let labels =
                    if cell.labels.is_empty() { String::new() } else { format!("[{}]", cell.labels.join(",")) };
                lines.push(format!(
                    "{}:{}@{}={}{labels}",
                    f.name,
                    esc(&c.qualifier),
                    cell.timestamp_micros,
                    esc(&cell.value)
                ));
            }
        }
    }
    lines
}

fn run(filter: &RowFilter) -> Vec<String> {
    run_on(filter, &r1())
}

fn f(filter: Filter) -> RowFilter {
    RowFilter { filter: Some(filter) }
}
fn chain(filters: Vec<RowFilter>) -> RowFilter {
    f(Filter::Chain(Chain { filters }))
}
fn interleave(filters: Vec<RowFilter>) -> RowFilter {
    f(Filter::Interleave(Interleave { filters }))
}
fn condition(p: RowFilter, t: Option<RowFilter>, fl: Option<RowFilter>) -> RowFilter {
    f(Filter::Condition(Box::new(Condition {
        predicate_filter: Some(Box::new(p)),
        true_filter: t.map(Box::new),
        false_filter: fl.map(Box::new),
    })))
}
fn label(l: &str) -> RowFilter {
    f(Filter::ApplyLabelTransformer(l.into()))
}
fn qual(p: &[u8]) -> RowFilter {
    f(Filter::ColumnQualifierRegexFilter(p.to_vec()))
}
fn family(p: &str) -> RowFilter {
    f(Filter::FamilyNameRegexFilter(p.into()))
}
fn value(p: &[u8]) -> RowFilter {
    f(Filter::ValueRegexFilter(p.to_vec()))
}
fn sink() -> RowFilter {
    f(Filter::Sink(true))
}
fn pass() -> RowFilter {
    f(Filter::PassAllFilter(true))
}

#[test]
fn a_filter_that_changes_nothing_hands_back_the_row_itself() {
    let values = |r: &Row| -> Vec<usize> {
        r.families.iter().flat_map(|f| &f.columns).flat_map(|c| &c.cells).map(|c| c.value.as_ptr() as usize).collect()
    };
    let row = r1();
    let before = values(&row);
    for unchanged in [pass(), chain(vec![pass(), family("a|b")]), f(Filter::CellsPerColumnLimitFilter(5))] {
        let out = compile(&unchanged).unwrap().apply_owned(row.clone()).unwrap();
        assert_eq!(out, row);
        let mut moved = row.clone();
        let kept = values(&moved);
        moved = compile(&unchanged).unwrap().apply_owned(moved).unwrap();
        assert_eq!(values(&moved), kept, "the cells were copied");
    }
    assert_eq!(values(&row), before);
    // Dropping, relabelling or stripping cells builds a new row.
    let latest = compile(&f(Filter::CellsPerColumnLimitFilter(1))).unwrap().apply_owned(row.clone()).unwrap();
    assert_eq!(latest.families.iter().flat_map(|f| &f.columns).map(|c| c.cells.len()).sum::<usize>(), 5);
    let labelled = compile(&label("l")).unwrap().apply_owned(row.clone()).unwrap();
    assert!(labelled.families.iter().flat_map(|f| &f.columns).flat_map(|c| &c.cells).all(|c| c.labels == ["l"]));
    let mut with_empty = row.clone();
    with_empty.families[0].columns.push(col(b"empty", vec![]));
    let pass_all = compile(&pass()).unwrap();
    assert_eq!(pass_all.apply_owned(with_empty.clone()), pass_all.apply(&with_empty));
    assert_eq!(pass_all.apply_owned(with_empty).unwrap(), row, "the empty column is dropped");
    let stripped = compile(&f(Filter::StripValueTransformer(true))).unwrap().apply_owned(row.clone()).unwrap();
    assert!(stripped.families.iter().flat_map(|f| &f.columns).flat_map(|c| &c.cells).all(|c| c.value.is_empty()));
}

#[test]
fn pass_block_and_unset() {
    assert_eq!(run(&pass()), ALL_R1);
    assert_eq!(run(&RowFilter::default()), ALL_R1);
    assert_eq!(run(&chain(vec![])), ALL_R1);
    assert_eq!(run(&f(Filter::BlockAllFilter(true))), Vec::<String>::new());
    assert_eq!(run(&interleave(vec![])), Vec::<String>::new());
    assert_eq!(compile(&f(Filter::BlockAllFilter(true))).unwrap().apply(&r1()), None);
}

#[test]
fn row_key_regex_matches_the_whole_key_bytewise() {
    let key = |p: &[u8]| f(Filter::RowKeyRegexFilter(p.to_vec()));
    assert_eq!(run(&key(b"r1")), ALL_R1);
    assert_eq!(run(&key(b"r")), Vec::<String>::new(), "a partial match is no match");
    assert_eq!(run(&key(b"1")), Vec::<String>::new());
    assert_eq!(run(&key(b"r.")), ALL_R1);
    assert_eq!(run_on(&key(b"r.3"), &r3()), Vec::<String>::new(), "`.` does not match \\n");
    assert_eq!(run_on(&key(b"r\\C3"), &r3()), ["b:x@1000=only"], "`\\C` matches any byte");
    assert_eq!(run_on(&key(b"r\n3"), &r3()), ["b:x@1000=only"], "a raw newline in the pattern");
    assert_eq!(run(&key(b"r1|zz")), ALL_R1, "alternation is inside the anchors");
}

#[test]
fn family_qualifier_and_value_regexes() {
    assert_eq!(run(&family("b")), ["b:x@5000=bx5", "b:z@4000=z4", "b:z@2000=z2"]);
    assert_eq!(run(&family("a|b")), ALL_R1);
    assert_eq!(run(&family("")), Vec::<String>::new());
    // A raw 0x00 in the pattern, an escaped one, and `.` over it.
    assert_eq!(run(&qual(b"\0q")), ["a:\\x00q@3000=v3", "a:\\x00q@1000=v1"]);
    assert_eq!(run(&qual(b"\\x00.")), ["a:\\x00q@3000=v3", "a:\\x00q@1000=v1"]);
    assert_eq!(run(&qual(b"[xy]")).len(), 4);
    assert_eq!(run(&qual(b"x")), ["a:x@2000=x2", "a:x@1000=x1", "b:x@5000=bx5"]);
    // Values: a binary pattern (raw 0xFF byte), `.` matching single non-UTF-8 bytes.
    assert_eq!(run(&value(b"\xff\x00")), ["a:y@1000=\\xff\\x00"]);
    assert_eq!(run(&value(b"..")).len(), 7, "every two-byte value, binary included");
    assert_eq!(run(&value(b"[\x80-\xff].")), ["a:y@1000=\\xff\\x00"]);
    assert_eq!(run(&value(b"v\\d")), ["a:\\x00q@3000=v3", "a:\\x00q@1000=v1"]);
}

#[test]
fn column_timestamp_and_value_ranges() {
    use column_range::{EndQualifier as E, StartQualifier as S};
    let cr = |fam: &str, s: Option<S>, e: Option<E>| {
        f(Filter::ColumnRangeFilter(ColumnRange { family_name: fam.into(), start_qualifier: s, end_qualifier: e }))
    };
    assert_eq!(run(&cr("a", None, None)).len(), 5, "whole family a");
    assert_eq!(
        run(&cr("a", Some(S::StartQualifierClosed(b"x".to_vec())), Some(E::EndQualifierOpen(b"y".to_vec())))),
        ["a:x@2000=x2", "a:x@1000=x1"]
    );
    assert_eq!(
        run(&cr("a", Some(S::StartQualifierOpen(b"\0q".to_vec())), Some(E::EndQualifierClosed(b"y".to_vec())))),
        ["a:x@2000=x2", "a:x@1000=x1", "a:y@1000=\\xff\\x00"]
    );
    assert_eq!(run(&cr("b", Some(S::StartQualifierOpen(b"x".to_vec())), None)), ["b:z@4000=z4", "b:z@2000=z2"]);
    assert_eq!(run(&cr("c", None, None)), Vec::<String>::new());

    let ts =
        |s, e| f(Filter::TimestampRangeFilter(TimestampRange { start_timestamp_micros: s, end_timestamp_micros: e }));
    assert_eq!(run(&ts(2000, 4000)), ["a:\\x00q@3000=v3", "a:x@2000=x2", "b:z@2000=z2"], "[start, end)");
    assert_eq!(run(&ts(4000, 0)), ["b:x@5000=bx5", "b:z@4000=z4"], "end 0 is unbounded");

    use value_range::{EndValue as VE, StartValue as VS};
    let vr = |s, e| f(Filter::ValueRangeFilter(ValueRange { start_value: s, end_value: e }));
    assert_eq!(
        run(&vr(Some(VS::StartValueClosed(b"x1".to_vec())), Some(VE::EndValueClosed(b"z2".to_vec())))),
        ["a:x@2000=x2", "a:x@1000=x1", "b:z@2000=z2"]
    );
    assert_eq!(
        run(&vr(Some(VS::StartValueOpen(b"x1".to_vec())), Some(VE::EndValueOpen(b"z2".to_vec())))),
        ["a:x@2000=x2"]
    );
    assert_eq!(run(&vr(Some(VS::StartValueOpen(b"z4".to_vec())), None)), ["a:y@1000=\\xff\\x00"]);
    assert_eq!(run(&vr(None, Some(VE::EndValueOpen(b"v3".to_vec())))), ["a:\\x00q@1000=v1", "b:x@5000=bx5"]);
}

#[test]
fn offsets_and_limits() {
    assert_eq!(run(&f(Filter::CellsPerRowOffsetFilter(6))), ["b:z@4000=z4", "b:z@2000=z2"]);
    assert_eq!(run(&f(Filter::CellsPerRowOffsetFilter(0))), ALL_R1);
    assert_eq!(run(&f(Filter::CellsPerRowOffsetFilter(8))), Vec::<String>::new());
    assert_eq!(run(&f(Filter::CellsPerRowLimitFilter(3))), ["a:\\x00q@3000=v3", "a:\\x00q@1000=v1", "a:x@2000=x2"]);
    assert_eq!(run(&f(Filter::CellsPerRowLimitFilter(100))), ALL_R1);
    assert_eq!(
        run(&f(Filter::CellsPerColumnLimitFilter(1))),
        ["a:\\x00q@3000=v3", "a:x@2000=x2", "a:y@1000=\\xff\\x00", "b:x@5000=bx5", "b:z@4000=z4"]
    );
    // The same qualifier in two families are two columns.
    assert_eq!(run(&chain(vec![qual(b"x"), f(Filter::CellsPerColumnLimitFilter(1))])), ["a:x@2000=x2", "b:x@5000=bx5"]);
}

#[test]
fn transformers() {
    assert_eq!(
        run(&chain(vec![family("b"), f(Filter::StripValueTransformer(true))])),
        ["b:x@5000=", "b:z@4000=", "b:z@2000="]
    );
    assert_eq!(run(&chain(vec![qual(b"z"), label("zed-1")])), ["b:z@4000=z4[zed-1]", "b:z@2000=z2[zed-1]"]);
}

#[test]
fn interleave_merges_in_row_order_and_keeps_duplicates() {
    let out = run(&interleave(vec![
        chain(vec![family("b"), label("fam-b")]),
        chain(vec![f(Filter::CellsPerColumnLimitFilter(1)), label("newest")]),
    ]));
    assert_eq!(
        out,
        [
            "a:\\x00q@3000=v3[newest]",
            "a:x@2000=x2[newest]",
            "a:y@1000=\\xff\\x00[newest]",
            "b:x@5000=bx5[fam-b]",
            "b:x@5000=bx5[newest]",
            "b:z@4000=z4[fam-b]",
            "b:z@4000=z4[newest]",
            "b:z@2000=z2[fam-b]",
        ]
    );
    // Unlabelled duplicates are kept too.
    assert_eq!(
        run(&interleave(vec![qual(b"z"), qual(b"z")])),
        ["b:z@4000=z4", "b:z@4000=z4", "b:z@2000=z2", "b:z@2000=z2"]
    );
}

#[test]
fn condition_picks_a_branch_on_the_whole_input() {
    let has_bx5 = || value(b"bx5");
    // The true branch sees the whole input row, not the predicate's output.
    assert_eq!(run(&condition(has_bx5(), Some(qual(b"y")), Some(label("no")))), ["a:y@1000=\\xff\\x00"]);
    assert_eq!(run_on(&condition(has_bx5(), Some(qual(b"y")), Some(label("no"))), &r3()), ["b:x@1000=only[no]"]);
    // A missing branch outputs nothing.
    assert_eq!(run(&condition(has_bx5(), None, Some(pass()))), Vec::<String>::new());
    assert_eq!(run_on(&condition(has_bx5(), Some(pass()), None), &r3()), Vec::<String>::new());
    // A predicate that outputs a transformed (even empty-valued) cell still counts.
    let stripped = chain(vec![has_bx5(), f(Filter::StripValueTransformer(true))]);
    assert_eq!(run(&condition(stripped, Some(f(Filter::CellsPerRowLimitFilter(1))), None)), ["a:\\x00q@3000=v3"]);
}

#[test]
fn nested_compositions() {
    // Chain(family a, Interleave(Condition(has x2 → label t | label f), Chain(qual y, strip)), limit 4).
    let filter = chain(vec![
        family("a"),
        interleave(vec![
            condition(value(b"x2"), Some(chain(vec![qual(b"x"), label("t")])), Some(label("f"))),
            chain(vec![qual(b"y"), f(Filter::StripValueTransformer(true))]),
        ]),
        f(Filter::CellsPerRowLimitFilter(2)),
    ]);
    assert_eq!(run(&filter), ["a:x@2000=x2[t]", "a:x@1000=x1[t]"]);
    let filter = chain(vec![
        family("a"),
        interleave(vec![
            condition(value(b"nope"), Some(label("t")), Some(chain(vec![qual(b"x"), label("f")]))),
            chain(vec![qual(b"y"), f(Filter::StripValueTransformer(true))]),
        ]),
    ]);
    assert_eq!(run(&filter), ["a:x@2000=x2[f]", "a:x@1000=x1[f]", "a:y@1000="]);
}

#[test]
fn sink_sends_cells_straight_to_the_output() {
    // The example of data.proto: Chain(FamilyRegex(A), Interleave(All, Chain(Label, Sink)), QualifierRegex(B)).
    let filter = chain(vec![family("b"), interleave(vec![pass(), chain(vec![label("foo"), sink()])]), qual(b"z")]);
    assert_eq!(
        run(&filter),
        ["b:x@5000=bx5[foo]", "b:z@4000=z4", "b:z@4000=z4[foo]", "b:z@2000=z2", "b:z@2000=z2[foo]"]
    );
    // Sink passes nothing on: what follows it in a chain sees no cell.
    assert_eq!(run(&chain(vec![qual(b"y"), sink(), label("after")])), ["a:y@1000=\\xff\\x00"]);
    assert_eq!(run(&sink()), ALL_R1);
}

#[test]
fn row_sample_is_deterministic_per_seed() {
    let sample = |p| f(Filter::RowSampleFilter(p));
    assert_eq!(run(&sample(1.0)), ALL_R1);
    assert_eq!(run(&sample(0.0)), Vec::<String>::new());
    let rows: Vec<Row> = (0..400).map(|i| Row { key: format!("row{i}").into_bytes(), ..r3() }).collect();
    let kept = |seed| {
        let c = compile_with_seed(&sample(0.5), seed).unwrap();
        rows.iter().map(|r| c.apply(r).is_some()).collect::<Vec<_>>()
    };
    let a = kept(7);
    assert_eq!(a, kept(7), "same seed, same rows");
    assert_ne!(a, kept(8), "another seed samples other rows");
    let n = a.iter().filter(|k| **k).count();
    assert!((120..=280).contains(&n), "about half of 400 rows kept, got {n}");
}

#[test]
fn invalid_filters_are_invalid_argument() {
    let err = |filter: RowFilter, needle: &str| match compile(&filter) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains(needle), "{m:?} should mention {needle:?}"),
        other => panic!("expected InvalidArgument mentioning {needle:?}, got {other:?}"),
    };
    err(qual(b"("), "column_qualifier_regex_filter");
    err(value(b"a)|(b"), "unmatched ')'");
    err(f(Filter::RowKeyRegexFilter(b"[a".to_vec())), "row_key_regex_filter");
    err(value(b"\\"), "trailing backslash");
    err(chain(vec![pass(), interleave(vec![pass(), qual(b"*a")])]), "filter.chain[1].interleave[1]");
    err(family("a:b"), "':'");
    err(f(Filter::CellsPerRowLimitFilter(-1)), "negative");
    err(f(Filter::CellsPerColumnLimitFilter(-3)), "negative");
    err(f(Filter::RowSampleFilter(1.5)), "probability");
    err(f(Filter::RowSampleFilter(f64::NAN)), "probability");
    err(label("Upper"), "[a-z0-9-]");
    err(label("sixteen-chars-xx"), "[a-z0-9-]");
    err(f(Filter::PassAllFilter(false)), "must be true");
    err(f(Filter::Sink(false)), "must be true");
    err(condition(pass(), Some(chain(vec![pass(), sink()])), None), "sink cannot be used inside a condition");
    err(condition(sink(), None, None), "sink");
    err(chain(vec![label("a"), interleave(vec![pass(), label("b")])]), "at most one");
    // Labels in separate interleave branches are fine.
    assert!(compile(&interleave(vec![label("a"), label("b")])).is_ok());
}

#[test]
fn tablet_read_rows_filtered() {
    let schema = Schema::new().with_family("a", None).unwrap().with_family("b", None).unwrap();
    let fx = common::open(schema, 0);
    let t = &fx.tablet;
    use common::set;
    t.mutate_row(b"r1", &[set("a", b"\0q", 3000, b"v3"), set("a", b"x", 2000, b"x2"), set("b", b"x", 5000, b"bx5")])
        .unwrap();
    t.mutate_row(b"r2", &[set("a", b"x", 1000, b"only")]).unwrap();
    let all = RowSet::default();
    let rows = t.read_rows_filtered(&all, Some(&family("b"))).unwrap();
    assert_eq!(rows.len(), 1, "r2 has no cell in b and is left out");
    assert_eq!(common::cells(&rows[0]), ["b:x@5000=bx5"]);
    let rows = t.read_rows_filtered(&all, Some(&qual(b"x"))).unwrap();
    assert_eq!(rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>(), [b"r1".to_vec(), b"r2".to_vec()]);
    assert_eq!(t.read_rows_filtered(&all, None).unwrap(), t.read_rows(&all).unwrap());
    assert!(matches!(t.read_rows_filtered(&all, Some(&qual(b"("))), Err(Error::InvalidArgument(_))));
}
