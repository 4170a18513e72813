//! Concurrent single-row calls combined into bulk calls to the tablet servers.
//!
//! Through the gateway, each single-row call costs a whole gRPC server's work here plus a
//! client call to the tablet server, about what the tablet server itself spends on it. When
//! many callers write or read single rows at once, the gateway instead sends their rows
//! together: the `MutateRow`s of one table as one `MutateRows` (the client library groups
//! its entries by server), the single-key `ReadRows` of one table with the same filter as
//! one `ReadRows` of all their keys. Each caller still gets exactly the answer its own call
//! would have had:
//!
//! - A `MutateRows` entry is applied atomically to its row, as a `MutateRow` is, and has its
//!   own status, which becomes the caller's status. Entries whose tablet moved are retried
//!   by the client library as a single call would be.
//! - A row filter works on each row alone, so the rows of a many-key read through the
//!   filter are the rows each one-key read returns. The caller gets its row (or nothing)
//!   encoded as the servers encode rows.
//!
//! # When calls are combined (no timer, no added wait at low load)
//! Each table (and, for reads, each filter) has a *lane*. A call joins its lane's queue; if
//! fewer than `flights` bulk calls of that lane are under way, a new one starts at once with
//! everything queued. Otherwise the call waits for a bulk call to finish, and that one
//! takes everything that queued meanwhile (up to [`MAX_ROWS`] rows and [`MAX_BYTES`] of
//! values). A lone caller's call therefore goes out alone and at once; under load, calls
//! batch themselves by as many as arrive during one round trip — group commit, applied to
//! RPCs.
//!
//! Thread safety: a lane's queue is behind a `parking_lot::Mutex` held only to push or take
//! jobs (never across an await); results travel back on one `oneshot` per call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use prost::Message;
use tablet::client::build::rows;
use tablet::client::Table;
use tablet::proto::bigtable::mutation::Mutation as Kind;
use tablet::proto::bigtable::{Mutation, Row, RowFilter};
use tokio::sync::oneshot;
use tonic::Status;

use super::data::client_status;

/// Most rows one bulk call carries.
pub const MAX_ROWS: usize = 100;

/// Most bytes of cell values one bulk write carries (a single larger row still goes, alone).
pub const MAX_BYTES: usize = 8 << 20;

/// A bulk call's work: the callers' jobs, and where each caller waits.
type Batch<J, R> = Vec<(J, oneshot::Sender<Result<R, Status>>)>;

/// A queue of jobs and the bulk calls working on it.
struct Lane<J, R> {
    state: Mutex<LaneState<J, R>>,
}

struct LaneState<J, R> {
    waiting: Batch<J, R>,
    /// Bulk calls under way.
    flights: usize,
}

/// The jobs a bulk call takes from the front of `waiting`: at least one, then while under
/// both caps.
fn take_batch<J, R>(waiting: &mut Batch<J, R>, size: impl Fn(&J) -> usize) -> Batch<J, R> {
    let mut bytes = 0usize;
    let mut n = 0usize;
    for (job, _) in waiting.iter() {
        let b = size(job);
        if n > 0 && (n >= MAX_ROWS || bytes + b > MAX_BYTES) {
            break;
        }
        bytes += b;
        n += 1;
    }
    waiting.drain(..n).collect()
}

/// Lanes by key, each for one kind of job.
struct Lanes<K, J, R> {
    map: Mutex<HashMap<K, Arc<Lane<J, R>>>>,
}

impl<K: std::hash::Hash + Eq, J, R> Lanes<K, J, R> {
    fn new() -> Self {
        Lanes { map: Mutex::new(HashMap::new()) }
    }

    fn lane(&self, key: K) -> Arc<Lane<J, R>> {
        self.map
            .lock()
            .entry(key)
            .or_insert_with(|| Arc::new(Lane { state: Mutex::new(LaneState { waiting: Vec::new(), flights: 0 }) }))
            .clone()
    }
}

/// What a bulk call does with a batch: answers every job (through its sender).
trait Flight<J, R>: Send + Sync + 'static {
    /// Bytes a job adds to a batch (for [`MAX_BYTES`]).
    fn size(&self, job: &J) -> usize;
    /// Runs one bulk call for `batch` and answers each of its jobs.
    fn run(&self, batch: Batch<J, R>) -> impl std::future::Future<Output = ()> + Send;
}

/// Queues `job` on `lane` and waits for its answer; starts a bulk call if fewer than
/// `flights` are under way. A bulk call keeps taking queued jobs until none wait.
async fn submit<J, R, F>(lane: Arc<Lane<J, R>>, flight: Arc<F>, flights: usize, job: J) -> Result<R, Status>
where
    J: Send + 'static,
    R: Send + 'static,
    F: Flight<J, R>,
{
    let (tx, rx) = oneshot::channel();
    let start = {
        let mut st = lane.state.lock();
        st.waiting.push((job, tx));
        if st.flights < flights {
            st.flights += 1;
            Some(take_batch(&mut st.waiting, |j| flight.size(j)))
        } else {
            None
        }
    };
    if let Some(mut batch) = start {
        tokio::spawn(async move {
            loop {
                flight.run(batch).await;
                let mut st = lane.state.lock();
                if st.waiting.is_empty() {
                    st.flights -= 1;
                    return;
                }
                batch = take_batch(&mut st.waiting, |j| flight.size(j));
            }
        });
    }
    rx.await.unwrap_or_else(|_| Err(Status::internal("gateway: a combined call ended without an answer")))
}

/// One caller's row write.
struct WriteJob {
    row: Vec<u8>,
    mutations: Vec<Mutation>,
}

/// Writes a batch of rows with one `MutateRows` per server.
struct WriteFlight {
    table: Table,
    stats: Arc<CoalescerStats>,
}

impl Flight<WriteJob, ()> for WriteFlight {
    fn size(&self, job: &WriteJob) -> usize {
        job.row.len()
            + job
                .mutations
                .iter()
                .map(|m| match &m.mutation {
                    Some(Kind::SetCell(s)) => s.value.len(),
                    _ => 0,
                })
                .sum::<usize>()
    }

    async fn run(&self, batch: Batch<WriteJob, ()>) {
        tracing::trace!(table = self.table.name(), rows = batch.len(), "combined write");
        self.stats.bulk_calls.fetch_add(1, Ordering::Relaxed);
        let (jobs, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let entries = jobs.into_iter().map(|j| (j.row, j.mutations)).collect();
        match self.table.mutate_rows(entries).await {
            Ok(results) => {
                for (tx, r) in answers.into_iter().zip(results) {
                    let _ = tx.send(r.map_err(|s| Status::new(s.code(), s.message())));
                }
            }
            Err(e) => {
                let status = client_status(e);
                for tx in answers {
                    let _ = tx.send(Err(status.clone()));
                }
            }
        }
    }
}

/// One caller's one-row read.
struct ReadJob {
    key: Vec<u8>,
}

/// Reads a batch of row keys through one filter with one `ReadRows`.
struct ReadFlight {
    table: Table,
    filter: Option<RowFilter>,
    stats: Arc<CoalescerStats>,
}

impl Flight<ReadJob, Option<Row>> for ReadFlight {
    fn size(&self, job: &ReadJob) -> usize {
        job.key.len()
    }

    async fn run(&self, batch: Batch<ReadJob, Option<Row>>) {
        tracing::trace!(table = self.table.name(), rows = batch.len(), "combined read");
        self.stats.bulk_calls.fetch_add(1, Ordering::Relaxed);
        let keys: Vec<&[u8]> = batch.iter().map(|(j, _)| j.key.as_slice()).collect();
        let mut reader = self.table.read_rows(rows::keys(keys), self.filter.clone(), None);
        let mut found: HashMap<Vec<u8>, Row> = HashMap::new();
        let outcome = loop {
            match reader.next_row().await {
                Ok(Some(row)) => {
                    found.insert(row.key.clone(), row);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(client_status(e)),
            }
        };
        for (job, tx) in batch {
            let answer = match &outcome {
                // Two callers may ask for the same row: the first takes it, others copy.
                Ok(()) => Ok(found.get(&job.key).cloned()),
                Err(s) => Err(s.clone()),
            };
            let _ = tx.send(answer);
        }
    }
}

/// A read lane: the table's name and the filter's encoding (empty for none).
type ReadLaneKey = (String, Vec<u8>);

/// What a [`Coalescer`] has done (Relaxed counters: statistics only).
#[derive(Debug, Default)]
pub struct CoalescerStats {
    /// Single-row calls answered.
    pub calls: AtomicU64,
    /// Bulk calls sent for them.
    pub bulk_calls: AtomicU64,
}

/// The gateway's combiner of single-row calls; see the module docs.
pub struct Coalescer {
    /// Bulk calls per lane under way at once (at least 1).
    flights: usize,
    stats: Arc<CoalescerStats>,
    writes: Lanes<String, WriteJob, ()>,
    write_flights: Mutex<HashMap<String, Arc<WriteFlight>>>,
    /// Read lanes by table name and encoded filter.
    reads: Lanes<ReadLaneKey, ReadJob, Option<Row>>,
    read_flights: Mutex<HashMap<ReadLaneKey, Arc<ReadFlight>>>,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").field("flights", &self.flights).finish_non_exhaustive()
    }
}

impl Coalescer {
    /// A combiner running at most `flights` bulk calls per lane at once (0 is taken as 1).
    pub fn new(flights: usize) -> Self {
        Coalescer {
            flights: flights.max(1),
            stats: Arc::default(),
            writes: Lanes::new(),
            write_flights: Mutex::new(HashMap::new()),
            reads: Lanes::new(),
            read_flights: Mutex::new(HashMap::new()),
        }
    }

    /// Calls answered and bulk calls sent so far.
    pub fn stats(&self) -> &CoalescerStats {
        &self.stats
    }

    /// `MutateRow` of `row` in `table`, combined with other callers' writes to the table.
    pub async fn mutate_row(&self, table: &Table, row: Vec<u8>, mutations: Vec<Mutation>) -> Result<(), Status> {
        let name = table.name().to_string();
        let flight = self
            .write_flights
            .lock()
            .entry(name.clone())
            .or_insert_with(|| Arc::new(WriteFlight { table: table.clone(), stats: self.stats.clone() }))
            .clone();
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        submit(self.writes.lane(name), flight, self.flights, WriteJob { row, mutations }).await
    }

    /// The row `key` of `table` through `filter` (`None` when it has no cells the filter
    /// keeps), combined with other callers' one-row reads of the table with the same filter.
    pub async fn read_row(
        &self,
        table: &Table,
        key: Vec<u8>,
        filter: Option<RowFilter>,
    ) -> Result<Option<Row>, Status> {
        let lane_key = (table.name().to_string(), filter.as_ref().map(Message::encode_to_vec).unwrap_or_default());
        let flight = self
            .read_flights
            .lock()
            .entry(lane_key.clone())
            .or_insert_with(|| Arc::new(ReadFlight { table: table.clone(), filter, stats: self.stats.clone() }))
            .clone();
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        submit(self.reads.lane(lane_key), flight, self.flights, ReadJob { key }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Answers = Vec<oneshot::Receiver<Result<(), Status>>>;

    fn batch_of(sizes: &[usize]) -> (Batch<usize, ()>, Answers) {
        let mut rxs = Vec::new();
        let batch = sizes
            .iter()
            .map(|&s| {
                let (tx, rx) = oneshot::channel();
                rxs.push(rx);
                (s, tx)
            })
            .collect();
        (batch, rxs)
    }

    #[test]
    fn batches_stop_at_the_row_and_byte_caps_but_take_at_least_one() {
        let (mut w, _rx) = batch_of(&[10; 250]);
        assert_eq!(take_batch(&mut w, |&s| s).len(), MAX_ROWS);
        assert_eq!(take_batch(&mut w, |&s| s).len(), MAX_ROWS);
        assert_eq!(take_batch(&mut w, |&s| s).len(), 50);
        assert!(w.is_empty());
        let (mut w, _rx) = batch_of(&[MAX_BYTES / 2, MAX_BYTES / 2, 1, MAX_BYTES * 3, 5]);
        assert_eq!(take_batch(&mut w, |&s| s).len(), 2);
        assert_eq!(take_batch(&mut w, |&s| s).len(), 1);
        // A job past the byte cap alone still goes, alone.
        assert_eq!(take_batch(&mut w, |&s| s).len(), 1);
        assert_eq!(take_batch(&mut w, |&s| s).len(), 1);
        assert!(w.is_empty());
    }
}
