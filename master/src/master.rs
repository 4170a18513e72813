//! The master at run time: its state and lease table behind one lock, the assignment
//! loop, fail-over recovery, and the handling of load answers and split reports. The
//! gRPC services ([`crate::admin`], [`crate::control`]) are thin layers over this.
//!
//! ## Locking
//!
//! Everything mutable lives in one [`Core`] behind one `parking_lot::Mutex`. It is held
//! for decisions and for the synced batch write that records them (a few milliseconds;
//! master operations are rare), never across an `.await`: RPCs to tablet servers are sent
//! after it is released, and their answers are applied under it again, checked against
//! the state as it is then.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use tablet::proto::bt::internal::v1::{
    LoadTabletRequest, LoadTabletResponse, ReportSplitRequest, StatusRequest, UnloadTabletRequest, UpdateSchemaRequest,
};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::assign::{plan, Action, PlanInput};
use crate::balance::{self, BalanceConfig, BalanceInput, Move, MoveProgress, MoveStep, ProgressInput, UnloadState};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::gc::{self, GcConfig, GcRound, GraceTracker, HeldCopy};
use crate::leases::{Report, ServerTable, Timing};
use crate::lock::MasterLock;
use crate::rpc::{self, Clients};
use crate::state::{
    descriptor, Assignment, MasterMap, MasterState, SplitOutcome, SplitSource, TabletKey, TabletRecord,
};

/// How the master runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data root (`<root>/master/` holds the master's state and lock).
    pub root: PathBuf,
    /// Lease length and margin.
    pub timing: Timing,
    /// Period of the assignment loop; `None`: no loop (tests call [`Master::recover`] and
    /// [`Master::tick`] themselves).
    pub tick: Option<Duration>,
    /// Deadline of control RPCs to tablet servers (Status, Unload, UpdateSchema,
    /// DropRowRange), and of connecting to them.
    pub rpc_timeout: Duration,
    /// Deadline of `LoadTablet` (which replays the tablet's log).
    pub load_timeout: Duration,
    /// On shutdown, how long calls in flight may take before open connections are closed.
    pub shutdown_grace: Duration,
    /// Balancing tablets between live servers ([`crate::balance`]).
    pub balance: BalanceConfig,
    /// File garbage collection under `<root>/tables/` ([`crate::gc`]).
    pub gc: GcConfig,
}

impl Config {
    /// Defaults for data root `root`: lease 4 s, margin 2 s, a loop every second.
    pub fn new(root: impl Into<PathBuf>) -> Config {
        Config::with_timing(root, Timing::default())
    }

    /// Defaults for `root` with lease and margin `timing`; the loop runs every quarter
    /// lease (at most every second, at least every 10 ms).
    pub fn with_timing(root: impl Into<PathBuf>, timing: Timing) -> Config {
        let tick = Duration::from_millis((timing.lease_ms / 4).clamp(10, 1000));
        Config {
            root: root.into(),
            timing,
            tick: Some(tick),
            rpc_timeout: Duration::from_secs(5),
            load_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(1),
            balance: BalanceConfig::default(),
            gc: GcConfig::default(),
        }
    }
}

/// A control RPC decided under the lock, sent after it is released.
#[derive(Debug)]
pub(crate) enum Rpc {
    Load {
        key: TabletKey,
        server_id: String,
        address: String,
        schema_version: u64,
        req: LoadTabletRequest,
    },
    Unload {
        address: String,
        req: UnloadTabletRequest,
    },
    /// The unload that begins a balancing move.
    MoveUnload {
        key: TabletKey,
        address: String,
        req: UnloadTabletRequest,
    },
    UpdateSchema {
        server_id: String,
        address: String,
        req: UpdateSchemaRequest,
    },
}

/// The master's mutable state (see the module documentation for the locking rule).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) state: MasterState,
    pub(crate) servers: ServerTable,
    pub(crate) timing: Timing,
    /// Tablets with a `LoadTablet` in flight.
    in_flight: HashSet<TabletKey>,
    /// When each tablet was last confirmed held by its recorded server.
    confirmed_at: HashMap<TabletKey, u64>,
    /// `(server id, table name)` pairs owed an `UpdateSchema`.
    pub(crate) schema_pending: BTreeSet<(String, String)>,
    /// True until the fail-over `Status` round is done: no assignment before.
    recovering: bool,
    /// Balancing moves in their unload phase, as this master knows them (the durable
    /// part is each record's `moving_to`; a move found in the state has no entry).
    moves: HashMap<TabletKey, MoveProgress>,
    /// Tablets whose `LoadTablet` finishes a move (counted as moves in flight).
    moved_loading: HashSet<TabletKey>,
    /// When each tablet was last assigned, moved or made by a split (the balancer's
    /// cooldown).
    last_moved: HashMap<TabletKey, u64>,
    /// When the balancer last started moves.
    last_balance_ms: Option<u64>,
    /// Since when each piece of file garbage has been garbage.
    gc: GraceTracker,
    /// True while a GC round runs (one at a time).
    gc_running: bool,
}

fn current<'a>(
    touched: &'a mut BTreeMap<TabletKey, TabletRecord>,
    map: &MasterMap,
    key: &TabletKey,
) -> Option<&'a mut TabletRecord> {
    if !touched.contains_key(key) {
        let t = map.tablet(key)?.clone();
        touched.insert(key.clone(), t);
    }
    touched.get_mut(key)
}

impl Core {
    /// The `LoadTablet` request for tablet `key` as recorded, and the schema version it
    /// carries.
    fn load_rpc(&self, key: &TabletKey) -> Option<Rpc> {
        let map = self.state.map();
        let t = map.tablet(key)?;
        let table = map.table_by_id(&t.table_id)?;
        Some(Rpc::Load {
            key: key.clone(),
            server_id: t.server_id.clone(),
            address: t.address.clone(),
            schema_version: table.schema_version,
            req: LoadTabletRequest { tablet: Some(descriptor(t, &table.name)), families: table.families.clone() },
        })
    }

    /// Applies the plan's actions: one batch for every record they change, then the RPCs
    /// to send. Each action is checked against the state first (it may be outdated).
    fn apply(&mut self, actions: Vec<Action>, now_ms: u64) -> Result<Vec<Rpc>> {
        let mut touched: BTreeMap<TabletKey, TabletRecord> = BTreeMap::new();
        let mut loads = Vec::new();
        let mut rpcs = Vec::new();
        let mut adopted = Vec::new();
        let mut assigned = Vec::new();
        for a in actions {
            let map = self.state.map();
            match a {
                Action::DeclareDead { server_id } => {
                    warn!(server = %server_id, "no renewal for lease + margin: server declared dead");
                    self.servers.mark_dead(&server_id);
                    let held: Vec<TabletKey> = map
                        .all_tablets()
                        .filter(|t| t.holder() == Some(server_id.as_str()))
                        .map(|t| (t.table_id.clone(), t.tablet_id.clone()))
                        .collect();
                    for key in held {
                        if let Some(rec) = current(&mut touched, map, &key) {
                            rec.set_holder(None, Assignment::Unassigned);
                        }
                    }
                }
                Action::Adopt { tablet, server_id, epoch } => {
                    let Some(address) = self.servers.get(&server_id).map(|s| s.address.clone()) else { continue };
                    if let Some(rec) = current(&mut touched, map, &tablet).filter(|r| r.epoch == epoch) {
                        info!(table = %tablet.0, tablet = %tablet.1, epoch, server = %server_id, "adopted: the server already serves it");
                        rec.set_holder(Some((&server_id, &address)), Assignment::Serving);
                        adopted.push(tablet);
                    }
                }
                Action::Reload { tablet, server_id, epoch } => {
                    let ok = current(&mut touched, map, &tablet)
                        .is_some_and(|r| r.epoch == epoch && r.holder() == Some(server_id.as_str()));
                    if ok && !self.in_flight.contains(&tablet) {
                        if let Some(rec) = touched.get_mut(&tablet) {
                            rec.state = Assignment::Loading as i32;
                        }
                        loads.push(tablet);
                    }
                }
                Action::Assign { tablet, server_id, epoch } => {
                    let Some(address) = self.servers.get(&server_id).map(|s| s.address.clone()) else { continue };
                    let servers = &self.servers;
                    let timing = self.timing;
                    let Some(rec) = current(&mut touched, map, &tablet) else { continue };
                    let free = match rec.holder() {
                        None => true,
                        Some(h) => !servers.get(h).is_some_and(|s| s.is_live(now_ms, &timing)),
                    };
                    if free && rec.epoch.checked_add(1) == Some(epoch) && !self.in_flight.contains(&tablet) {
                        info!(table = %tablet.0, tablet = %tablet.1, epoch, server = %server_id, "assigning");
                        rec.epoch = epoch;
                        rec.set_holder(Some((&server_id, &address)), Assignment::Loading);
                        assigned.push(tablet.clone());
                        loads.push(tablet);
                    }
                }
                Action::Unload { server_id, tablet, epoch } => {
                    if let Some(s) = self.servers.get(&server_id) {
                        info!(table = %tablet.0, tablet = %tablet.1, epoch, server = %server_id, "unloading a stale copy");
                        let req = UnloadTabletRequest { table_id: tablet.0, tablet_id: tablet.1, epoch };
                        rpcs.push(Rpc::Unload { address: s.address.clone(), req });
                    }
                }
            }
        }
        let map = self.state.map();
        let changed: Vec<TabletRecord> = touched
            .into_values()
            .filter(|t| map.tablet(&(t.table_id.clone(), t.tablet_id.clone())) != Some(t))
            .collect();
        self.state.put_tablets(changed)?;
        for key in adopted {
            self.confirmed_at.insert(key, now_ms);
        }
        for key in assigned {
            self.last_moved.insert(key, now_ms);
        }
        for key in loads {
            if let Some(rpc) = self.load_rpc(&key) {
                self.in_flight.insert(key);
                rpcs.push(rpc);
            }
        }
        Ok(rpcs)
    }

    /// Moves in flight: records with `moving_to`, and loads that finish a move.
    fn moves_in_flight(&self) -> usize {
        self.state.map().all_tablets().filter(|t| t.moving_to().is_some()).count() + self.moved_loading.len()
    }

    /// Drops the bookkeeping of moves that ended (finished, cancelled, or ended by a
    /// server's death, a split or a table's deletion).
    fn sync_moves(&mut self) {
        let map = self.state.map();
        self.moves.retain(|k, _| map.tablet(k).is_some_and(|t| t.moving_to().is_some()));
        let in_flight = &self.in_flight;
        self.moved_loading.retain(|k| in_flight.contains(k));
        self.last_moved.retain(|k, _| map.tablet(k).is_some());
    }

    /// Applies the next steps of the moves under way ([`balance::progress`]): one batch for
    /// the records they change, then the RPCs.
    fn apply_move_steps(&mut self, steps: Vec<MoveStep>, now_ms: u64) -> Result<Vec<Rpc>> {
        let mut changed = Vec::new();
        let mut loads = Vec::new();
        let mut rpcs = Vec::new();
        for step in steps {
            let map = self.state.map();
            match step {
                MoveStep::Unload { tablet, server_id, epoch } => {
                    let ok = map.tablet(&tablet).is_some_and(|r| {
                        r.epoch == epoch && r.holder() == Some(server_id.as_str()) && r.moving_to().is_some()
                    });
                    let Some(address) = self.servers.get(&server_id).map(|s| s.address.clone()) else { continue };
                    if ok {
                        info!(table = %tablet.0, tablet = %tablet.1, epoch, server = %server_id, "move: asking the old server to unload");
                        self.moves.entry(tablet.clone()).or_insert(MoveProgress::RECOVERED).unload =
                            UnloadState::InFlight;
                        let req =
                            UnloadTabletRequest { table_id: tablet.0.clone(), tablet_id: tablet.1.clone(), epoch };
                        rpcs.push(Rpc::MoveUnload { key: tablet, address, req });
                    }
                }
                MoveStep::Finish { tablet, to, epoch } => {
                    let Some(mut rec) = map.tablet(&tablet).cloned() else { continue };
                    if rec.moving_to().is_none()
                        || rec.epoch.checked_add(1) != Some(epoch)
                        || self.in_flight.contains(&tablet)
                    {
                        continue;
                    }
                    match to.and_then(|id| self.servers.get(&id).map(|s| (id, s.address.clone()))) {
                        Some((id, address)) => {
                            info!(table = %tablet.0, tablet = %tablet.1, epoch, from = %rec.server_id, to = %id, "move: the old server let go; assigning");
                            rec.epoch = epoch;
                            rec.set_holder(Some((&id, &address)), Assignment::Loading);
                            loads.push(tablet.clone());
                        }
                        None => {
                            info!(table = %tablet.0, tablet = %tablet.1, "move: the old server let go, the new one is gone; assigning anew");
                            rec.set_holder(None, Assignment::Unassigned);
                        }
                    }
                    self.moves.remove(&tablet);
                    changed.push(rec);
                }
                MoveStep::Cancel { tablet } => {
                    let Some(mut rec) = map.tablet(&tablet).cloned() else { continue };
                    if rec.moving_to().is_some() {
                        info!(table = %tablet.0, tablet = %tablet.1, to = %rec.moving_to, "move cancelled: its target is gone");
                        rec.moving_to.clear();
                        changed.push(rec);
                    }
                    self.moves.remove(&tablet);
                }
            }
        }
        self.state.put_tablets(changed)?;
        for key in loads {
            if let Some(rpc) = self.load_rpc(&key) {
                self.in_flight.insert(key.clone());
                self.moved_loading.insert(key.clone());
                self.last_moved.insert(key, now_ms);
                rpcs.push(rpc);
            }
        }
        Ok(rpcs)
    }

    /// Starts the balancer's moves: records each intent (`moving_to`) in one batch, then
    /// sends the unloads.
    fn start_moves(&mut self, moves: Vec<Move>, now_ms: u64) -> Result<Vec<Rpc>> {
        let map = self.state.map();
        let mut changed = Vec::new();
        let mut starts = Vec::new();
        for m in moves {
            let Some(mut rec) = map.tablet(&m.tablet).cloned() else { continue };
            let ok = rec.epoch == m.epoch
                && rec.holder() == Some(m.from.as_str())
                && rec.assignment() == Assignment::Serving
                && rec.moving_to().is_none()
                && !self.in_flight.contains(&m.tablet);
            let Some(address) = self.servers.get(&m.from).map(|s| s.address.clone()) else { continue };
            if ok {
                rec.moving_to = m.to.clone();
                changed.push(rec);
                starts.push((m, address));
            }
        }
        self.state.put_tablets(changed)?;
        let mut rpcs = Vec::new();
        for (m, address) in starts {
            info!(table = %m.tablet.0, tablet = %m.tablet.1, epoch = m.epoch, from = %m.from, to = %m.to, "balancing: moving a tablet");
            self.moves
                .insert(m.tablet.clone(), MoveProgress { started_ms: Some(now_ms), unload: UnloadState::InFlight });
            self.last_balance_ms = Some(now_ms);
            let req =
                UnloadTabletRequest { table_id: m.tablet.0.clone(), tablet_id: m.tablet.1.clone(), epoch: m.epoch };
            rpcs.push(Rpc::MoveUnload { key: m.tablet, address, req });
        }
        Ok(rpcs)
    }

    /// Records a split report (see [`MasterState::record_split`]); the children go to the
    /// reporting server when it is live, else they are unassigned.
    pub(crate) fn record_split(
        &mut self,
        req: &ReportSplitRequest,
        source: SplitSource,
        now_ms: u64,
    ) -> Result<SplitOutcome> {
        let holder = self
            .servers
            .get(&req.server_id)
            .filter(|s| s.is_live(now_ms, &self.timing))
            .map(|s| (req.server_id.clone(), s.address.clone()));
        let outcome = self.state.record_split(req, source, holder.as_ref().map(|(i, a)| (i.as_str(), a.as_str())))?;
        if outcome == SplitOutcome::Recorded {
            if let Some(p) = &req.parent {
                self.confirmed_at.remove(&(p.table_id.clone(), p.tablet_id.clone()));
            }
            for d in [&req.left, &req.right].into_iter().flatten() {
                let key = (d.table_id.clone(), d.tablet_id.clone());
                // Fresh children are not moved by the balancer before the cooldown.
                self.last_moved.insert(key.clone(), now_ms);
                if holder.is_some() {
                    self.confirmed_at.insert(key, now_ms);
                }
            }
        }
        Ok(outcome)
    }

    /// Forgets the in-memory bookkeeping of tablets that were removed.
    pub(crate) fn forget(&mut self, keys: impl IntoIterator<Item = TabletKey>) {
        for k in keys {
            self.confirmed_at.remove(&k);
        }
    }
}

struct Shared {
    core: Mutex<Core>,
    clock: Arc<dyn Clock>,
    config: Config,
    clients: Clients,
    /// Wakes the assignment loop early (a new server, a new table, a load answered).
    wake: Notify,
    /// Held for as long as the master runs.
    _lock: MasterLock,
}

/// A running master: cheap to clone (all clones share one state). `Send + Sync`.
#[derive(Clone)]
pub struct Master {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master").field("root", &self.shared.config.root).finish_non_exhaustive()
    }
}

impl Master {
    /// Opens the master's state under `config.root` (which `lock` proves this process
    /// owns) and reads it. Until [`Master::recover`] has run, nothing is assigned.
    pub fn open(lock: MasterLock, config: Config, clock: Arc<dyn Clock>) -> Result<Master> {
        let state = MasterState::open(&config.root)?;
        info!(
            root = %config.root.display(),
            tables = state.map().tables().count(),
            tablets = state.map().all_tablets().count(),
            "master state loaded"
        );
        let core = Core {
            state,
            servers: ServerTable::new(),
            timing: config.timing,
            in_flight: HashSet::new(),
            confirmed_at: HashMap::new(),
            schema_pending: BTreeSet::new(),
            recovering: true,
            moves: HashMap::new(),
            moved_loading: HashSet::new(),
            last_moved: HashMap::new(),
            last_balance_ms: None,
            gc: GraceTracker::new(),
            gc_running: false,
        };
        let clients = Clients::new(config.rpc_timeout);
        let shared = Shared { core: Mutex::new(core), clock, config, clients, wake: Notify::new(), _lock: lock };
        Ok(Master { shared: Arc::new(shared) })
    }

    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        self.shared.core.lock()
    }

    pub(crate) fn clients(&self) -> &Clients {
        &self.shared.clients
    }

    pub(crate) fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Now, on the master's monotonic clock.
    pub fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    /// Wakes the assignment loop.
    pub(crate) fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// A copy of the tables and tablets.
    pub fn map(&self) -> MasterMap {
        self.core().state.map().clone()
    }

    /// A copy of the lease table.
    pub fn servers(&self) -> ServerTable {
        self.core().servers.clone()
    }

    /// Fail-over recovery, run once before the first assignment: every server the tablet
    /// map names is taken as heard from now (it may hold a lease from the previous
    /// master), and every address in the map is asked for `Status`; what the servers
    /// answer is what the first [`Master::tick`] adopts. A server that does not answer
    /// keeps its tablets until `lease + margin` passes without a renewal.
    pub async fn recover(&self) {
        let addresses: BTreeSet<String> = {
            let mut core = self.core();
            let now = self.now_ms();
            let holders: Vec<(String, String)> = core
                .state
                .map()
                .all_tablets()
                .filter_map(|t| t.holder().map(|h| (h.to_string(), t.address.clone())))
                .collect();
            for (id, address) in &holders {
                core.servers.presume(id, address, now);
            }
            holders.into_iter().map(|(_, a)| a).collect()
        };
        if !addresses.is_empty() {
            info!(servers = addresses.len(), "recovery: asking the servers in the tablet map what they hold");
        }
        let asks: Vec<_> = addresses
            .into_iter()
            .map(|address| {
                let m = self.clone();
                tokio::spawn(async move { m.ask_status(address).await })
            })
            .collect();
        for a in asks {
            let _ = a.await;
        }
        self.core().recovering = false;
        self.wake();
    }

    async fn ask_status(&self, address: String) {
        let client = match self.clients().tablet_control(&address) {
            Ok(c) => c,
            Err(e) => return warn!(%address, error = %e, "recovery: bad server address"),
        };
        let mut client = client;
        match client.status(rpc::request(StatusRequest {}, self.config().rpc_timeout)).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                info!(%address, server = %resp.server_id, tablets = resp.tablets.len(), "recovery: server answered");
                let now = self.now_ms();
                self.core().servers.record_status(&resp.server_id, &address, Report::new(now, &resp.tablets));
            }
            Err(s) => {
                info!(%address, code = ?s.code(), "recovery: server did not answer; its tablets move once its lease has surely run out")
            }
        }
    }

    /// One round of the assignment loop: plans (see [`crate::assign`]), records the
    /// decisions, and sends the RPCs they call for. Returns the tasks sending them (the
    /// loop lets them run; tests await them).
    pub async fn tick(&self) -> Vec<JoinHandle<()>> {
        let rpcs = {
            let mut core = self.core();
            if core.recovering {
                return Vec::new();
            }
            let now = self.now_ms();
            let core = &mut *core;
            let actions = plan(&PlanInput {
                map: core.state.map(),
                servers: &core.servers,
                in_flight: &core.in_flight,
                confirmed_at: &core.confirmed_at,
                now_ms: now,
                timing: core.timing,
            });
            if !actions.is_empty() {
                debug!(?actions, "assignment plan");
            }
            let mut rpcs = match core.apply(actions, now) {
                Ok(r) => r,
                Err(e) => {
                    error!(error = %e, "could not record assignment decisions");
                    Vec::new()
                }
            };
            rpcs.extend(self.balance_locked(core, now));
            let pending = std::mem::take(&mut core.schema_pending);
            for (server_id, table_name) in pending {
                let Some(s) = core.servers.get(&server_id).filter(|s| s.is_live(now, &core.timing)) else { continue };
                let Some(table) = core.state.map().table(&table_name) else { continue };
                let req = UpdateSchemaRequest { table_name, families: table.families.clone() };
                rpcs.push(Rpc::UpdateSchema { server_id, address: s.address.clone(), req });
            }
            rpcs
        };
        rpcs.into_iter()
            .map(|r| {
                let m = self.clone();
                tokio::spawn(async move { m.send(r).await })
            })
            .collect()
    }

    async fn send(&self, rpc: Rpc) {
        match rpc {
            Rpc::Load { key, server_id, address, schema_version, req } => {
                let epoch = req.tablet.as_ref().map_or(0, |d| d.epoch);
                let result = match self.clients().tablet_control(&address) {
                    Ok(mut c) => {
                        c.load_tablet(rpc::request(req, self.config().load_timeout)).await.map(|r| r.into_inner())
                    }
                    Err(e) => Err(tonic::Status::invalid_argument(e.to_string())),
                };
                self.load_done(key, &server_id, epoch, schema_version, result);
            }
            Rpc::Unload { address, req } => {
                if let Ok(mut c) = self.clients().tablet_control(&address) {
                    if let Err(s) = c.unload_tablet(rpc::request(req, self.config().rpc_timeout)).await {
                        debug!(%address, code = ?s.code(), message = s.message(), "unload failed");
                    }
                }
            }
            Rpc::MoveUnload { key, address, req } => {
                let epoch = req.epoch;
                let result = match self.clients().tablet_control(&address) {
                    Ok(mut c) => c.unload_tablet(rpc::request(req, self.config().load_timeout)).await.map(|_| ()),
                    Err(e) => Err(tonic::Status::invalid_argument(e.to_string())),
                };
                self.move_unload_done(key, epoch, result);
            }
            Rpc::UpdateSchema { server_id, address, req } => {
                let table = req.table_name.clone();
                let result = match self.clients().tablet_control(&address) {
                    Ok(mut c) => c.update_schema(rpc::request(req, self.config().rpc_timeout)).await.map(|_| ()),
                    Err(e) => Err(tonic::Status::invalid_argument(e.to_string())),
                };
                if let Err(s) = result {
                    warn!(%address, %table, code = ?s.code(), "schema update failed; will retry");
                    self.core().schema_pending.insert((server_id, table));
                }
            }
        }
    }

    /// The balancer's part of a round, under the lock: the next step of every move under
    /// way, then new moves (see [`crate::balance`]). Returns the RPCs to send.
    fn balance_locked(&self, core: &mut Core, now: u64) -> Vec<Rpc> {
        core.sync_moves();
        let steps = balance::progress(&ProgressInput {
            map: core.state.map(),
            servers: &core.servers,
            moves: &core.moves,
            now_ms: now,
            timing: core.timing,
            retry_ms: core.timing.lease_ms,
        });
        if !steps.is_empty() {
            debug!(?steps, "move steps");
        }
        let mut rpcs = match core.apply_move_steps(steps, now) {
            Ok(r) => r,
            Err(e) => {
                error!(error = %e, "could not record move steps");
                return Vec::new();
            }
        };
        let moves = balance::plan_moves(&BalanceInput {
            map: core.state.map(),
            servers: &core.servers,
            in_flight: &core.in_flight,
            moves_in_flight: core.moves_in_flight(),
            last_moved: &core.last_moved,
            last_round_ms: core.last_balance_ms,
            now_ms: now,
            timing: core.timing,
            config: &self.config().balance,
        });
        if !moves.is_empty() {
            debug!(?moves, "balancing plan");
        }
        match core.start_moves(moves, now) {
            Ok(r) => rpcs.extend(r),
            Err(e) => error!(error = %e, "could not record the start of moves"),
        }
        rpcs
    }

    /// Applies the answer to the unload that began moving tablet `key` at `epoch`.
    fn move_unload_done(&self, key: TabletKey, epoch: u64, result: std::result::Result<(), tonic::Status>) {
        let now = self.now_ms();
        let mut core = self.core();
        let current = core.state.map().tablet(&key).is_some_and(|r| r.epoch == epoch && r.moving_to().is_some());
        let Some(p) = core.moves.get_mut(&key).filter(|_| current) else { return };
        let (table, tablet) = (&key.0, &key.1);
        p.unload = match result {
            Ok(()) => UnloadState::Done,
            // It does not hold the tablet (any more): let go all the same.
            Err(s) if s.code() == tonic::Code::NotFound => UnloadState::Done,
            Err(s) => {
                warn!(%table, %tablet, epoch, code = ?s.code(), message = s.message(), "move: unload failed; will retry");
                UnloadState::Failed { at_ms: now }
            }
        };
        drop(core);
        self.wake();
    }

    /// One round of file garbage collection under `<root>/tables/` (see [`crate::gc`]):
    /// lists the tree, marks garbage against the tablet map and the servers' reports, and
    /// deletes what has stayed garbage for `config.gc.grace_ms`, logging each deletion.
    /// Does nothing while fail-over recovery runs, or while another round runs.
    pub async fn collect_garbage(&self) -> Result<GcRound> {
        {
            let mut core = self.core();
            if core.recovering || core.gc_running {
                return Ok(GcRound::default());
            }
            core.gc_running = true;
        }
        let result = self.gc_round().await;
        self.core().gc_running = false;
        result
    }

    async fn gc_round(&self) -> Result<GcRound> {
        let root = self.config().root.clone();
        let scan_root = root.clone();
        let listing = tokio::task::spawn_blocking(move || gc::disk::scan(&scan_root))
            .await
            .map_err(|e| Error::Unavailable(format!("gc scan task: {e}")))??;
        let due = {
            let mut core = self.core();
            let now = self.now_ms();
            let timing = core.timing;
            let held: HashSet<HeldCopy> = core
                .servers
                .iter()
                .filter(|(_, s)| s.is_live(now, &timing))
                .filter_map(|(_, s)| s.report.as_ref())
                .flat_map(|r| r.tablets.iter().map(|(k, h)| (k.0.clone(), k.1.clone(), h.epoch)))
                .collect();
            let garbage = gc::mark(core.state.map(), &held, &listing);
            core.gc.update(garbage, now, self.config().gc.grace_ms)
        };
        let mut round = GcRound::default();
        if !due.is_empty() {
            let sweep_root = root.clone();
            let results = tokio::task::spawn_blocking(move || {
                due.into_iter()
                    .map(|g| {
                        let r = gc::disk::remove(&sweep_root, &g);
                        (g, r)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| Error::Unavailable(format!("gc sweep task: {e}")))?;
            let mut core = self.core();
            for (g, r) in results {
                let path = g.path(&root);
                match r {
                    Ok(()) => {
                        info!(path = %path.display(), reason = g.reason(), "gc: deleted");
                        core.gc.forget(&g);
                        round.deleted.push(path);
                    }
                    Err(e) => warn!(path = %path.display(), error = %e, "gc: could not delete; will retry"),
                }
            }
        }
        round.pending = self.core().gc.pending();
        Ok(round)
    }

    /// Applies the answer to `LoadTablet(key, epoch)` sent to `server_id`.
    fn load_done(
        &self,
        key: TabletKey,
        server_id: &str,
        epoch: u64,
        schema_version: u64,
        result: std::result::Result<LoadTabletResponse, tonic::Status>,
    ) {
        let now = self.now_ms();
        let mut core = self.core();
        core.in_flight.remove(&key);
        core.moved_loading.remove(&key);
        let (table, tablet) = (&key.0, &key.1);
        let still_ours = |core: &Core| {
            core.state.map().tablet(&key).filter(|r| r.epoch == epoch && r.holder() == Some(server_id)).cloned()
        };
        match result {
            Ok(LoadTabletResponse { completed_split: Some(split) }) => {
                match core.record_split(&split, SplitSource::FoundOnLoad, now) {
                    Ok(outcome) => {
                        info!(%table, %tablet, ?outcome, "the tablet had already been split: split recorded")
                    }
                    Err(e) => {
                        error!(%table, %tablet, error = %e, "the tablet had already been split, but its split record is bad")
                    }
                }
            }
            Ok(_) => {
                if let Some(mut rec) = still_ours(&core) {
                    info!(%table, %tablet, epoch, server = %server_id, "tablet loaded");
                    if rec.assignment() != Assignment::Serving {
                        rec.state = Assignment::Serving as i32;
                        if let Err(e) = core.state.put_tablets(vec![rec]) {
                            error!(error = %e, "could not record a loaded tablet");
                        }
                    }
                    core.confirmed_at.insert(key.clone(), now);
                    if let Some(t) = core.state.map().table_by_id(table) {
                        if t.schema_version != schema_version {
                            let name = t.name.clone();
                            core.schema_pending.insert((server_id.to_string(), name));
                        }
                    }
                }
            }
            Err(s) if rpc::is_transient(s.code()) => {
                warn!(%table, %tablet, epoch, server = %server_id, code = ?s.code(), message = s.message(), "load failed; will retry");
                // No wake-up: the next regular round retries, so a server that fails fast
                // is not hammered.
                return;
            }
            Err(s) => {
                warn!(%table, %tablet, epoch, server = %server_id, code = ?s.code(), message = s.message(), "load refused; the tablet goes elsewhere");
                if let Some(mut rec) = still_ours(&core) {
                    rec.set_holder(None, Assignment::Unassigned);
                    if let Err(e) = core.state.put_tablets(vec![rec]) {
                        error!(error = %e, "could not record a refused load");
                    }
                }
            }
        }
        drop(core);
        self.wake();
    }

    /// Runs recovery, then the assignment loop every `config.tick` (and whenever woken)
    /// until `shutdown` turns true.
    pub async fn run_loop(self, mut shutdown: watch::Receiver<bool>) {
        let Some(period) = self.config().tick else { return };
        tokio::select! {
            _ = self.recover() => {}
            _ = shutdown.changed() => return,
        }
        let mut last_gc: Option<u64> = None;
        loop {
            drop(self.tick().await);
            if let Some(every) = self.config().gc.interval {
                let now = self.now_ms();
                let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
                if last_gc.is_none_or(|l| now >= l.saturating_add(every)) {
                    last_gc = Some(now);
                    let m = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = m.collect_garbage().await {
                            warn!(error = %e, "gc round failed");
                        }
                    });
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = self.shared.wake.notified() => {
                    // Let a burst of events settle into one round.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }

    /// Closes the state database (after the servers stopped).
    pub fn close(&self) -> Result<()> {
        self.core().state.close()
    }
}
