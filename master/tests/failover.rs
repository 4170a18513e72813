//! Fail-over in one process: a second master on the same data root waits for the lock,
//! then loads the state, asks the servers in the tablet map what they hold, adopts what a
//! live server serves at the current epoch (no load, no new epoch), and moves the tablets
//! of a server that is gone only after a whole lease + margin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{FakeServer, TestMaster, TIMING};
use master::state::Assignment;
use master::MasterLock;
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{CreateTableRequest, Table};

const NAME: &str = "projects/p/instances/i/tables/t";

#[tokio::test]
async fn a_new_master_adopts_what_live_servers_hold() {
    let dir = tempfile::tempdir().unwrap();
    let a = FakeServer::start("srv-a").await;
    let b = FakeServer::start("srv-b").await;

    let m1 = TestMaster::start(dir.path()).await;
    let req = CreateTableRequest {
        parent: "projects/p/instances/i".into(),
        table_id: "t".into(),
        table: Some(Table::default()),
        initial_splits: vec![Split { key: b"m".to_vec() }],
    };
    m1.admin().await.create_table(req).await.unwrap();
    let table_id = m1.master.map().table(NAME).unwrap().table_id.clone();
    a.renew(&m1).await.unwrap();
    b.renew(&m1).await.unwrap();
    m1.tick().await;
    assert_eq!(a.epoch_of(&table_id, "0000"), Some(1));
    assert_eq!(b.epoch_of(&table_id, "0001"), Some(1));

    // A standby cannot take the lock while the first master runs; it waits for it.
    assert!(MasterLock::try_acquire(dir.path()).unwrap().is_none());
    let root = dir.path().to_path_buf();
    let standby = tokio::task::spawn_blocking(move || MasterLock::acquire(&root));
    m1.stop().await;
    drop(standby.await.unwrap().unwrap());

    // B restarts as a new process (a new server id) holding nothing.
    {
        let mut st = b.state.lock();
        st.server_id = "srv-b-2".into();
        st.held.clear();
    }

    let m2 = TestMaster::start(dir.path()).await;
    // Recovery asked both addresses; A's tablet is adopted at its epoch, without a load.
    m2.tick().await;
    let t0 = m2.master.map().tablet(&(table_id.clone(), "0000".into())).unwrap().clone();
    assert_eq!((t0.epoch, t0.assignment(), t0.server_id.as_str()), (1, Assignment::Serving, "srv-a"));
    assert_eq!(a.state.lock().loads.len(), 1, "no new load for an adopted tablet");
    // B's old process may still hold a lease from the first master: its tablet stays put
    // while the new process registers and A renews...
    b.renew(&m2).await.unwrap();
    let step = TIMING.lease_ms / 2;
    let mut waited = 0;
    while waited + step <= TIMING.lease_ms + TIMING.margin_ms {
        m2.clock.advance(step);
        waited += step;
        a.renew(&m2).await.unwrap();
        b.renew(&m2).await.unwrap();
        m2.tick().await;
        let t1 = m2.master.map().tablet(&(table_id.clone(), "0001".into())).unwrap().clone();
        assert_eq!((t1.epoch, t1.server_id.as_str()), (1, "srv-b"), "at +{waited} ms");
    }
    // ...and moves once lease + margin has passed since the new master started.
    m2.clock.advance(TIMING.lease_ms + TIMING.margin_ms + 1 - waited);
    a.renew(&m2).await.unwrap();
    b.renew(&m2).await.unwrap();
    m2.tick().await;
    let t1 = m2.master.map().tablet(&(table_id.clone(), "0001".into())).unwrap().clone();
    assert_eq!((t1.epoch, t1.assignment(), t1.server_id.as_str()), (2, Assignment::Serving, "srv-b-2"));
    assert_eq!(b.epoch_of(&table_id, "0001"), Some(2));
    assert_eq!(a.state.lock().loads.len(), 1);
    m2.stop().await;
}

#[tokio::test]
async fn a_load_whose_answer_was_lost_is_adopted_after_fail_over() {
    let dir = tempfile::tempdir().unwrap();
    let a = FakeServer::start("srv-a").await;
    let table_id = {
        // The first master records the assignment (epoch 1, loading) and sends the load,
        // but "dies" before it hears the answer: here the record is written directly.
        let mut state = master::state::MasterState::open(dir.path()).unwrap();
        let name = master::names::TableName { instance: "projects/p/instances/i".into(), table: "t".into() };
        let t = state.create_table(&name, vec![], 1, false, vec![]).unwrap();
        let mut rec = state.map().tablet(&(t.table_id.clone(), "0000".into())).unwrap().clone();
        rec.epoch = 1;
        rec.set_holder(Some(("srv-a", &a.addr)), Assignment::Loading);
        state.put_tablets(vec![rec]).unwrap();
        a.state.lock().held.insert((t.table_id.clone(), "0000".into()), 1);
        t.table_id
    };
    let m = TestMaster::start(dir.path()).await;
    m.tick().await;
    let t = m.master.map().tablet(&(table_id, "0000".into())).unwrap().clone();
    assert_eq!((t.epoch, t.assignment()), (1, Assignment::Serving));
    assert!(a.state.lock().loads.is_empty());
    m.stop().await;
}
