//! Automatic splits in the tablet server, over real sockets: splits under concurrent
//! writers lose no acknowledged write and leave children that tile the table; SampleRowKeys
//! spans them; a static table keeps every row across splits and restarts; under a master,
//! the split is reported (retried until the master answers) and a reload of the parent
//! answers with the recorded split.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod server_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::set;
use parking_lot::Mutex;
use server_support::*;
use tablet::proto::bigtable::bigtable_client::BigtableClient;
use tablet::proto::bigtable::{ReadRowsRequest, SampleRowKeysRequest};
use tablet::proto::bt::internal::v1::master_control_server::{MasterControl, MasterControlServer};
use tablet::proto::bt::internal::v1::tablet_control_client::TabletControlClient;
use tablet::proto::bt::internal::v1::{
    LocateTabletsRequest, LocateTabletsResponse, RenewLeaseRequest, RenewLeaseResponse, ReportSplitRequest,
    ReportSplitResponse, StatusRequest, TabletState, TabletStatus,
};
use tablet::server::status::is_not_serving;
use tablet::server::ServerConfig;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

const WAIT: Duration = Duration::from_secs(60);
const SPLIT_BYTES: u64 = 32 << 10;

fn split_config(root: &std::path::Path) -> ServerConfig {
    let mut c = static_config(root);
    c.split_bytes = SPLIT_BYTES;
    c
}

/// 200 bytes that LZ4 cannot shrink (splits go by bytes on disk), derived from the row.
fn value(row: &str) -> Vec<u8> {
    let mut x = row.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (0..200)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Writes `row` as a client would: retried while the server answers "not serving".
async fn write(c: &mut BigtableClient<Channel>, row: &str) {
    loop {
        match c.mutate_row(mutate(row.as_bytes(), vec![set("cf1", b"q", 1000, &value(row))])).await {
            Ok(_) => return,
            Err(e) if is_not_serving(&e) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => panic!("writing {row}: {e:?}"),
        }
    }
}

/// Writes `rows` in one MutateRows as a client would: entries answered "not serving" are
/// sent again.
async fn write_bulk(c: &mut BigtableClient<Channel>, rows: &[String]) {
    let mut todo: Vec<&String> = rows.iter().collect();
    while !todo.is_empty() {
        let req = entries(todo.iter().map(|r| (r.as_bytes(), vec![set("cf1", b"q", 1000, &value(r))])).collect());
        let mut stream = match c.mutate_rows(req).await {
            Ok(r) => r.into_inner(),
            Err(e) if is_not_serving(&e) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => panic!("writing {todo:?}: {e:?}"),
        };
        let mut again = Vec::new();
        while let Some(m) = stream.message().await.unwrap() {
            for e in m.entries {
                let status = e.status.unwrap();
                let row = todo[usize::try_from(e.index).unwrap()];
                if status.code != 0 {
                    let s = Status::new(status.code.into(), status.message.clone());
                    assert!(is_not_serving(&s), "writing {row}: {status:?}");
                    again.push(row);
                }
            }
        }
        todo = again;
    }
}

/// The serving tablets of TABLE, in key order.
async fn tablets(ctl: &mut TabletControlClient<Channel>) -> Vec<TabletStatus> {
    let status = ctl.status(StatusRequest {}).await.unwrap().into_inner();
    status.tablets.into_iter().filter(|t| t.tablet.as_ref().unwrap().table_name == TABLE).collect()
}

/// Waits until TABLE is held as at least `n` tablets, all serving, none splitting; then
/// checks that they tile the table and returns them.
async fn split_into(ctl: &mut TabletControlClient<Channel>, n: usize) -> Vec<TabletStatus> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let t = tablets(ctl).await;
        if t.len() >= n && t.iter().all(|t| t.state == TabletState::Serving as i32) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting for {n} serving tablets: {t:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = tablets(ctl).await;
    let ranges: Vec<(Vec<u8>, Vec<u8>)> =
        t.iter().map(|t| t.tablet.as_ref().map(|d| (d.start_key.clone(), d.end_key.clone())).unwrap()).collect();
    assert_eq!(ranges.first().unwrap().0, b"", "{ranges:?}");
    assert_eq!(ranges.last().unwrap().1, b"", "{ranges:?}");
    assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0 && !w[0].1.is_empty()), "no gap, no overlap: {ranges:?}");
    t
}

/// Every row of the table with its cf1:q value.
async fn all_rows(c: &mut BigtableClient<Channel>, reversed: bool) -> Vec<(String, Vec<u8>)> {
    let req = ReadRowsRequest { reversed, ..read_all_rows() };
    read(c, req)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (String::from_utf8(r.key).unwrap(), r.families[0].columns[0].cells[0].value.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_under_concurrent_writers_lose_no_acknowledged_write() {
    let root = tempfile::tempdir().unwrap();
    let server = Running::start(split_config(root.path())).await;
    let mut ctl = server.control().await;

    // Four writers over interleaved keys, about 300 KB in all: many splits while they run.
    // Two write row by row, two 8 rows per MutateRows (rows far apart: each request spans
    // tablets once the table has split).
    let mut writers = Vec::new();
    for w in 0..4 {
        let mut c = server.data().await;
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let rows: Vec<String> = (0..240).map(|i| format!("row{:05}-{w}", (i * 7919) % 1000)).collect();
            if w < 2 {
                for row in rows {
                    write(&mut c, &row).await;
                    acked.push(row);
                }
            } else {
                for chunk in rows.chunks(8) {
                    write_bulk(&mut c, chunk).await;
                    acked.extend_from_slice(chunk);
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    acked.sort();
    acked.dedup();

    let t = split_into(&mut ctl, 3).await;
    assert!(t.iter().all(|t| t.tablet.as_ref().unwrap().tablet_id != "static"), "the parent is gone");
    assert!(t.iter().all(|t| t.approximate_size_bytes > 0), "{t:?}");

    let mut c = server.data().await;
    let rows = all_rows(&mut c, false).await;
    let keys: Vec<String> = rows.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, acked, "every acknowledged row, once, in order, across the children");
    assert!(rows.iter().all(|(k, v)| *v == value(k)));
    let mut reversed = all_rows(&mut c, true).await;
    reversed.reverse();
    assert_eq!(reversed, rows);

    // SampleRowKeys spans the tablets: increasing keys, every tablet boundary among them,
    // non-decreasing offsets, the end of the table last.
    let mut stream = c
        .sample_row_keys(SampleRowKeysRequest { table_name: TABLE.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut samples = Vec::new();
    while let Some(s) = stream.message().await.unwrap() {
        samples.push((s.row_key, s.offset_bytes));
    }
    let (last_key, total) = samples.last().cloned().unwrap();
    assert!(last_key.is_empty(), "{samples:?}");
    let inner: Vec<&Vec<u8>> = samples[..samples.len() - 1].iter().map(|(k, _)| k).collect();
    assert!(inner.iter().all(|k| !k.is_empty()) && inner.windows(2).all(|w| w[0] < w[1]), "{samples:?}");
    assert!(samples.windows(2).all(|w| w[0].1 <= w[1].1), "{samples:?}");
    for b in t.iter().skip(1).map(|t| &t.tablet.as_ref().unwrap().start_key) {
        assert!(inner.contains(&b), "boundary {b:?} among the samples");
    }
    let sizes: u64 = t.iter().map(|t| t.approximate_size_bytes).sum();
    assert!(total > 0 && u64::try_from(total).unwrap() >= sizes / 2, "total {total}, sizes {sizes}");
    // The Rust client, taking the server as one location, gives the same keys (the sizes
    // may have moved meanwhile: the children compact their siblings' rows away).
    let client = tablet::client::Client::single_server(&server.addr.to_string()).unwrap();
    let via_client = client.table(TABLE).sample_row_keys().await.unwrap();
    let keys = |v: &[(Vec<u8>, i64)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&via_client), keys(&samples));
    assert!(via_client.windows(2).all(|w| w[0].1 <= w[1].1), "{via_client:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_table_keeps_its_rows_across_splits_and_restarts() {
    let root = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    let mut ids_before = Vec::new();
    for round in 0..2usize {
        let server = Running::start(split_config(root.path())).await;
        let mut ctl = server.control().await;
        let mut c = server.data().await;
        if round == 1 {
            // The restart followed the SPLIT markers to the same leaves.
            let t = split_into(&mut ctl, 3).await;
            let ids: Vec<String> = t.iter().map(|t| t.tablet.as_ref().unwrap().tablet_id.clone()).collect();
            assert_refines(&ids_before, &ids);
            let keys: Vec<String> = all_rows(&mut c, false).await.into_iter().map(|(k, _)| k).collect();
            assert_eq!(keys, written, "every row survived the restart");
        }
        for i in 0..400 {
            let row = format!("r{round}-{:04}", (i * 389) % 400);
            write(&mut c, &row).await;
            written.push(row);
        }
        written.sort();
        let t = split_into(&mut ctl, 3 + round).await;
        ids_before = t.iter().map(|t| t.tablet.as_ref().unwrap().tablet_id.clone()).collect();
        server.stop().await;
    }
    let server = Running::start(split_config(root.path())).await;
    let mut c = server.data().await;
    let rows = all_rows(&mut c, false).await;
    assert_eq!(rows.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), written);
    assert!(rows.iter().all(|(k, v)| *v == value(k)));
    let mut ctl = server.control().await;
    let ids: Vec<String> =
        tablets(&mut ctl).await.iter().map(|t| t.tablet.as_ref().unwrap().tablet_id.clone()).collect();
    assert_refines(&ids_before, &ids);
    server.stop().await;
}

/// Each tablet of `after` is one of `before` or a descendant of one (a split that was
/// still under way at shutdown completes on disk, and the restart follows its marker).
fn assert_refines(before: &[String], after: &[String]) {
    assert!(after.len() >= before.len(), "{before:?} -> {after:?}");
    for id in after {
        let from = before.iter().any(|b| id == b || id.starts_with(&format!("{b}-")));
        assert!(from, "{id} descends from none of {before:?}");
    }
}

/// A master that grants every renewal and records split reports, answering the first one
/// `UNAVAILABLE` (a master failing over) so the server has to retry.
#[derive(Debug, Clone, Default)]
struct RecordingMaster {
    reports: Arc<Mutex<Vec<ReportSplitRequest>>>,
    calls: Arc<Mutex<usize>>,
}

#[tonic::async_trait]
impl MasterControl for RecordingMaster {
    async fn renew_lease(&self, _: Request<RenewLeaseRequest>) -> Result<Response<RenewLeaseResponse>, Status> {
        Ok(Response::new(RenewLeaseResponse { lease: Some(prost_types::Duration { seconds: 30, nanos: 0 }) }))
    }

    async fn report_split(
        &self,
        request: Request<ReportSplitRequest>,
    ) -> Result<Response<ReportSplitResponse>, Status> {
        let mut calls = self.calls.lock();
        *calls += 1;
        if *calls == 1 {
            return Err(Status::unavailable("failing over"));
        }
        self.reports.lock().push(request.into_inner());
        Ok(Response::new(ReportSplitResponse { accepted: true }))
    }

    async fn locate_tablets(
        &self,
        _: Request<LocateTabletsRequest>,
    ) -> Result<Response<LocateTabletsResponse>, Status> {
        Err(Status::unimplemented("not needed here"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_is_reported_to_the_master() {
    let master = RecordingMaster::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let master_addr = listener.local_addr().unwrap().to_string();
    let service = MasterControlServer::new(master.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let root = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(root.path());
    config.cache_bytes = 8 << 20;
    config.write_buffer_bytes = 1 << 20;
    config.split_bytes = SPLIT_BYTES;
    config.master = Some(master_addr);
    let server = Running::start(config).await;
    eventually("a lease", WAIT, || async { server.server.has_lease() }).await;
    let mut ctl = server.control().await;
    let mut c = server.data().await;
    ctl.load_tablet(load(descriptor("a", b"", b"", 3))).await.unwrap();
    let mut written = Vec::new();
    for i in 0..200 {
        let row = format!("k{:04}", (i * 37) % 200);
        write(&mut c, &row).await;
        written.push(row);
    }
    written.sort();

    eventually("the split of tablet a reported", WAIT, || async {
        master.reports.lock().iter().any(|r| r.parent.as_ref().unwrap().tablet_id == "a")
    })
    .await;
    assert!(*master.calls.lock() >= 2, "the first, refused report was retried");
    let report = master.reports.lock().iter().find(|r| r.parent.as_ref().unwrap().tablet_id == "a").cloned().unwrap();
    assert_eq!(report.server_id, server.server.server_id());
    assert_eq!(report.parent, Some(descriptor("a", b"", b"", 3)));
    let (left, right) = (report.left.clone().unwrap(), report.right.clone().unwrap());
    assert_eq!((left.tablet_id.as_str(), right.tablet_id.as_str()), ("a-l3", "a-r3"));
    assert_eq!((left.epoch, right.epoch), (3, 3), "children keep the parent's epoch");
    assert_eq!((left.start_key.as_slice(), right.end_key.as_slice()), (&b""[..], &b""[..]));
    assert!(!left.end_key.is_empty() && left.end_key == right.start_key);

    // Every row is still there, across however many tablets it is in by now.
    let keys: Vec<String> = all_rows(&mut c, false).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, written);
    // The master, not knowing yet, assigns the parent anew: the marker answers instead.
    let resp = ctl.load_tablet(load(descriptor("a", b"", b"", 4))).await.unwrap().into_inner();
    assert_eq!(resp.completed_split, Some(report.clone()));
    // Each report names tablets that tile their parent; the held ones tile the table.
    let held = split_into(&mut ctl, 2).await;
    let reports = master.reports.lock().clone();
    let mut by_parent = BTreeMap::new();
    for r in &reports {
        by_parent.insert(r.parent.as_ref().unwrap().tablet_id.clone(), r.clone());
    }
    for t in &held {
        let id = &t.tablet.as_ref().unwrap().tablet_id;
        assert!(!by_parent.contains_key(id), "held tablet {id} was reported split");
    }
    server.stop().await;
}
