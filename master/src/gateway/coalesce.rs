//! Concurrent single-row writes combined into bulk calls to the tablet servers.
//!
//! Through the gateway, each `MutateRow` costs a whole gRPC server's work here plus a client
//! call to the tablet server, about what the tablet server itself spends on it. When many
//! callers write single rows of one table at once, the gateway instead sends their rows
//! together, as one `MutateRows` (the client library groups its entries by server). Each
//! caller still gets exactly the answer its own call would have had: a `MutateRows` entry
//! is applied atomically to its row, as a `MutateRow` is, and has its own status, which
//! becomes the caller's status; entries whose tablet moved are retried by the client
//! library as a single call would be.
//!
//! # When calls are combined (no timer, no added wait at low load)
//! Each table has a *lane*. A call joins its lane's queue; if fewer than `flights` bulk
//! calls of that lane are under way, a new one starts at once with everything queued.
//! Otherwise the call waits for a bulk call to finish, and that one takes everything that
//! queued meanwhile (up to [`MAX_ROWS`] rows and [`MAX_BYTES`] of values). A lone caller's
//! call therefore goes out alone and at once; under load, calls batch themselves by as many
//! as arrive during one round trip — group commit, applied to RPCs.
//!
//! Reads are not combined: combining one-key `ReadRows` the same way (one `ReadRows` of
//! all the keys, each caller's row encoded again for it) was built and measured, and the
//! gateway's single-row read throughput did not change (its cost there is serving each
//! caller's streaming call, not the calls to the servers), while the forwarded path passes
//! the servers' messages on without decoding them.
//!
//! Thread safety: a lane's queue is behind a `parking_lot::Mutex` held only to push or take
//! jobs (never across an await); results travel back on one `oneshot` per call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tablet::client::Table;
use tablet::proto::bigtable::mutation::Mutation as Kind;
use tablet::proto::bigtable::Mutation;
use tokio::sync::oneshot;
use tonic::Status;

use super::data::client_status;

/// Most rows one bulk call carries.
pub const MAX_ROWS: usize = 100;

/// Most bytes of cell values one bulk write carries (a single larger row still goes, alone).
pub const MAX_BYTES: usize = 8 << 20;

/// A bulk call's work: the callers' jobs, and where each caller waits.
type Batch<J, R> = Vec<(J, oneshot::Sender<Result<R, Status>>)>;

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

/// One caller's row write.
struct WriteJob {
    row: Vec<u8>,
    mutations: Vec<Mutation>,
    /// Bytes it adds to a bulk call (row key and values), for [`MAX_BYTES`].
    bytes: usize,
}

impl WriteJob {
    fn new(row: Vec<u8>, mutations: Vec<Mutation>) -> Self {
        let values: usize = mutations
            .iter()
            .map(|m| match &m.mutation {
                Some(Kind::SetCell(s)) => s.value.len(),
                _ => 0,
            })
            .sum();
        WriteJob { bytes: row.len() + values, row, mutations }
    }
}

/// One table's queue of writes and the bulk calls working on it.
struct Lane {
    table: Table,
    state: Mutex<LaneState>,
}

struct LaneState {
    waiting: Batch<WriteJob, ()>,
    /// Bulk calls under way.
    flights: usize,
}

impl Lane {
    /// Writes `batch` with one `MutateRows` (one per server) and answers each caller.
    async fn run(&self, batch: Batch<WriteJob, ()>, stats: &CoalescerStats) {
        tracing::trace!(table = self.table.name(), rows = batch.len(), "combined write");
        stats.bulk_calls.fetch_add(1, Ordering::Relaxed);
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

/// What a [`Coalescer`] has done (Relaxed counters: statistics only).
#[derive(Debug, Default)]
pub struct CoalescerStats {
    /// `MutateRow` calls answered.
    pub calls: AtomicU64,
    /// Bulk calls sent for them.
    pub bulk_calls: AtomicU64,
}

/// The gateway's combiner of single-row writes; see the module docs.
pub struct Coalescer {
    /// Bulk calls per lane under way at once (at least 1).
    flights: usize,
    stats: Arc<CoalescerStats>,
    /// Lanes by table name.
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").field("flights", &self.flights).finish_non_exhaustive()
    }
}

impl Coalescer {
    /// A combiner running at most `flights` bulk calls per lane at once (0 is taken as 1).
    pub fn new(flights: usize) -> Self {
        Coalescer { flights: flights.max(1), stats: Arc::default(), lanes: Mutex::new(HashMap::new()) }
    }

    /// Calls answered and bulk calls sent so far.
    pub fn stats(&self) -> &CoalescerStats {
        &self.stats
    }

    /// `MutateRow` of `row` in `table`, combined with other callers' writes to the table:
    /// queued on the table's lane; a bulk call starts if fewer than `flights` are under way,
    /// and a bulk call keeps taking queued writes until none wait.
    pub async fn mutate_row(&self, table: &Table, row: Vec<u8>, mutations: Vec<Mutation>) -> Result<(), Status> {
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let lane = self
            .lanes
            .lock()
            .entry(table.name().to_string())
            .or_insert_with(|| {
                Arc::new(Lane {
                    table: table.clone(),
                    state: Mutex::new(LaneState { waiting: Vec::new(), flights: 0 }),
                })
            })
            .clone();
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut st = lane.state.lock();
            st.waiting.push((WriteJob::new(row, mutations), tx));
            if st.flights < self.flights {
                st.flights += 1;
                Some(take_batch(&mut st.waiting, |j| j.bytes))
            } else {
                None
            }
        };
        if let Some(mut batch) = start {
            let stats = self.stats.clone();
            tokio::spawn(async move {
                loop {
                    lane.run(batch, &stats).await;
                    let mut st = lane.state.lock();
                    if st.waiting.is_empty() {
                        st.flights -= 1;
                        return;
                    }
                    batch = take_batch(&mut st.waiting, |j| j.bytes);
                }
            });
        }
        rx.await.unwrap_or_else(|_| Err(Status::internal("gateway: a combined call ended without an answer")))
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
