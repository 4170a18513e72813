//! The table-admin service over a real socket, with a tonic client: create, get, list,
//! delete, modify families, name and rule validation, and UNIMPLEMENTED for the methods
//! we do not serve.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestMaster;
use prost_types::Duration as PbDuration;
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::drop_row_range_request::Target;
use tablet::proto::admin::gc_rule::{Intersection, Rule, Union};
use tablet::proto::admin::modify_column_families_request::modification::Mod;
use tablet::proto::admin::modify_column_families_request::Modification;
use tablet::proto::admin::table::View;
use tablet::proto::admin::{
    ColumnFamily, CreateTableRequest, DeleteTableRequest, DropRowRangeRequest, GcRule, GetTableRequest,
    ListTablesRequest, ModifyColumnFamiliesRequest, Table,
};
use tonic::Code;

const INSTANCE: &str = "projects/p/instances/i";

fn rule(r: Rule) -> GcRule {
    GcRule { rule: Some(r) }
}

fn families(list: &[(&str, Option<GcRule>)]) -> std::collections::HashMap<String, ColumnFamily> {
    list.iter().map(|(n, r)| (n.to_string(), ColumnFamily { gc_rule: r.clone() })).collect()
}

fn create_req(table: &str, fams: &[(&str, Option<GcRule>)], splits: &[&[u8]]) -> CreateTableRequest {
    CreateTableRequest {
        parent: INSTANCE.into(),
        table_id: table.into(),
        table: Some(Table { column_families: families(fams), ..Default::default() }),
        initial_splits: splits.iter().map(|k| Split { key: k.to_vec() }).collect(),
    }
}

fn modification(id: &str, m: Mod) -> Modification {
    Modification { id: id.into(), r#mod: Some(m), update_mask: None }
}

#[tokio::test]
async fn tables_are_created_read_listed_changed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let m = TestMaster::start(dir.path()).await;
    let mut admin = m.admin().await;

    let age = PbDuration { seconds: 3600, nanos: 0 };
    let nested = rule(Rule::Union(Union {
        rules: vec![
            rule(Rule::MaxNumVersions(5)),
            rule(Rule::Intersection(Intersection {
                rules: vec![rule(Rule::MaxAge(age)), rule(Rule::MaxNumVersions(1))],
            })),
        ],
    }));
    let fams = [("cf1", Some(rule(Rule::MaxNumVersions(2)))), ("cf2", Some(nested.clone())), ("plain", None)];
    let created = admin.create_table(create_req("users", &fams, &[b"m", b"f"])).await.unwrap().into_inner();
    let name = format!("{INSTANCE}/tables/users");
    assert_eq!(created.name, name);
    assert_eq!(created.column_families, families(&fams));
    assert_eq!(created.granularity, 1, "MILLIS when unspecified");

    // The tablets were made at the split keys, unassigned until a server registers.
    let map = m.master.map();
    let table = map.table(&name).unwrap();
    let ranges: Vec<_> = map.tablets_of(&table.table_id).map(|t| (t.start_key.clone(), t.end_key.clone())).collect();
    assert_eq!(ranges, [(vec![], b"f".to_vec()), (b"f".to_vec(), b"m".to_vec()), (b"m".to_vec(), vec![])]);

    // GetTable: the schema by default, the name only on request.
    let got = admin.get_table(GetTableRequest { name: name.clone(), view: 0 }).await.unwrap().into_inner();
    assert_eq!(got.column_families, families(&fams));
    let got = admin
        .get_table(GetTableRequest { name: name.clone(), view: View::NameOnly as i32 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((got.name.as_str(), got.column_families.len()), (name.as_str(), 0));

    // ListTables: this instance only, name order, pages.
    admin.create_table(create_req("accounts", &[], &[])).await.unwrap();
    let mut other = create_req("elsewhere", &[], &[]);
    other.parent = "projects/p/instances/other".into();
    admin.create_table(other).await.unwrap();
    let list = |page_size, page_token: &str| ListTablesRequest {
        parent: INSTANCE.into(),
        view: 0,
        page_token: page_token.into(),
        page_size,
    };
    let all = admin.list_tables(list(0, "")).await.unwrap().into_inner();
    let names: Vec<_> = all.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, [format!("{INSTANCE}/tables/accounts"), name.clone()]);
    assert!(all.tables.iter().all(|t| t.column_families.is_empty()), "NAME_ONLY by default");
    assert!(all.next_page_token.is_empty());
    let p1 = admin.list_tables(list(1, "")).await.unwrap().into_inner();
    assert_eq!(p1.tables.len(), 1);
    let p2 = admin.list_tables(list(1, &p1.next_page_token)).await.unwrap().into_inner();
    assert_eq!((p2.tables[0].name.as_str(), p2.next_page_token.as_str()), (name.as_str(), ""));
    assert_eq!(admin.list_tables(list(-1, "")).await.unwrap_err().code(), Code::InvalidArgument);

    // ModifyColumnFamilies: in order, all or nothing.
    let modify = |mods| ModifyColumnFamiliesRequest { name: name.clone(), modifications: mods, ignore_warnings: false };
    let changed = admin
        .modify_column_families(modify(vec![
            modification("new", Mod::Create(ColumnFamily { gc_rule: Some(rule(Rule::MaxNumVersions(1))) })),
            modification("cf1", Mod::Update(ColumnFamily { gc_rule: None })),
            modification("plain", Mod::Drop(true)),
        ]))
        .await
        .unwrap()
        .into_inner();
    let want = families(&[("cf1", None), ("cf2", Some(nested)), ("new", Some(rule(Rule::MaxNumVersions(1))))]);
    assert_eq!(changed.column_families, want);
    let e = admin
        .modify_column_families(modify(vec![
            modification("another", Mod::Create(ColumnFamily::default())),
            modification("missing", Mod::Drop(true)),
        ]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert!(e.message().contains("modifications[1]"), "{e:?}");
    let e = admin
        .modify_column_families(modify(vec![modification("cf1", Mod::Create(ColumnFamily::default()))]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let got = admin.get_table(GetTableRequest { name: name.clone(), view: 0 }).await.unwrap().into_inner();
    assert_eq!(got.column_families, want, "failed modifications changed nothing");

    // DeleteTable.
    admin.delete_table(DeleteTableRequest { name: name.clone() }).await.unwrap();
    assert_eq!(
        admin.get_table(GetTableRequest { name: name.clone(), view: 0 }).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(admin.delete_table(DeleteTableRequest { name: name.clone() }).await.unwrap_err().code(), Code::NotFound);
    let all = admin.list_tables(list(0, "")).await.unwrap().into_inner();
    assert_eq!(all.tables.len(), 1);
    assert!(m.master.map().table_by_id(&table.table_id).is_none());
    assert_eq!(m.master.map().tablets_of(&table.table_id).count(), 0);

    // Created again: a new table id.
    admin.create_table(create_req("users", &[], &[])).await.unwrap();
    assert_ne!(m.master.map().table(&name).unwrap().table_id, table.table_id);
    m.stop().await;
}

#[tokio::test]
async fn bad_names_rules_and_requests_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let m = TestMaster::start(dir.path()).await;
    let mut admin = m.admin().await;

    let long = "x".repeat(51);
    for (table, want) in [
        ("", "1 to 50"),
        ("..", "must start with"),
        ("a/../../b", "contains '/'"),
        (long.as_str(), "1 to 50"),
        ("sp ace", "contains ' '"),
    ] {
        let e = admin.create_table(create_req(table, &[], &[])).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{table:?}: {e:?}");
        assert!(e.message().contains(want), "{table:?}: {}", e.message());
    }
    for parent in ["", "projects/p", "projects/../instances/i", "projects/p/instances/i/tables/t"] {
        let mut r = create_req("t", &[], &[]);
        r.parent = parent.into();
        let e = admin.create_table(r).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{parent:?}: {e:?}");
    }
    let e = admin.create_table(create_req("t", &[("bad:family", None)], &[])).await.unwrap_err();
    assert!(e.code() == Code::InvalidArgument && e.message().contains("family name"), "{e:?}");
    let e = admin.create_table(create_req("t", &[("cf", Some(rule(Rule::MaxNumVersions(0))))], &[])).await.unwrap_err();
    assert!(e.code() == Code::InvalidArgument && e.message().contains("max_num_versions"), "{e:?}");
    let negative = rule(Rule::MaxAge(PbDuration { seconds: -5, nanos: 0 }));
    let e = admin.create_table(create_req("t", &[("cf", Some(negative))], &[])).await.unwrap_err();
    assert!(e.code() == Code::InvalidArgument && e.message().contains("max_age"), "{e:?}");
    let e = admin.create_table(create_req("t", &[], &[b""])).await.unwrap_err();
    assert!(e.code() == Code::InvalidArgument && e.message().contains("initial_splits[0]"), "{e:?}");
    assert!(m.master.map().tables().next().is_none(), "nothing was created");

    for name in ["", "projects/p/instances/i/tables/", "projects/p/instances/i/tables/../x"] {
        let e = admin.get_table(GetTableRequest { name: name.into(), view: 0 }).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{name:?}");
    }

    admin.create_table(create_req("t", &[], &[])).await.unwrap();
    let e = admin.create_table(create_req("t", &[], &[])).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    let name = format!("{INSTANCE}/tables/t");
    let drop = |target| DropRowRangeRequest { name: name.clone(), target };
    let e = admin.drop_row_range(drop(Some(Target::RowKeyPrefix(vec![])))).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = admin.drop_row_range(drop(None)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // No tablet server yet: the rows cannot be dropped now.
    let e = admin.drop_row_range(drop(Some(Target::DeleteAllDataFromTable(true)))).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");

    // A protected table cannot be deleted, nor lose a family.
    let mut protected = create_req("keep", &[("cf", None)], &[]);
    protected.table.as_mut().unwrap().deletion_protection = true;
    admin.create_table(protected).await.unwrap();
    let keep = format!("{INSTANCE}/tables/keep");
    let e = admin.delete_table(DeleteTableRequest { name: keep.clone() }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    let req = ModifyColumnFamiliesRequest {
        name: keep,
        modifications: vec![modification("cf", Mod::Drop(true))],
        ignore_warnings: false,
    };
    assert_eq!(admin.modify_column_families(req).await.unwrap_err().code(), Code::FailedPrecondition);
    m.stop().await;
}

#[tokio::test]
async fn methods_we_do_not_serve_are_unimplemented() {
    let dir = tempfile::tempdir().unwrap();
    let m = TestMaster::start(dir.path()).await;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", m.addr)).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/google.bigtable.admin.v2.BigtableTableAdmin/GenerateConsistencyToken",
    );
    let codec = tonic_prost::ProstCodec::<GetTableRequest, Table>::default();
    let req = GetTableRequest { name: format!("{INSTANCE}/tables/t"), view: 0 };
    let e = grpc.unary(tonic::Request::new(req), path, codec).await.unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    m.stop().await;
}
