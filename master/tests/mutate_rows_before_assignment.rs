//! Regression: `Table::mutate_rows` dropped the entries whose tablet could not be located
//! yet (a table just created, its tablets still being assigned): they were neither sent
//! nor retried, and came back as "entry not answered". The official Python client's
//! `DirectRow.commit()` returns that status instead of raising, so a row written right
//! after `create_table` through the gateway (which sends `MutateRow`s on as bulk calls)
//! silently went missing. Now such entries are retried like any transient failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod gateway_support;

use gateway_support::{create_request, set_cell, INSTANCE};
use master::{MiniCluster, MiniClusterOptions};
use tablet::client::build::{filter, rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_writes_right_after_create_table_are_all_applied() {
    let root = tempfile::tempdir().unwrap();
    let cluster =
        MiniCluster::start(root.path(), MiniClusterOptions { servers: 2, ..Default::default() }).await.unwrap();
    let client = cluster.client().unwrap();
    let mut admin = cluster.admin().await.unwrap();
    for k in 0..8 {
        let id = format!("t{k}");
        admin.create_table(create_request(&id, &[b"row-020", b"row-040"])).await.unwrap();
        // No wait for assignment: the first write races the master's LoadTablet calls.
        let table = client.table(&format!("{INSTANCE}/tables/{id}"));
        let keys: Vec<Vec<u8>> = [0u32, 25, 50].iter().map(|i| format!("row-{i:03}").into_bytes()).collect();
        let entries = keys.iter().map(|k| (k.clone(), vec![set_cell("cf", b"a", 1_000_000, b"v")])).collect();
        for (i, r) in table.mutate_rows(entries).await.unwrap().into_iter().enumerate() {
            r.unwrap_or_else(|e| panic!("table {id}, entry {i}: {e}"));
        }
        let mut reader = table.read_rows(rows::keys(&keys), Some(filter::latest(1)), None);
        let mut found = 0;
        while reader.next_row().await.unwrap().is_some() {
            found += 1;
        }
        assert_eq!(found, 3, "table {id}: rows written before assignment missing");
    }
    cluster.stop().await;
}
