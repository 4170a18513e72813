//! `cluster_bench`'s command line and its validation into a [`Config`].

use std::time::Duration;

use clap::Parser;

use super::session::{Config, Target};
use super::spec::{parse_benchmarks, Distribution};
use crate::{BenchError, Result};

/// Drives a running cluster with the Bigtable paper's benchmarks and YCSB's core workloads.
#[derive(Parser, Debug, Clone)]
#[command(name = "cluster_bench", version, about)]
pub struct ClusterFlags {
    /// The master (`host:port`): tables through its admin API, data through the Rust client
    /// straight to the tablet servers. With --gateway: only admin calls and the wait for
    /// tablet assignment.
    #[arg(long, value_name = "ADDR")]
    pub master: Option<String>,
    /// A Bigtable data-API endpoint (the gateway): every data call goes to it through
    /// tonic's generated BigtableClient. Admin calls go to --master if given, else here.
    #[arg(long, value_name = "ADDR")]
    pub gateway: Option<String>,
    /// Start a master and N tablet servers in this process on a temporary root instead.
    #[arg(long, value_name = "N")]
    pub mini: Option<usize>,
    /// Comma-separated: `paper:NAME` (sequential-write, random-write, sequential-read,
    /// random-read, random-read-mem, scan), `ycsb:LETTER` (a-f), or `paper` / `ycsb` for
    /// all of one family.
    #[arg(long, default_value = "paper,ycsb")]
    pub benchmarks: String,
    /// Concurrent workers (tokio tasks).
    #[arg(long, default_value_t = 16)]
    pub threads: usize,
    /// Rows of the paper's table; records loaded into the YCSB table.
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    /// Operations per benchmark [default: --records, or unlimited with --duration].
    #[arg(long)]
    pub operations: Option<u64>,
    /// Time limit per benchmark, in seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Initial splits of each table [default: 4 tablets per server, at least 100 rows each].
    #[arg(long)]
    pub splits: Option<usize>,
    /// Tablet servers behind the target, for the per-server figure [default: 1, or N of --mini].
    #[arg(long)]
    pub servers: Option<usize>,
    /// Rows of the paper's in-memory table [default: --records / 10].
    #[arg(long)]
    pub mem_records: Option<u64>,
    /// Value size of the paper's rows, in bytes.
    #[arg(long, default_value_t = 1000)]
    pub value_size: usize,
    /// Rows per request in the paper's read and write benchmarks: 1 (the paper's way) reads
    /// with one ReadRows and writes with one MutateRow per row; more sends that many rows'
    /// keys in one ReadRows, or their mutations in one MutateRows (the client libraries'
    /// bulk calls). Reports then carry `/bN` after the benchmark's name. At most 1000.
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Request distribution of every YCSB workload (zipfian, uniform, latest) instead of
    /// each workload's own.
    #[arg(long)]
    pub distribution: Option<String>,
    /// Seed of the key and value generators.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The tables exist and hold --records rows: create and load nothing.
    #[arg(long)]
    pub existing: bool,
    /// The instance the tables live in.
    #[arg(long, default_value = "projects/bench/instances/bench")]
    pub instance: String,
    /// Print one JSON object at the end instead of a line per benchmark.
    #[arg(long)]
    pub json: bool,
}

/// The largest `--batch`.
pub const MAX_BATCH: u64 = 1000;

fn flag(flag: &'static str, reason: impl Into<String>) -> BenchError {
    BenchError::Flag { flag, reason: reason.into() }
}

impl ClusterFlags {
    /// Checks the flags and builds the run's configuration.
    pub fn validate(&self) -> Result<Config> {
        let target = match (&self.master, &self.gateway, self.mini) {
            (Some(m), None, None) => Target::Master(m.clone()),
            (m, Some(g), None) => {
                Target::Gateway { data: g.clone(), admin: m.clone().unwrap_or_else(|| g.clone()), master: m.clone() }
            }
            (None, None, Some(0)) => return Err(flag("mini", "needs at least one tablet server")),
            (None, None, Some(n)) => Target::Mini(n),
            (None, None, None) => {
                return Err(flag("master", "say which cluster: --master ADDR, --gateway ADDR or --mini N"))
            }
            _ => return Err(flag("mini", "--mini starts its own cluster: not with --master or --gateway")),
        };
        if self.threads == 0 {
            return Err(flag("threads", "must be at least 1"));
        }
        if self.records == 0 {
            return Err(flag("records", "must be at least 1"));
        }
        if self.value_size == 0 {
            return Err(flag("value-size", "must be at least 1"));
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Err(flag("batch", format!("{} is not between 1 and {MAX_BATCH}", self.batch)));
        }
        let duration = match self.duration {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => return Err(flag("duration", format!("{s} is not a positive number of seconds"))),
        };
        let operations = match (self.operations, duration) {
            (Some(0), _) => return Err(flag("operations", "must be at least 1")),
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(self.records),
        };
        let mem_records = self.mem_records.unwrap_or(self.records / 10).max(1);
        let servers = self.servers.or(self.mini).unwrap_or(1);
        if servers == 0 {
            return Err(flag("servers", "must be at least 1"));
        }
        let distribution = self.distribution.as_deref().map(Distribution::parse).transpose()?;
        let instance = self.instance.trim_end_matches('/').to_string();
        let parts: Vec<&str> = instance.split('/').collect();
        if parts.len() != 4
            || parts[0] != "projects"
            || parts[2] != "instances"
            || parts[1].is_empty()
            || parts[3].is_empty()
        {
            return Err(flag("instance", format!("{instance:?} is not projects/{{project}}/instances/{{instance}}")));
        }
        Ok(Config {
            target,
            benchmarks: parse_benchmarks(&self.benchmarks)?,
            threads: self.threads,
            records: self.records,
            mem_records,
            operations,
            duration,
            splits: self.splits,
            servers,
            value_size: self.value_size,
            batch: self.batch,
            distribution,
            seed: self.seed,
            existing: self.existing,
            instance,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config> {
        let mut all = vec!["cluster_bench"];
        all.extend_from_slice(args);
        ClusterFlags::try_parse_from(all).unwrap().validate()
    }

    #[test]
    fn targets_and_defaults() {
        let c = parse(&["--master", "127.0.0.1:7000"]).unwrap();
        assert_eq!(c.target, Target::Master("127.0.0.1:7000".into()));
        assert_eq!((c.records, c.operations, c.mem_records, c.servers), (100_000, Some(100_000), 10_000, 1));
        assert_eq!(c.benchmarks.len(), 12);
        let g = parse(&["--gateway", "g:1", "--master", "m:2", "--duration", "1.5"]).unwrap();
        assert_eq!(g.target, Target::Gateway { data: "g:1".into(), admin: "m:2".into(), master: Some("m:2".into()) });
        assert_eq!((g.operations, g.duration), (None, Some(Duration::from_millis(1500))));
        let m = parse(&["--mini", "3", "--records", "200", "--operations", "300"]).unwrap();
        assert_eq!((m.target, m.servers, m.mem_records, m.operations), (Target::Mini(3), 3, 20, Some(300)));
        assert_eq!((c.batch, parse(&["--mini", "1", "--batch", "100"]).unwrap().batch), (1, 100));
    }

    #[test]
    fn bad_flags_name_the_flag() {
        for (args, want) in [
            (&["--records", "5"][..], "--master"),
            (&["--mini", "1", "--master", "x:1"][..], "--mini"),
            (&["--mini", "0"][..], "--mini"),
            (&["--mini", "1", "--threads", "0"][..], "--threads"),
            (&["--mini", "1", "--duration=-1"][..], "--duration"),
            (&["--mini", "1", "--distribution", "pareto"][..], "--distribution"),
            (&["--mini", "1", "--benchmarks", "paper:x"][..], "--benchmarks"),
            (&["--mini", "1", "--instance", "p/i"][..], "--instance"),
            (&["--mini", "1", "--batch", "0"][..], "--batch"),
            (&["--mini", "1", "--batch", "1001"][..], "--batch"),
        ] {
            let e = parse(args).unwrap_err().to_string();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }
}
