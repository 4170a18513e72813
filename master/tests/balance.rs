//! Balancing with fake tablet servers on real sockets and the master's clock moved by hand:
//! a new server gets its share of tablets, each move unloads the old copy before the
//! tablet is loaded at the next epoch, a failed unload is retried, and a master that fails
//! over in the middle of a move finishes it from the intent it finds in the state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{FakeServer, TestMaster};
use master::balance::BalanceConfig;
use master::state::{Assignment, TabletKey};
use master::Config;
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{ColumnFamily, CreateTableRequest, Table};
use tonic::Code;

const NAME: &str = "projects/p/instances/i/tables/t";

fn eager(c: &mut Config) {
    c.balance =
        BalanceConfig { min_interval_ms: 0, cooldown_ms: 0, max_moves_in_flight: 2, ..BalanceConfig::default() };
}

async fn create(m: &TestMaster, splits: &[&[u8]]) -> String {
    let req = CreateTableRequest {
        parent: "projects/p/instances/i".into(),
        table_id: "t".into(),
        table: Some(Table {
            column_families: [("cf".to_string(), ColumnFamily::default())].into(),
            ..Default::default()
        }),
        initial_splits: splits.iter().map(|k| Split { key: k.to_vec() }).collect(),
    };
    m.admin().await.create_table(req).await.unwrap();
    m.master.map().table(NAME).unwrap().table_id.clone()
}

/// (tablet id, epoch, assignment, server, moving_to) of every tablet.
fn records(m: &TestMaster, table_id: &str) -> Vec<(String, u64, Assignment, String, String)> {
    m.master
        .map()
        .tablets_of(table_id)
        .map(|t| (t.tablet_id.clone(), t.epoch, t.assignment(), t.server_id.clone(), t.moving_to.clone()))
        .collect()
}

fn on(m: &TestMaster, table_id: &str, server: &str) -> usize {
    records(m, table_id).iter().filter(|r| r.3 == server && r.2 == Assignment::Serving).count()
}

/// Every server renews, then one round.
async fn round(m: &TestMaster, servers: &[&FakeServer]) {
    for s in servers {
        s.renew(m).await.unwrap();
    }
    m.tick().await;
}

#[tokio::test]
async fn a_new_server_gets_its_share_unloaded_first_then_at_the_next_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let m = TestMaster::start_with(dir.path(), eager).await;
    let table_id = create(&m, &[b"d", b"h", b"p"]).await;
    let a = FakeServer::start("srv-a").await;
    round(&m, &[&a]).await;
    assert_eq!(on(&m, &table_id, "srv-a"), 4);
    round(&m, &[&a]).await;
    assert!(a.state.lock().unloads.is_empty(), "one server: nothing to balance");

    // B registers: two moves start (the limit); the intent is recorded, then A unloads.
    let b = FakeServer::start("srv-b").await;
    round(&m, &[&a, &b]).await;
    let recs = records(&m, &table_id);
    let moving: Vec<_> = recs.iter().filter(|r| r.4 == "srv-b").collect();
    assert_eq!(moving.len(), 2, "{recs:?}");
    assert!(moving.iter().all(|r| r.1 == 1 && r.3 == "srv-a" && r.2 == Assignment::Serving), "{recs:?}");
    assert_eq!(a.state.lock().unloads.len(), 2);
    assert!(a.state.lock().unloads.iter().all(|u| u.epoch == 1));
    assert!(b.state.lock().loads.is_empty(), "nothing is loaded before the old copy is gone");

    // Next round: A let go, so the tablets are loaded on B at epoch 2.
    round(&m, &[&a, &b]).await;
    let recs = records(&m, &table_id);
    assert_eq!(on(&m, &table_id, "srv-a"), 2, "{recs:?}");
    assert_eq!(on(&m, &table_id, "srv-b"), 2, "{recs:?}");
    assert!(recs.iter().all(|r| r.4.is_empty()));
    assert!(recs.iter().filter(|r| r.3 == "srv-b").all(|r| r.1 == 2));
    assert_eq!(b.state.lock().loads.iter().map(|d| d.epoch).collect::<Vec<_>>(), [2, 2]);
    assert_eq!(a.state.lock().held.len(), 2);

    // Balanced: further rounds change nothing.
    round(&m, &[&a, &b]).await;
    round(&m, &[&a, &b]).await;
    assert_eq!(a.state.lock().unloads.len(), 2);
    assert_eq!(b.state.lock().loads.len(), 2);
    m.stop().await;
}

#[tokio::test]
async fn bytes_count_when_tablet_counts_are_even() {
    let dir = tempfile::tempdir().unwrap();
    let m = TestMaster::start_with(dir.path(), |c| {
        eager(c);
        c.balance.min_byte_gap = 1000;
    })
    .await;
    let table_id = create(&m, &[b"d", b"h", b"p"]).await;
    let a = FakeServer::start("srv-a").await;
    let b = FakeServer::start("srv-b").await;
    round(&m, &[&a, &b]).await;
    assert_eq!((on(&m, &table_id, "srv-a"), on(&m, &table_id, "srv-b")), (2, 2));
    // A's two tablets grow big; B's stay small (each server reports what it holds).
    let mut sizes = std::collections::HashMap::new();
    for key in a.state.lock().held.keys() {
        sizes.insert(key.clone(), 1_000_000u64);
    }
    for key in b.state.lock().held.keys() {
        sizes.insert(key.clone(), 10u64);
    }
    a.state.lock().sizes = sizes.clone();
    b.state.lock().sizes = sizes.clone();
    for _ in 0..4 {
        round(&m, &[&a, &b]).await;
    }
    // One big tablet went to B and one small one came back: 2 and 2 tablets, one big each.
    assert_eq!((on(&m, &table_id, "srv-a"), on(&m, &table_id, "srv-b")), (2, 2));
    let big = |s: &FakeServer| s.state.lock().held.keys().filter(|k| sizes[*k] == 1_000_000).count();
    assert_eq!(big(&a), 1);
    assert_eq!(big(&b), 1);
    m.stop().await;
}

#[tokio::test]
async fn a_failed_unload_is_retried_and_the_tablet_stays_served_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let m = TestMaster::start_with(dir.path(), |c| {
        eager(c);
        c.balance.max_moves_in_flight = 1;
    })
    .await;
    let table_id = create(&m, &[b"m"]).await;
    let a = FakeServer::start("srv-a").await;
    round(&m, &[&a]).await;
    let b = FakeServer::start("srv-b").await;
    a.state.lock().fail_unloads = Some(Code::Unavailable);
    round(&m, &[&a, &b]).await;
    assert_eq!(a.state.lock().unloads.len(), 1);
    // Still A's, at epoch 1, marked as moving; not sent again before the retry delay.
    round(&m, &[&a, &b]).await;
    assert_eq!(a.state.lock().unloads.len(), 1);
    let moving: Vec<_> = records(&m, &table_id).into_iter().filter(|r| !r.4.is_empty()).collect();
    assert_eq!(moving.len(), 1);
    assert_eq!((moving[0].1, moving[0].2, moving[0].3.as_str()), (1, Assignment::Serving, "srv-a"));
    // After it, sent again; this time it works and the tablet moves.
    a.state.lock().fail_unloads = None;
    m.clock.advance(common::TIMING.lease_ms);
    round(&m, &[&a, &b]).await;
    assert_eq!(a.state.lock().unloads.len(), 2);
    round(&m, &[&a, &b]).await;
    assert_eq!((on(&m, &table_id, "srv-a"), on(&m, &table_id, "srv-b")), (1, 1));
    m.stop().await;
}

/// Records tablet `key` as served by `server` at `epoch` and moving to `to`, as a master
/// that died after recording the intent leaves it.
fn moving_state(dir: &std::path::Path, a: &FakeServer, to: &str) -> (String, TabletKey) {
    let mut state = master::state::MasterState::open(dir).unwrap();
    let name = master::names::TableName { instance: "projects/p/instances/i".into(), table: "t".into() };
    let t = state.create_table(&name, vec![], 1, false, vec![b"m".to_vec()]).unwrap();
    let mut recs = Vec::new();
    for id in ["0000", "0001"] {
        let mut rec = state.map().tablet(&(t.table_id.clone(), id.into())).unwrap().clone();
        rec.epoch = 1;
        rec.set_holder(Some(("srv-a", &a.addr)), Assignment::Serving);
        if id == "0000" {
            rec.moving_to = to.into();
        }
        a.state.lock().held.insert((t.table_id.clone(), id.into()), 1);
        recs.push(rec);
    }
    state.put_tablets(recs).unwrap();
    state.close().unwrap();
    (t.table_id.clone(), (t.table_id, "0000".into()))
}

#[tokio::test]
async fn a_master_failing_over_mid_move_finishes_it() {
    // The old master recorded the move and died before (or after) A unloaded.
    for unloaded in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let a = FakeServer::start("srv-a").await;
        let b = FakeServer::start("srv-b").await;
        let (table_id, key) = moving_state(dir.path(), &a, "srv-b");
        if unloaded {
            a.state.lock().held.remove(&key);
        }
        // The new master does not balance on its own, but finishes moves it finds.
        let m = TestMaster::start(dir.path()).await;
        round(&m, &[&a, &b]).await;
        round(&m, &[&a, &b]).await;
        let recs = records(&m, &table_id);
        assert_eq!(recs[0], ("0000".into(), 2, Assignment::Serving, "srv-b".into(), String::new()), "{unloaded}");
        assert_eq!(recs[1], ("0001".into(), 1, Assignment::Serving, "srv-a".into(), String::new()));
        assert_eq!(b.epoch_of(&table_id, "0000"), Some(2));
        assert_eq!(a.epoch_of(&table_id, "0000"), None);
        // Unloaded already: no second unload was needed.
        assert_eq!(a.state.lock().unloads.len(), usize::from(!unloaded));
        m.stop().await;
    }
}

#[tokio::test]
async fn a_move_whose_target_is_gone_after_fail_over_is_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let a = FakeServer::start("srv-a").await;
    let (table_id, _) = moving_state(dir.path(), &a, "srv-gone");
    let m = TestMaster::start(dir.path()).await;
    round(&m, &[&a]).await;
    let recs = records(&m, &table_id);
    assert!(
        recs.iter().all(|r| r.1 == 1 && r.2 == Assignment::Serving && r.3 == "srv-a" && r.4.is_empty()),
        "{recs:?}"
    );
    assert!(a.state.lock().unloads.is_empty());
    assert!(a.state.lock().loads.is_empty());
    m.stop().await;
}
