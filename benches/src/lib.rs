//! Benchmarks for the engine and the cluster.
//!
//! The library half of the `db_bench` binary: a driver that speaks RocksDB 7.8 `db_bench`'s
//! flags and prints its result lines, so `../shared/bench/vs-rocksdb.sh` can run both tools
//! on the same workloads and compare them line by line. The criterion micro-benchmarks live
//! in `benches/` beside this crate's `src/`.
//!
//! | module | holds |
//! |---|---|
//! | [`flags`] | the command line (RocksDB's flag names) and its validation into a [`flags::Config`] |
//! | [`keys`] | key encoding as db_bench does it |
//! | [`random`] | a small fast RNG and RocksDB's compressible value generator |
//! | [`report`] | per-thread counters, merging, the result line and latency histograms |
//! | [`progress`] | the optional progress bar on stderr |
//! | [`workloads`] | what one thread of each benchmark does |
//! | [`driver`] | opening the database, running benchmarks in threads, the closing line |
//! | [`cluster`] | `cluster_bench`: the paper's and YCSB's benchmarks against a running cluster |
//!
//! `cluster_bench` reuses [`random`] (values), [`report`] (percentiles) and [`progress`].

pub mod cluster;
pub mod driver;
pub mod error;
pub mod flags;
pub mod keys;
pub mod progress;
pub mod random;
pub mod report;
pub mod workloads;

pub use error::{BenchError, Result};
