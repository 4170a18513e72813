//! Balancing on a real cluster in one process: a table spread over one tablet server, a
//! second server joins, tablets move (unload, then load at the next epoch) until each
//! server holds half, and every row stays readable and writable through the client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use master::balance::BalanceConfig;
use master::{MiniCluster, MiniClusterOptions};
use tablet::client::build::{mutation, rows};
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{ColumnFamily, CreateTableRequest, Table};

const TABLE: &str = "projects/p/instances/i/tables/t";

fn row_key(i: u32) -> Vec<u8> {
    format!("row{i:04}").into_bytes()
}

/// Waits until `done` holds (checked every 20 ms; gives up after 30 s).
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "not within 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tablets_spread_to_a_new_server_and_stay_readable() {
    let root = tempfile::tempdir().unwrap();
    let options = MiniClusterOptions {
        servers: 1,
        balance: BalanceConfig { min_interval_ms: 0, cooldown_ms: 0, max_moves_in_flight: 2, ..Default::default() },
        ..Default::default()
    };
    let mut cluster = MiniCluster::start(root.path(), options).await.unwrap();
    let splits: Vec<Split> = [100u32, 200, 300, 400, 500].iter().map(|&i| Split { key: row_key(i) }).collect();
    let req = CreateTableRequest {
        parent: "projects/p/instances/i".into(),
        table_id: "t".into(),
        table: Some(Table {
            column_families: [("cf".to_string(), ColumnFamily { gc_rule: None })].into_iter().collect(),
            ..Default::default()
        }),
        initial_splits: splits,
    };
    cluster.admin().await.unwrap().create_table(req).await.unwrap();
    cluster.wait_assigned(TABLE).await.unwrap();
    assert_eq!(cluster.servers[0].server.tablet_count(), 6);

    let client = cluster.client().unwrap();
    let t = client.table(TABLE);
    let entries: Vec<_> =
        (0..600).map(|i| (row_key(i), vec![mutation::set_cell("cf", b"q", 1000, &row_key(i))])).collect();
    assert!(t.mutate_rows(entries).await.unwrap().iter().all(Result::is_ok));

    // A second server joins: three tablets move to it, each at the next epoch.
    cluster.add_server().await.unwrap();
    let master = cluster.master().clone();
    wait_for("3 tablets on each server, no move under way", || {
        let map = master.map();
        let table_id = map.table(TABLE).unwrap().table_id.clone();
        let settled = map
            .tablets_of(&table_id)
            .all(|r| r.moving_to.is_empty() && r.assignment() == master::state::Assignment::Serving);
        settled && cluster.servers[0].server.tablet_count() == 3 && cluster.servers[1].server.tablet_count() == 3
    })
    .await;
    let map = master.map();
    let table_id = map.table(TABLE).unwrap().table_id.clone();
    let epochs: Vec<u64> = map.tablets_of(&table_id).map(|r| r.epoch).collect();
    assert_eq!(epochs.iter().filter(|&&e| e == 2).count(), 3, "{epochs:?}");
    assert_eq!(epochs.iter().filter(|&&e| e == 1).count(), 3, "{epochs:?}");

    // Every row is there, and the moved tablets take writes.
    let read = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(read.len(), 600);
    assert!(read.iter().enumerate().all(|(i, r)| r.key == row_key(i as u32)));
    for i in [5u32, 150, 250, 350, 450, 550] {
        t.mutate_row(&row_key(i), vec![mutation::set_cell("cf", b"q", 2000, b"after")]).await.unwrap();
        let row = t.read_row(&row_key(i), None).await.unwrap().unwrap();
        assert_eq!(row.families[0].columns[0].cells[0].value, b"after");
    }
    cluster.stop().await;
}
