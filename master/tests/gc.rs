//! File GC rounds run by hand against a master with a manual clock and fake tablet
//! servers: garbage waits out the grace period, a deleted table's directory stays while a
//! live server still reports one of its tablets, and an old epoch goes only once the
//! current epoch's directory is complete.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{FakeServer, TestMaster, TIMING};
use master::gc::GcConfig;
use tablet::layout::{epoch_dir, table_dir};
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{CreateTableRequest, DeleteTableRequest, Table};

const GRACE: u64 = 10_000;

async fn create(m: &TestMaster, table: &str, splits: &[&[u8]]) -> String {
    let req = CreateTableRequest {
        parent: "projects/p/instances/i".into(),
        table_id: table.into(),
        table: Some(Table::default()),
        initial_splits: splits.iter().map(|k| Split { key: k.to_vec() }).collect(),
    };
    m.admin().await.create_table(req).await.unwrap();
    m.master.map().table(&format!("projects/p/instances/i/tables/{table}")).unwrap().table_id.clone()
}

/// Makes an epoch directory as a tablet server would, complete or not.
fn make_epoch(root: &Path, table: &str, tablet: &str, epoch: u64, complete: bool) {
    let dir = epoch_dir(root, table, tablet, epoch).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("000001.log"), b"").unwrap();
    if complete {
        std::fs::write(dir.join("CURRENT"), b"MANIFEST-000002\n").unwrap();
    }
}

#[tokio::test]
async fn garbage_waits_out_the_grace_period_and_live_directories_stay() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = TestMaster::start_with(root, |c| {
        c.balance.enabled = false;
        c.gc = GcConfig { interval: None, grace_ms: GRACE };
    })
    .await;
    let table = create(&m, "t", &[b"m"]).await;
    let doomed = create(&m, "doomed", &[]).await;
    let a = FakeServer::start("srv-a").await;
    a.renew(&m).await.unwrap();
    m.tick().await;
    for tablet in ["0000", "0001"] {
        make_epoch(root, &table, tablet, 1, true);
    }
    make_epoch(root, &doomed, "0000", 1, true);
    assert!(m.master.collect_garbage().await.unwrap().pending == 0, "nothing is garbage yet");

    // A dies; B takes its tablets at epoch 2. B has made 0000's directory, and is still
    // making 0001's (no CURRENT yet).
    let b = FakeServer::start("srv-b").await;
    b.renew(&m).await.unwrap();
    m.clock.advance(TIMING.lease_ms + TIMING.margin_ms + 1);
    b.renew(&m).await.unwrap();
    m.tick().await;
    assert_eq!(b.epoch_of(&table, "0000"), Some(2));
    make_epoch(root, &table, "0000", 2, true);
    make_epoch(root, &table, "0001", 2, false);
    // The doomed table is deleted, but B still reports holding it (as if the unload the
    // deletion sent had not arrived yet).
    m.admin()
        .await
        .delete_table(DeleteTableRequest { name: "projects/p/instances/i/tables/doomed".into() })
        .await
        .unwrap();
    b.state.lock().held.insert((doomed.clone(), "0000".into()), 2);
    b.renew(&m).await.unwrap();

    // Only 0000's epoch 1 is garbage: it waits out the grace period, then goes.
    let round = m.master.collect_garbage().await.unwrap();
    assert_eq!((round.deleted.len(), round.pending), (0, 1));
    m.clock.advance(GRACE - 1);
    b.renew(&m).await.unwrap();
    assert!(m.master.collect_garbage().await.unwrap().deleted.is_empty());
    m.clock.advance(1);
    b.renew(&m).await.unwrap();
    let round = m.master.collect_garbage().await.unwrap();
    assert_eq!(round.deleted, [epoch_dir(root, &table, "0000", 1).unwrap()]);
    assert!(epoch_dir(root, &table, "0000", 2).unwrap().join("CURRENT").exists());
    // 0001's epoch 1 stays: it is the source of the copy being made.
    assert!(epoch_dir(root, &table, "0001", 1).unwrap().join("CURRENT").exists());
    assert!(table_dir(root, &doomed).unwrap().exists());

    // B drops the deleted table's tablet and finishes 0001: after the grace period both go.
    b.state.lock().held.remove(&(doomed.clone(), "0000".into()));
    make_epoch(root, &table, "0001", 2, true);
    b.renew(&m).await.unwrap();
    assert_eq!(m.master.collect_garbage().await.unwrap().pending, 2);
    m.clock.advance(GRACE);
    b.renew(&m).await.unwrap();
    let mut deleted = m.master.collect_garbage().await.unwrap().deleted;
    deleted.sort();
    let mut want = vec![epoch_dir(root, &table, "0001", 1).unwrap(), table_dir(root, &doomed).unwrap()];
    want.sort();
    assert_eq!(deleted, want);
    for tablet in ["0000", "0001"] {
        assert!(epoch_dir(root, &table, tablet, 2).unwrap().join("CURRENT").exists());
    }
    m.stop().await;
}
