//! `ChunkMerger` against a table of hand-written chunk streams, in the spirit of the
//! Bigtable clients' "read rows acceptance tests": valid streams with the cells they must
//! produce, invalid ones with the rule they break and the index of the offending chunk
//! (and the rows completed before it).
//!
//! A chunk is written as space-separated fields: `rk=KEY fm=FAMILY q=QUALIFIER ts=N
//! l=LABEL v=VALUE size=N` and a status `commit` or `reset`; `q=` is an empty qualifier.
//! `scanned=KEY` is a response without chunks carrying `last_scanned_row_key`. A cell is
//! written `KEY FAMILY:QUALIFIER@TS=VALUE` plus ` [LABELS]` when it has labels.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tablet::proto::bigtable::read_rows_response::cell_chunk::RowStatus;
use tablet::proto::bigtable::read_rows_response::CellChunk;
use tablet::proto::bigtable::{ReadRowsResponse, Row};
use tablet::{ChunkMerger, ChunkRule, Error};

fn chunk(spec: &str) -> CellChunk {
    let mut c = CellChunk::default();
    for field in spec.split_whitespace() {
        let (name, value) = field.split_once('=').unwrap_or((field, ""));
        match name {
            "rk" => c.row_key = value.into(),
            "fm" => c.family_name = Some(value.into()),
            "q" => c.qualifier = Some(value.into()),
            "ts" => c.timestamp_micros = value.parse().unwrap(),
            "l" => c.labels.push(value.into()),
            "v" => c.value = value.into(),
            "size" => c.value_size = value.parse().unwrap(),
            "commit" => c.row_status = Some(RowStatus::CommitRow(true)),
            "reset" => c.row_status = Some(RowStatus::ResetRow(true)),
            other => panic!("unknown chunk field {other:?} in {spec:?}"),
        }
    }
    c
}

/// One response per chunk (and per `scanned=`), as the acceptance tests feed them.
fn responses(specs: &[&str]) -> Vec<ReadRowsResponse> {
    specs
        .iter()
        .map(|s| match s.strip_prefix("scanned=") {
            Some(key) => ReadRowsResponse { last_scanned_row_key: key.into(), ..Default::default() },
            None => ReadRowsResponse { chunks: vec![chunk(s)], ..Default::default() },
        })
        .collect()
}

fn cells(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        for f in &r.families {
            for c in &f.columns {
                for cell in &c.cells {
                    let mut s = format!(
                        "{} {}:{}@{}={}",
                        String::from_utf8_lossy(&r.key),
                        f.name,
                        String::from_utf8_lossy(&c.qualifier),
                        cell.timestamp_micros,
                        String::from_utf8_lossy(&cell.value)
                    );
                    if !cell.labels.is_empty() {
                        s.push_str(&format!(" [{}]", cell.labels.join(",")));
                    }
                    out.push(s);
                }
            }
        }
    }
    out
}

enum Expect {
    /// The stream is valid and yields these cells.
    Cells(&'static [&'static str]),
    /// The stream breaks `rule` at chunk `index`, after yielding these cells.
    Fails(ChunkRule, u64, &'static [&'static str]),
}

use ChunkRule as R;
use Expect::{Cells, Fails};

struct Case {
    name: &'static str,
    reversed: bool,
    chunks: &'static [&'static str],
    expect: Expect,
}

const fn fwd(name: &'static str, chunks: &'static [&'static str], expect: Expect) -> Case {
    Case { name, reversed: false, chunks, expect }
}

const fn rev(name: &'static str, chunks: &'static [&'static str], expect: Expect) -> Case {
    Case { name, reversed: true, chunks, expect }
}

const CASES: &[Case] = &[
    // ---- one row, unsplit cells
    fwd("simple row", &["rk=RK fm=A q=C ts=100 v=value-VAL commit"], Cells(&["RK A:C@100=value-VAL"])),
    fwd("missing timestamp is 0", &["rk=RK fm=A q=C v=value-VAL commit"], Cells(&["RK A:C@0=value-VAL"])),
    fwd("empty value", &["rk=RK fm=A q=C commit"], Cells(&["RK A:C@0="])),
    fwd("empty qualifier", &["rk=RK fm=A q= ts=5 v=x commit"], Cells(&["RK A:@5=x"])),
    fwd(
        "bare commit is one more empty cell",
        &["rk=RK fm=A q=C ts=100 v=value-VAL", "commit"],
        Cells(&["RK A:C@100=value-VAL", "RK A:C@0="]),
    ),
    fwd(
        "empty chunks are cells",
        &["rk=RK fm=A q=C ts=100 v=V", "", "commit"],
        Cells(&["RK A:C@100=V", "RK A:C@0=", "RK A:C@0="]),
    ),
    fwd(
        "two cells of one column",
        &["rk=RK fm=A q=C ts=99 v=v1", "ts=98 v=v2 commit"],
        Cells(&["RK A:C@99=v1", "RK A:C@98=v2"]),
    ),
    fwd(
        "new qualifier keeps the family",
        &["rk=RK fm=A q=C ts=99 v=v1", "q=D ts=98 v=v2 commit"],
        Cells(&["RK A:C@99=v1", "RK A:D@98=v2"]),
    ),
    fwd(
        "new family with qualifier",
        &["rk=RK fm=A q=C ts=99 v=v1", "fm=B q=E ts=98 v=v2 commit"],
        Cells(&["RK A:C@99=v1", "RK B:E@98=v2"]),
    ),
    fwd(
        "row key repeated inside its row",
        &["rk=RK fm=A q=C ts=99 v=v1", "rk=RK ts=98 v=v2 commit"],
        Cells(&["RK A:C@99=v1", "RK A:C@98=v2"]),
    ),
    fwd(
        "labels per cell",
        &["rk=RK fm=A q=C ts=99 l=L_1 v=v1", "ts=98 l=L_2 l=L_3 v=v2 commit"],
        Cells(&["RK A:C@99=v1 [L_1]", "RK A:C@98=v2 [L_2,L_3]"]),
    ),
    // ---- split cells
    fwd("split cell", &["rk=RK fm=A q=C ts=100 v=val size=9", "v=ue-VAL commit"], Cells(&["RK A:C@100=value-VAL"])),
    fwd(
        "split cell, bare commit",
        &["rk=RK fm=A q=C ts=100 v=val size=9", "v=ue-VAL", "commit"],
        Cells(&["RK A:C@100=value-VAL", "RK A:C@0="]),
    ),
    fwd(
        "split four ways, labelled",
        &["rk=RK fm=A q=C ts=100 l=L v=v size=9", "v=al size=9", "v=ue- size=9", "v=VAL commit"],
        Cells(&["RK A:C@100=value-VAL [L]"]),
    ),
    fwd(
        "two split cells in two families",
        &["rk=RK fm=A q=C ts=99 v=va size=4", "v=l1", "fm=B q=D ts=98 v=va size=4", "v=l2 commit"],
        Cells(&["RK A:C@99=val1", "RK B:D@98=val2"]),
    ),
    fwd("split cell with an empty last chunk", &["rk=RK fm=A q=C v=abc size=3", "commit"], Cells(&["RK A:C@0=abc"])),
    // ---- several rows
    fwd(
        "two rows",
        &["rk=RK_1 fm=A q=C ts=100 v=v1 commit", "rk=RK_2 fm=A q=C ts=100 v=v2 commit"],
        Cells(&["RK_1 A:C@100=v1", "RK_2 A:C@100=v2"]),
    ),
    fwd(
        "two rows, families and splits",
        &[
            "rk=RK_1 fm=A q=C ts=99 v=v1",
            "fm=B q=D ts=97 v=v size=2",
            "v=2 commit",
            "rk=RK_2 fm=B q=E ts=96 v=v3",
            "fm=A q=C ts=95 v=v4 commit",
        ],
        Cells(&["RK_1 A:C@99=v1", "RK_1 B:D@97=v2", "RK_2 B:E@96=v3", "RK_2 A:C@95=v4"]),
    ),
    // ---- resets
    fwd(
        "simple reset",
        &["rk=RK fm=A q=C ts=100 v=v1", "reset", "rk=RK fm=A q=C ts=100 v=v2 commit"],
        Cells(&["RK A:C@100=v2"]),
    ),
    fwd(
        "reset to a new row",
        &["rk=RK_1 fm=A q=C ts=100 v=v1", "reset", "rk=RK_2 fm=A q=D ts=100 v=v2 commit"],
        Cells(&["RK_2 A:D@100=v2"]),
    ),
    fwd(
        "reset inside a split cell",
        &["rk=RK fm=A q=C ts=100 v=v size=2", "reset", "rk=RK fm=A q=C ts=100 v=w commit"],
        Cells(&["RK A:C@100=w"]),
    ),
    fwd(
        "two resets, then two cells",
        &[
            "rk=RK fm=A q=C ts=100 v=v1",
            "reset",
            "rk=RK fm=A q=C ts=100 v=v2",
            "reset",
            "rk=RK fm=A q=C ts=100 v=v3",
            "ts=99 v=v4 commit",
        ],
        Cells(&["RK A:C@100=v3", "RK A:C@99=v4"]),
    ),
    fwd(
        "reset does not undo a committed row",
        &["rk=RK_1 fm=A q=C v=v1 commit", "rk=RK_2 fm=A q=C v=v2", "reset", "rk=RK_2 fm=A q=C v=v3 commit"],
        Cells(&["RK_1 A:C@0=v1", "RK_2 A:C@0=v3"]),
    ),
    // ---- last_scanned_row_key
    fwd(
        "heartbeats between rows",
        &["rk=RK_1 fm=A q=C v=v1 commit", "scanned=RK_5", "rk=RK_6 fm=A q=C v=v2 commit", "scanned=RK_9"],
        Cells(&["RK_1 A:C@0=v1", "RK_6 A:C@0=v2"]),
    ),
    // ---- reversed reads
    rev(
        "reversed: keys descend",
        &["rk=RK_3 fm=A q=C v=v3 commit", "scanned=RK_2", "rk=RK_1 fm=A q=C v=v1 commit"],
        Cells(&["RK_3 A:C@0=v3", "RK_1 A:C@0=v1"]),
    ),
    // ---- invalid: starting a row
    fwd("invalid: bare commit", &["commit"], Fails(R::NewRowNeedsRowKey, 0, &[])),
    fwd("invalid: no cell key before value", &["ts=100 v=value-VAL"], Fails(R::NewRowNeedsRowKey, 0, &[])),
    fwd("invalid: new row without family", &["rk=RK q=C v=v commit"], Fails(R::NewRowNeedsFamily, 0, &[])),
    fwd("invalid: new row without qualifier", &["rk=RK fm=A v=v commit"], Fails(R::NewRowNeedsQualifier, 0, &[])),
    fwd("invalid: bare reset", &["reset"], Fails(R::ResetWithoutRow, 0, &[])),
    fwd(
        "invalid: reset right after a commit",
        &["rk=RK fm=A q=C v=v commit", "reset"],
        Fails(R::ResetWithoutRow, 1, &["RK A:C@0=v"]),
    ),
    fwd(
        "invalid: missing key after reset",
        &["rk=RK fm=A q=C v=v1", "reset", "fm=A q=C v=v2 commit"],
        Fails(R::NewRowNeedsRowKey, 2, &[]),
    ),
    // ---- invalid: row order
    fwd(
        "invalid: duplicate row key",
        &["rk=RK_1 fm=A q=C v=v1 commit", "rk=RK_1 fm=A q=C v=v2 commit"],
        Fails(R::RowKeyOrder, 1, &["RK_1 A:C@0=v1"]),
    ),
    fwd(
        "invalid: out of order",
        &["rk=RK_2 fm=A q=C v=v1 commit", "rk=RK_1 fm=A q=C v=v2 commit"],
        Fails(R::RowKeyOrder, 1, &["RK_2 A:C@0=v1"]),
    ),
    rev(
        "invalid: reversed read ascending",
        &["rk=RK_1 fm=A q=C v=v1 commit", "rk=RK_2 fm=A q=C v=v2 commit"],
        Fails(R::RowKeyOrder, 1, &["RK_1 A:C@0=v1"]),
    ),
    fwd(
        "invalid: row at or before last_scanned_row_key",
        &["scanned=RK_5", "rk=RK_5 fm=A q=C v=v commit"],
        Fails(R::RowKeyOrder, 0, &[]),
    ),
    fwd(
        "invalid: no commit between rows",
        &["rk=RK_1 fm=A q=C v=v1", "rk=RK_2 fm=A q=C v=v2 commit"],
        Fails(R::RowKeyChangedInRow, 1, &[]),
    ),
    // ---- invalid: cells
    fwd(
        "invalid: new family must specify qualifier",
        &["rk=RK fm=A q=C ts=99 v=v1", "fm=B ts=98 v=v2 commit"],
        Fails(R::FamilyWithoutQualifier, 1, &[]),
    ),
    fwd("invalid: negative value_size", &["rk=RK fm=A q=C v=v size=-1 commit"], Fails(R::NegativeValueSize, 0, &[])),
    fwd(
        "invalid: commit with more to come",
        &["rk=RK fm=A q=C v=v size=5 commit"],
        Fails(R::CommitInSplitCell, 0, &[]),
    ),
    fwd(
        "invalid: commit on a non-final continuation",
        &["rk=RK fm=A q=C v=v size=5", "v=al size=5 commit"],
        Fails(R::CommitInSplitCell, 1, &[]),
    ),
    fwd("invalid: split cell without bytes", &["rk=RK fm=A q=C size=5"], Fails(R::SplitCellWithoutValue, 0, &[])),
    fwd(
        "invalid: continuation with a timestamp",
        &["rk=RK fm=A q=C ts=10 v=va size=4", "ts=10 v=lu commit"],
        Fails(R::ContinuationHasCellFields, 1, &[]),
    ),
    fwd(
        "invalid: continuation with labels",
        &["rk=RK fm=A q=C v=va size=4", "l=L v=lu commit"],
        Fails(R::ContinuationHasCellFields, 1, &[]),
    ),
    fwd(
        "invalid: continuation with a qualifier",
        &["rk=RK fm=A q=C v=va size=4", "q=D v=lu commit"],
        Fails(R::ContinuationHasCellFields, 1, &[]),
    ),
    fwd(
        "invalid: continuation with the row key",
        &["rk=RK fm=A q=C v=va size=4", "rk=RK v=lu commit"],
        Fails(R::ContinuationHasCellFields, 1, &[]),
    ),
    fwd(
        "invalid: value_size changes",
        &["rk=RK fm=A q=C v=va size=6", "v=lu size=7", "v=es commit"],
        Fails(R::SplitValueSizeChanged, 1, &[]),
    ),
    fwd(
        "invalid: split cell short",
        &["rk=RK fm=A q=C v=va size=6", "v=lu commit"],
        Fails(R::SplitValueLength, 1, &[]),
    ),
    fwd(
        "invalid: split cell long",
        &["rk=RK fm=A q=C v=va size=3", "v=lue commit"],
        Fails(R::SplitValueLength, 1, &[]),
    ),
    fwd(
        "invalid: first chunk longer than value_size",
        &["rk=RK fm=A q=C v=value size=3"],
        Fails(R::SplitValueLength, 0, &[]),
    ),
    // ---- invalid: resets carrying data
    fwd("invalid: reset with a value", &["rk=RK fm=A q=C v=v1", "v=x reset"], Fails(R::ResetCarriesData, 1, &[])),
    fwd("invalid: reset with a row key", &["rk=RK fm=A q=C v=v1", "rk=RK reset"], Fails(R::ResetCarriesData, 1, &[])),
    fwd("invalid: reset with a family", &["rk=RK fm=A q=C v=v1", "fm=A reset"], Fails(R::ResetCarriesData, 1, &[])),
    fwd("invalid: reset with a timestamp", &["rk=RK fm=A q=C v=v1", "ts=1 reset"], Fails(R::ResetCarriesData, 1, &[])),
    fwd("invalid: reset with labels", &["rk=RK fm=A q=C v=v1", "l=L reset"], Fails(R::ResetCarriesData, 1, &[])),
    fwd(
        "invalid: reset with value_size",
        &["rk=RK fm=A q=C v=v1 size=4", "size=4 reset"],
        Fails(R::ResetCarriesData, 1, &[]),
    ),
    // ---- invalid: the end of the stream
    fwd("invalid: no commit", &["rk=RK fm=A q=C ts=100 v=value-VAL"], Fails(R::StreamEndedInRow, 1, &[])),
    fwd(
        "invalid: last row missing commit",
        &["rk=RK_1 fm=A q=C v=v1 commit", "rk=RK_2 fm=A q=C v=v2"],
        Fails(R::StreamEndedInRow, 2, &["RK_1 A:C@0=v1"]),
    ),
    fwd(
        "invalid: reset, then no commit",
        &["rk=RK fm=A q=C v=v1", "reset", "rk=RK fm=A q=C v=v2"],
        Fails(R::StreamEndedInRow, 3, &[]),
    ),
    fwd("invalid: ends inside a split cell", &["rk=RK fm=A q=C v=va size=4"], Fails(R::StreamEndedInRow, 1, &[])),
    // ---- invalid: last_scanned_row_key
    fwd(
        "invalid: last_scanned_row_key inside a row",
        &["rk=RK fm=A q=C v=v1", "scanned=RK"],
        Fails(R::LastScannedInRow, 1, &[]),
    ),
    fwd(
        "invalid: last_scanned_row_key going back",
        &["rk=RK_5 fm=A q=C v=v1 commit", "scanned=RK_4"],
        Fails(R::LastScannedOrder, 1, &["RK_5 A:C@0=v1"]),
    ),
    rev(
        "invalid: reversed last_scanned_row_key going up",
        &["rk=RK_5 fm=A q=C v=v1 commit", "scanned=RK_6"],
        Fails(R::LastScannedOrder, 1, &["RK_5 A:C@0=v1"]),
    ),
];

#[test]
fn acceptance_table() {
    let mut failures = Vec::new();
    for case in CASES {
        let mut rows = Vec::new();
        let mut error = None;
        for item in ChunkMerger::merge(responses(case.chunks), case.reversed) {
            match item {
                Ok(row) => rows.push(row),
                Err(e) => {
                    assert!(error.is_none(), "{}: a second error after {e}", case.name);
                    error = Some(e);
                }
            }
        }
        let got = cells(&rows);
        let ok = match (&case.expect, &error) {
            (Cells(want), None) => got == *want,
            (Fails(rule, index, want), Some(Error::InvalidChunk { chunk, rule: r, detail })) => {
                !detail.is_empty() && r == rule && chunk == index && got == *want
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: got cells {got:?}, error {error:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}

#[test]
fn one_response_holding_every_chunk_gives_the_same_answers() {
    for case in CASES {
        if case.chunks.iter().any(|c| c.starts_with("scanned=")) {
            continue;
        }
        let all = ReadRowsResponse { chunks: case.chunks.iter().map(|s| chunk(s)).collect(), ..Default::default() };
        let mut m = ChunkMerger::new(case.reversed);
        let result = m.push(&all).and_then(|rows| m.finish().map(|()| rows));
        match (&case.expect, result) {
            (Cells(want), Ok(rows)) => assert_eq!(cells(&rows), *want, "{}", case.name),
            (Fails(rule, index, _), Err(Error::InvalidChunk { chunk, rule: r, .. })) => {
                assert_eq!((r, chunk), (*rule, *index), "{}", case.name)
            }
            (_, other) => panic!("{}: {other:?}", case.name),
        }
    }
}

#[test]
fn errors_stick_and_name_rule_chunk_and_row() {
    let mut m = ChunkMerger::default();
    assert!(m.push_chunk(&chunk("rk=RK_1 fm=A q=C v=v commit")).unwrap().is_some());
    assert_eq!(m.last_row_key(), Some(&b"RK_1"[..]));
    m.push_chunk(&chunk("rk=RK_2 fm=A q=C v=v")).unwrap();
    assert!(m.row_in_progress());
    let e = m.push_chunk(&chunk("rk=RK_3 fm=A q=C v=v commit")).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("chunk 2") && text.contains("RK_3") && text.contains("RK_2"), "{text}");
    assert!(text.contains("commit_row"), "the rule is named: {text}");
    // Every later call gets the same error, even a valid chunk or the end of the stream.
    let again = m.push_chunk(&chunk("rk=RK_9 fm=A q=C v=v commit")).unwrap_err();
    assert_eq!(again.to_string(), text);
    assert_eq!(m.finish().unwrap_err().to_string(), text);
    assert!(!m.row_in_progress());
}

#[test]
fn a_committed_row_is_the_whole_row_in_order() {
    let mut m = ChunkMerger::default();
    let mut rows = Vec::new();
    for spec in ["rk=R fm=A q=x ts=2 v=1", "ts=1 v=2", "q=y v=3", "fm=B q=x v=4 l=tag commit"] {
        rows.extend(m.push_chunk(&chunk(spec)).unwrap());
    }
    m.finish().unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.families.len(), 2);
    assert_eq!(r.families[0].columns.len(), 2);
    assert_eq!(r.families[0].columns[0].cells.len(), 2);
    assert_eq!(r.families[1].columns[0].cells[0].labels, ["tag"]);
}
