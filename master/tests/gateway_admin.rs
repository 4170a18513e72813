//! The admin API through the gateway: create, get, list, modify, drop a row range and
//! delete, each forwarded to the master with its answer and status code; a gateway whose
//! master cannot be reached answers UNAVAILABLE.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod gateway_support;

use std::time::Duration;

use gateway_support::{create_request, set_cell, Gateway, INSTANCE};
use master::gateway::{GatewayConfig, ReadPath};
use master::{MiniCluster, MiniClusterOptions};
use tablet::proto::admin::drop_row_range_request::Target;
use tablet::proto::admin::gc_rule::Rule;
use tablet::proto::admin::modify_column_families_request::{modification::Mod, Modification};
use tablet::proto::admin::{
    ColumnFamily, DeleteTableRequest, DropRowRangeRequest, GcRule, GetTableRequest, ListTablesRequest,
    ModifyColumnFamiliesRequest,
};
use tablet::proto::bigtable::{mutate_rows_request, MutateRowsRequest, ReadRowsRequest};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_are_forwarded_to_the_master() {
    let root = tempfile::tempdir().unwrap();
    let cluster = MiniCluster::start(root.path(), MiniClusterOptions::default()).await.unwrap();
    let gateway = Gateway::start(cluster.master_addr, ReadPath::Forward).await;
    let mut admin = gateway.admin().await;
    let name = format!("{INSTANCE}/tables/a");

    // Create with a GC rule; the master's answer comes back as it is.
    let mut req = create_request("a", &[b"m"]);
    let max2 = GcRule { rule: Some(Rule::MaxNumVersions(2)) };
    req.table.as_mut().unwrap().column_families.insert("versions".into(), ColumnFamily { gc_rule: Some(max2.clone()) });
    let created = admin.create_table(req.clone()).await.unwrap().into_inner();
    assert_eq!(created.name, name);
    assert_eq!(created.column_families["versions"].gc_rule, Some(max2.clone()));
    assert_eq!(admin.create_table(req).await.unwrap_err().code(), Code::AlreadyExists);

    let got = admin.get_table(GetTableRequest { name: name.clone(), ..Default::default() }).await.unwrap().into_inner();
    let mut families: Vec<&String> = got.column_families.keys().collect();
    families.sort();
    assert_eq!(families, ["cf", "versions"]);
    let bad = admin.get_table(GetTableRequest { name: "nonsense".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);

    admin.create_table(create_request("b", &[])).await.unwrap();
    let listed = admin.list_tables(ListTablesRequest { parent: INSTANCE.into(), ..Default::default() }).await.unwrap();
    let names: Vec<String> = listed.into_inner().tables.into_iter().map(|t| t.name).collect();
    assert_eq!(names, [name.clone(), format!("{INSTANCE}/tables/b")]);

    let modified = admin
        .modify_column_families(ModifyColumnFamiliesRequest {
            name: name.clone(),
            modifications: vec![Modification {
                id: "extra".into(),
                r#mod: Some(Mod::Create(ColumnFamily::default())),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(modified.column_families.contains_key("extra"));

    // DropRowRange through the gateway removes the rows with the prefix, on both tablets.
    cluster.wait_assigned(&name).await.unwrap();
    let mut data = gateway.data().await;
    let entries = ["a1", "a2", "keep", "x1", "x2"]
        .iter()
        .map(|k| mutate_rows_request::Entry {
            row_key: k.as_bytes().to_vec(),
            mutations: vec![set_cell("cf", b"q", 1000, b"v")],
        })
        .collect();
    let mut s = data
        .mutate_rows(MutateRowsRequest { table_name: name.clone(), entries, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    while s.message().await.unwrap().is_some() {}
    for prefix in [b"a".as_slice(), b"x"] {
        admin
            .drop_row_range(DropRowRangeRequest {
                name: name.clone(),
                target: Some(Target::RowKeyPrefix(prefix.to_vec())),
            })
            .await
            .unwrap();
    }
    let mut stream =
        data.read_rows(ReadRowsRequest { table_name: name.clone(), ..Default::default() }).await.unwrap().into_inner();
    let mut merger = tablet::ChunkMerger::new(false);
    let mut left = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        left.extend(merger.push(&m).unwrap().into_iter().map(|r| r.key));
    }
    assert_eq!(left, [b"keep".to_vec()]);

    // Delete: gone from get and list.
    admin.delete_table(DeleteTableRequest { name: name.clone() }).await.unwrap();
    let e = admin.get_table(GetTableRequest { name: name.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let listed = admin.list_tables(ListTablesRequest { parent: INSTANCE.into(), ..Default::default() }).await.unwrap();
    assert_eq!(listed.into_inner().tables.len(), 1);

    gateway.stop().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_master_is_unavailable() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap();
    drop(listener);
    let mut config = GatewayConfig::new(dead.to_string());
    config.client.retry_deadline = Duration::from_millis(200);
    let gateway = Gateway::start_with(config).await;
    let e = gateway
        .admin()
        .await
        .get_table(GetTableRequest { name: format!("{INSTANCE}/tables/a"), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    let e = gateway
        .data()
        .await
        .read_rows(ReadRowsRequest { table_name: format!("{INSTANCE}/tables/a"), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    gateway.stop().await;
}
