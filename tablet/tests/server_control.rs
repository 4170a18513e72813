//! TabletControl over a real socket: loading tablets at epochs, routing between them,
//! "not serving" outside them, unloading, Status, UpdateSchema and the SPLIT marker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod server_support;

use common::set;
use prost::Message;
use server_support::*;
use tablet::proto::bigtable::row_range::{EndKey, StartKey};
use tablet::proto::bigtable::{ReadRowsRequest, RowRange, RowSet};
use tablet::proto::bt::internal::v1::{
    FamilySchema, ReportSplitRequest, StatusRequest, TabletState, UnloadTabletRequest, UpdateSchemaRequest,
};
use tablet::server::status::{is_not_serving, NOT_SERVING_METADATA};
use tablet::server::ServerConfig;
use tonic::Code;

fn config(root: &std::path::Path) -> ServerConfig {
    let mut c = ServerConfig::new(root);
    c.cache_bytes = 8 << 20;
    c.write_buffer_bytes = 1 << 20;
    c
}

fn range(start: &[u8], end: &[u8]) -> ReadRowsRequest {
    let r = RowRange {
        start_key: Some(StartKey::StartKeyClosed(start.to_vec())),
        end_key: Some(EndKey::EndKeyOpen(end.to_vec())),
    };
    ReadRowsRequest { rows: Some(RowSet { row_keys: vec![], row_ranges: vec![r] }), ..read_all_rows() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_outside_held_tablets_are_not_serving() {
    let root = tempfile::tempdir().unwrap();
    let server = Running::start(config(root.path())).await;
    let mut ctl = server.control().await;
    let mut c = server.data().await;
    ctl.load_tablet(load(descriptor("left", b"b", b"m", 1))).await.unwrap();

    c.mutate_row(mutate(b"c", vec![set("cf1", b"q", 1000, b"in")])).await.unwrap();
    let e = c.mutate_row(mutate(b"z", vec![set("cf1", b"q", 1000, b"out")])).await.unwrap_err();
    assert!(is_not_serving(&e), "{e:?}");
    assert_eq!(e.metadata().get(NOT_SERVING_METADATA).unwrap(), "1");
    assert!(e.message().contains("\"z\""), "{}", e.message());

    // A range that starts before the tablet, or the whole table, is not fully served here.
    assert!(is_not_serving(&read(&mut c, range(b"a", b"c")).await.unwrap_err()));
    assert!(is_not_serving(&read(&mut c, read_all_rows()).await.unwrap_err()));
    assert_eq!(read_keys_of(&mut c, range(b"b", b"m")).await, vec!["c"]);

    // Per-entry "not serving" in MutateRows; the served entry is applied.
    let mut stream = c
        .mutate_rows(entries(vec![(b"y", vec![set("cf1", b"q", 0, b"")]), (b"d", vec![set("cf1", b"q", 0, b"")])]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().unwrap();
    let y = resp.entries[0].status.as_ref().unwrap();
    assert_eq!(y.code, Code::Unavailable as i32);
    assert!(y.message.starts_with("not serving"), "{}", y.message);
    assert_eq!(resp.entries[1].status.as_ref().unwrap().code, 0);

    // With the right half loaded too, a read spans both tablets in key order.
    ctl.load_tablet(load(descriptor("right", b"m", b"", 1))).await.unwrap();
    c.mutate_row(mutate(b"z", vec![set("cf1", b"q", 1000, b"out")])).await.unwrap();
    assert!(is_not_serving(&read(&mut c, read_all_rows()).await.unwrap_err()), "rows before b are not held");
    assert_eq!(read_keys_of(&mut c, range(b"c", b"zz")).await, vec!["c", "d", "z"]);
    let rev = ReadRowsRequest { reversed: true, ..range(b"c", b"zz") };
    assert_eq!(read_keys_of(&mut c, rev).await, vec!["z", "d", "c"]);
    let limited = ReadRowsRequest { rows_limit: 2, ..range(b"c", b"zz") };
    assert_eq!(read_keys_of(&mut c, limited).await, vec!["c", "d"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_unload_status_and_epoch_fencing() {
    let root = tempfile::tempdir().unwrap();
    let server = Running::start(config(root.path())).await;
    let mut ctl = server.control().await;
    let mut c = server.data().await;

    ctl.load_tablet(load(descriptor("a", b"", b"", 3))).await.unwrap();
    ctl.load_tablet(load(descriptor("a", b"", b"", 3))).await.unwrap(); // the same assignment again: no-op
    c.mutate_row(mutate(b"r", vec![set("cf1", b"q", 1000, b"at-3")])).await.unwrap();

    let status = ctl.status(StatusRequest {}).await.unwrap().into_inner();
    assert_eq!(status.server_id, server.server.server_id());
    assert_eq!(status.tablets.len(), 1);
    assert_eq!(status.tablets[0].state, TabletState::Serving as i32);
    assert_eq!(status.tablets[0].tablet.as_ref().unwrap().epoch, 3);

    // An older epoch is refused, for loads and unloads.
    let e = ctl.load_tablet(load(descriptor("a", b"", b"", 2))).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let unload = |epoch| UnloadTabletRequest { table_id: "t00000000000000aa".into(), tablet_id: "a".into(), epoch };
    assert_eq!(ctl.unload_tablet(unload(2)).await.unwrap_err().code(), Code::FailedPrecondition);

    // Overlapping another held tablet is refused.
    let e = ctl.load_tablet(load(descriptor("b", b"x", b"", 1))).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("overlaps"), "{}", e.message());

    // Unload flushes and closes; the tablet is gone, its rows not served.
    ctl.unload_tablet(unload(3)).await.unwrap();
    assert!(ctl.status(StatusRequest {}).await.unwrap().into_inner().tablets.is_empty());
    // Not static mode: the table may live elsewhere now, so the client is told to refresh.
    assert!(is_not_serving(&c.mutate_row(mutate(b"r", vec![set("cf1", b"q", 0, b"")])).await.unwrap_err()));
    assert_eq!(ctl.unload_tablet(unload(3)).await.unwrap_err().code(), Code::NotFound);

    // A load at a newer epoch starts from the old epoch's data (checkpointed).
    ctl.load_tablet(load(descriptor("a", b"", b"", 4))).await.unwrap();
    let rows = read(&mut c, read_all_rows()).await.unwrap();
    assert_eq!(cell_lines(&rows[0]), vec!["cf1:q@1000=at-3"]);
    let tablet_dir = root.path().join("tables/t00000000000000aa/a");
    assert!(tablet_dir.join("e00000000000000000004").is_dir());
    // ... and once epoch 4 exists, epoch 3 is stale even for a fresh server.
    ctl.unload_tablet(unload(4)).await.unwrap();
    let e = ctl.load_tablet(load(descriptor("a", b"", b"", 3))).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("newer epoch 4"), "{}", e.message());

    // Held at epoch 4, loaded at 5: the server moves to epoch 5.
    ctl.load_tablet(load(descriptor("a", b"", b"", 4))).await.unwrap();
    ctl.load_tablet(load(descriptor("a", b"", b"", 5))).await.unwrap();
    let status = ctl.status(StatusRequest {}).await.unwrap().into_inner();
    assert_eq!(status.tablets.len(), 1);
    assert_eq!(status.tablets[0].tablet.as_ref().unwrap().epoch, 5);
    assert_eq!(cell_lines(&read(&mut c, read_all_rows()).await.unwrap()[0]), vec!["cf1:q@1000=at-3"]);

    // Malformed descriptors.
    let mut bad = descriptor("a", b"", b"", 0);
    assert_eq!(ctl.load_tablet(load(bad.clone())).await.unwrap_err().code(), Code::InvalidArgument);
    bad.epoch = 9;
    bad.tablet_id = "../x".into();
    assert_eq!(ctl.load_tablet(load(bad)).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(
        ctl.load_tablet(load(descriptor("z", b"m", b"b", 1))).await.unwrap_err().code(),
        Code::InvalidArgument,
        "an empty range"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_marker_and_schema_updates() {
    let root = tempfile::tempdir().unwrap();
    let server = Running::start(config(root.path())).await;
    let mut ctl = server.control().await;
    let mut c = server.data().await;

    // A tablet whose SPLIT marker exists is not loaded; the split is reported instead.
    let split = ReportSplitRequest {
        server_id: "old".into(),
        parent: Some(descriptor("p", b"", b"", 2)),
        left: Some(descriptor("p-l2", b"", b"k", 2)),
        right: Some(descriptor("p-r2", b"k", b"", 2)),
    };
    let dir = root.path().join("tables/t00000000000000aa/p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("SPLIT"), split.encode_to_vec()).unwrap();
    let resp = ctl.load_tablet(load(descriptor("p", b"", b"", 3))).await.unwrap().into_inner();
    assert_eq!(resp.completed_split, Some(split));
    assert!(ctl.status(StatusRequest {}).await.unwrap().into_inner().tablets.is_empty());

    // UpdateSchema adds a family to the held tablets of the table.
    ctl.load_tablet(load(descriptor("q", b"", b"", 1))).await.unwrap();
    let e = c.mutate_row(mutate(b"r", vec![set("cf9", b"q", 0, b"")])).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let families =
        vec![FamilySchema { name: "cf1".into(), gc_rule: None }, FamilySchema { name: "cf9".into(), gc_rule: None }];
    ctl.update_schema(UpdateSchemaRequest { table_name: TABLE.into(), families }).await.unwrap();
    c.mutate_row(mutate(b"r", vec![set("cf9", b"q", 0, b"v")])).await.unwrap();
    assert_eq!(cell_lines(&read(&mut c, read_all_rows()).await.unwrap()[0]), vec!["cf9:q@0=v"]);
    let bad = UpdateSchemaRequest {
        table_name: TABLE.into(),
        families: vec![FamilySchema { name: "a:b".into(), gc_rule: None }],
    };
    assert_eq!(ctl.update_schema(bad).await.unwrap_err().code(), Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unload_waits_for_an_open_read_stream() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = config(root.path());
    cfg.limits.chunks = tablet::chunks::ChunkLimits { max_chunk_value_bytes: 16 << 10, max_message_bytes: 16 << 10 };
    let server = Running::start(cfg).await;
    let mut ctl = server.control().await;
    let mut c = server.data().await;
    ctl.load_tablet(load(descriptor("a", b"", b"", 1))).await.unwrap();
    let value = vec![5u8; 100 << 10];
    for i in 0..200 {
        c.mutate_row(mutate(format!("r{i:03}").as_bytes(), vec![set("cf1", b"q", 1000, &value)])).await.unwrap();
    }
    // 20 MB in 16 KiB messages: the producer blocks long before it is done.
    let mut stream = c.read_rows(read_all_rows()).await.unwrap().into_inner();
    let mut messages = vec![stream.message().await.unwrap().unwrap()];

    let mut unloader = ctl.clone();
    let unload = tokio::spawn(async move {
        unloader
            .unload_tablet(UnloadTabletRequest {
                table_id: "t00000000000000aa".into(),
                tablet_id: "a".into(),
                epoch: 1,
            })
            .await
    });
    eventually("the tablet to be unloading", std::time::Duration::from_secs(20), || {
        let mut ctl = ctl.clone();
        async move {
            let s = ctl.status(StatusRequest {}).await.unwrap().into_inner();
            s.tablets.first().is_some_and(|t| t.state == TabletState::Unloading as i32)
        }
    })
    .await;
    let e = c.mutate_row(mutate(b"r000", vec![set("cf1", b"q", 2000, b"late")])).await.unwrap_err();
    assert!(is_not_serving(&e), "no new request while unloading: {e:?}");
    assert!(!unload.is_finished(), "the unload waits for the stream");

    while let Some(m) = stream.message().await.unwrap() {
        messages.push(m);
    }
    let rows = merge(&messages);
    assert_eq!(rows.len(), 200, "the stream in flight was finished, not cut");
    assert!(rows.iter().all(|r| r.families[0].columns[0].cells[0].value == value));
    unload.await.unwrap().unwrap();
    assert!(ctl.status(StatusRequest {}).await.unwrap().into_inner().tablets.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_row_range_by_prefix_and_all() {
    use tablet::proto::bt::internal::v1::tablet_drop_row_range_request::Target;
    use tablet::proto::bt::internal::v1::TabletDropRowRangeRequest;

    let root = tempfile::tempdir().unwrap();
    let server = Running::start(config(root.path())).await;
    let mut ctl = server.control().await;
    let mut c = server.data().await;
    ctl.load_tablet(load(descriptor("a", b"", b"", 2))).await.unwrap();
    for key in ["user#1", "user#2", "video#1", "video#2"] {
        c.mutate_row(mutate(key.as_bytes(), vec![set("cf1", b"q", 1000, b"v")])).await.unwrap();
    }
    let drop = |epoch, target| TabletDropRowRangeRequest {
        table_id: "t00000000000000aa".into(),
        tablet_id: "a".into(),
        epoch,
        target,
    };
    ctl.drop_row_range(drop(2, Some(Target::RowKeyPrefix(b"user#".to_vec())))).await.unwrap();
    assert_eq!(read_keys_of(&mut c, read_all_rows()).await, vec!["video#1", "video#2"]);
    assert_eq!(
        ctl.drop_row_range(drop(1, Some(Target::DeleteAllDataFromTable(true)))).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    assert_eq!(ctl.drop_row_range(drop(2, None)).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(
        ctl.drop_row_range(drop(2, Some(Target::RowKeyPrefix(vec![])))).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    ctl.drop_row_range(drop(2, Some(Target::DeleteAllDataFromTable(true)))).await.unwrap();
    assert!(read_keys_of(&mut c, read_all_rows()).await.is_empty());
    let other = TabletDropRowRangeRequest { tablet_id: "zz".into(), ..drop(2, None) };
    assert_eq!(ctl.drop_row_range(other).await.unwrap_err().code(), Code::NotFound);
    server.stop().await;
}
