//! Counting and reporting, in RocksDB `db_bench`'s words.
//!
//! Each thread keeps a [`ThreadStats`]; the driver [`merge`]s them into a [`Report`] and
//! prints its result line, which has exactly RocksDB 7.8's shape:
//!
//! ```text
//! fillseq      :       2.345 micros/op 426439 ops/sec 2.345 seconds 1000000 operations;   47.2 MB/s
//! readrandom   :       3.100 micros/op 322580 ops/sec 3.100 seconds 1000000 operations;   35.0 MB/s (632000 of 1000000 found)
//! ```
//!
//! `micros/op` is the threads' summed busy time per op (per-thread latency), `ops/sec` and
//! `MB/s` are totals over wall time from the first thread's start to the last one's finish.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// What one thread did during one benchmark.
#[derive(Debug, Clone)]
pub struct ThreadStats {
    /// Operations done.
    pub done: u64,
    /// Key and value bytes written or read.
    pub bytes: u64,
    /// For lookups: (found, looked up).
    pub found: Option<(u64, u64)>,
    /// When the thread started its timed loop.
    pub start: Instant,
    /// When it finished.
    pub finish: Instant,
    /// Per-op latencies in nanoseconds, when `--histogram=1`.
    pub latencies: Option<Vec<u64>>,
}

impl ThreadStats {
    /// Fresh counters; the clock starts now.
    pub fn start(histogram: bool) -> Self {
        let now = Instant::now();
        ThreadStats { done: 0, bytes: 0, found: None, start: now, finish: now, latencies: histogram.then(Vec::new) }
    }

    /// Stops the clock.
    pub fn stop(&mut self) {
        self.finish = Instant::now();
    }

    /// Records one finished op that began at `began` (its latency is kept only with
    /// `--histogram`; `began` is `None` then otherwise).
    #[inline]
    pub fn op_done(&mut self, began: Option<Instant>) {
        self.done += 1;
        if let (Some(l), Some(b)) = (self.latencies.as_mut(), began) {
            l.push(b.elapsed().as_nanos().min(u64::MAX as u128) as u64);
        }
    }

    /// The start instant of an op if latencies are recorded.
    #[inline]
    pub fn op_clock(&self) -> Option<Instant> {
        self.latencies.as_ref().map(|_| Instant::now())
    }
}

/// Several threads' stats merged.
#[derive(Debug, Clone)]
pub struct Report {
    /// Total ops.
    pub done: u64,
    /// Total bytes.
    pub bytes: u64,
    /// Total found / looked up, if the benchmark looks keys up.
    pub found: Option<(u64, u64)>,
    /// Sum of the threads' busy times.
    pub busy: Duration,
    /// First start to last finish.
    pub elapsed: Duration,
    /// All latencies, when recorded.
    pub latencies: Option<Vec<u64>>,
}

/// Merges the stats of the threads of one benchmark (RocksDB's `Stats::Merge`).
pub fn merge(threads: Vec<ThreadStats>) -> Report {
    let start = threads.iter().map(|t| t.start).min();
    let finish = threads.iter().map(|t| t.finish).max();
    let elapsed = match (start, finish) {
        (Some(s), Some(f)) => f.saturating_duration_since(s),
        _ => Duration::ZERO,
    };
    let mut r = Report { done: 0, bytes: 0, found: None, busy: Duration::ZERO, elapsed, latencies: None };
    for t in threads {
        r.done += t.done;
        r.bytes += t.bytes;
        r.busy += t.finish.saturating_duration_since(t.start);
        if let Some((f, n)) = t.found {
            let (f0, n0) = r.found.unwrap_or((0, 0));
            r.found = Some((f0 + f, n0 + n));
        }
        if let Some(l) = t.latencies {
            r.latencies.get_or_insert_with(Vec::new).extend(l);
        }
    }
    r
}

impl Report {
    /// The result line, without a newline (RocksDB's `Stats::Report`).
    pub fn line(&self, name: &str) -> String {
        let done = self.done.max(1);
        let elapsed = self.elapsed.as_secs_f64().max(1e-9);
        let mut extra = String::new();
        if self.bytes > 0 {
            let _ = write!(extra, "{:6.1} MB/s", self.bytes as f64 / 1_048_576.0 / elapsed);
        }
        if let Some((found, of)) = self.found {
            if !extra.is_empty() {
                extra.push(' ');
            }
            let _ = write!(extra, "({found} of {of} found)");
        }
        format!(
            "{name:<12} : {:11.3} micros/op {} ops/sec {:.3} seconds {done} operations;{}{extra}",
            self.busy.as_secs_f64() * 1e6 / done as f64,
            (done as f64 / elapsed) as u64,
            elapsed,
            if extra.is_empty() { "" } else { " " },
        )
    }

    /// The latency histogram summary (RocksDB's `Microseconds per <op>:` block), if
    /// latencies were recorded.
    pub fn histogram(&mut self, op: &str) -> Option<String> {
        let l = self.latencies.as_mut()?;
        Some(Histogram::from_nanos(l).render(op))
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Ops counted.
    pub count: u64,
    /// Mean.
    pub average: f64,
    /// Standard deviation.
    pub stddev: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// P50, P75, P99, P99.9, P99.99.
    pub percentiles: [f64; 5],
}

/// The percentile points reported, with their labels.
pub const PERCENTILES: [(f64, &str); 5] =
    [(50.0, "P50"), (75.0, "P75"), (99.0, "P99"), (99.9, "P99.9"), (99.99, "P99.99")];

impl Histogram {
    /// Summarises latencies given in nanoseconds (sorts them in place).
    pub fn from_nanos(nanos: &mut [u64]) -> Histogram {
        nanos.sort_unstable();
        let us = |n: u64| n as f64 / 1000.0;
        let count = nanos.len() as u64;
        if count == 0 {
            return Histogram { count, average: 0.0, stddev: 0.0, min: 0.0, max: 0.0, percentiles: [0.0; 5] };
        }
        let sum: f64 = nanos.iter().map(|&n| us(n)).sum();
        let average = sum / count as f64;
        let var = nanos.iter().map(|&n| (us(n) - average).powi(2)).sum::<f64>() / count as f64;
        let pick = |p: f64| {
            // The smallest value with at least p% of the values at or below it.
            let rank = ((p / 100.0) * count as f64 - 1e-9).ceil() as usize; // 1e-9: 99.9% of 10000 is 9990, not 9990.000000000002
            nanos.get(rank.clamp(1, nanos.len()) - 1).map_or(0.0, |&n| us(n))
        };
        Histogram {
            count,
            average,
            stddev: var.sqrt(),
            min: nanos.first().map_or(0.0, |&n| us(n)),
            max: nanos.last().map_or(0.0, |&n| us(n)),
            percentiles: PERCENTILES.map(|(p, _)| pick(p)),
        }
    }

    /// RocksDB's layout (without the bucket table).
    pub fn render(&self, op: &str) -> String {
        let mut s = format!("Microseconds per {op}:\n");
        let _ = writeln!(s, "Count: {} Average: {:.4}  StdDev: {:.2}", self.count, self.average, self.stddev);
        let _ = writeln!(s, "Min: {:.3}  Median: {:.4}  Max: {:.3}", self.min, self.percentiles[0], self.max);
        s.push_str("Percentiles:");
        for ((_, label), v) in PERCENTILES.iter().zip(self.percentiles) {
            let _ = write!(s, " {label}: {v:.2}");
        }
        s.push_str("\n------------------------------------------------------");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(done: u64, bytes: u64, start: Instant, secs: f64) -> ThreadStats {
        ThreadStats { done, bytes, found: None, start, finish: start + Duration::from_secs_f64(secs), latencies: None }
    }

    #[test]
    fn line_matches_rocksdb_shape() {
        let t0 = Instant::now();
        let r = merge(vec![stats(1_000_000, 116_000_000, t0, 2.0)]);
        let line = r.line("fillseq");
        assert_eq!(
            line,
            "fillseq      :       2.000 micros/op 500000 ops/sec 2.000 seconds 1000000 operations;   55.3 MB/s"
        );
    }

    #[test]
    fn threads_sum_ops_over_wall_time_and_found_counts() {
        let t0 = Instant::now();
        let mut a = stats(100, 0, t0, 1.0);
        a.found = Some((60, 100));
        let mut b = stats(100, 0, t0 + Duration::from_millis(500), 1.5);
        b.found = Some((40, 100));
        let r = merge(vec![a, b]);
        assert_eq!(r.done, 200);
        assert_eq!(r.elapsed, Duration::from_secs(2));
        let line = r.line("readrandom");
        // busy 2.5 s over 200 ops = 12500 us/op; 200 ops over 2 s wall = 100 ops/sec.
        assert_eq!(
            line,
            "readrandom   :   12500.000 micros/op 100 ops/sec 2.000 seconds 200 operations; (100 of 200 found)"
        );
        // What vs-rocksdb.sh's awk takes: the first field and the one before "ops/sec".
        let f: Vec<&str> = line.split_whitespace().collect();
        let i = f.iter().position(|&x| x == "ops/sec").unwrap();
        assert_eq!((f[0], f[i - 1]), ("readrandom", "100"));
    }

    #[test]
    fn histogram_percentiles() {
        let mut ns: Vec<u64> = (1..=10_000u64).rev().map(|i| i * 1000).collect();
        let h = Histogram::from_nanos(&mut ns);
        assert_eq!(h.count, 10_000);
        assert_eq!((h.min, h.max), (1.0, 10_000.0));
        assert_eq!(h.percentiles, [5000.0, 7500.0, 9900.0, 9990.0, 9999.0]);
        assert!((h.average - 5000.5).abs() < 1e-9);
        let text = h.render("read");
        assert!(text.starts_with("Microseconds per read:\nCount: 10000 Average: 5000.5000"), "{text}");
        assert!(text.contains("P99.99: 9999.00"), "{text}");
        assert!(!text.contains("micros/op"));
    }
}
