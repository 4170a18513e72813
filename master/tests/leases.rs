//! Leases and assignment in one process, with fake tablet servers on real sockets and the
//! master's clock moved by hand: tablets go to registered servers at epoch 1, move to a
//! live server at the next epoch only after the silent server's lease + margin, the dead
//! server's renewals are refused, and schema changes, row drops and splits reach the
//! servers that hold the table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{FakeServer, TestMaster, TIMING};
use master::state::Assignment;
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::drop_row_range_request::Target;
use tablet::proto::admin::modify_column_families_request::modification::Mod;
use tablet::proto::admin::modify_column_families_request::Modification;
use tablet::proto::admin::{ColumnFamily, CreateTableRequest, DropRowRangeRequest, ModifyColumnFamiliesRequest, Table};
use tablet::proto::bt::internal::v1::tablet_drop_row_range_request::Target as TabletTarget;
use tablet::proto::bt::internal::v1::{LocateTabletsRequest, ReportSplitRequest, TabletDescriptor};
use tonic::Code;

const NAME: &str = "projects/p/instances/i/tables/t";

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

fn assignment(m: &TestMaster, table_id: &str) -> Vec<(String, u64, Assignment, String)> {
    m.master
        .map()
        .tablets_of(table_id)
        .map(|t| (t.tablet_id.clone(), t.epoch, t.assignment(), t.server_id.clone()))
        .collect()
}

#[tokio::test]
async fn tablets_move_only_after_lease_and_margin() {
    let dir = tempfile::tempdir().unwrap();
    let m = TestMaster::start(dir.path()).await;
    let table_id = create(&m, &[b"m"]).await;

    // No server: nothing happens.
    m.tick().await;
    assert!(assignment(&m, &table_id).iter().all(|a| a.2 == Assignment::Unassigned));

    // A registers: both tablets are loaded there at epoch 1, with the table's families.
    let a = FakeServer::start("srv-a").await;
    a.renew(&m).await.unwrap();
    m.tick().await;
    assert_eq!(
        assignment(&m, &table_id),
        [
            ("0000".into(), 1, Assignment::Serving, "srv-a".into()),
            ("0001".into(), 1, Assignment::Serving, "srv-a".into())
        ]
    );
    assert_eq!(a.epoch_of(&table_id, "0000"), Some(1));
    assert_eq!(a.state.lock().load_families[0], ["cf"]);
    let loaded = a.state.lock().loads[0].clone();
    assert_eq!((loaded.table_name.as_str(), loaded.end_key.as_slice()), (NAME, &b"m"[..]));
    // A steady state makes no new decisions.
    a.renew(&m).await.unwrap();
    m.tick().await;
    assert_eq!(a.state.lock().loads.len(), 2);

    // B registers and keeps renewing; A falls silent.
    let b = FakeServer::start("srv-b").await;
    b.renew(&m).await.unwrap();
    let step = TIMING.lease_ms / 2;
    let mut silent = 0;
    while silent + step <= TIMING.lease_ms + TIMING.margin_ms {
        m.clock.advance(step);
        silent += step;
        b.renew(&m).await.unwrap();
        m.tick().await;
        // Within lease + margin of A's last renewal, its tablets stay where they are.
        assert!(assignment(&m, &table_id).iter().all(|t| t.3 == "srv-a" && t.1 == 1), "at +{silent} ms");
        assert!(b.state.lock().loads.is_empty());
    }
    m.clock.advance(TIMING.lease_ms + TIMING.margin_ms + 1 - silent);
    b.renew(&m).await.unwrap();
    m.tick().await;
    // Past it: A is dead, its tablets are on B at epoch 2.
    assert_eq!(
        assignment(&m, &table_id),
        [
            ("0000".into(), 2, Assignment::Serving, "srv-b".into()),
            ("0001".into(), 2, Assignment::Serving, "srv-b".into())
        ]
    );
    assert_eq!(b.epoch_of(&table_id, "0001"), Some(2));
    // A's late renewal is refused: it must drop its tablets and register anew.
    let e = a.renew(&m).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(m.master.servers().get("srv-a").unwrap().dead);
    // Once it has dropped them, it comes back as an empty server.
    a.state.lock().held.clear();
    a.renew(&m).await.unwrap();
    assert!(!m.master.servers().get("srv-a").unwrap().dead);

    // Clients find the tablets on B.
    let loc = m
        .control()
        .await
        .locate_tablets(LocateTabletsRequest { table_name: NAME.into(), start_key: b"n".to_vec(), end_key: vec![] })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(loc.tablets.len(), 1);
    assert_eq!(loc.tablets[0].address, b.addr);
    assert_eq!(loc.tablets[0].tablet.as_ref().unwrap().tablet_id, "0001");
    assert_eq!(loc.families[0].name, "cf");
    let e = m
        .control()
        .await
        .locate_tablets(LocateTabletsRequest {
            table_name: "projects/p/instances/i/tables/none".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    m.stop().await;
}

#[tokio::test]
async fn schema_changes_row_drops_and_splits_reach_the_servers() {
    let dir = tempfile::tempdir().unwrap();
    let m = TestMaster::start(dir.path()).await;
    let table_id = create(&m, &[b"m"]).await;
    let a = FakeServer::start("srv-a").await;
    a.renew(&m).await.unwrap();
    m.tick().await;
    let mut admin = m.admin().await;

    // ModifyColumnFamilies pushes the new families to the server holding the table.
    let mods =
        vec![Modification { id: "cf2".into(), r#mod: Some(Mod::Create(ColumnFamily::default())), update_mask: None }];
    admin
        .modify_column_families(ModifyColumnFamiliesRequest {
            name: NAME.into(),
            modifications: mods,
            ignore_warnings: false,
        })
        .await
        .unwrap();
    let updates = a.state.lock().schema_updates.clone();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].table_name, NAME);
    assert_eq!(updates[0].families.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["cf", "cf2"]);

    // DropRowRange by prefix goes to the one tablet holding the prefix, at its epoch.
    let drop = |target| DropRowRangeRequest { name: NAME.into(), target: Some(target) };
    admin.drop_row_range(drop(Target::RowKeyPrefix(b"q".to_vec()))).await.unwrap();
    let drops = a.state.lock().drops.clone();
    assert_eq!(drops.len(), 1);
    assert_eq!((drops[0].tablet_id.as_str(), drops[0].epoch), ("0001", 1));
    assert_eq!(drops[0].target, Some(TabletTarget::RowKeyPrefix(b"q".to_vec())));
    admin.drop_row_range(drop(Target::DeleteAllDataFromTable(true))).await.unwrap();
    assert_eq!(a.state.lock().drops.len(), 3, "one per tablet");

    // A split report at the current epoch is recorded; the children stay on the splitter.
    let d = |id: &str, s: &[u8], e: &[u8], epoch| TabletDescriptor {
        table_id: table_id.clone(),
        tablet_id: id.into(),
        start_key: s.to_vec(),
        end_key: e.to_vec(),
        epoch,
        table_name: NAME.into(),
    };
    let report = |epoch| ReportSplitRequest {
        server_id: "srv-a".into(),
        parent: Some(d("0001", b"m", b"", epoch)),
        left: Some(d("0001-l1", b"m", b"t", epoch)),
        right: Some(d("0001-r1", b"t", b"", epoch)),
    };
    let mut control = m.control().await;
    assert!(!control.report_split(report(7)).await.unwrap().into_inner().accepted, "stale epoch");
    assert!(control.report_split(report(1)).await.unwrap().into_inner().accepted);
    assert!(control.report_split(report(1)).await.unwrap().into_inner().accepted, "repeated report");
    let mut bad = report(1);
    bad.right.as_mut().unwrap().start_key = b"u".to_vec();
    bad.parent.as_mut().unwrap().tablet_id = "0000".into();
    assert_eq!(control.report_split(bad).await.unwrap_err().code(), Code::InvalidArgument);
    {
        let mut st = a.state.lock();
        st.held.remove(&(table_id.clone(), "0001".into()));
        st.held.insert((table_id.clone(), "0001-l1".into()), 1);
        st.held.insert((table_id.clone(), "0001-r1".into()), 1);
    }
    a.renew(&m).await.unwrap();
    m.tick().await;
    assert_eq!(
        assignment(&m, &table_id),
        [
            ("0000".into(), 1, Assignment::Serving, "srv-a".into()),
            ("0001-l1".into(), 1, Assignment::Serving, "srv-a".into()),
            ("0001-r1".into(), 1, Assignment::Serving, "srv-a".into()),
        ]
    );
    assert_eq!(a.state.lock().loads.len(), 2, "no load for children the splitter serves");
    let loc = control
        .locate_tablets(LocateTabletsRequest {
            table_name: NAME.into(),
            start_key: b"p".to_vec(),
            end_key: b"u".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = loc.tablets.iter().map(|l| l.tablet.as_ref().unwrap().tablet_id.clone()).collect();
    assert_eq!(ids, ["0001-l1", "0001-r1"]);
    m.stop().await;
}

#[tokio::test]
async fn a_split_found_on_load_and_a_refused_load() {
    let dir = tempfile::tempdir().unwrap();
    let m = TestMaster::start(dir.path()).await;
    let table_id = create(&m, &[]).await;

    // The first server refuses loads outright: the tablet is unassigned again, and its
    // next assignment uses a higher epoch.
    let a = FakeServer::start("srv-a").await;
    a.state.lock().refuse_loads = Some(Code::FailedPrecondition);
    a.renew(&m).await.unwrap();
    m.tick().await;
    assert_eq!(assignment(&m, &table_id), [("0000".into(), 1, Assignment::Unassigned, String::new())]);

    // A server that answers "already split at epoch 1" makes the master record the split;
    // the children (whose splitter is unknown) are then assigned at epoch 2.
    a.state.lock().refuse_loads = None;
    let d = |id: &str, s: &[u8], e: &[u8]| TabletDescriptor {
        table_id: table_id.clone(),
        tablet_id: id.into(),
        start_key: s.to_vec(),
        end_key: e.to_vec(),
        epoch: 1,
        table_name: NAME.into(),
    };
    let split = ReportSplitRequest {
        server_id: "srv-gone".into(),
        parent: Some(d("0000", b"", b"")),
        left: Some(d("0000-l1", b"", b"k")),
        right: Some(d("0000-r1", b"k", b"")),
    };
    a.state.lock().split_on_disk.insert((table_id.clone(), "0000".into()), split);
    m.tick().await;
    assert_eq!(
        assignment(&m, &table_id),
        [
            ("0000-l1".into(), 1, Assignment::Unassigned, String::new()),
            ("0000-r1".into(), 1, Assignment::Unassigned, String::new())
        ]
    );
    m.tick().await;
    assert_eq!(
        assignment(&m, &table_id),
        [
            ("0000-l1".into(), 2, Assignment::Serving, "srv-a".into()),
            ("0000-r1".into(), 2, Assignment::Serving, "srv-a".into())
        ]
    );
    m.stop().await;
}
