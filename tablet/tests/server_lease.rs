//! The lease client against a fake master on port 0: no service before the first grant,
//! service while renewals are granted, and on a lease that runs out (the master stops
//! answering) or a refused renewal: nothing served, every tablet closed, a new
//! registration under a new server id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod server_support;

use std::sync::Arc;
use std::time::Duration;

use common::set;
use parking_lot::Mutex;
use server_support::*;
use tablet::proto::bigtable::PingAndWarmRequest;
use tablet::proto::bt::internal::v1::master_control_server::{MasterControl, MasterControlServer};
use tablet::proto::bt::internal::v1::{
    LocateTabletsRequest, LocateTabletsResponse, RenewLeaseRequest, RenewLeaseResponse, ReportSplitRequest,
    ReportSplitResponse, StatusRequest,
};
use tablet::server::status::is_not_serving;
use tablet::server::ServerConfig;
use tonic::{Code, Request, Response, Status};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Answer UNAVAILABLE (a master that is starting).
    Unavailable,
    /// Grant a lease of this length.
    Grant(Duration),
    /// Never answer.
    Hang,
    /// Declare the server dead.
    Refuse,
}

#[derive(Debug, Default)]
struct Seen {
    /// (server id, tablets held) of every renewal received.
    renewals: Vec<(String, usize)>,
}

#[derive(Debug, Clone)]
struct FakeMaster {
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Seen>>,
}

#[tonic::async_trait]
impl MasterControl for FakeMaster {
    async fn renew_lease(&self, request: Request<RenewLeaseRequest>) -> Result<Response<RenewLeaseResponse>, Status> {
        let req = request.into_inner();
        self.seen.lock().renewals.push((req.server_id.clone(), req.tablets.len()));
        let mode = *self.mode.lock();
        match mode {
            Mode::Unavailable => Err(Status::unavailable("starting")),
            Mode::Grant(d) => Ok(Response::new(RenewLeaseResponse {
                lease: Some(prost_types::Duration { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }),
            })),
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Err(Status::deadline_exceeded("hung"))
            }
            Mode::Refuse => Err(Status::failed_precondition("server declared dead")),
        }
    }

    async fn report_split(&self, _: Request<ReportSplitRequest>) -> Result<Response<ReportSplitResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn locate_tablets(
        &self,
        _: Request<LocateTabletsRequest>,
    ) -> Result<Response<LocateTabletsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

async fn start_master(master: FakeMaster) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(MasterControlServer::new(master))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr.to_string()
}

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_only_under_a_lease_and_drops_tablets_when_it_is_lost() {
    let master = FakeMaster { mode: Arc::new(Mutex::new(Mode::Unavailable)), seen: Arc::default() };
    let master_addr = start_master(master.clone()).await;
    let root = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(root.path());
    config.cache_bytes = 8 << 20;
    config.master = Some(master_addr);
    config.renew_timeout = Duration::from_millis(200);
    let server = Running::start(config).await;
    let mut c = server.data().await;
    let mut ctl = server.control().await;
    let ping = || PingAndWarmRequest { name: "projects/p/instances/i".into(), app_profile_id: String::new() };

    // No lease yet: nothing is served, nothing loaded.
    eventually("a first registration attempt", WAIT, || async { !master.seen.lock().renewals.is_empty() }).await;
    assert!(is_not_serving(&c.ping_and_warm(ping()).await.unwrap_err()));
    assert_eq!(ctl.load_tablet(load(descriptor("a", b"", b"", 1))).await.unwrap_err().code(), Code::Unavailable);

    // Granted: served; renewals report the tablets held.
    *master.mode.lock() = Mode::Grant(Duration::from_millis(800));
    eventually("a granted lease", WAIT, || async { server.server.has_lease() }).await;
    let first_id = server.server.server_id();
    ctl.load_tablet(load(descriptor("a", b"", b"", 1))).await.unwrap();
    c.mutate_row(mutate(b"r", vec![set("cf1", b"q", 1000, b"v")])).await.unwrap();
    assert_eq!(read_keys_of(&mut c, read_all_rows()).await, vec!["r"]);
    eventually("a renewal reporting the tablet", WAIT, || async {
        master.seen.lock().renewals.iter().any(|(id, n)| *id == first_id && *n == 1)
    })
    .await;

    // The master stops answering: the lease runs out by the server's own clock.
    *master.mode.lock() = Mode::Hang;
    eventually("the lease to run out", WAIT, || async { !server.server.has_lease() }).await;
    let e = c.mutate_row(mutate(b"r2", vec![set("cf1", b"q", 1000, b"v")])).await.unwrap_err();
    assert!(is_not_serving(&e), "{e:?}");
    assert!(is_not_serving(&read(&mut c, read_all_rows()).await.unwrap_err()));
    eventually("every tablet closed", WAIT, || {
        let mut ctl = ctl.clone();
        async move { ctl.status(StatusRequest {}).await.unwrap().into_inner().tablets.is_empty() }
    })
    .await;

    // The master answers again: a new registration, under a new id, as an empty server.
    *master.mode.lock() = Mode::Grant(Duration::from_millis(800));
    eventually("a new lease", WAIT, || async { server.server.has_lease() }).await;
    let second_id = server.server.server_id();
    assert_ne!(second_id, first_id);
    c.ping_and_warm(ping()).await.unwrap();
    ctl.load_tablet(load(descriptor("a", b"", b"", 2))).await.unwrap();
    assert_eq!(read_keys_of(&mut c, read_all_rows()).await, vec!["r"], "the acknowledged write survived");

    // Declared dead: the server drops its tablets at once and registers again.
    *master.mode.lock() = Mode::Refuse;
    eventually("the refusal to be acted on", WAIT, || async { server.server.server_id() != second_id }).await;
    assert!(is_not_serving(&c.ping_and_warm(ping()).await.unwrap_err()));
    assert!(ctl.status(StatusRequest {}).await.unwrap().into_inner().tablets.is_empty());
    server.stop().await;
}
