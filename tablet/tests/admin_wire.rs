//! The wire facts of our admin `.proto` files: hand-assembled protobuf bytes, field number
//! by field number as Google's published `google.bigtable.admin.v2` defines them, decode
//! into the expected values (and our encoding puts them back at those numbers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use prost::Message;
use tablet::proto::admin::gc_rule::Rule;
use tablet::proto::admin::modify_column_families_request::modification::Mod;
use tablet::proto::admin::table::{TimestampGranularity, View};
use tablet::proto::admin::{
    drop_row_range_request::Target, CreateTableRequest, DeleteTableRequest, DropRowRangeRequest, GetTableRequest,
    ListTablesRequest, ListTablesResponse, ModifyColumnFamiliesRequest, Table,
};

/// Field `n` with wire type `w`, as a one-byte key (n < 16).
fn key(n: u32, w: u32) -> Vec<u8> {
    assert!(n < 16);
    vec![((n << 3) | w) as u8]
}

/// Field `n`, length-delimited, body shorter than 128 bytes.
fn ld(n: u32, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    [key(n, 2), vec![body.len() as u8], body.to_vec()].concat()
}

/// Field `n`, a varint below 128.
fn varint(n: u32, v: u8) -> Vec<u8> {
    assert!(v < 128);
    [key(n, 0), vec![v]].concat()
}

#[test]
fn create_table_request_field_numbers() {
    // GcRule oneof: 1 max_num_versions, 2 max_age (Duration: 1 seconds), 3 intersection,
    // 4 union (each: 1 repeated rules).
    let versions = varint(1, 3);
    let age = ld(2, &varint(1, 60));
    let inter = ld(3, &[ld(1, &versions), ld(1, &age)].concat());
    let union = ld(4, &[ld(1, &inter), ld(1, &versions)].concat());
    // ColumnFamily: 1 gc_rule. Table: 3 column_families (map: 1 key, 2 value),
    // 4 granularity, 9 deletion_protection.
    let family = ld(1, &union);
    let entry = [ld(1, b"cf"), ld(2, &family)].concat();
    let table = [ld(3, &entry), varint(4, 2), varint(9, 1)].concat();
    // CreateTableRequest: 1 parent, 2 table_id, 3 table, 4 initial_splits (Split: 1 key).
    let bytes =
        [ld(1, b"projects/p/instances/i"), ld(2, b"t1"), ld(3, &table), ld(4, &ld(1, b"k1")), ld(4, &ld(1, b"k2"))]
            .concat();
    let r = CreateTableRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!((r.parent.as_str(), r.table_id.as_str()), ("projects/p/instances/i", "t1"));
    assert_eq!(r.initial_splits.iter().map(|s| s.key.as_slice()).collect::<Vec<_>>(), [b"k1", b"k2"]);
    let t = r.table.as_ref().unwrap();
    assert_eq!(t.granularity, TimestampGranularity::Micros as i32);
    assert!(t.deletion_protection);
    let Some(Rule::Union(u)) = &t.column_families["cf"].gc_rule.as_ref().unwrap().rule else { panic!("{t:?}") };
    let Some(Rule::Intersection(i)) = &u.rules[0].rule else { panic!("{u:?}") };
    assert_eq!(i.rules[0].rule, Some(Rule::MaxNumVersions(3)));
    assert_eq!(i.rules[1].rule, Some(Rule::MaxAge(prost_types::Duration { seconds: 60, nanos: 0 })));
    assert_eq!(u.rules[1].rule, Some(Rule::MaxNumVersions(3)));
    // Our encoding is byte for byte the same (fields in number order, one map entry).
    assert_eq!(r.encode_to_vec(), bytes);
}

#[test]
fn table_and_list_field_numbers() {
    let bytes = [ld(1, b"projects/p/instances/i/tables/t"), varint(4, 1)].concat();
    let t = Table::decode(bytes.as_slice()).unwrap();
    assert_eq!(
        (t.name.as_str(), t.granularity),
        ("projects/p/instances/i/tables/t", TimestampGranularity::Millis as i32)
    );

    // ListTablesRequest: 1 parent, 2 view, 3 page_token, 4 page_size.
    let bytes = [ld(1, b"projects/p/instances/i"), varint(2, 2), ld(3, b"tok"), varint(4, 7)].concat();
    let r = ListTablesRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!((r.view, r.page_token.as_str(), r.page_size), (View::SchemaView as i32, "tok", 7));
    // ListTablesResponse: 1 tables, 2 next_page_token.
    let bytes = [ld(1, &ld(1, b"a")), ld(1, &ld(1, b"b")), ld(2, b"next")].concat();
    let r = ListTablesResponse::decode(bytes.as_slice()).unwrap();
    assert_eq!((r.tables.len(), r.tables[1].name.as_str(), r.next_page_token.as_str()), (2, "b", "next"));
    // GetTableRequest: 1 name, 2 view. DeleteTableRequest: 1 name.
    let r = GetTableRequest::decode([ld(1, b"n"), varint(2, 1)].concat().as_slice()).unwrap();
    assert_eq!((r.name.as_str(), r.view), ("n", View::NameOnly as i32));
    assert_eq!(DeleteTableRequest::decode(ld(1, b"n").as_slice()).unwrap().name, "n");
    // View values: 0 unspecified, 1 name only, 2 schema, 3 replication, 4 full, 5 encryption.
    assert_eq!(
        [View::Unspecified, View::NameOnly, View::SchemaView, View::ReplicationView, View::Full, View::EncryptionView]
            .map(|v| v as i32),
        [0, 1, 2, 3, 4, 5]
    );
}

#[test]
fn modify_and_drop_field_numbers() {
    // Modification: 1 id, oneof mod { 2 create, 3 update, 4 drop }, 6 update_mask
    // (FieldMask: 1 paths). Request: 1 name, 2 modifications, 3 ignore_warnings.
    let create = [ld(1, b"a"), ld(2, &ld(1, &varint(1, 2)))].concat();
    let update = [ld(1, b"b"), ld(3, &[]), ld(6, &ld(1, b"gc_rule"))].concat();
    let drop = [ld(1, b"c"), varint(4, 1)].concat();
    let bytes = [ld(1, b"tbl"), ld(2, &create), ld(2, &update), ld(2, &drop), varint(3, 1)].concat();
    let r = ModifyColumnFamiliesRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(r.name, "tbl");
    assert!(r.ignore_warnings);
    let Some(Mod::Create(cf)) = &r.modifications[0].r#mod else { panic!("{r:?}") };
    assert_eq!(cf.gc_rule.as_ref().unwrap().rule, Some(Rule::MaxNumVersions(2)));
    assert!(matches!(r.modifications[1].r#mod, Some(Mod::Update(_))));
    assert_eq!(r.modifications[1].update_mask.as_ref().unwrap().paths, ["gc_rule"]);
    assert_eq!((r.modifications[2].id.as_str(), &r.modifications[2].r#mod), ("c", &Some(Mod::Drop(true))));

    // DropRowRangeRequest: 1 name, oneof target { 2 row_key_prefix, 3 delete_all_data_from_table }.
    let r = DropRowRangeRequest::decode([ld(1, b"tbl"), ld(2, b"pre")].concat().as_slice()).unwrap();
    assert_eq!(r.target, Some(Target::RowKeyPrefix(b"pre".to_vec())));
    let r = DropRowRangeRequest::decode([ld(1, b"tbl"), varint(3, 1)].concat().as_slice()).unwrap();
    assert_eq!(r.target, Some(Target::DeleteAllDataFromTable(true)));
}
