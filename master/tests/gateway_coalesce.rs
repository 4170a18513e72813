//! The gateway's combining of concurrent `MutateRow`s (`master::gateway::coalesce`): many
//! callers' writes go out as far fewer bulk calls, and every caller still gets exactly its
//! own answer (its own error included), over a table split into four tablets on two
//! tablet servers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod gateway_support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use gateway_support::{cluster_with_table, row_key, set_cell, TABLE};
use master::gateway::coalesce::Coalescer;
use master::gateway::ReadPath;
use tablet::client::build::{filter, rows};
use tablet::proto::bigtable::{MutateRowRequest, ReadRowsRequest, Row};
use tablet::ChunkMerger;
use tonic::Code;

fn value_of(i: u32) -> Vec<u8> {
    format!("value-{i}").into_bytes()
}

fn cell_value(row: &Row) -> &[u8] {
    &row.families[0].columns[0].cells[0].value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_row_calls_share_bulk_calls_and_keep_their_answers() {
    let root = tempfile::tempdir().unwrap();
    let (cluster, gateway) = cluster_with_table(root.path(), ReadPath::Forward).await;
    let table = cluster.client().unwrap().table(TABLE);
    let c = Arc::new(Coalescer::new(1));

    // 200 good writes over all four tablets and 10 to a family the table lacks, at once.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..210u32 {
        let (c, table) = (c.clone(), table.clone());
        tasks.spawn(async move {
            let family = if i < 200 { "cf" } else { "nope" };
            let r = c.mutate_row(&table, row_key(i * 2), vec![set_cell(family, b"q", 1000, &value_of(i))]).await;
            (i, r)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (i, r) = done.unwrap();
        if i < 200 {
            r.unwrap_or_else(|e| panic!("write {i}: {e}"));
        } else {
            let e = r.expect_err("a write to a missing family fails");
            assert_ne!(e.code(), Code::Ok);
            assert!(e.message().contains("nope"), "write {i}: {e}");
        }
    }
    let calls = c.stats().calls.load(Ordering::Relaxed);
    let bulk = c.stats().bulk_calls.load(Ordering::Relaxed);
    assert_eq!(calls, 210);
    assert!(bulk < calls / 2, "{calls} writes went out as {bulk} bulk calls");

    // Every good row reads back.
    let mut reader = table.read_rows(rows::keys((0..200u32).map(|i| row_key(i * 2))), Some(filter::latest(1)), None);
    let mut i = 0u32;
    while let Some(row) = reader.next_row().await.unwrap() {
        assert_eq!((row.key.clone(), cell_value(&row).to_vec()), (row_key(i * 2), value_of(i)));
        i += 1;
    }
    assert_eq!(i, 200);

    // Through the gateway's own RPC (which combines the same way): concurrent MutateRows,
    // then each row read back through the gateway as a valid chunk stream of exactly it.
    let data = gateway.data().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100u32 {
        let mut data = data.clone();
        tasks.spawn(async move {
            let req = MutateRowRequest {
                table_name: TABLE.into(),
                row_key: row_key(1000 + i),
                mutations: vec![set_cell("cf", b"q", 2000, &value_of(1000 + i))],
                ..Default::default()
            };
            data.mutate_row(req).await.unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..120u32 {
        let mut data = data.clone();
        tasks.spawn(async move {
            // The last twenty ask for rows nobody wrote; some read reversed or limited.
            let key = if i < 100 { row_key(1000 + i) } else { row_key(5000 + i) };
            let req = ReadRowsRequest {
                table_name: TABLE.into(),
                rows: Some(rows::keys([key.clone()])),
                filter: Some(filter::latest(1)),
                rows_limit: i64::from(i % 2),
                reversed: i % 3 == 0,
                ..Default::default()
            };
            let mut stream = data.read_rows(req).await.unwrap().into_inner();
            let mut merger = ChunkMerger::new(i % 3 == 0);
            let mut got = Vec::new();
            while let Some(m) = stream.message().await.unwrap() {
                got.extend(merger.push(&m).expect("a valid chunk stream"));
            }
            merger.finish().expect("the stream ends between rows");
            (i, key, got)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (i, key, got) = done.unwrap();
        if i < 100 {
            assert_eq!(got.len(), 1, "read {i}");
            assert_eq!((got[0].key.clone(), cell_value(&got[0]).to_vec()), (key, value_of(1000 + i)));
        } else {
            assert!(got.is_empty(), "read {i} of a missing row returned {got:?}");
        }
    }
    gateway.stop().await;
    cluster.stop().await;
}
