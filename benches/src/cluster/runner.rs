//! Load generation: `threads` tokio tasks share one benchmark's work and record every
//! operation's latency.
//!
//! Work is handed out in pieces by a shared counter ([`Claims`]): operation indices
//! `[a, b)`, the next free piece to whichever worker asks. For the paper's sequential
//! benchmarks a piece is one of `10 × threads` key ranges (the paper's central scheduler);
//! otherwise it is a small batch, only to keep the counter cold. A run stops at
//! `--operations` or at `--duration`, whichever comes first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tablet::client::build::mutation;
use tablet::proto::bigtable::Mutation;
use tokio::task::JoinSet;

use super::generators::fnv_hash64;
use super::generators::{InsertCounter, ScrambledZipfian, SkewedLatest};
use super::spec::{paper_key, ycsb_key, Benchmark, Distribution, Paper, Ycsb, FIELDS, FIELD_BYTES, MAX_SCAN_LENGTH};
use super::stats::{BenchReport, OpKind, WorkerStats};
use super::store::{OpError, Store};
use crate::progress::Progress;
use crate::random::{Rng, ValueGen, ValuePool};
use crate::{BenchError, Result};

/// The column family of every benchmark table.
pub const FAMILY: &str = "cf";
/// The paper tables' one column.
pub const PAPER_COLUMN: &[u8] = b"v";
/// Rows per `MutateRows` request when loading.
pub const LOAD_BATCH: u64 = 100;

/// What every benchmark of a run shares.
#[derive(Debug)]
pub struct Workload {
    /// The paper's table (`records` rows).
    pub paper: Store,
    /// The paper's "in-memory" table (`mem_records` rows).
    pub paper_mem: Store,
    /// The YCSB table.
    pub ycsb: Store,
    /// Rows of the paper's table and records loaded into the YCSB table.
    pub records: u64,
    /// Rows of the in-memory table.
    pub mem_records: u64,
    /// Concurrent workers.
    pub threads: usize,
    /// Operations per benchmark (`None`: until `duration`).
    pub operations: Option<u64>,
    /// Time limit per benchmark.
    pub duration: Option<Duration>,
    /// The paper's value size (1000).
    pub value_size: usize,
    /// Rows per request in the paper's read and write benchmarks.
    pub batch: u64,
    /// Overrides every YCSB workload's request distribution.
    pub distribution: Option<Distribution>,
    /// Seed of every worker's generator.
    pub seed: u64,
    /// For the per-server figure.
    pub servers: usize,
    /// Random (incompressible) values.
    pub values: ValuePool,
    /// YCSB insert numbers, shared across workloads (D and E grow the table).
    pub inserts: InsertCounter,
}

/// A shared supply of operation indices.
#[derive(Debug)]
pub struct Claims {
    next: AtomicU64,
    total: u64,
    piece: u64,
    deadline: Option<Instant>,
}

impl Claims {
    /// Indices `[0, total)` (or unbounded, `u64::MAX`), in pieces of `piece`, until `deadline`.
    pub fn new(total: u64, piece: u64, deadline: Option<Instant>) -> Claims {
        Claims { next: AtomicU64::new(0), total, piece: piece.max(1), deadline }
    }

    /// The next piece, or `None` when all are taken or time is up. Relaxed: the counter
    /// only has to hand out disjoint pieces.
    pub fn claim(&self) -> Option<(u64, u64)> {
        if self.expired() {
            return None;
        }
        let a = self.next.fetch_add(self.piece, Ordering::Relaxed);
        (a < self.total).then(|| (a, a.saturating_add(self.piece).min(self.total)))
    }

    /// Whether the time limit has passed.
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// What one worker of one benchmark keeps for itself.
struct Worker {
    rng: Rng,
    values: ValueGen,
    stats: WorkerStats,
}

impl Worker {
    /// The next value, copied once out of the pool (the mutation then shares it).
    fn value(&mut self, len: usize) -> bytes::Bytes {
        self.values.generate_shared(len)
    }

    fn paper_row(&mut self, size: usize) -> Vec<Mutation> {
        vec![mutation::set_cell_shared(FAMILY, PAPER_COLUMN, -1, self.value(size))]
    }

    fn ycsb_record(&mut self) -> Vec<Mutation> {
        (0..FIELDS)
            .map(|f| mutation::set_cell_shared(FAMILY, format!("field{f}").as_bytes(), -1, self.value(FIELD_BYTES)))
            .collect()
    }

    fn ycsb_field(&mut self) -> Vec<Mutation> {
        let f = self.rng.uniform(FIELDS as u64);
        vec![mutation::set_cell_shared(FAMILY, format!("field{f}").as_bytes(), -1, self.value(FIELD_BYTES))]
    }

    async fn write(&mut self, store: &Store, key: &[u8], m: Vec<Mutation>, kind: OpKind) {
        let t = Instant::now();
        let r = store.write(key, m).await;
        self.stats.record(kind, t, &r, 1);
    }

    async fn read(&mut self, store: &Store, key: &[u8]) {
        let t = Instant::now();
        let r = store.read(key).await;
        self.stats.record(OpKind::Read, t, &r, 1);
        if matches!(r, Ok(false)) {
            self.stats.not_found(OpKind::Read);
        }
    }
}

/// Runs `f` for each of `threads` workers and merges their stats into the report `name`.
async fn run_workers<F, Fut>(
    w: &Arc<Workload>,
    name: String,
    seed: u64,
    total: Option<u64>,
    f: F,
) -> Result<BenchReport>
where
    F: Fn(Arc<Workload>, Worker, Progress) -> Fut,
    Fut: std::future::Future<Output = WorkerStats> + Send + 'static,
{
    let progress = match total {
        Some(t) if t < u64::MAX => Progress::new(&name, t),
        _ => Progress::hidden(),
    };
    let mut set = JoinSet::new();
    for i in 0..w.threads.max(1) {
        let worker = Worker {
            rng: Rng::new(seed ^ ((i as u64) << 40) ^ w.seed),
            values: w.values.generator(),
            stats: WorkerStats::start(),
        };
        // Workers start at different places in the value pool.
        let mut worker = worker;
        for _ in 0..(i % 64) {
            worker.values.generate(997);
        }
        set.spawn(f(Arc::clone(w), worker, progress.clone()));
    }
    let mut stats = Vec::new();
    while let Some(joined) = set.join_next().await {
        stats.push(joined.map_err(|e| BenchError::ThreadPanicked(format!("{name}: {e}")))?);
    }
    progress.finish();
    Ok(BenchReport::merge(name, w.servers, stats))
}

fn deadline(w: &Workload) -> Option<Instant> {
    w.duration.map(|d| Instant::now() + d)
}

/// The sequential benchmarks' piece: one of `10 × threads` ranges of the table.
fn range_piece(w: &Workload) -> u64 {
    w.records.div_ceil(10 * w.threads.max(1) as u64).max(1)
}

/// Loads rows `[0, count)` of `store` (`MutateRows` of [`LOAD_BATCH`] rows); reported as
/// `load:<what>`. Rows are YCSB records (`ycsb`) or the paper's one-value rows.
pub async fn load(w: &Arc<Workload>, store: Store, what: &str, count: u64, ycsb: bool) -> Result<BenchReport> {
    let claims = Arc::new(Claims::new(count, LOAD_BATCH, None));
    let size = w.value_size;
    run_workers(w, format!("load:{what}"), 0x10ad, Some(count), move |_, mut wk, progress| {
        let claims = Arc::clone(&claims);
        let store = store.clone();
        async move {
            wk.stats = WorkerStats::start();
            while let Some((a, b)) = claims.claim() {
                let entries: Vec<_> = (a..b)
                    .map(|n| if ycsb { (ycsb_key(n), wk.ycsb_record()) } else { (paper_key(n), wk.paper_row(size)) })
                    .collect();
                let t = Instant::now();
                let r = store.write_many(entries).await;
                let failed = match &r {
                    Ok((failed, _)) => *failed,
                    Err(_) => b - a,
                };
                let outcome = match r {
                    Ok((0, _)) => Ok(()),
                    Ok((_, Some(e))) | Err(e) => Err(e),
                    Ok((_, None)) => Ok(()),
                };
                wk.stats.record(OpKind::Write, t, &outcome, 0);
                wk.stats.units += (b - a) - failed.min(b - a);
                progress.inc(b - a);
            }
            wk.stats.stop();
            wk.stats
        }
    })
    .await
}

/// Runs one benchmark (its table already loaded where it reads).
pub async fn run(w: &Arc<Workload>, bench: Benchmark, index: usize) -> Result<BenchReport> {
    let seed = (index as u64 + 1).wrapping_mul(0x9E37_79B9);
    match bench {
        Benchmark::Paper(p) => run_paper(w, p, seed).await,
        Benchmark::Ycsb(y) => run_ycsb(w, y, seed).await,
    }
}

async fn run_paper(w: &Arc<Workload>, p: Paper, seed: u64) -> Result<BenchReport> {
    let ops = w.operations.unwrap_or(u64::MAX);
    let (total, piece) = match p {
        Paper::SequentialWrite => (w.records, range_piece(w)),
        Paper::SequentialRead | Paper::Scan => (ops, range_piece(w)),
        Paper::RandomWrite | Paper::RandomRead | Paper::RandomReadMem => (ops, 64),
    };
    let claims = Arc::new(Claims::new(total, piece, deadline(w)));
    // A scan is one request already; --batch changes the others.
    let name = match w.batch {
        b if b > 1 && p != Paper::Scan => format!("paper:{}/b{b}", p.name()),
        _ => format!("paper:{}", p.name()),
    };
    if w.batch > 1 && p != Paper::Scan {
        return run_paper_batched(w, p, seed, claims, name, total).await;
    }
    run_workers(w, name, seed, Some(total), move |w, mut wk, progress| {
        let claims = Arc::clone(&claims);
        async move {
            wk.stats = WorkerStats::start();
            let r = w.records.max(1);
            'pieces: while let Some((a, b)) = claims.claim() {
                if p == Paper::Scan {
                    let start = a % r;
                    let limit = (b - a).min(r - start);
                    let t = Instant::now();
                    let res = w.paper.scan(&paper_key(start), limit).await;
                    let rows = *res.as_ref().unwrap_or(&0);
                    wk.stats.record(OpKind::Scan, t, &res, rows);
                    progress.inc(b - a);
                    continue;
                }
                for i in a..b {
                    if claims.expired() {
                        break 'pieces;
                    }
                    match p {
                        Paper::SequentialWrite => {
                            let m = wk.paper_row(w.value_size);
                            wk.write(&w.paper, &paper_key(i), m, OpKind::Write).await;
                        }
                        Paper::RandomWrite => {
                            let m = wk.paper_row(w.value_size);
                            wk.write(&w.paper, &paper_key(fnv_hash64(i) % r), m, OpKind::Write).await;
                        }
                        Paper::SequentialRead => wk.read(&w.paper, &paper_key(i % r)).await,
                        Paper::RandomRead => {
                            let k = wk.rng.uniform(r);
                            wk.read(&w.paper, &paper_key(k)).await;
                        }
                        Paper::RandomReadMem => {
                            let k = wk.rng.uniform(w.mem_records.max(1));
                            wk.read(&w.paper_mem, &paper_key(k)).await;
                        }
                        Paper::Scan => {}
                    }
                }
                progress.inc(b - a);
            }
            wk.stats.stop();
            wk.stats
        }
    })
    .await
}

/// The paper's read and write benchmarks with `batch` rows per request: the same rows as
/// one row per request would touch, in the same order, grouped into one ReadRows (by row
/// keys) or one MutateRows. A row counts when it was found or written.
async fn run_paper_batched(
    w: &Arc<Workload>,
    p: Paper,
    seed: u64,
    claims: Arc<Claims>,
    name: String,
    total: u64,
) -> Result<BenchReport> {
    run_workers(w, name, seed, Some(total), move |w, mut wk, progress| {
        let claims = Arc::clone(&claims);
        async move {
            wk.stats = WorkerStats::start();
            let r = w.records.max(1);
            let batch = w.batch.max(1);
            'pieces: while let Some((a, b)) = claims.claim() {
                let mut i = a;
                while i < b {
                    if claims.expired() {
                        break 'pieces;
                    }
                    let end = b.min(i + batch);
                    let t = Instant::now();
                    match p {
                        Paper::SequentialWrite | Paper::RandomWrite => {
                            let entries: Vec<_> = (i..end)
                                .map(|n| {
                                    let k = if p == Paper::RandomWrite { fnv_hash64(n) % r } else { n };
                                    (paper_key(k), wk.paper_row(w.value_size))
                                })
                                .collect();
                            let res = w.paper.write_many(entries).await;
                            let (written, outcome) = match res {
                                Ok((0, _)) => (end - i, Ok(())),
                                Ok((failed, first)) => (
                                    (end - i).saturating_sub(failed),
                                    Err(first.unwrap_or_else(|| OpError {
                                        code: tonic::Code::Internal,
                                        message: format!("{failed} entries failed"),
                                    })),
                                ),
                                Err(e) => (0, Err(e)),
                            };
                            wk.stats.record(OpKind::Write, t, &outcome, 0);
                            wk.stats.units += written;
                        }
                        Paper::SequentialRead | Paper::RandomRead | Paper::RandomReadMem => {
                            let (store, rows) = if p == Paper::RandomReadMem {
                                (&w.paper_mem, w.mem_records.max(1))
                            } else {
                                (&w.paper, r)
                            };
                            let mut keys: Vec<_> = (i..end)
                                .map(|n| {
                                    paper_key(if p == Paper::SequentialRead { n % rows } else { wk.rng.uniform(rows) })
                                })
                                .collect();
                            // A row set holds each row once: a key drawn twice is read once.
                            keys.sort_unstable();
                            keys.dedup();
                            let asked = keys.len() as u64;
                            let res = store.read_many(keys).await;
                            let found = *res.as_ref().unwrap_or(&0);
                            wk.stats.record(OpKind::Read, t, &res, found);
                            if res.is_ok() {
                                for _ in found..asked {
                                    wk.stats.not_found(OpKind::Read);
                                }
                            }
                        }
                        Paper::Scan => {}
                    }
                    i = end;
                }
                progress.inc(b - a);
            }
            wk.stats.stop();
            wk.stats
        }
    })
    .await
}

/// A YCSB worker's key chooser (YCSB's `CoreWorkload.nextKeynum`).
enum Chooser {
    Zipfian(ScrambledZipfian),
    Uniform,
    Latest(SkewedLatest),
}

impl Chooser {
    /// A record number below `limit` (the acknowledged inserts).
    fn next(&mut self, rng: &mut Rng, limit: u64) -> u64 {
        let limit = limit.max(1);
        match self {
            Chooser::Uniform => rng.uniform(limit),
            Chooser::Latest(l) => l.next(rng, limit),
            Chooser::Zipfian(z) => {
                // The zipfian covers the records expected by the end of the run; a number
                // not inserted yet is drawn again (YCSB does the same).
                for _ in 0..64 {
                    let k = z.next(rng);
                    if k < limit {
                        return k;
                    }
                }
                rng.uniform(limit)
            }
        }
    }
}

async fn run_ycsb(w: &Arc<Workload>, y: Ycsb, seed: u64) -> Result<BenchReport> {
    let total = w.operations.unwrap_or(u64::MAX);
    let claims = Arc::new(Claims::new(total, 64, deadline(w)));
    let distribution = w.distribution.unwrap_or(y.distribution);
    // YCSB sizes the zipfian for the inserts it expects: operations × insert share × 2.
    let expected_new = (w.operations.unwrap_or(w.records) as f64 * y.insert * 2.0) as u64;
    let items = w.inserts.limit() + expected_new;
    let name = format!("ycsb:{}", y.letter);
    run_workers(w, name, seed, Some(total), move |w, mut wk, progress| {
        let claims = Arc::clone(&claims);
        async move {
            wk.stats = WorkerStats::start();
            let mut chooser = match distribution {
                Distribution::Zipfian => Chooser::Zipfian(ScrambledZipfian::new(items)),
                Distribution::Uniform => Chooser::Uniform,
                Distribution::Latest => Chooser::Latest(SkewedLatest::new(w.inserts.limit())),
            };
            let cuts = [y.read, y.read + y.update, y.read + y.update + y.insert, 1.0 - y.read_modify_write];
            'pieces: while let Some((a, b)) = claims.claim() {
                for _ in a..b {
                    if claims.expired() {
                        break 'pieces;
                    }
                    let u = (wk.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    if u < cuts[0] {
                        let k = chooser.next(&mut wk.rng, w.inserts.limit());
                        wk.read(&w.ycsb, &ycsb_key(k)).await;
                    } else if u < cuts[1] {
                        let k = chooser.next(&mut wk.rng, w.inserts.limit());
                        let m = wk.ycsb_field();
                        wk.write(&w.ycsb, &ycsb_key(k), m, OpKind::Write).await;
                    } else if u < cuts[2] {
                        let n = w.inserts.claim();
                        let m = wk.ycsb_record();
                        wk.write(&w.ycsb, &ycsb_key(n), m, OpKind::Insert).await;
                        w.inserts.acknowledge(n);
                    } else if u < cuts[3] {
                        let k = chooser.next(&mut wk.rng, w.inserts.limit());
                        let len = 1 + wk.rng.uniform(MAX_SCAN_LENGTH);
                        let t = Instant::now();
                        let res = w.ycsb.scan(&ycsb_key(k), len).await;
                        wk.stats.record(OpKind::Scan, t, &res, 1);
                    } else {
                        let k = ycsb_key(chooser.next(&mut wk.rng, w.inserts.limit()));
                        let m = wk.ycsb_field();
                        let t = Instant::now();
                        let res = match w.ycsb.read(&k).await {
                            Ok(found) => w.ycsb.write(&k, m).await.map(|()| found),
                            Err(e) => Err(e),
                        };
                        wk.stats.record(OpKind::ReadModifyWrite, t, &res, 1);
                        if matches!(res, Ok(false)) {
                            wk.stats.not_found(OpKind::ReadModifyWrite);
                        }
                    }
                }
                progress.inc(b - a);
            }
            wk.stats.stop();
            wk.stats
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_hand_out_disjoint_pieces_up_to_the_total() {
        let c = Claims::new(10, 4, None);
        assert_eq!(c.claim(), Some((0, 4)));
        assert_eq!(c.claim(), Some((4, 8)));
        assert_eq!(c.claim(), Some((8, 10)));
        assert_eq!(c.claim(), None);
        let expired = Claims::new(10, 4, Some(Instant::now()));
        assert_eq!(expired.claim(), None);
    }
}
