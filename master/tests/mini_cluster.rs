//! A real cluster in one process (`MiniCluster`): the master assigns a pre-split table to
//! real tablet servers, the client routes writes and reads across tablets, and when a
//! server stops the master reassigns its tablets and nothing acknowledged is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use master::{MiniCluster, MiniClusterOptions};
use tablet::client::build::{mutation, rows};
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{ColumnFamily, CreateTableRequest, Table};

const TABLE: &str = "projects/p/instances/i/tables/t";

fn create(splits: &[&[u8]]) -> CreateTableRequest {
    CreateTableRequest {
        parent: "projects/p/instances/i".into(),
        table_id: "t".into(),
        table: Some(Table {
            column_families: [("cf".to_string(), ColumnFamily { gc_rule: None })].into_iter().collect(),
            ..Default::default()
        }),
        initial_splits: splits.iter().map(|k| Split { key: k.to_vec() }).collect(),
    }
}

fn row_key(i: u32) -> Vec<u8> {
    format!("row{i:04}").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_split_table_survives_a_server_stopping() {
    let root = tempfile::tempdir().unwrap();
    let mut cluster =
        MiniCluster::start(root.path(), MiniClusterOptions { servers: 2, ..Default::default() }).await.unwrap();
    cluster.admin().await.unwrap().create_table(create(&[b"row0100", b"row0200"])).await.unwrap();
    cluster.wait_assigned(TABLE).await.unwrap();

    let client = cluster.client().unwrap();
    let t = client.table(TABLE);
    let entries: Vec<_> =
        (0..300).map(|i| (row_key(i), vec![mutation::set_cell("cf", b"q", 1000, &row_key(i))])).collect();
    let results = t.mutate_rows(entries).await.unwrap();
    assert!(results.iter().all(Result::is_ok));
    let read = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(read.len(), 300);
    assert!(read.windows(2).all(|w| w[0].key < w[1].key), "key order across three tablets");

    // Both servers hold tablets (fewest-first assignment).
    let held: Vec<usize> = cluster.servers.iter().map(|s| s.server.tablet_count()).collect();
    assert_eq!(held.iter().sum::<usize>(), 3, "{held:?}");
    assert!(held.iter().all(|&n| n > 0), "{held:?}");

    // Stop server 0: after its lease runs out, its tablets move to server 1.
    cluster.stop_server(0).await;
    t.mutate_row(&row_key(5), vec![mutation::set_cell("cf", b"q", 2000, b"after")]).await.unwrap();
    let read = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(read.len(), 300, "every acknowledged row is still there");
    assert_eq!(cluster.servers[1].server.tablet_count(), 3);
    let row = t.read_row(&row_key(5), None).await.unwrap().unwrap();
    assert_eq!(row.families[0].columns[0].cells[0].value, b"after");
    cluster.stop().await;
}
