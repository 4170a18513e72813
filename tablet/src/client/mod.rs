//! The Rust client: Bigtable's data operations, routed straight to the tablet servers.
//!
//! A [`Client`] finds tablets either through the master (`MasterControl.LocateTablets`,
//! [`Client::connect_master`]) or, for a single tablet server that holds whole tables,
//! statically ([`Client::single_server`]). Locations are cached per table; an answer of
//! "not serving" (docs/cluster.md) drops the cached entry, the client asks again and
//! retries with exponential back-off until [`ClientOptions::retry_deadline`].
//!
//! Retries never repeat a write that may have been applied, except where repeating it is
//! harmless: `mutate_row(s)` are retried on any `UNAVAILABLE` or broken connection (a `SetCell` with an explicit
//! timestamp rewrites the same cell; one with server time `-1` may gain a second version,
//! as with Cloud Bigtable's own clients); `check_and_mutate_row` and
//! `read_modify_write_row` only when the server said it did not serve the row. Reads that
//! fail mid-stream resume after the last row received.
//!
//! ```ignore
//! use tablet::client::{build::{filter, mutation, rows}, Client};
//!
//! let client = Client::single_server("127.0.0.1:8086")?;
//! let table = client.table("projects/p/instances/i/tables/t");
//! table.mutate_row(b"row-1", vec![mutation::set_cell("cf", b"col", -1, b"hello")]).await?;
//! let mut reader = table.read_rows(rows::prefix(b"row-"), Some(filter::latest(1)), None);
//! while let Some(row) = reader.next_row().await? {
//!     println!("{:?}", row.key);
//! }
//! ```

pub mod build;
pub mod raw;
pub mod routing;

pub use raw::ResponseReader;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::proto::bigtable::bigtable_client::BigtableClient;
use crate::proto::bigtable::{
    mutate_rows_request, CheckAndMutateRowRequest, MutateRowRequest, MutateRowsRequest, Mutation,
    ReadModifyWriteRowRequest, ReadModifyWriteRule, Row, RowFilter, RowSet, SampleRowKeysRequest,
};
use crate::proto::bt::internal::v1::master_control_client::MasterControlClient;
use crate::proto::bt::internal::v1::LocateTabletsRequest;
use crate::reassemble::ChunkMerger;
use crate::server::status::{not_serving, NOT_SERVING_METADATA, NOT_SERVING_PREFIX};
use routing::{Location, TableLocations};

/// What a client call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server (or master) answered with an error status.
    #[error("{}: {}", .0.code(), .0.message())]
    Status(#[from] Status),
    /// An address could not be used.
    #[error("bad address {address:?}: {reason}")]
    Address {
        /// The address given.
        address: String,
        /// Why it is unusable.
        reason: String,
    },
    /// A ReadRows stream broke the chunking rules.
    #[error("malformed ReadRows response from {address}: {reason}")]
    Chunks {
        /// The server that sent it.
        address: String,
        /// The rule broken.
        reason: String,
    },
    /// Retries did not succeed before the deadline; carries the last error.
    #[error("gave up after retrying for {waited:?}: {last}")]
    RetriesExhausted {
        /// How long the client kept trying.
        waited: Duration,
        /// The last error seen.
        last: Box<ClientError>,
    },
}

impl ClientError {
    /// The gRPC status code this error corresponds to.
    pub fn code(&self) -> Code {
        match self {
            ClientError::Status(s) => s.code(),
            ClientError::Address { .. } => Code::InvalidArgument,
            ClientError::Chunks { .. } => Code::Internal,
            ClientError::RetriesExhausted { last, .. } => last.code(),
        }
    }
}

/// The result type of client calls.
pub type ClientResult<T> = std::result::Result<T, ClientError>;

/// True for a "not serving" answer: the request was not applied; refresh and retry.
/// Recognised by the metadata key or, where there is no metadata (a `MutateRows` entry),
/// by the message prefix.
pub fn is_not_serving(s: &Status) -> bool {
    s.code() == Code::Unavailable
        && (s.metadata().get(NOT_SERVING_METADATA).is_some() || s.message().starts_with(NOT_SERVING_PREFIX))
}

/// True for a status worth retrying when repeating the request is harmless:
/// `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `ABORTED`, and the `UNKNOWN` "transport error" that
/// tonic reports when the connection breaks during the call (a server killed mid-request:
/// the request may or may not have been applied, as with `UNAVAILABLE`).
pub fn is_transient(s: &Status) -> bool {
    matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded | Code::Aborted) || is_broken_connection(s)
}

/// True when the call failed because its connection failed (tonic's transport error).
fn is_broken_connection(s: &Status) -> bool {
    s.code() == Code::Unknown
        && std::error::Error::source(s).is_some_and(|e| e.downcast_ref::<tonic::transport::Error>().is_some())
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// How long a call keeps retrying transient failures before giving up.
    pub retry_deadline: Duration,
    /// First back-off delay (doubles up to one second).
    pub initial_backoff: Duration,
    /// Largest gRPC message accepted or sent.
    pub max_message_bytes: usize,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            retry_deadline: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(10),
            max_message_bytes: 256 << 20,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

enum Locator {
    Master(Masters),
    Single(String),
}

/// The master and its standbys, in the order given; `current` is the one asked first.
struct Masters {
    clients: Vec<MasterControlClient<Channel>>,
    /// Index (modulo the length) of the master that answered last. Relaxed: it is only a
    /// hint of where to start; any order of updates is correct.
    current: std::sync::atomic::AtomicUsize,
}

impl Masters {
    /// `LocateTablets` on the master that answered last, then on each other one in turn
    /// while the answer is transient (a master that died, or a standby not yet active).
    async fn locate(
        &self,
        req: LocateTabletsRequest,
    ) -> Result<crate::proto::bt::internal::v1::LocateTabletsResponse, Status> {
        use std::sync::atomic::Ordering;
        let n = self.clients.len().max(1);
        let first = self.current.load(Ordering::Relaxed);
        let mut last = Status::unavailable("no master address");
        for k in 0..n {
            let i = (first + k) % n;
            let Some(client) = self.clients.get(i) else { break };
            match client.clone().locate_tablets(req.clone()).await {
                Ok(resp) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(resp.into_inner());
                }
                Err(s) if is_transient(&s) => last = s,
                Err(s) => return Err(s),
            }
        }
        Err(last)
    }
}

struct Inner {
    locator: Locator,
    cache: Mutex<HashMap<String, TableLocations>>,
    conns: Mutex<HashMap<String, BigtableClient<Channel>>>,
    opts: ClientOptions,
}

/// A handle to the cluster (cheap to clone; share it).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let locator = match &self.inner.locator {
            Locator::Master(_) => "masters",
            Locator::Single(a) => a.as_str(),
        };
        f.debug_struct("Client").field("locator", &locator).finish_non_exhaustive()
    }
}

fn endpoint(address: &str, opts: &ClientOptions) -> ClientResult<Endpoint> {
    let uri = if address.contains("://") { address.to_string() } else { format!("http://{address}") };
    Endpoint::from_shared(uri)
        .map(|e| e.connect_timeout(opts.connect_timeout).tcp_nodelay(true))
        .map_err(|e| ClientError::Address { address: address.into(), reason: e.to_string() })
}

impl Client {
    /// A client that asks the master at `address` (`host:port`) where tablets are.
    /// `address` may list the master and its standbys, comma-separated
    /// (`10.0.0.1:7000,10.0.0.2:7000`): locations are asked of the one that answered last,
    /// and of the others in turn when it does not answer, so the client follows a
    /// fail-over. Connections are made lazily, on first use.
    pub fn connect_master(address: &str) -> ClientResult<Client> {
        Client::connect_master_with(address, ClientOptions::default())
    }

    /// [`Client::connect_master`] with options.
    pub fn connect_master_with(address: &str, opts: ClientOptions) -> ClientResult<Client> {
        let addresses: Vec<&str> = address.split(',').map(str::trim).filter(|a| !a.is_empty()).collect();
        Client::connect_masters_with(&addresses, opts)
    }

    /// A client that asks any of `addresses` (a master and its standbys) where tablets
    /// are; see [`Client::connect_master`].
    pub fn connect_masters_with(addresses: &[&str], opts: ClientOptions) -> ClientResult<Client> {
        if addresses.is_empty() {
            return Err(ClientError::Address { address: String::new(), reason: "no master address given".into() });
        }
        let mut clients = Vec::with_capacity(addresses.len());
        for address in addresses {
            let channel = endpoint(address, &opts)?.connect_lazy();
            clients.push(
                MasterControlClient::new(channel)
                    .max_decoding_message_size(opts.max_message_bytes)
                    .max_encoding_message_size(opts.max_message_bytes),
            );
        }
        let masters = Masters { clients, current: std::sync::atomic::AtomicUsize::new(0) };
        Ok(Client::new(Locator::Master(masters), opts))
    }

    /// A client for one tablet server that holds every table it is asked about (a
    /// tablet server in static mode).
    pub fn single_server(address: &str) -> ClientResult<Client> {
        Client::single_server_with(address, ClientOptions::default())
    }

    /// [`Client::single_server`] with options.
    pub fn single_server_with(address: &str, opts: ClientOptions) -> ClientResult<Client> {
        endpoint(address, &opts)?;
        Ok(Client::new(Locator::Single(address.to_string()), opts))
    }

    fn new(locator: Locator, opts: ClientOptions) -> Client {
        Client {
            inner: Arc::new(Inner {
                locator,
                cache: Mutex::new(HashMap::new()),
                conns: Mutex::new(HashMap::new()),
                opts,
            }),
        }
    }

    /// The table `name` (`projects/{p}/instances/{i}/tables/{t}`).
    pub fn table(&self, name: &str) -> Table {
        Table { client: self.clone(), name: name.to_string() }
    }

    /// The data-API connection to the tablet server at `address` (made on first use).
    pub fn server(&self, address: &str) -> ClientResult<BigtableClient<Channel>> {
        let mut conns = self.inner.conns.lock();
        if let Some(c) = conns.get(address) {
            return Ok(c.clone());
        }
        let opts = &self.inner.opts;
        let c = BigtableClient::new(endpoint(address, opts)?.connect_lazy())
            .max_decoding_message_size(opts.max_message_bytes)
            .max_encoding_message_size(opts.max_message_bytes);
        conns.insert(address.to_string(), c.clone());
        Ok(c)
    }

    /// The tablets of `table` covering rows `[start, end)` (empty `end`: to the end of the
    /// table), from the cache or, on a miss, from the master.
    pub async fn locate(&self, table: &str, start: &[u8], end: &[u8]) -> ClientResult<Vec<Location>> {
        if let Some(cover) = self.inner.cache.lock().get(table).and_then(|t| t.cover(start, end)) {
            return Ok(cover);
        }
        let fetched = match &self.inner.locator {
            Locator::Single(address) => {
                vec![Location { start: Vec::new(), end: Vec::new(), address: address.clone() }]
            }
            Locator::Master(master) => {
                let req = LocateTabletsRequest {
                    table_name: table.to_string(),
                    start_key: start.to_vec(),
                    end_key: end.to_vec(),
                };
                let resp = master.locate(req).await?;
                resp.tablets
                    .into_iter()
                    .filter_map(|t| {
                        let d = t.tablet?;
                        Some(Location { start: d.start_key, end: d.end_key, address: t.address })
                    })
                    .collect()
            }
        };
        let mut cache = self.inner.cache.lock();
        let entry = cache.entry(table.to_string()).or_default();
        entry.insert_all(fetched);
        entry.cover(start, end).ok_or_else(|| {
            ClientError::Status(not_serving(format_args!(
                "part of the rows of {table} is not assigned to a tablet server yet"
            )))
        })
    }

    /// Forgets the cached location of the tablet holding `row` of `table`.
    pub fn forget(&self, table: &str, row: &[u8]) {
        if let Some(t) = self.inner.cache.lock().get_mut(table) {
            t.forget(row);
        }
    }

    /// Forgets every cached location of `table`.
    pub fn forget_table(&self, table: &str) {
        self.inner.cache.lock().remove(table);
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            started: Instant::now(),
            deadline: Instant::now() + self.inner.opts.retry_deadline,
            delay: self.inner.opts.initial_backoff,
        }
    }
}

/// Exponential back-off bounded by a deadline.
struct Backoff {
    started: Instant,
    deadline: Instant,
    delay: Duration,
}

impl Backoff {
    /// Sleeps before the next attempt, or returns `last` wrapped when the deadline would pass.
    async fn wait(&mut self, last: ClientError) -> ClientResult<()> {
        let now = Instant::now();
        if now + self.delay > self.deadline {
            return Err(ClientError::RetriesExhausted { waited: now - self.started, last: Box::new(last) });
        }
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(Duration::from_secs(1));
        Ok(())
    }
}

/// One table of the cluster.
#[derive(Clone, Debug)]
pub struct Table {
    client: Client,
    name: String,
}

/// When a failed request may be sent again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// On any transient status (repeating is harmless).
    Transient,
    /// Only when the server did not serve the row (the request was not applied).
    NotServing,
}

impl Retry {
    fn allows(self, s: &Status) -> bool {
        match self {
            Retry::Transient => is_transient(s),
            Retry::NotServing => is_not_serving(s),
        }
    }
}

impl Table {
    /// The table's full name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server for `row` and a connection to it.
    async fn route(&self, row: &[u8]) -> ClientResult<BigtableClient<Channel>> {
        let mut end = row.to_vec();
        end.push(0);
        let locs = self.client.locate(&self.name, row, &end).await?;
        let address = locs.first().map(|l| l.address.clone()).unwrap_or_default();
        self.client.server(&address)
    }

    /// Runs a single-row call, refreshing the location and retrying as `retry` allows.
    async fn single_row<T, F, Fut>(&self, row: &[u8], retry: Retry, mut call: F) -> ClientResult<T>
    where
        F: FnMut(BigtableClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        let mut backoff = self.client.backoff();
        loop {
            let err = match self.route(row).await {
                Ok(conn) => match call(conn).await {
                    Ok(v) => return Ok(v),
                    Err(s) if retry.allows(&s) => ClientError::Status(s),
                    Err(s) => return Err(s.into()),
                },
                Err(ClientError::Status(s)) if is_transient(&s) => ClientError::Status(s),
                Err(e) => return Err(e),
            };
            self.client.forget(&self.name, row);
            backoff.wait(err).await?;
        }
    }

    /// Applies `mutations` to `row` atomically.
    pub async fn mutate_row(&self, row: &[u8], mutations: Vec<Mutation>) -> ClientResult<()> {
        let name = self.name.clone();
        self.single_row(row, Retry::Transient, |mut c| {
            let req = MutateRowRequest {
                table_name: name.clone(),
                row_key: row.to_vec(),
                mutations: mutations.clone(),
                ..Default::default()
            };
            async move { c.mutate_row(req).await.map(|_| ()) }
        })
        .await
    }

    /// Applies each `(row, mutations)` entry atomically per row (not across rows). Returns
    /// one result per entry, in order; entries on tablets that moved are retried.
    pub async fn mutate_rows(&self, entries: Vec<(Vec<u8>, Vec<Mutation>)>) -> ClientResult<Vec<Result<(), Status>>> {
        let mut results: Vec<Option<Result<(), Status>>> = vec![None; entries.len()];
        let mut pending: Vec<usize> = (0..entries.len()).collect();
        let mut backoff = self.client.backoff();
        while !pending.is_empty() {
            // Group the pending entries by server: from the location cache, under one lock
            // and without copying a row or an address per entry; the entries it cannot place
            // one by one through `locate` (which asks the master).
            let mut by_server: HashMap<String, Vec<usize>> = HashMap::new();
            let mut last_err = None;
            let mut retry = Vec::new();
            let mut unplaced = Vec::new();
            {
                let cache = self.client.inner.cache.lock();
                let table = cache.get(&self.name);
                for &i in &pending {
                    match table.and_then(|t| t.find(&entries[i].0)).filter(|l| !l.address.is_empty()) {
                        Some(loc) => match by_server.get_mut(loc.address.as_str()) {
                            Some(group) => group.push(i),
                            None => {
                                by_server.insert(loc.address.clone(), vec![i]);
                            }
                        },
                        None => unplaced.push(i),
                    }
                }
            }
            for i in unplaced {
                let row = &entries[i].0;
                let mut end = row.clone();
                end.push(0);
                match self.client.locate(&self.name, row, &end).await {
                    Ok(locs) => {
                        let address = locs.first().map(|l| l.address.clone()).unwrap_or_default();
                        by_server.entry(address).or_default().push(i);
                    }
                    // Not located yet (a tablet being assigned): try the entry again.
                    Err(ClientError::Status(s)) if is_transient(&s) => {
                        retry.push(i);
                        last_err = Some(ClientError::Status(s));
                    }
                    Err(e) => return Err(e),
                }
            }
            let mut tasks = tokio::task::JoinSet::new();
            for (address, idx) in by_server {
                let mut conn = self.client.server(&address)?;
                let req = MutateRowsRequest {
                    table_name: self.name.clone(),
                    entries: idx
                        .iter()
                        .map(|&i| mutate_rows_request::Entry {
                            row_key: entries[i].0.clone(),
                            mutations: entries[i].1.clone(),
                        })
                        .collect(),
                    ..Default::default()
                };
                tasks.spawn(async move {
                    let outcome = async {
                        let mut stream = conn.mutate_rows(req).await?.into_inner();
                        let mut statuses = Vec::new();
                        while let Some(msg) = stream.message().await? {
                            statuses.extend(msg.entries);
                        }
                        Ok::<_, Status>(statuses)
                    }
                    .await;
                    (idx, outcome)
                });
            }
            while let Some(joined) = tasks.join_next().await {
                let (idx, outcome) = joined.map_err(|e| Status::internal(format!("mutate_rows task failed: {e}")))?;
                match outcome {
                    Ok(statuses) => {
                        let mut seen = vec![false; idx.len()];
                        for e in statuses {
                            let Some(pos) = usize::try_from(e.index).ok().filter(|&p| p < idx.len()) else {
                                return Err(
                                    Status::internal(format!("MutateRows answered for entry {}", e.index)).into()
                                );
                            };
                            seen[pos] = true;
                            let status = e.status.unwrap_or_default();
                            let i = idx[pos];
                            if status.code == 0 {
                                results[i] = Some(Ok(()));
                            } else {
                                let s = Status::new(Code::from_i32(status.code), status.message);
                                if is_transient(&s) {
                                    self.client.forget(&self.name, &entries[i].0);
                                    retry.push(i);
                                    last_err = Some(ClientError::Status(s));
                                } else {
                                    results[i] = Some(Err(s));
                                }
                            }
                        }
                        // Entries the server did not report on are retried.
                        retry.extend(idx.iter().zip(seen).filter(|(_, s)| !s).map(|(&i, _)| i));
                    }
                    Err(s) if is_transient(&s) => {
                        for &i in &idx {
                            self.client.forget(&self.name, &entries[i].0);
                        }
                        retry.extend(idx);
                        last_err = Some(ClientError::Status(s));
                    }
                    Err(s) => {
                        for &i in &idx {
                            results[i] = Some(Err(s.clone()));
                        }
                    }
                }
            }
            pending = retry;
            pending.sort_unstable();
            pending.dedup();
            if !pending.is_empty() {
                let err = last_err.unwrap_or_else(|| ClientError::Status(Status::unavailable("entries unanswered")));
                backoff.wait(err).await?;
            }
        }
        Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(Status::internal("entry not answered")))).collect())
    }

    /// The row `row` passed through `filter`, or `None` when nothing of it is left.
    pub async fn read_row(&self, row: &[u8], filter: Option<RowFilter>) -> ClientResult<Option<Row>> {
        let mut reader = self.read_rows(build::rows::keys([row]), filter, Some(1));
        let found = reader.next_row().await?;
        reader.drain().await;
        Ok(found)
    }

    /// Reads the rows of `rows` in key order through `filter`, at most `limit` of them,
    /// as a stream ([`RowReader::next_row`]).
    pub fn read_rows(&self, rows: RowSet, filter: Option<RowFilter>, limit: Option<u64>) -> RowReader {
        RowReader::new(self.clone(), rows, filter, limit, false)
    }

    /// [`Table::read_rows`] in descending key order.
    pub fn read_rows_reversed(&self, rows: RowSet, filter: Option<RowFilter>, limit: Option<u64>) -> RowReader {
        RowReader::new(self.clone(), rows, filter, limit, true)
    }

    /// The rows of `rows` (descending when `reversed`) through `filter`, at most `limit`
    /// of them, as the tablet servers' own whole-row `ReadRowsResponse` messages, tablet
    /// after tablet, with the same routing, resumption and limit as [`Table::read_rows`]
    /// (what a proxy forwards without decoding; see [`raw`]).
    pub fn read_responses(
        &self,
        rows: RowSet,
        filter: Option<RowFilter>,
        limit: Option<u64>,
        reversed: bool,
    ) -> ResponseReader {
        ResponseReader::new(self.clone(), rows, filter, limit, reversed)
    }

    /// Applies `true_mutations` when `predicate` (none: any cell) yields a cell of `row`,
    /// else `false_mutations`; atomically. Returns whether the predicate matched.
    pub async fn check_and_mutate_row(
        &self,
        row: &[u8],
        predicate: Option<RowFilter>,
        true_mutations: Vec<Mutation>,
        false_mutations: Vec<Mutation>,
    ) -> ClientResult<bool> {
        let name = self.name.clone();
        self.single_row(row, Retry::NotServing, |mut c| {
            let req = CheckAndMutateRowRequest {
                table_name: name.clone(),
                row_key: row.to_vec(),
                predicate_filter: predicate.clone(),
                true_mutations: true_mutations.clone(),
                false_mutations: false_mutations.clone(),
                ..Default::default()
            };
            async move { Ok(c.check_and_mutate_row(req).await?.into_inner().predicate_matched) }
        })
        .await
    }

    /// Applies `rules` to `row` atomically; returns the new cells of the modified columns.
    pub async fn read_modify_write_row(&self, row: &[u8], rules: Vec<ReadModifyWriteRule>) -> ClientResult<Row> {
        let name = self.name.clone();
        self.single_row(row, Retry::NotServing, |mut c| {
            let req = ReadModifyWriteRowRequest {
                table_name: name.clone(),
                row_key: row.to_vec(),
                rules: rules.clone(),
                ..Default::default()
            };
            async move { Ok(c.read_modify_write_row(req).await?.into_inner().row.unwrap_or_default()) }
        })
        .await
    }

    /// Row keys splitting the table into pieces of roughly equal size, each with the
    /// approximate bytes before it; the last has an empty key and the table's size. Each
    /// server holding tablets of the table is asked once (concurrently); its answer is cut
    /// at the tablets' end keys (docs/rpc.md) and the pieces are joined in key order, so
    /// every tablet's end key is a sample too.
    pub async fn sample_row_keys(&self) -> ClientResult<Vec<(Vec<u8>, i64)>> {
        let mut backoff = self.client.backoff();
        loop {
            let err = match self.try_sample_row_keys().await {
                Ok(samples) => return Ok(samples),
                Err(ClientError::Status(s)) if is_transient(&s) => ClientError::Status(s),
                Err(e) => return Err(e),
            };
            self.client.forget_table(&self.name);
            backoff.wait(err).await?;
        }
    }

    async fn try_sample_row_keys(&self) -> ClientResult<Vec<(Vec<u8>, i64)>> {
        let locs = self.client.locate(&self.name, b"", b"").await?;
        let mut addresses: Vec<&str> = locs.iter().map(|l| l.address.as_str()).collect();
        addresses.sort_unstable();
        addresses.dedup();
        let mut tasks = tokio::task::JoinSet::new();
        for address in addresses {
            let mut conn = self.client.server(address)?;
            let req = SampleRowKeysRequest { table_name: self.name.clone(), ..Default::default() };
            let address = address.to_string();
            tasks.spawn(async move {
                let answer = async {
                    let mut stream = conn.sample_row_keys(req).await?.into_inner();
                    let mut v = Vec::new();
                    while let Some(m) = stream.message().await? {
                        v.push((m.row_key, m.offset_bytes));
                    }
                    Ok::<_, Status>(v)
                }
                .await;
                (address, answer)
            });
        }
        let mut answers: HashMap<String, Vec<(Vec<u8>, i64)>> = HashMap::new();
        while let Some(joined) = tasks.join_next().await {
            let (address, answer) =
                joined.map_err(|e| Status::internal(format!("sample_row_keys task failed: {e}")))?;
            answers.insert(address, answer?);
        }
        let mut out: Vec<(Vec<u8>, i64)> = Vec::new();
        let mut base = 0i64;
        for loc in &locs {
            let answer = answers.get(&loc.address).map(Vec::as_slice).unwrap_or_default();
            let Some((own, size)) = routing::tablet_samples(answer, &loc.start, &loc.end) else {
                return Err(ClientError::Status(not_serving(format_args!(
                    "{} did not sample the tablet of {} starting at {:?}; it moved or split",
                    loc.address,
                    self.name,
                    String::from_utf8_lossy(&loc.start)
                ))));
            };
            out.extend(own.into_iter().map(|(k, off)| (k, base.saturating_add(off))));
            base = base.saturating_add(size);
            if !loc.end.is_empty() {
                out.push((loc.end.clone(), base));
            }
        }
        out.push((Vec::new(), base));
        Ok(out)
    }
}

/// A stream of rows from [`Table::read_rows`]; crosses tablets in key order and resumes
/// after the last row received when a tablet moves or splits mid-read. The rows of the
/// whole-row messages of a [`ResponseReader`], decoded.
pub struct RowReader {
    raw: ResponseReader,
    merger: ChunkMerger,
    ready: VecDeque<Row>,
}

impl RowReader {
    fn new(table: Table, rows: RowSet, filter: Option<RowFilter>, limit: Option<u64>, reversed: bool) -> RowReader {
        RowReader {
            raw: ResponseReader::new(table, rows, filter, limit, reversed),
            merger: ChunkMerger::new(reversed),
            ready: VecDeque::new(),
        }
    }

    /// The next row, or `None` at the end.
    pub async fn next_row(&mut self) -> ClientResult<Option<Row>> {
        loop {
            if let Some(row) = self.ready.pop_front() {
                return Ok(Some(row));
            }
            let chunks_error = |address: &str, reason: crate::Error| ClientError::Chunks {
                address: address.to_string(),
                reason: reason.to_string(),
            };
            match self.raw.next_message().await? {
                Some(resp) => {
                    let rows = self.merger.push(&resp).map_err(|e| chunks_error(self.raw.address(), e))?;
                    self.ready.extend(rows);
                }
                None => {
                    self.merger.finish().map_err(|e| chunks_error(self.raw.address(), e))?;
                    return Ok(None);
                }
            }
        }
    }

    /// Once the row limit is reached, reads the tablet stream to its end instead of
    /// dropping it ([`ResponseReader::drain`]).
    async fn drain(&mut self) {
        self.raw.drain().await;
    }

    /// Reads every remaining row.
    pub async fn collect_all(mut self) -> ClientResult<Vec<Row>> {
        let mut out = Vec::new();
        while let Some(row) = self.next_row().await? {
            out.push(row);
        }
        Ok(out)
    }
}
