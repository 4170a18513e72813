//! Counting what the workers did and reporting it: one line per benchmark, or JSON.
//!
//! ```text
//! paper:random-read           300 ops    0.051 s     5882 ops/s     5882 /server  read 150/900/1200 us  errors 0
//! ```
//!
//! Latencies are per operation type (p50/p99/p99.9 in microseconds, from
//! [`crate::report::Histogram`], db_bench's percentile rule). Throughput counts the
//! benchmark's unit — rows for the paper's benchmarks (a scan RPC yields many), operations
//! for YCSB — over the wall time from the first worker's start to the last one's finish.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::store::OpError;
use crate::report::Histogram;

/// The kinds of operations, each with its own latency histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// A point read of one row.
    Read,
    /// A write of one row (paper writes, YCSB updates).
    Write,
    /// A YCSB insert of a new record.
    Insert,
    /// A range read (`ReadRows` with a row limit).
    Scan,
    /// A read then a write of the same record (YCSB F).
    ReadModifyWrite,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 5] = [OpKind::Read, OpKind::Write, OpKind::Insert, OpKind::Scan, OpKind::ReadModifyWrite];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Insert => "insert",
            OpKind::Scan => "scan",
            OpKind::ReadModifyWrite => "rmw",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One kind of operation's counters in one worker.
#[derive(Clone, Debug, Default)]
pub struct OpCounts {
    /// Operations attempted.
    pub count: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Reads that found no row.
    pub not_found: u64,
    /// Latency of each operation, in nanoseconds.
    pub latencies: Vec<u64>,
}

/// What one worker did in one benchmark.
#[derive(Debug, Clone)]
pub struct WorkerStats {
    /// Per [`OpKind`].
    pub ops: [OpCounts; 5],
    /// Units done (rows or operations; see the module docs).
    pub units: u64,
    /// The first error seen.
    pub first_error: Option<OpError>,
    /// When the worker started.
    pub start: Instant,
    /// When it stopped.
    pub finish: Instant,
}

impl WorkerStats {
    /// Fresh counters, clock started.
    pub fn start() -> WorkerStats {
        let now = Instant::now();
        WorkerStats { ops: Default::default(), units: 0, first_error: None, start: now, finish: now }
    }

    /// Records an operation of `kind` that began at `began`: `units` done on success, or
    /// the error.
    pub fn record<T>(&mut self, kind: OpKind, began: Instant, result: &Result<T, OpError>, units: u64) {
        let nanos = began.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        let Some(c) = self.ops.get_mut(kind.index()) else { return };
        c.count += 1;
        c.latencies.push(nanos);
        match result {
            Ok(_) => self.units += units,
            Err(e) => {
                c.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(e.clone());
                }
            }
        }
    }

    /// Counts a read of `kind` that found nothing.
    pub fn not_found(&mut self, kind: OpKind) {
        if let Some(c) = self.ops.get_mut(kind.index()) {
            c.not_found += 1;
        }
    }

    /// Stops the clock.
    pub fn stop(&mut self) {
        self.finish = Instant::now();
    }
}

/// One operation kind's summary.
#[derive(Clone, Debug, PartialEq)]
pub struct OpSummary {
    /// Which kind.
    pub kind: OpKind,
    /// Operations attempted.
    pub count: u64,
    /// Failed.
    pub errors: u64,
    /// Reads that found nothing.
    pub not_found: u64,
    /// Latency percentiles and mean (µs).
    pub histogram: Histogram,
}

/// A finished benchmark.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// `paper:random-read`, `ycsb:a`, `load:usertable`, ...
    pub name: String,
    /// Units done (rows or operations).
    pub units: u64,
    /// First start to last finish.
    pub elapsed: Duration,
    /// Tablet servers the throughput is shared by (for the per-server figure).
    pub servers: usize,
    /// Per kind, only the kinds that occurred.
    pub ops: Vec<OpSummary>,
    /// The first error seen, if any.
    pub first_error: Option<OpError>,
}

impl BenchReport {
    /// Merges the workers of benchmark `name`.
    pub fn merge(name: String, servers: usize, workers: Vec<WorkerStats>) -> BenchReport {
        let start = workers.iter().map(|w| w.start).min();
        let finish = workers.iter().map(|w| w.finish).max();
        let elapsed = match (start, finish) {
            (Some(s), Some(f)) => f.saturating_duration_since(s),
            _ => Duration::ZERO,
        };
        let mut units = 0;
        let mut first_error = None;
        let mut all: [OpCounts; 5] = Default::default();
        for w in workers {
            units += w.units;
            if first_error.is_none() {
                first_error = w.first_error;
            }
            for (into, from) in all.iter_mut().zip(w.ops) {
                into.count += from.count;
                into.errors += from.errors;
                into.not_found += from.not_found;
                into.latencies.extend(from.latencies);
            }
        }
        let ops = OpKind::ALL
            .iter()
            .zip(all.iter_mut())
            .filter(|(_, c)| c.count > 0)
            .map(|(&kind, c)| OpSummary {
                kind,
                count: c.count,
                errors: c.errors,
                not_found: c.not_found,
                histogram: Histogram::from_nanos(&mut c.latencies),
            })
            .collect();
        BenchReport { name, units, elapsed, servers: servers.max(1), ops, first_error }
    }

    /// Failed operations, all kinds.
    pub fn errors(&self) -> u64 {
        self.ops.iter().map(|o| o.errors).sum()
    }

    /// Units per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.units as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Units per second per tablet server.
    pub fn ops_per_sec_per_server(&self) -> f64 {
        self.ops_per_sec() / self.servers as f64
    }

    /// The report line (no newline).
    pub fn line(&self) -> String {
        let mut s = format!(
            "{:<24} {:>9} ops {:>8.3} s {:>9.0} ops/s {:>9.0} /server ",
            self.name,
            self.units,
            self.elapsed.as_secs_f64(),
            self.ops_per_sec(),
            self.ops_per_sec_per_server()
        );
        for o in &self.ops {
            let p = &o.histogram.percentiles;
            let _ = write!(s, " {} {:.0}/{:.0}/{:.0} us", o.kind.name(), p[0], p[2], p[3]);
        }
        let _ = write!(s, "  errors {}", self.errors());
        let not_found: u64 = self.ops.iter().map(|o| o.not_found).sum();
        if not_found > 0 {
            let _ = write!(s, " not-found {not_found}");
        }
        s
    }

    /// The JSON object of this benchmark.
    pub fn json(&self) -> Value {
        let ops: serde_json::Map<String, Value> = self
            .ops
            .iter()
            .map(|o| {
                let h = &o.histogram;
                let v = json!({
                    "count": o.count,
                    "errors": o.errors,
                    "not_found": o.not_found,
                    "mean_us": h.average,
                    "p50_us": h.percentiles[0],
                    "p99_us": h.percentiles[2],
                    "p99_9_us": h.percentiles[3],
                    "max_us": h.max,
                });
                (o.kind.name().to_string(), v)
            })
            .collect();
        json!({
            "name": self.name,
            "ops": self.units,
            "seconds": self.elapsed.as_secs_f64(),
            "ops_per_sec": self.ops_per_sec(),
            "servers": self.servers,
            "ops_per_sec_per_server": self.ops_per_sec_per_server(),
            "errors": self.errors(),
            "first_error": self.first_error.as_ref().map(ToString::to_string),
            "op_types": ops,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn merges_workers_and_reports_per_kind() {
        let t0 = Instant::now();
        let mut a = WorkerStats::start();
        a.start = t0;
        for i in 1..=100u64 {
            a.ops[0].count += 1;
            a.ops[0].latencies.push(i * 1000);
        }
        a.units = 100;
        a.finish = t0 + Duration::from_secs(1);
        let mut b = WorkerStats::start();
        b.start = t0 + Duration::from_millis(500);
        b.finish = t0 + Duration::from_secs(2);
        let err: Result<(), OpError> = Err(OpError { code: Code::Unavailable, message: "down".into() });
        b.record(OpKind::Write, Instant::now(), &err, 1);
        b.record(OpKind::Write, Instant::now(), &Ok(()), 1);
        b.not_found(OpKind::Read);
        let r = BenchReport::merge("ycsb:a".into(), 2, vec![a, b]);
        assert_eq!(r.units, 101);
        assert_eq!(r.elapsed, Duration::from_secs(2));
        assert_eq!(r.errors(), 1);
        assert_eq!(r.ops.len(), 2);
        assert_eq!(r.ops[0].kind, OpKind::Read);
        assert_eq!(r.ops[0].histogram.percentiles[0], 50.0);
        assert_eq!(r.ops[0].histogram.percentiles[2], 99.0);
        assert!((r.ops_per_sec() - 50.5).abs() < 1e-9);
        assert!((r.ops_per_sec_per_server() - 25.25).abs() < 1e-9);
        let line = r.line();
        assert!(line.starts_with("ycsb:a"), "{line}");
        assert!(line.contains(" read 50/99/100 us"), "{line}");
        assert!(line.contains("errors 1 not-found 1"), "{line}");
        let j = r.json();
        assert_eq!(j["ops"], 101);
        assert_eq!(j["errors"], 1);
        assert_eq!(j["op_types"]["write"]["count"], 2);
        assert_eq!(j["op_types"]["read"]["p99_us"], 99.0);
        assert_eq!(j["first_error"], "Unavailable: down");
    }
}
