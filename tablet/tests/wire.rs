//! The wire facts of our `.proto` files: hand-assembled protobuf bytes, field number by
//! field number as Google's published API defines them, decode into the expected values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use prost::Message;
use tablet::proto::bigtable::mutation::Mutation as Kind;
use tablet::proto::bigtable::read_rows_response::cell_chunk::RowStatus;
use tablet::proto::bigtable::read_rows_response::CellChunk;
use tablet::proto::bigtable::row_filter::Filter;
use tablet::proto::bigtable::{MutateRowRequest, ReadRowsRequest, RowFilter};

/// Field `n` with wire type `w`, as a one-or-two byte varint key.
fn key(n: u32, w: u32) -> Vec<u8> {
    let k = (n << 3) | w;
    if k < 0x80 {
        vec![k as u8]
    } else {
        vec![(k as u8 & 0x7f) | 0x80, (k >> 7) as u8]
    }
}

/// Field `n`, length-delimited (strings, bytes, messages).
fn ld(n: u32, body: &[u8]) -> Vec<u8> {
    [key(n, 2), vec![body.len() as u8], body.to_vec()].concat()
}

/// Field `n`, a varint below 2^14.
fn varint(n: u32, v: u16) -> Vec<u8> {
    let body = if v < 0x80 { vec![v as u8] } else { vec![(v as u8 & 0x7f) | 0x80, (v >> 7) as u8] };
    [key(n, 0), body].concat()
}

#[test]
fn mutate_row_request_field_numbers() {
    let set_cell = [ld(1, b"fam"), ld(2, b"qual"), varint(3, 1000), ld(4, b"val")].concat();
    let bytes = [
        ld(1, b"projects/p/instances/i/tables/t"),
        ld(2, b"row"),
        ld(3, &ld(1, &set_cell)),
        ld(4, b"profile"),
        ld(6, b"view"),
    ]
    .concat();
    let m = MutateRowRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(m.table_name, "projects/p/instances/i/tables/t");
    assert_eq!(m.row_key, b"row");
    assert_eq!(m.app_profile_id, "profile");
    assert_eq!(m.authorized_view_name, "view");
    let Some(Kind::SetCell(s)) = &m.mutations[0].mutation else { panic!("{m:?}") };
    assert_eq!(
        (s.family_name.as_str(), s.column_qualifier.as_slice(), s.timestamp_micros, &s.value[..]),
        ("fam", &b"qual"[..], 1000, &b"val"[..])
    );

    // Mutation oneof: 2 delete_from_column (time_range = 3), 3 delete_from_family, 4 delete_from_row.
    let range = [varint(1, 2000), varint(2, 5000)].concat();
    let del_col = ld(2, &[ld(1, b"f"), ld(2, b"q"), ld(3, &range)].concat());
    let m = tablet::proto::bigtable::Mutation::decode(del_col.as_slice()).unwrap();
    let Some(Kind::DeleteFromColumn(d)) = m.mutation else { panic!() };
    let r = d.time_range.unwrap();
    assert_eq!((r.start_timestamp_micros, r.end_timestamp_micros), (2000, 5000));
    let m = tablet::proto::bigtable::Mutation::decode(ld(3, &ld(1, b"f")).as_slice()).unwrap();
    assert!(matches!(m.mutation, Some(Kind::DeleteFromFamily(d)) if d.family_name == "f"));
    let m = tablet::proto::bigtable::Mutation::decode(ld(4, b"").as_slice()).unwrap();
    assert!(matches!(m.mutation, Some(Kind::DeleteFromRow(_))));
}

#[test]
fn cell_chunk_field_numbers() {
    let bytes = [
        ld(1, b"row"),
        ld(2, &ld(1, b"fam")), // google.protobuf.StringValue { value = 1 }
        ld(3, &ld(1, b"q")),   // google.protobuf.BytesValue { value = 1 }
        varint(4, 3000),
        ld(5, b"label"),
        ld(6, b"val"),
        varint(7, 300),
        varint(9, 1),
    ]
    .concat();
    let c = CellChunk::decode(bytes.as_slice()).unwrap();
    assert_eq!(c.row_key, b"row");
    assert_eq!(c.family_name.as_deref(), Some("fam"));
    assert_eq!(c.qualifier.as_deref(), Some(&b"q"[..]));
    assert_eq!((c.timestamp_micros, c.value_size), (3000, 300));
    assert_eq!(c.labels, ["label"]);
    assert_eq!(c.value, b"val");
    assert_eq!(c.row_status, Some(RowStatus::CommitRow(true)));
    let reset = CellChunk::decode(varint(8, 1).as_slice()).unwrap();
    assert_eq!(reset.row_status, Some(RowStatus::ResetRow(true)));
    // An empty qualifier is present-but-empty, not absent.
    let empty_q = CellChunk::decode(ld(3, b"").as_slice()).unwrap();
    assert_eq!(empty_q.qualifier.as_deref(), Some(&b""[..]));
}

#[test]
fn read_rows_request_and_row_filter_field_numbers() {
    let filter = ld(1, &ld(1, &ld(19, b"lbl"))); // chain { filters: [apply_label_transformer] }
    let bytes =
        [ld(1, b"t"), ld(2, &ld(1, b"k")), ld(3, &filter), varint(4, 7), ld(5, b"p"), varint(7, 1), ld(9, b"v")]
            .concat();
    let r = ReadRowsRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!((r.table_name.as_str(), r.rows_limit, r.reversed), ("t", 7, true));
    assert_eq!((r.app_profile_id.as_str(), r.authorized_view_name.as_str()), ("p", "v"));
    assert_eq!(r.rows.unwrap().row_keys, [b"k".to_vec()]);
    let Some(Filter::Chain(chain)) = r.filter.unwrap().filter else { panic!() };
    assert_eq!(chain.filters[0].filter, Some(Filter::ApplyLabelTransformer("lbl".into())));

    // Every RowFilter oneof member, by number.
    let cases: Vec<(Vec<u8>, Filter)> = vec![
        (varint(16, 1), Filter::Sink(true)),
        (varint(17, 1), Filter::PassAllFilter(true)),
        (varint(18, 1), Filter::BlockAllFilter(true)),
        (ld(4, b"r.*"), Filter::RowKeyRegexFilter(b"r.*".to_vec())),
        (ld(5, b"f"), Filter::FamilyNameRegexFilter("f".into())),
        (ld(6, b"q"), Filter::ColumnQualifierRegexFilter(b"q".to_vec())),
        (ld(9, b"v"), Filter::ValueRegexFilter(b"v".to_vec())),
        (varint(10, 2), Filter::CellsPerRowOffsetFilter(2)),
        (varint(11, 3), Filter::CellsPerRowLimitFilter(3)),
        (varint(12, 4), Filter::CellsPerColumnLimitFilter(4)),
        (varint(13, 1), Filter::StripValueTransformer(true)),
        ([key(14, 1), 0.5f64.to_le_bytes().to_vec()].concat(), Filter::RowSampleFilter(0.5)),
    ];
    for (bytes, want) in cases {
        assert_eq!(RowFilter::decode(bytes.as_slice()).unwrap().filter, Some(want));
    }
    let cond = ld(3, &[ld(1, &varint(17, 1)), ld(2, &varint(13, 1)), ld(3, &varint(18, 1))].concat());
    let Some(Filter::Condition(c)) = RowFilter::decode(cond.as_slice()).unwrap().filter else { panic!() };
    assert_eq!(c.predicate_filter.unwrap().filter, Some(Filter::PassAllFilter(true)));
    assert_eq!(c.true_filter.unwrap().filter, Some(Filter::StripValueTransformer(true)));
    assert_eq!(c.false_filter.unwrap().filter, Some(Filter::BlockAllFilter(true)));
    let Some(Filter::ColumnRangeFilter(cr)) =
        RowFilter::decode(ld(7, &[ld(1, b"f"), ld(3, b"a"), ld(4, b"z")].concat()).as_slice()).unwrap().filter
    else {
        panic!()
    };
    assert_eq!(cr.family_name, "f");
    assert!(
        matches!(cr.start_qualifier, Some(tablet::proto::bigtable::column_range::StartQualifier::StartQualifierOpen(q)) if q == b"a")
    );
    assert!(
        matches!(cr.end_qualifier, Some(tablet::proto::bigtable::column_range::EndQualifier::EndQualifierClosed(q)) if q == b"z")
    );
}
