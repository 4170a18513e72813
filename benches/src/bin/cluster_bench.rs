//! `cluster_bench`: the Bigtable paper's benchmarks and YCSB A–F against a running cluster.
//! See the `benches::cluster` docs and the README's "Benchmarks" section.
//!
//! ```text
//! cluster_bench --master 127.0.0.1:7000 --benchmarks paper,ycsb --threads 16 --records 100000
//! cluster_bench --mini 1 --records 200 --operations 300 --benchmarks ycsb:a --json
//! ```

/// mimalloc rather than glibc malloc: under load, glibc's malloc/free/consolidate took
/// about 14% of a tablet server's and the driver's CPU (BENCHMARKS.md, "Cluster").
/// [`tablet::allocator::keep_freed_memory`] sets how long it keeps freed memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::process::ExitCode;

use benches::cluster::flags::ClusterFlags;
use benches::cluster::session::{self, Config, Target};
use benches::cluster::stats::BenchReport;
use clap::Parser;
use serde_json::json;

fn header(c: &Config) -> String {
    let target = match &c.target {
        Target::Master(m) => format!("client library via master {m}"),
        Target::Gateway { data, .. } => format!("Bigtable API via {data}"),
        Target::Mini(n) => format!("in-process mini cluster of {n}"),
    };
    let ops = match (c.operations, c.duration) {
        (Some(n), Some(d)) => format!("{n} ops or {:.1} s", d.as_secs_f64()),
        (Some(n), None) => format!("{n} ops"),
        (None, Some(d)) => format!("{:.1} s", d.as_secs_f64()),
        (None, None) => String::new(),
    };
    format!(
        "# cluster_bench: {target}; {} tablet server(s); {} threads; {} records ({} in-memory); {ops} per benchmark",
        c.servers, c.threads, c.records, c.mem_records
    )
}

fn main() -> ExitCode {
    tablet::allocator::keep_freed_memory();
    let flags = ClusterFlags::parse();
    let config = match flags.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cluster_bench: error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cluster_bench: error: starting the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !flags.json {
        println!("{}", header(&config));
    }
    let json = flags.json;
    let print = |r: &BenchReport| {
        if !json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", r.line());
            let _ = out.flush();
        }
        if let Some(e) = &r.first_error {
            eprintln!("cluster_bench: {}: first error: {e}", r.name);
        }
    };
    let result = runtime.block_on(session::run(&config, print));
    match result {
        Ok(reports) => {
            if json {
                let doc = json!({
                    "servers": config.servers,
                    "threads": config.threads,
                    "records": config.records,
                    "mem_records": config.mem_records,
                    "operations": config.operations,
                    "duration_secs": config.duration.map(|d| d.as_secs_f64()),
                    "benchmarks": reports.iter().map(BenchReport::json).collect::<Vec<_>>(),
                });
                println!("{doc}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cluster_bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
