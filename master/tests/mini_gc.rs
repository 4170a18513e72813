//! File GC on a real cluster in one process: after tablets move to a new server (epoch 2),
//! the old epoch directories go; a deleted table's directory goes; nothing the map
//! references is touched, so after the GC the tablets still open from disk (a stopped
//! server's tablets are reopened elsewhere at the next epoch) with every row.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use master::balance::BalanceConfig;
use master::gc::GcConfig;
use master::state::Assignment;
use master::{MiniCluster, MiniClusterOptions};
use tablet::client::build::{mutation, rows};
use tablet::layout::{epoch_dir, table_dir};
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{ColumnFamily, CreateTableRequest, DeleteTableRequest, Table};

const TABLE: &str = "projects/p/instances/i/tables/t";
const DOOMED: &str = "projects/p/instances/i/tables/doomed";

fn row_key(i: u32) -> Vec<u8> {
    format!("row{i:04}").into_bytes()
}

fn create(name: &str, splits: &[u32]) -> CreateTableRequest {
    CreateTableRequest {
        parent: "projects/p/instances/i".into(),
        table_id: name.rsplit('/').next().unwrap().into(),
        table: Some(Table {
            column_families: [("cf".to_string(), ColumnFamily { gc_rule: None })].into_iter().collect(),
            ..Default::default()
        }),
        initial_splits: splits.iter().map(|&i| Split { key: row_key(i) }).collect(),
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "not within 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn settled(cluster: &MiniCluster, table: &str) -> bool {
    let map = cluster.master().map();
    let Some(t) = map.table(table) else { return false };
    let all = map.tablets_of(&t.table_id).all(|r| r.moving_to.is_empty() && r.assignment() == Assignment::Serving);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_epochs_and_deleted_tables_go_and_live_files_stay() {
    let root = tempfile::tempdir().unwrap();
    let options = MiniClusterOptions {
        servers: 1,
        balance: BalanceConfig { min_interval_ms: 0, cooldown_ms: 0, max_moves_in_flight: 2, ..Default::default() },
        // Rounds run by hand below; a short grace, so a round may delete.
        gc: GcConfig { interval: None, grace_ms: 0 },
        ..Default::default()
    };
    let mut cluster = MiniCluster::start(root.path(), options).await.unwrap();
    let mut admin = cluster.admin().await.unwrap();
    admin.create_table(create(TABLE, &[100, 200, 300])).await.unwrap();
    admin.create_table(create(DOOMED, &[])).await.unwrap();
    cluster.wait_assigned(TABLE).await.unwrap();
    cluster.wait_assigned(DOOMED).await.unwrap();
    let client = cluster.client().unwrap();
    let t = client.table(TABLE);
    let entries: Vec<_> =
        (0..400).map(|i| (row_key(i), vec![mutation::set_cell("cf", b"q", 1000, &row_key(i))])).collect();
    assert!(t.mutate_rows(entries).await.unwrap().iter().all(Result::is_ok));
    client.table(DOOMED).mutate_row(b"x", vec![mutation::set_cell("cf", b"q", 1000, b"v")]).await.unwrap();
    let doomed_id = cluster.master().map().table(DOOMED).unwrap().table_id.clone();
    let doomed_dir = table_dir(root.path(), &doomed_id).unwrap();
    assert!(doomed_dir.exists());

    // A second server: two tablets move to it at epoch 2 (5 tablets in all: 3 and 2).
    cluster.add_server().await.unwrap();
    wait_for("balanced", || {
        settled(&cluster, TABLE)
            && settled(&cluster, DOOMED)
            && cluster.servers[0].server.tablet_count().abs_diff(cluster.servers[1].server.tablet_count()) <= 1
    })
    .await;
    admin.delete_table(DeleteTableRequest { name: DOOMED.into() }).await.unwrap();

    let map = cluster.master().map();
    let table_id = map.table(TABLE).unwrap().table_id.clone();
    let moved: Vec<_> = map.tablets_of(&table_id).filter(|r| r.epoch == 2).cloned().collect();
    assert!(!moved.is_empty(), "some tablet of the table moved");
    for r in &moved {
        assert!(epoch_dir(root.path(), &table_id, &r.tablet_id, 1).unwrap().exists());
    }

    // GC rounds until the old epochs and the deleted table are gone (the deleted table's
    // servers may still report it for a moment).
    let m = cluster.master().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut deleted = Vec::new();
    loop {
        deleted.extend(m.collect_garbage().await.unwrap().deleted);
        let old_gone = moved.iter().all(|r| !epoch_dir(root.path(), &table_id, &r.tablet_id, 1).unwrap().exists());
        if old_gone && !doomed_dir.exists() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not collected within 30 s; deleted {deleted:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(deleted.len(), moved.len() + 1, "{deleted:?}");
    // Everything the map references is still there.
    for r in map.tablets_of(&table_id) {
        assert!(epoch_dir(root.path(), &table_id, &r.tablet_id, r.epoch).unwrap().join("CURRENT").exists());
    }
    // Nothing more to collect.
    assert!(m.collect_garbage().await.unwrap().deleted.is_empty());

    // Stop server 1: its tablets (including the moved ones) are reopened from their epoch
    // 2 directories on server 0 at epoch 3, and every row is there.
    let read = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(read.len(), 400);
    cluster.stop_server(1).await;
    t.mutate_row(&row_key(399), vec![mutation::set_cell("cf", b"q", 2000, b"after")]).await.unwrap();
    let read = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(read.len(), 400);
    assert!(read.iter().enumerate().all(|(i, r)| r.key == row_key(i as u32)));
    assert_eq!(cluster.servers[0].server.tablet_count(), 4);
    cluster.stop().await;
}
