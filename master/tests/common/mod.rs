//! Test harness: a master on a real socket (port 0) with a manual clock and no background
//! loop (tests run recovery and assignment rounds themselves), and fake tablet servers
//! that serve `TabletControl`, remember every call, and renew leases like real ones.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use master::{Config, ManualClock, Master, MasterLock, Timing};
use parking_lot::Mutex;
use tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient;
use tablet::proto::bt::internal::v1::master_control_client::MasterControlClient;
use tablet::proto::bt::internal::v1::tablet_control_server::{TabletControl, TabletControlServer};
use tablet::proto::bt::internal::v1::{
    LoadTabletRequest, LoadTabletResponse, RenewLeaseRequest, ReportSplitRequest, StatusRequest, StatusResponse,
    TabletDescriptor, TabletDropRowRangeRequest, TabletDropRowRangeResponse, TabletState, TabletStatus,
    UnloadTabletRequest, UnloadTabletResponse, UpdateSchemaRequest, UpdateSchemaResponse,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

pub const TIMING: Timing = Timing { lease_ms: 1000, margin_ms: 500 };

/// A master serving on 127.0.0.1:port-0.
pub struct TestMaster {
    pub master: Master,
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<master::Result<()>>>,
}

impl TestMaster {
    /// Starts a master on `root` (taking its lock) and runs its recovery. The balancer is
    /// off, so tablets stay where the assignment plan put them.
    pub async fn start(root: &Path) -> TestMaster {
        TestMaster::start_with(root, |c| c.balance.enabled = false).await
    }

    /// [`TestMaster::start`] with the configuration changed by `change` (no loop, a
    /// 10 s RPC deadline, balancing on with its defaults before the change).
    pub async fn start_with(root: &Path, change: impl FnOnce(&mut Config)) -> TestMaster {
        let lock = MasterLock::try_acquire(root).unwrap().expect("no other master on this root");
        let mut config = Config::with_timing(root, TIMING);
        config.tick = None;
        config.rpc_timeout = Duration::from_secs(10);
        change(&mut config);
        let clock = Arc::new(ManualClock::new(1_000_000));
        let m = Master::open(lock, config, clock.clone()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(master::serve(m.clone(), listener, async move {
            let _ = rx.await;
        }));
        m.recover().await;
        TestMaster { master: m, addr, clock, stop: Some(tx), task: Some(task) }
    }

    pub async fn admin(&self) -> BigtableTableAdminClient<Channel> {
        BigtableTableAdminClient::connect(format!("http://{}", self.addr)).await.unwrap()
    }

    pub async fn control(&self) -> MasterControlClient<Channel> {
        MasterControlClient::connect(format!("http://{}", self.addr)).await.unwrap()
    }

    /// One assignment round, waiting for the RPCs it sends.
    pub async fn tick(&self) {
        for h in self.master.tick().await {
            h.await.unwrap();
        }
    }

    /// Stops serving and closes the state (the lock goes with the last `Master` clone).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

/// What a fake tablet server was asked, and what it holds.
#[derive(Debug, Default)]
pub struct FakeState {
    /// The id it answers `Status` with (change it to play a restarted process).
    pub server_id: String,
    /// (table id, tablet id) -> epoch.
    pub held: BTreeMap<(String, String), u64>,
    pub loads: Vec<TabletDescriptor>,
    pub load_families: Vec<Vec<String>>,
    pub unloads: Vec<UnloadTabletRequest>,
    pub schema_updates: Vec<UpdateSchemaRequest>,
    pub drops: Vec<TabletDropRowRangeRequest>,
    /// Tablets already split on disk: a load answers `completed_split` with these.
    pub split_on_disk: HashMap<(String, String), ReportSplitRequest>,
    /// Refuse loads with this status code.
    pub refuse_loads: Option<tonic::Code>,
    /// Fail unloads with this status code (the tablet stays held).
    pub fail_unloads: Option<tonic::Code>,
    /// Reported sizes, by tablet (0 when absent).
    pub sizes: HashMap<(String, String), u64>,
}

#[derive(Clone)]
pub struct FakeServer {
    pub addr: String,
    pub state: Arc<Mutex<FakeState>>,
}

struct FakeService(Arc<Mutex<FakeState>>);

#[tonic::async_trait]
impl TabletControl for FakeService {
    async fn load_tablet(&self, r: Request<LoadTabletRequest>) -> Result<Response<LoadTabletResponse>, Status> {
        let r = r.into_inner();
        let d = r.tablet.clone().unwrap();
        let mut st = self.0.lock();
        if let Some(code) = st.refuse_loads {
            return Err(Status::new(code, "refused by the test"));
        }
        let key = (d.table_id.clone(), d.tablet_id.clone());
        if let Some(split) = st.split_on_disk.get(&key) {
            return Ok(Response::new(LoadTabletResponse { completed_split: Some(split.clone()) }));
        }
        st.held.insert(key, d.epoch);
        st.load_families.push(r.families.iter().map(|f| f.name.clone()).collect());
        st.loads.push(d);
        Ok(Response::new(LoadTabletResponse { completed_split: None }))
    }

    async fn unload_tablet(&self, r: Request<UnloadTabletRequest>) -> Result<Response<UnloadTabletResponse>, Status> {
        let r = r.into_inner();
        let mut st = self.0.lock();
        st.unloads.push(r.clone());
        if let Some(code) = st.fail_unloads {
            return Err(Status::new(code, "unload failed by the test"));
        }
        st.held.remove(&(r.table_id.clone(), r.tablet_id.clone()));
        Ok(Response::new(UnloadTabletResponse {}))
    }

    async fn status(&self, _r: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let st = self.0.lock();
        Ok(Response::new(StatusResponse { server_id: st.server_id.clone(), tablets: statuses(&st) }))
    }

    async fn update_schema(&self, r: Request<UpdateSchemaRequest>) -> Result<Response<UpdateSchemaResponse>, Status> {
        self.0.lock().schema_updates.push(r.into_inner());
        Ok(Response::new(UpdateSchemaResponse {}))
    }

    async fn drop_row_range(
        &self,
        r: Request<TabletDropRowRangeRequest>,
    ) -> Result<Response<TabletDropRowRangeResponse>, Status> {
        self.0.lock().drops.push(r.into_inner());
        Ok(Response::new(TabletDropRowRangeResponse {}))
    }
}

fn statuses(st: &FakeState) -> Vec<TabletStatus> {
    st.held
        .iter()
        .map(|((table, tablet), epoch)| TabletStatus {
            tablet: Some(TabletDescriptor {
                table_id: table.clone(),
                tablet_id: tablet.clone(),
                epoch: *epoch,
                ..Default::default()
            }),
            state: TabletState::Serving as i32,
            approximate_size_bytes: st.sizes.get(&(table.clone(), tablet.clone())).copied().unwrap_or(0),
        })
        .collect()
}

impl FakeServer {
    /// A fake tablet server on 127.0.0.1:port-0 (it runs until the test ends).
    pub async fn start(id: &str) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(FakeState { server_id: id.to_string(), ..Default::default() }));
        let svc = TabletControlServer::new(FakeService(state.clone()));
        tokio::spawn(
            tonic::transport::Server::builder().add_service(svc).serve_with_incoming(TcpListenerStream::new(listener)),
        );
        FakeServer { addr, state }
    }

    /// Renews its lease with the master, reporting what it holds.
    pub async fn renew(&self, m: &TestMaster) -> Result<(), Status> {
        let tablets = statuses(&self.state.lock());
        let server_id = self.state.lock().server_id.clone();
        let req = RenewLeaseRequest { server_id, address: self.addr.clone(), tablets };
        m.control().await.renew_lease(req).await.map(|_| ())
    }

    /// The epoch it holds tablet `tablet` of `table_id` at.
    pub fn epoch_of(&self, table_id: &str, tablet: &str) -> Option<u64> {
        self.state.lock().held.get(&(table_id.to_string(), tablet.to_string())).copied()
    }
}
