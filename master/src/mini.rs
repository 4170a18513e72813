//! `MiniCluster`: a real cluster inside one process, for tests and examples (HBase's
//! MiniCluster idea): one master and N tablet servers on loopback ports chosen by the
//! OS, sharing one data root, with short leases. Everything speaks gRPC over real
//! sockets exactly as separate processes would; only the process boundary is missing
//! (multi-process tests use the binaries).
//!
//! ```ignore
//! let root = tempfile::tempdir()?;
//! let cluster = MiniCluster::start(root.path(), MiniClusterOptions::default()).await?;
//! let mut admin = cluster.admin().await?;           // BigtableTableAdmin on the master
//! let client = cluster.client()?;                    // tablet::client::Client via the master
//! cluster.stop().await;
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tablet::client::{Client, ClientOptions};
use tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient;
use tablet::proto::bt::internal::v1::master_control_client::MasterControlClient;
use tablet::proto::bt::internal::v1::LocateTabletsRequest;
use tablet::server::{ServerConfig, TabletServer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::balance::BalanceConfig;
use crate::error::{Error, Result};
use crate::gc::GcConfig;
use crate::{Config, Master, MasterLock, MonotonicClock, Timing};

/// How a [`MiniCluster`] is made.
#[derive(Clone, Debug)]
pub struct MiniClusterOptions {
    /// Tablet servers started with the master.
    pub servers: usize,
    /// Lease and margin (short, so failures are noticed quickly).
    pub timing: Timing,
    /// Split threshold of every tablet server (0: never split).
    pub split_bytes: u64,
    /// Block cache of each tablet server.
    pub cache_bytes: usize,
    /// Memtable size of each tablet.
    pub write_buffer_bytes: usize,
    /// The master's balancer.
    pub balance: BalanceConfig,
    /// The master's file GC.
    pub gc: GcConfig,
}

impl Default for MiniClusterOptions {
    fn default() -> Self {
        MiniClusterOptions {
            servers: 1,
            timing: Timing { lease_ms: 1000, margin_ms: 500 },
            split_bytes: 0,
            cache_bytes: 16 << 20,
            write_buffer_bytes: 1 << 20,
            balance: BalanceConfig::default(),
            gc: GcConfig::default(),
        }
    }
}

/// A task serving until its stop signal.
struct Serving<T> {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<T>>,
}

impl<T> Serving<T> {
    async fn stop(&mut self) -> Option<T> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.ok(),
            None => None,
        }
    }

    fn abort(&mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// One tablet server of a [`MiniCluster`].
pub struct MiniServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server itself (status, lease).
    pub server: TabletServer,
    serving: Serving<std::result::Result<(), String>>,
}

/// A master and tablet servers in this process; see the module docs.
pub struct MiniCluster {
    root: PathBuf,
    options: MiniClusterOptions,
    /// The master's address (admin and control services).
    pub master_addr: SocketAddr,
    master: Master,
    master_serving: Serving<Result<()>>,
    /// The tablet servers, in start order (stopped ones stay, with `None` tasks).
    pub servers: Vec<MiniServer>,
}

impl MiniCluster {
    /// Starts a master on `root` and `options.servers` tablet servers, and waits until
    /// every server holds a lease.
    pub async fn start(root: &Path, options: MiniClusterOptions) -> Result<MiniCluster> {
        let lock = MasterLock::try_acquire(root)?
            .ok_or_else(|| Error::Unavailable(format!("another master holds {}", root.display())))?;
        let mut config = Config::with_timing(root, options.timing);
        config.balance = options.balance.clone();
        config.gc = options.gc.clone();
        let master = Master::open(lock, config, Arc::new(MonotonicClock::new()))?;
        let listener = bind().await?;
        let master_addr = listener.local_addr().map_err(|e| Error::Unavailable(format!("listener: {e}")))?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::serve(master.clone(), listener, async move {
            let _ = rx.await;
        }));
        let mut cluster = MiniCluster {
            root: root.to_path_buf(),
            options: options.clone(),
            master_addr,
            master,
            master_serving: Serving { stop: Some(tx), task: Some(task) },
            servers: Vec::new(),
        };
        for _ in 0..options.servers {
            cluster.add_server().await?;
        }
        Ok(cluster)
    }

    /// The master (its map and server table).
    pub fn master(&self) -> &Master {
        &self.master
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts one more tablet server and waits for its lease; returns its index.
    pub async fn add_server(&mut self) -> Result<usize> {
        let mut config = ServerConfig::new(&self.root);
        config.master = Some(self.master_addr.to_string());
        config.cache_bytes = self.options.cache_bytes;
        config.write_buffer_bytes = self.options.write_buffer_bytes;
        config.split_bytes = self.options.split_bytes;
        let server = TabletServer::new(config).map_err(|e| Error::Unavailable(e.to_string()))?;
        let listener = bind().await?;
        let addr = listener.local_addr().map_err(|e| Error::Unavailable(format!("listener: {e}")))?;
        let (tx, rx) = oneshot::channel::<()>();
        let s = server.clone();
        let task = tokio::spawn(async move {
            s.serve(listener, async move {
                let _ = rx.await;
            })
            .await
            .map_err(|e| e.to_string())
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !server.has_lease() {
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Unavailable(format!("tablet server {addr} got no lease within 30 s")));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.servers.push(MiniServer { addr, server, serving: Serving { stop: Some(tx), task: Some(task) } });
        Ok(self.servers.len() - 1)
    }

    /// Stops tablet server `i` gracefully (in-flight requests finish; tablets are flushed
    /// and closed). The master notices when its lease runs out.
    pub async fn stop_server(&mut self, i: usize) {
        if let Some(s) = self.servers.get_mut(i) {
            s.serving.stop().await;
        }
    }

    /// Stops tablet server `i` abruptly: its task is dropped without flushing (what a
    /// process kill looks like to the master; the tablets' WALs hold the writes).
    pub fn kill_server(&mut self, i: usize) {
        if let Some(s) = self.servers.get_mut(i) {
            s.serving.abort();
        }
    }

    /// The table-admin API on the master.
    pub async fn admin(&self) -> Result<BigtableTableAdminClient<Channel>> {
        BigtableTableAdminClient::connect(format!("http://{}", self.master_addr))
            .await
            .map_err(|e| Error::Unavailable(format!("connect to the master: {e}")))
    }

    /// A client that locates tablets through the master.
    pub fn client(&self) -> Result<Client> {
        let opts = ClientOptions { retry_deadline: Duration::from_secs(30), ..ClientOptions::default() };
        Client::connect_master_with(&self.master_addr.to_string(), opts)
            .map_err(|e| Error::Unavailable(format!("client: {e}")))
    }

    /// Waits until every tablet of `table` (full name) is assigned to a server.
    pub async fn wait_assigned(&self, table: &str) -> Result<()> {
        let mut control = MasterControlClient::connect(format!("http://{}", self.master_addr))
            .await
            .map_err(|e| Error::Unavailable(format!("connect to the master: {e}")))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let req = LocateTabletsRequest { table_name: table.to_string(), ..Default::default() };
            if let Ok(resp) = control.locate_tablets(req).await {
                let tablets = resp.into_inner().tablets;
                if !tablets.is_empty() && tablets.iter().all(|t| !t.address.is_empty()) {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Unavailable(format!("tablets of {table} not all assigned within 30 s")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every tablet server (gracefully) and then the master.
    pub async fn stop(mut self) {
        for s in &mut self.servers {
            s.serving.stop().await;
        }
        self.master_serving.stop().await;
    }
}

async fn bind() -> Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0").await.map_err(|e| Error::Unavailable(format!("bind 127.0.0.1:0: {e}")))
}
