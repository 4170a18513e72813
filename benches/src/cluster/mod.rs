//! The cluster load driver behind `cluster_bench` (issue 8): the Bigtable paper's six
//! benchmarks (§7, Figure 6: random and sequential reads and writes, random reads of an
//! in-memory table, scans; one 1000-byte value per row) and YCSB's core workloads A–F
//! (10 fields of 100 bytes per record; zipfian, latest and uniform key choice), run by
//! concurrent tokio tasks against a cluster reached through the Rust client, through a
//! Bigtable endpoint (the gateway), or started in this process.
//!
//! | module | holds |
//! |---|---|
//! | [`flags`] | the command line and its validation into a [`session::Config`] |
//! | [`spec`] | benchmark names, YCSB op mixes, key formats, split points |
//! | [`generators`] | YCSB's zipfian, scrambled zipfian, latest and insert-counter generators |
//! | [`store`] | the two ways to reach a table: `tablet::client` or a Bigtable endpoint |
//! | [`runner`] | the workers: work pieces, each benchmark's operations, table loads |
//! | [`stats`] | per-op-type counts and latencies, the report line and JSON |
//! | [`session`] | one run: the cluster, the tables, loads and benchmarks in order |
//!
//! The paper's "random reads (mem)" used a locality group marked in-memory; we have no such
//! family option, so it is emulated by a separate table a tenth of the size
//! (`--mem-records`), small enough to sit in the tablet servers' block caches.

pub mod flags;
pub mod generators;
pub mod runner;
pub mod session;
pub mod spec;
pub mod stats;
pub mod store;
