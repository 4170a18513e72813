//! The Rust client library against real tablet servers on port 0: every operation in
//! single-server mode, and routing across two servers with a tablet that moves between
//! them (a scripted `MasterControl.LocateTablets` plays the master's location service).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod server_support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use server_support::*;
use tablet::client::build::{filter, mutation, rmw, rows};
use tablet::client::{Client, ClientOptions};
use tablet::proto::bigtable::Row;
use tablet::proto::bt::internal::v1::master_control_server::{MasterControl, MasterControlServer};
use tablet::proto::bt::internal::v1::{
    LocateTabletsRequest, LocateTabletsResponse, RenewLeaseRequest, RenewLeaseResponse, ReportSplitRequest,
    ReportSplitResponse, TabletLocation, UnloadTabletRequest,
};
use tablet::server::ServerConfig;
use tonic::{Code, Request, Response, Status};

fn keys(rows: &[Row]) -> Vec<String> {
    rows.iter().map(|r| String::from_utf8_lossy(&r.key).into_owned()).collect()
}

fn value(row: &Row, family: &str, qualifier: &[u8]) -> Vec<u8> {
    let f = row.families.iter().find(|f| f.name == family).unwrap();
    let c = f.columns.iter().find(|c| c.qualifier == qualifier).unwrap();
    c.cells[0].value.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_against_one_server() {
    let root = tempfile::tempdir().unwrap();
    let server = Running::start(static_config(root.path())).await;
    let client = Client::single_server(&server.addr.to_string()).unwrap();
    let t = client.table(TABLE);

    t.mutate_row(b"r1", vec![mutation::set_cell("cf1", b"a", 1000, b"one")]).await.unwrap();
    let results = t
        .mutate_rows(vec![
            (b"r2".to_vec(), vec![mutation::set_cell("cf1", b"a", 1000, b"two")]),
            (b"r3".to_vec(), vec![mutation::set_cell("nope", b"a", 1000, b"bad family")]),
            (
                b"r4".to_vec(),
                vec![mutation::set_cell("cf1", b"a", 1000, b"four"), mutation::set_cell("cf2", b"x", 1000, b"x")],
            ),
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert_eq!(results[1].as_ref().unwrap_err().code(), Code::NotFound, "unknown family fails only its entry");

    let r1 = t.read_row(b"r1", None).await.unwrap().unwrap();
    assert_eq!(value(&r1, "cf1", b"a"), b"one");
    assert!(t.read_row(b"r3", None).await.unwrap().is_none());

    let all = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(keys(&all), ["r1", "r2", "r4"]);
    let limited = t.read_rows(rows::all(), None, Some(2)).collect_all().await.unwrap();
    assert_eq!(keys(&limited), ["r1", "r2"]);
    let rev = t.read_rows_reversed(rows::prefix(b"r"), None, None).collect_all().await.unwrap();
    assert_eq!(keys(&rev), ["r4", "r2", "r1"]);
    let cf2 = t.read_rows(rows::all(), Some(filter::family("cf2")), None).collect_all().await.unwrap();
    assert_eq!(keys(&cf2), ["r4"]);
    let some = t.read_rows(rows::keys([b"r2", b"r9"]), Some(filter::strip_value()), None).collect_all().await.unwrap();
    assert_eq!(keys(&some), ["r2"]);
    assert_eq!(value(&some[0], "cf1", b"a"), b"");

    // Check-and-mutate, both branches.
    let matched = t
        .check_and_mutate_row(
            b"r1",
            Some(filter::value_regex(b"one")),
            vec![mutation::set_cell("cf1", b"ok", 2000, b"yes")],
            vec![mutation::set_cell("cf1", b"ok", 2000, b"no")],
        )
        .await
        .unwrap();
    assert!(matched);
    let matched = t
        .check_and_mutate_row(b"r9", None, vec![], vec![mutation::set_cell("cf1", b"ok", 2000, b"created")])
        .await
        .unwrap();
    assert!(!matched, "an empty row does not match the absent predicate");
    assert_eq!(value(&t.read_row(b"r1", None).await.unwrap().unwrap(), "cf1", b"ok"), b"yes");
    assert_eq!(value(&t.read_row(b"r9", None).await.unwrap().unwrap(), "cf1", b"ok"), b"created");

    // Read-modify-write.
    let row = t.read_modify_write_row(b"counter", vec![rmw::increment("cf1", b"n", 41)]).await.unwrap();
    assert_eq!(value(&row, "cf1", b"n"), 41i64.to_be_bytes());
    let row = t
        .read_modify_write_row(b"counter", vec![rmw::increment("cf1", b"n", 1), rmw::append("cf1", b"s", b"x")])
        .await
        .unwrap();
    assert_eq!(value(&row, "cf1", b"n"), 42i64.to_be_bytes());
    assert_eq!(value(&row, "cf1", b"s"), b"x");

    // Delete.
    t.mutate_row(b"r2", vec![mutation::delete_row()]).await.unwrap();
    assert!(t.read_row(b"r2", None).await.unwrap().is_none());

    // Errors that are not retried come back at once.
    let e = client.table("projects/p/instances/i/tables/missing").read_row(b"a", None).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");
    server.stop().await;
}

/// A location service whose answers the test sets.
#[derive(Clone, Default)]
struct Locations {
    tablets: Arc<Mutex<Vec<TabletLocation>>>,
    asked: Arc<Mutex<usize>>,
}

#[tonic::async_trait]
impl MasterControl for Locations {
    async fn renew_lease(&self, _: Request<RenewLeaseRequest>) -> Result<Response<RenewLeaseResponse>, Status> {
        Err(Status::unimplemented("not used by clients"))
    }

    async fn report_split(&self, _: Request<ReportSplitRequest>) -> Result<Response<ReportSplitResponse>, Status> {
        Err(Status::unimplemented("not used by clients"))
    }

    async fn locate_tablets(
        &self,
        _: Request<LocateTabletsRequest>,
    ) -> Result<Response<LocateTabletsResponse>, Status> {
        *self.asked.lock() += 1;
        Ok(Response::new(LocateTabletsResponse { tablets: self.tablets.lock().clone(), families: vec![] }))
    }
}

async fn serve_locations(locations: Locations) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(MasterControlServer::new(locations))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr.to_string()
}

fn config(root: &std::path::Path) -> ServerConfig {
    let mut c = ServerConfig::new(root);
    c.cache_bytes = 8 << 20;
    c.write_buffer_bytes = 1 << 20;
    c
}

/// Moves tablet "right" (`[m, end)`, epoch `epoch - 1` on `from`) to `to` at `epoch`, and
/// tells the fake master so; clients' caches still say `from`.
async fn move_right(locations: &Locations, from: &Running, to: &Running, epoch: u64) {
    from.control()
        .await
        .unload_tablet(UnloadTabletRequest {
            table_id: descriptor("right", b"", b"", 1).table_id,
            tablet_id: "right".into(),
            epoch: epoch - 1,
        })
        .await
        .unwrap();
    to.control().await.load_tablet(load(descriptor("right", b"m", b"", epoch))).await.unwrap();
    locations.tablets.lock()[1] =
        TabletLocation { tablet: Some(descriptor("right", b"m", b"", epoch)), address: to.addr.to_string() };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_across_servers_and_follows_a_moved_tablet() {
    // One data root shared by two servers, as in a cluster.
    let root = tempfile::tempdir().unwrap();
    let a = Running::start(config(root.path())).await;
    let b = Running::start(config(root.path())).await;
    a.control().await.load_tablet(load(descriptor("left", b"", b"m", 1))).await.unwrap();
    b.control().await.load_tablet(load(descriptor("right", b"m", b"", 1))).await.unwrap();

    let locations = Locations::default();
    *locations.tablets.lock() = vec![
        TabletLocation { tablet: Some(descriptor("left", b"", b"m", 1)), address: a.addr.to_string() },
        TabletLocation { tablet: Some(descriptor("right", b"m", b"", 1)), address: b.addr.to_string() },
    ];
    let master = serve_locations(locations.clone()).await;
    let opts = ClientOptions { retry_deadline: Duration::from_secs(20), ..ClientOptions::default() };
    let client = Client::connect_master_with(&master, opts).unwrap();
    let t = client.table(TABLE);

    let entries = |rows: &[&str]| -> Vec<_> {
        rows.iter()
            .map(|k| (k.as_bytes().to_vec(), vec![mutation::set_cell("cf1", b"q", 1000, k.as_bytes())]))
            .collect()
    };
    let results = t.mutate_rows(entries(&["a", "f", "k", "m", "q", "z"])).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let asked = *locations.asked.lock();
    let results = t.mutate_rows(entries(&["b", "g", "p", "w"])).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(*locations.asked.lock(), asked, "a warm cache places every entry without the master");
    t.mutate_rows(entries(&["b", "g", "p", "w"]).into_iter().map(|(r, _)| (r, vec![mutation::delete_row()])).collect())
        .await
        .unwrap()
        .iter()
        .for_each(|r| assert!(r.is_ok(), "{r:?}"));
    let all = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(keys(&all), ["a", "f", "k", "m", "q", "z"], "one read spans both servers in key order");
    let rev = t.read_rows_reversed(rows::range_closed_open(b"g", b"r"), None, None).collect_all().await.unwrap();
    assert_eq!(keys(&rev), ["q", "m", "k"]);
    let two = t.read_rows(rows::range_closed_open(b"g", b""), None, Some(2)).collect_all().await.unwrap();
    assert_eq!(keys(&two), ["k", "m"], "the row limit holds across tablets");
    let asked = *locations.asked.lock();

    // Move "right" from b to a at epoch 2; the client's cache still says b.
    move_right(&locations, &b, &a, 2).await;

    t.mutate_row(b"y", vec![mutation::set_cell("cf1", b"q", 1000, b"after move")]).await.unwrap();
    assert!(*locations.asked.lock() > asked, "a not-serving answer made the client ask again");
    let row = t.read_row(b"y", None).await.unwrap().unwrap();
    assert_eq!(value(&row, "cf1", b"q"), b"after move");
    // Back to b at epoch 3: a batch the stale cache splits between the servers; the rows
    // of the moved tablet come back "not serving" and go again, to the right server.
    move_right(&locations, &a, &b, 3).await;
    let asked = *locations.asked.lock();
    let results = t.mutate_rows(entries(&["e", "x"])).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(*locations.asked.lock() > asked, "the moved tablet was looked up again");
    let all = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(keys(&all), ["a", "e", "f", "k", "m", "q", "x", "y", "z"], "nothing lost in the moves");

    // An unassigned tablet: retried until the deadline, then a clear error.
    locations.tablets.lock()[1].address.clear();
    client.forget_table(TABLE);
    let short = Client::connect_master_with(
        &master,
        ClientOptions { retry_deadline: Duration::from_millis(300), ..ClientOptions::default() },
    )
    .unwrap();
    let e = short.table(TABLE).read_row(b"z", None).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    assert!(e.to_string().contains("not assigned"), "{e}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_of_masters_skips_one_that_does_not_answer() {
    let root = tempfile::tempdir().unwrap();
    let a = Running::start(config(root.path())).await;
    a.control().await.load_tablet(load(descriptor("all", b"", b"", 1))).await.unwrap();
    let locations = Locations::default();
    *locations.tablets.lock() =
        vec![TabletLocation { tablet: Some(descriptor("all", b"", b"", 1)), address: a.addr.to_string() }];
    let master = serve_locations(locations.clone()).await;
    // A master that died: nothing listens on its port any more.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let opts = ClientOptions { retry_deadline: Duration::from_secs(20), ..ClientOptions::default() };
    let client = Client::connect_master_with(&format!("{dead}, {master}"), opts.clone()).unwrap();
    let t = client.table(TABLE);
    t.mutate_row(b"k", vec![mutation::set_cell("cf1", b"q", 1000, b"v")]).await.unwrap();
    assert_eq!(*locations.asked.lock(), 1, "the live master was asked once");
    client.forget_table(TABLE);
    let row = t.read_row(b"k", None).await.unwrap().unwrap();
    assert_eq!(value(&row, "cf1", b"q"), b"v");
    assert_eq!(*locations.asked.lock(), 2);
    assert!(Client::connect_master_with(" , ", opts).is_err(), "no address at all");
    a.stop().await;
}
