//! The tablet server: the tablets one process holds, served over gRPC.
//!
//! - `google.bigtable.v2.Bigtable` (data): ReadRows, MutateRow, MutateRows,
//!   CheckAndMutateRow, ReadModifyWriteRow, PingAndWarm, SampleRowKeys.
//! - `bt.internal.v1.TabletControl` (the master's): LoadTablet, UnloadTablet, Status,
//!   UpdateSchema, DropRowRange.
//! - With a master, a renewal task keeps the server's lease ([`lease`], docs/cluster.md);
//!   without one (static mode) the server serves the tables it was started with and its
//!   lease never ends. A static table starts as one tablet; after splits, a restart
//!   follows the `SPLIT` markers and serves the leaves.
//! - A tablet past its split threshold is split in the background (`splitter`); with a
//!   master, the split is reported to it.
//!
//! Every tablet shares one block cache, one table cache and one background pool. Engine
//! work runs on tokio's blocking threads (`spawn_blocking`), not the executor's, except a
//! `ReadRows` of a few row keys: a point read is shorter than the hand-off (see `read`).
//! Codes, limits and the "not serving" answer are listed in docs/rpc.md.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use tablet::server::{ServerConfig, StaticTable, TabletServer};
//! let mut config = ServerConfig::new("data");
//! config.static_tables.push(StaticTable::parse("projects/p/instances/i/tables/t=cf")?);
//! let server = TabletServer::new(config)?;
//! server.open_static_tables().await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! server.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod cli;
pub mod config;
mod control;
mod data;
pub mod lease;
mod read;
mod renewal;
mod splitter;
pub mod status;
mod tablets;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::{BackgroundPool, BlockCache, TableCache, WriteBufferManager, WriteOptions};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::Status;
use tracing::{info, warn};

pub use config::{Limits, ServerConfig, StaticTable};
pub use lease::{Lease, ManualMonotonic, MonotonicClock, SystemMonotonic};

use crate::clock::SystemClock;
use crate::error::Error;
use crate::layout;
use crate::proto::bigtable::bigtable_server::BigtableServer;
use crate::proto::bigtable::Mutation;
use crate::proto::bt::internal::v1::tablet_control_server::TabletControlServer;
use crate::proto::bt::internal::v1::TabletDescriptor;
use crate::schema::Schema;
use crate::tablet::{Tablet, TabletOptions};
use tablets::{HeldTablet, LoadStart, Miss, TabletGuard, TabletMap};

/// The tablet id of a static table's single tablet.
pub const STATIC_TABLET_ID: &str = "static";
/// The epoch of a static table's single tablet.
pub const STATIC_EPOCH: u64 = 1;
/// Most tablets a static table is followed into through `SPLIT` markers at start.
const MAX_STATIC_TABLETS: usize = 100_000;
/// How long a write that met a split parent waits for the children before it answers
/// "not serving".
const SPLIT_WAIT: Duration = Duration::from_secs(10);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A tablet could not be opened.
    #[error("tablet {tablet}: {reason}")]
    Load {
        /// Table name and tablet id.
        tablet: String,
        /// What failed.
        reason: String,
    },
    /// The listening socket failed.
    #[error("I/O error on {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// State shared by the services and the renewal task.
#[derive(Debug)]
pub(crate) struct Shared {
    config: ServerConfig,
    /// Options of every tablet: the shared caches and pool are in `engine`.
    tablet_options: TabletOptions,
    tablets: TabletMap,
    lease: Lease,
    /// The id registered with the master; a new one at every registration. A plain mutex:
    /// read and replaced whole.
    server_id: Mutex<String>,
    /// Turns true when the server stops serving (the renewal and split-report tasks end).
    stop: tokio::sync::watch::Sender<bool>,
}

/// A tablet server; see the module docs. Cheap to clone (shares its state).
#[derive(Debug, Clone)]
pub struct TabletServer {
    shared: Arc<Shared>,
}

/// A server id for an address, unique per registration: the address and the wall-clock
/// time in microseconds.
fn new_server_id(address: &str) -> String {
    let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or_default();
    format!("{address}/{micros}")
}

impl TabletServer {
    /// A server with `config`, measuring its lease on the system's monotonic clock.
    pub fn new(config: ServerConfig) -> Result<Self, ServerError> {
        Self::with_clock(config, Arc::new(SystemMonotonic::new()))
    }

    /// A server measuring its lease on `clock`.
    pub fn with_clock(config: ServerConfig, clock: Arc<dyn MonotonicClock>) -> Result<Self, ServerError> {
        if config.master.is_some() && !config.static_tables.is_empty() {
            return Err(ServerError::Config(
                "static tables (--table) are served only without a master (--master)".into(),
            ));
        }
        let lease = if config.master.is_some() { Lease::from_master(clock) } else { Lease::forever() };
        let engine = engine::Options {
            block_cache: Some(BlockCache::new(config.cache_bytes)),
            table_cache: Some(Arc::new(TableCache::new(config.max_open_files))),
            background_pool: Some(BackgroundPool::new(config.background_threads.max(1))),
            write_buffer_size: config.write_buffer_bytes,
            write_buffer_manager: (config.memtable_budget_bytes > 0)
                .then(|| Arc::new(WriteBufferManager::new(config.memtable_budget_bytes))),
            ..engine::Options::default()
        };
        let tablet_options = TabletOptions {
            engine,
            clock: Arc::new(SystemClock),
            write: WriteOptions { sync: config.sync_writes },
            ..TabletOptions::default()
        };
        Ok(TabletServer {
            shared: Arc::new(Shared {
                config,
                tablet_options,
                tablets: TabletMap::default(),
                lease,
                server_id: Mutex::new(String::new()),
                stop: tokio::sync::watch::Sender::new(false),
            }),
        })
    }

    /// Opens (creating on first start) every static table under the data root: first as
    /// one tablet, id [`STATIC_TABLET_ID`], epoch [`STATIC_EPOCH`]; once it was split, the
    /// leaves its `SPLIT` markers lead to (each child recorded at its parent's epoch).
    pub async fn open_static_tables(&self) -> Result<(), ServerError> {
        for t in &self.shared.config.static_tables {
            let root = TabletDescriptor {
                table_id: t.table_id(),
                tablet_id: STATIC_TABLET_ID.into(),
                start_key: Vec::new(),
                end_key: Vec::new(),
                epoch: STATIC_EPOCH,
                table_name: t.name.clone(),
            };
            let fs = self.shared.tablet_options.engine.fs.clone();
            let data_root = self.shared.config.root.clone();
            let leaves = tokio::task::spawn_blocking(move || split_leaves(fs.as_ref(), &data_root, root))
                .await
                .unwrap_or_else(|e| Err(format!("reading split markers failed: {e}")))
                .map_err(|reason| ServerError::Load { tablet: format!("{}/{STATIC_TABLET_ID}", t.name), reason })?;
            let count = leaves.len();
            for desc in leaves {
                let tablet = format!("{}/{}", t.name, desc.tablet_id);
                self.shared
                    .load(desc, t.schema.clone())
                    .await
                    .map_err(|s| ServerError::Load { tablet, reason: s.message().to_string() })?;
            }
            info!(table = %t.name, table_id = %t.table_id(), tablets = count, "static table open");
        }
        Ok(())
    }

    /// Serves on `listener` until `shutdown` completes; then stops accepting, lets the
    /// requests in flight finish, and flushes and closes every tablet.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let local = listener.local_addr().map_err(|source| ServerError::Io { what: "listener".into(), source })?;
        let advertise = self.shared.config.advertise.clone().unwrap_or_else(|| local.to_string());
        *self.shared.server_id.lock() = new_server_id(&advertise);
        let stop_rx = self.shared.stop.subscribe();
        let renewal = self
            .shared
            .config
            .master
            .clone()
            .map(|master| tokio::spawn(renewal::run(self.shared.clone(), master, advertise, stop_rx)));

        let max = self.shared.config.limits.max_message_bytes;
        let data = BigtableServer::new(data::DataService::new(self.shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let control = TabletControlServer::new(control::ControlService::new(self.shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        info!(address = %local, server_id = %self.server_id(), "tablet server listening");
        let served = tonic::transport::Server::builder()
            .layer(tower::util::MapResponseLayer::new(status::message_limit_status))
            .add_service(data)
            .add_service(control)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown)
            .await;
        info!("stopped accepting requests; closing tablets");
        self.shared.stop.send_replace(true);
        if let Some(task) = renewal {
            let _ = task.await;
        }
        self.close().await;
        served.map_err(ServerError::from)
    }

    /// Flushes and closes every tablet (waiting for the requests in them).
    pub async fn close(&self) {
        self.shared.unload_all("shutdown").await;
    }

    /// The server id registered with the master (empty before [`TabletServer::serve`]).
    pub fn server_id(&self) -> String {
        self.shared.server_id.lock().clone()
    }

    /// What the server holds now (as `TabletControl.Status` reports it). Sizes come from
    /// the tablets' index blocks: cheap, but call it off the async executor's threads when
    /// the server holds many tablets.
    pub fn statuses(&self) -> Vec<crate::proto::bt::internal::v1::TabletStatus> {
        self.shared.tablets.statuses()
    }

    /// Number of tablets held now.
    pub fn tablet_count(&self) -> usize {
        self.statuses().len()
    }

    /// True while the server may answer data RPCs.
    pub fn has_lease(&self) -> bool {
        self.shared.lease.is_valid()
    }
}

impl Shared {
    /// `UNAVAILABLE` "not serving" unless the lease is valid.
    fn check_lease(&self) -> Result<(), Status> {
        if self.lease.is_valid() {
            Ok(())
        } else {
            Err(status::not_serving("this server holds no valid lease"))
        }
    }

    /// The answer for a request that found no tablet: an unknown table is `NOT_FOUND` in
    /// static mode (`--table` given: the server knows every table) and "not serving"
    /// otherwise (the table may live on other servers; tablets come and go by LoadTablet).
    fn miss(&self, table: &str, miss: Miss) -> Status {
        match miss {
            Miss::Table if self.lease.is_static() && !self.config.static_tables.is_empty() => {
                Status::not_found(format!("table {table} not found"))
            }
            Miss::Table => status::not_serving(format!("no tablet of table {table} is held by this server")),
            Miss::Rows(why) => status::not_serving(why),
        }
    }

    /// Opens `desc` with `schema` and serves it (LoadTablet and static tables).
    async fn load(&self, desc: TabletDescriptor, schema: Schema) -> Result<(), Status> {
        loop {
            match self.tablets.begin_load(&desc)? {
                LoadStart::AlreadyServing => return Ok(()),
                LoadStart::Open => break,
                LoadStart::Replace(old) => {
                    info!(tablet = %old.name(), new_epoch = desc.epoch, "replacing the tablet with a newer epoch");
                    let held = self.tablets.begin_unload(&old.desc.table_id, &old.desc.tablet_id, desc.epoch)?;
                    if let Err(e) = self.tablets.finish_unload(held).await {
                        warn!(tablet = %old.name(), error = %e, "closing the older epoch failed");
                    }
                }
            }
        }
        let root = self.config.root.clone();
        let opts = self.tablet_options.clone();
        let d = desc.clone();
        let opened = tokio::task::spawn_blocking(move || {
            let fs = opts.engine.fs.clone();
            let dir = layout::prepare_epoch_dir(&fs, &root, &d.table_id, &d.tablet_id, d.epoch)
                .map_err(|e| status::from_tablet_error(&e))?;
            Tablet::open(&dir.path, &d.start_key, &d.end_key, schema, opts).map_err(|e| status::from_tablet_error(&e))
        })
        .await
        .unwrap_or_else(|e| Err(Status::internal(format!("opening task failed: {e}"))));
        let threshold = self.config.split_threshold(&desc.table_name);
        match opened {
            Ok(t) => {
                self.tablets.finish_load(&desc, Some(t), threshold);
                info!(table = %desc.table_name, tablet = %desc.tablet_id, epoch = desc.epoch, "tablet loaded");
                Ok(())
            }
            Err(s) => {
                self.tablets.finish_load(&desc, None, threshold);
                warn!(table = %desc.table_name, tablet = %desc.tablet_id, epoch = desc.epoch, error = %s.message(), "load failed");
                Err(s)
            }
        }
    }

    /// Runs `op` on the serving tablet of `table` holding `row`, on the calling (blocking)
    /// thread, and gives the tablet it ran on. When a split closed that tablet's write gate
    /// under the request (`op` failed with `Error::NotServing` and wrote nothing), waits for
    /// the children to be swapped in (at most [`SPLIT_WAIT`]) and runs `op` again on the
    /// one holding the row; so a split is invisible to writers unless it stalls.
    fn on_row<T>(
        &self,
        table: &str,
        row: &[u8],
        op: impl Fn(&Tablet) -> crate::error::Result<T>,
    ) -> Result<(T, Arc<HeldTablet>), Status> {
        let deadline = Instant::now() + SPLIT_WAIT;
        loop {
            let guard = self.tablets.route_row(table, row).map_err(|m| self.miss(table, m))?;
            match op(&guard.tablet) {
                Ok(v) => return Ok((v, guard.held())),
                Err(Error::NotServing { .. }) if !guard.tablet.is_serving() && Instant::now() < deadline => {
                    let held = guard.held();
                    drop(guard);
                    self.tablets.wait_for_split(&held, deadline);
                }
                Err(e) => return Err(status::from_tablet_error(&e)),
            }
        }
    }

    /// [`Self::on_row`] of a `MutateRow` without holding the thread, as
    /// [`Self::on_rows_async`] does a bulk write's: `None` when the write must wait (for a
    /// lock, a split, the engine), to be done by `on_row` on a blocking thread instead.
    /// Run it in a task of its own: the pending write holds the row's lock.
    async fn on_row_async(
        &self,
        table: &str,
        row: &[u8],
        mutations: &[Mutation],
    ) -> Option<Result<Arc<HeldTablet>, Status>> {
        let guard = match self.tablets.route_row(table, row) {
            Ok(guard) => guard,
            Err(m) => return Some(Err(self.miss(table, m))),
        };
        let pending = guard.tablet.begin_mutate_rows(&[(row, mutations)])?;
        match pending.finish().await.pop()? {
            Ok(()) => Some(Ok(guard.held())),
            Err(Error::NotServing { .. }) if !guard.tablet.is_serving() => None,
            Err(e) => Some(Err(status::from_tablet_error(&e))),
        }
    }

    /// Applies the `(row, mutations)` entries of a bulk write, on the calling (blocking)
    /// thread: each entry goes to the serving tablet holding its row, the entries of one
    /// tablet in one engine batch ([`Tablet::mutate_rows`]). Gives per entry the tablet it
    /// was written to, or why not. Entries a split caught (write gate closed, nothing
    /// written) wait for the children and are routed again, as in [`Self::on_row`].
    fn on_rows(&self, table: &str, entries: &[(&[u8], &[Mutation])]) -> Vec<Result<Arc<HeldTablet>, Status>> {
        let deadline = Instant::now() + SPLIT_WAIT;
        let mut out: Vec<Option<Result<Arc<HeldTablet>, Status>>> = (0..entries.len()).map(|_| None).collect();
        let mut todo: Vec<usize> = (0..entries.len()).collect();
        while !todo.is_empty() {
            let groups = self.group_by_tablet(table, entries, &todo, &mut out);
            todo.clear();
            let mut split = Vec::new();
            for (guard, members) in groups {
                let part: Vec<(&[u8], &[Mutation])> = members.iter().filter_map(|&i| entries.get(i).copied()).collect();
                let mut caught = false;
                for (&i, result) in members.iter().zip(guard.tablet.mutate_rows(&part)) {
                    out[i] = match result {
                        Ok(()) => Some(Ok(guard.held())),
                        Err(Error::NotServing { .. }) if !guard.tablet.is_serving() && Instant::now() < deadline => {
                            todo.push(i);
                            caught = true;
                            None
                        }
                        Err(e) => Some(Err(status::from_tablet_error(&e))),
                    };
                }
                if caught {
                    split.push(guard.held());
                }
            }
            for held in split {
                self.tablets.wait_for_split(&held, deadline);
            }
            // Request order, so entries of one row that a split caught still apply in order.
            todo.sort_unstable();
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Status::internal("bulk write: an entry was neither written nor failed"))))
            .collect()
    }

    /// The entries `todo` of a bulk write grouped by the serving tablet that holds their
    /// rows, each group in `todo`'s order; an entry no tablet here serves gets its error in
    /// `out`.
    fn group_by_tablet(
        &self,
        table: &str,
        entries: &[(&[u8], &[Mutation])],
        todo: &[usize],
        out: &mut [Option<Result<Arc<HeldTablet>, Status>>],
    ) -> Vec<(TabletGuard, Vec<usize>)> {
        let mut groups: Vec<(TabletGuard, Vec<usize>)> = Vec::new();
        for &i in todo {
            let Some(&(row, _)) = entries.get(i) else { continue };
            if let Some((_, members)) = groups.iter_mut().find(|(g, _)| g.tablet.contains_row(row)) {
                members.push(i);
                continue;
            }
            match self.tablets.route_row(table, row) {
                Ok(guard) => groups.push((guard, vec![i])),
                Err(m) => out[i] = Some(Err(self.miss(table, m))),
            }
        }
        groups
    }

    /// [`Self::on_rows`] without holding the thread, for the async worker that received
    /// the request: each tablet's entries are queued in its engine's group commit when
    /// [`Tablet::begin_mutate_rows`] can take them (every tablet's before waiting for
    /// any), then awaited; `None` for the entries left (their tablet's row locks or write
    /// gate were taken, its engine may stall, a row repeats, or the tablet is splitting),
    /// which the caller gives to [`Self::on_rows`] on a blocking thread. Entries of one
    /// row share a tablet, so they are all applied here or all left, in request order
    /// either way. Run it in a task of its own: the pending writes hold row locks.
    async fn on_rows_async(
        &self,
        table: &str,
        entries: &[(&[u8], &[Mutation])],
    ) -> Vec<Option<Result<Arc<HeldTablet>, Status>>> {
        let mut out: Vec<Option<Result<Arc<HeldTablet>, Status>>> = (0..entries.len()).map(|_| None).collect();
        let todo: Vec<usize> = (0..entries.len()).collect();
        let groups = self.group_by_tablet(table, entries, &todo, &mut out);
        let mut pending = Vec::with_capacity(groups.len());
        for (guard, members) in &groups {
            let part: Vec<(&[u8], &[Mutation])> = members.iter().filter_map(|&i| entries.get(i).copied()).collect();
            if let Some(p) = guard.tablet.begin_mutate_rows(&part) {
                pending.push((guard, members, p));
            }
        }
        for (guard, members, p) in pending {
            for (&i, result) in members.iter().zip(p.finish().await) {
                out[i] = match result {
                    Ok(()) => Some(Ok(guard.held())),
                    // Closed by a split after all: `on_rows` waits for the children.
                    Err(Error::NotServing { .. }) if !guard.tablet.is_serving() => None,
                    Err(e) => Some(Err(status::from_tablet_error(&e))),
                };
            }
        }
        out
    }

    /// Stops, drains, flushes and closes every tablet.
    async fn unload_all(&self, why: &str) {
        for held in self.tablets.begin_unload_all() {
            let name = held.name();
            match self.tablets.finish_unload(held).await {
                Ok(()) => info!(tablet = %name, why, "tablet closed"),
                Err(e) => warn!(tablet = %name, why, error = %e, "closing the tablet failed"),
            }
        }
    }
}

/// The tablets a static table is served as: `root` itself, or, when its `SPLIT` marker
/// exists, the leaves its children's markers lead to, in key order. A marker whose children
/// do not tile their parent's range is refused.
fn split_leaves(
    fs: &dyn engine::Fs,
    data_root: &std::path::Path,
    root: TabletDescriptor,
) -> Result<Vec<TabletDescriptor>, String> {
    let mut leaves = Vec::new();
    let mut todo = vec![root];
    while let Some(desc) = todo.pop() {
        if leaves.len() + todo.len() > MAX_STATIC_TABLETS {
            return Err(format!("more than {MAX_STATIC_TABLETS} tablets behind SPLIT markers"));
        }
        let marker =
            layout::read_split_marker(fs, data_root, &desc.table_id, &desc.tablet_id).map_err(|e| e.to_string())?;
        let Some(split) = marker else {
            leaves.push(desc);
            continue;
        };
        let (Some(left), Some(right)) = (split.left, split.right) else {
            return Err(format!("the SPLIT marker of tablet {} lacks a child", desc.tablet_id));
        };
        let tiles = left.start_key == desc.start_key
            && right.end_key == desc.end_key
            && left.end_key == right.start_key
            && left.start_key < left.end_key
            && (right.end_key.is_empty() || right.start_key < right.end_key)
            && left.table_id == desc.table_id
            && right.table_id == desc.table_id;
        if !tiles {
            return Err(format!(
                "the SPLIT marker of tablet {} names children that do not tile its range",
                desc.tablet_id
            ));
        }
        let named = |d: TabletDescriptor| TabletDescriptor { table_name: desc.table_name.clone(), ..d };
        // Right first: the stack pops the left one next, so leaves come out in key order.
        todo.push(named(right));
        todo.push(named(left));
    }
    Ok(leaves)
}
