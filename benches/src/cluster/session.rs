//! One run of `cluster_bench`: reach the cluster (or start one in this process), create
//! and pre-split the tables, load them when a benchmark needs data, run the benchmarks in
//! order and hand back their reports.

use std::sync::Arc;
use std::time::Duration;

use master::{MiniCluster, MiniClusterOptions};
use tablet::client::{Client, ClientOptions};
use tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient;
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{gc_rule, ColumnFamily, CreateTableRequest, GcRule, Table};
use tablet::proto::bigtable::bigtable_client::BigtableClient;
use tablet::proto::bt::internal::v1::master_control_client::MasterControlClient;
use tablet::proto::bt::internal::v1::LocateTabletsRequest;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use super::generators::InsertCounter;
use super::runner::{self, Workload, FAMILY};
use super::spec::{paper_key, split_points, ycsb_key, Benchmark, Distribution, Paper};
use super::stats::BenchReport;
use super::store::Store;
use crate::random::ValuePool;
use crate::{BenchError, Result};

/// Largest gRPC message the driver sends or accepts.
const MAX_MESSAGE: usize = 256 << 20;

/// Which cluster to drive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A master: tables through its admin API, data through `tablet::client` straight to
    /// the tablet servers.
    Master(String),
    /// A Bigtable endpoint (the gateway) for data; admin calls go to `admin`.
    Gateway {
        /// The data address.
        data: String,
        /// The admin address (the master, or the gateway itself).
        admin: String,
        /// The master, when known (to wait for tablet assignment).
        master: Option<String>,
    },
    /// A master and this many tablet servers started in this process on a temporary root.
    Mini(usize),
}

/// Everything a run is told.
#[derive(Clone, Debug)]
pub struct Config {
    /// Which cluster.
    pub target: Target,
    /// What to run, in order.
    pub benchmarks: Vec<Benchmark>,
    /// Concurrent workers (tokio tasks).
    pub threads: usize,
    /// Rows of the paper's table, records loaded into the YCSB table.
    pub records: u64,
    /// Rows of the paper's in-memory table.
    pub mem_records: u64,
    /// Operations per benchmark (`None`: run for `duration`).
    pub operations: Option<u64>,
    /// Time limit per benchmark.
    pub duration: Option<Duration>,
    /// Initial splits per table (`None`: four tablets per server, at least 100 rows each).
    pub splits: Option<usize>,
    /// Tablet servers behind the target (the per-server figure divides by it).
    pub servers: usize,
    /// Value size of the paper's rows.
    pub value_size: usize,
    /// Rows per request in the paper's read and write benchmarks (`--batch`).
    pub batch: u64,
    /// Overrides the YCSB workloads' request distributions.
    pub distribution: Option<Distribution>,
    /// Generator seed.
    pub seed: u64,
    /// The tables exist and hold their records: create and load nothing.
    pub existing: bool,
    /// `projects/{p}/instances/{i}` the tables live in.
    pub instance: String,
}

/// The table ids of a run.
pub const PAPER_TABLE: &str = "paper";
/// The paper's in-memory table.
pub const PAPER_MEM_TABLE: &str = "paper-mem";
/// The YCSB table.
pub const YCSB_TABLE: &str = "usertable";

fn cluster_err(context: impl Into<String>, reason: impl std::fmt::Display) -> BenchError {
    BenchError::Cluster { context: context.into(), reason: reason.to_string() }
}

fn endpoint(address: &str) -> Result<Endpoint> {
    let uri = if address.contains("://") { address.to_string() } else { format!("http://{address}") };
    Endpoint::from_shared(uri)
        .map(|e| e.connect_timeout(Duration::from_secs(5)).tcp_nodelay(true))
        .map_err(|e| cluster_err(format!("address {address:?}"), e))
}

/// Runs the benchmarks of `config`, calling `report` with each result as it is done
/// (loads included, named `load:<table>`); returns them all.
pub async fn run(config: &Config, mut report: impl FnMut(&BenchReport)) -> Result<Vec<BenchReport>> {
    // A mini cluster lives until the end of the run.
    let mut mini = None;
    let mut _root = None;
    let target = match &config.target {
        Target::Mini(n) => {
            let dir = tempfile::tempdir().map_err(|e| BenchError::Io { path: std::env::temp_dir(), source: e })?;
            let opts = MiniClusterOptions {
                servers: (*n).max(1),
                cache_bytes: 64 << 20,
                write_buffer_bytes: 8 << 20,
                ..MiniClusterOptions::default()
            };
            let cluster =
                MiniCluster::start(dir.path(), opts).await.map_err(|e| cluster_err("starting the mini cluster", e))?;
            let addr = cluster.master_addr.to_string();
            mini = Some(cluster);
            _root = Some(dir);
            Target::Master(addr)
        }
        t => t.clone(),
    };
    let result = run_on(config, &target, &mut report).await;
    if let Some(cluster) = mini {
        cluster.stop().await;
    }
    result
}

async fn run_on(config: &Config, target: &Target, report: &mut impl FnMut(&BenchReport)) -> Result<Vec<BenchReport>> {
    let (admin_addr, master_addr) = match target {
        Target::Master(m) => (m.clone(), Some(m.clone())),
        Target::Gateway { admin, master, .. } => (admin.clone(), master.clone()),
        Target::Mini(_) => return Err(cluster_err("target", "a mini cluster must be started first")),
    };
    let name = |id: &str| format!("{}/tables/{id}", config.instance);
    let store = |id: &str| -> Result<Store> {
        match target {
            Target::Gateway { data, .. } => {
                let conn = BigtableClient::new(endpoint(data)?.connect_lazy())
                    .max_decoding_message_size(MAX_MESSAGE)
                    .max_encoding_message_size(MAX_MESSAGE);
                Ok(Store::Endpoint { conn, table: name(id) })
            }
            _ => {
                let opts = ClientOptions { retry_deadline: Duration::from_secs(30), ..ClientOptions::default() };
                let client = Client::connect_master_with(&admin_addr, opts)
                    .map_err(|e| cluster_err(format!("client for master {admin_addr}"), e))?;
                Ok(Store::Client(client.table(&name(id))))
            }
        }
    };

    let uses = |f: &dyn Fn(&Benchmark) -> bool| config.benchmarks.iter().any(f);
    let needs_paper = uses(&|b| matches!(b, Benchmark::Paper(p) if *p != Paper::RandomReadMem));
    let needs_mem = uses(&|b| matches!(b, Benchmark::Paper(Paper::RandomReadMem)));
    let needs_ycsb = uses(&|b| matches!(b, Benchmark::Ycsb(_)));

    if !config.existing {
        let mut admin = BigtableTableAdminClient::new(endpoint(&admin_addr)?.connect_lazy());
        let tablets = |rows: u64| match config.splits {
            Some(s) => s + 1,
            None => (4 * config.servers.max(1)).min((rows / 100).max(1) as usize),
        };
        let mut created = Vec::new();
        if needs_paper {
            let keys = split_points((0..config.records).map(paper_key).collect(), tablets(config.records));
            created.push((PAPER_TABLE, keys));
        }
        if needs_mem {
            let keys = split_points((0..config.mem_records).map(paper_key).collect(), tablets(config.mem_records));
            created.push((PAPER_MEM_TABLE, keys));
        }
        if needs_ycsb {
            let keys = split_points((0..config.records).map(ycsb_key).collect(), tablets(config.records));
            created.push((YCSB_TABLE, keys));
        }
        for (id, splits) in &created {
            create_table(&mut admin, &config.instance, id, splits).await?;
        }
        for (id, splits) in &created {
            wait_ready(master_addr.as_deref(), &store(id)?, &name(id), splits).await?;
        }
    }

    let workload = Arc::new(Workload {
        paper: store(PAPER_TABLE)?,
        paper_mem: store(PAPER_MEM_TABLE)?,
        ycsb: store(YCSB_TABLE)?,
        records: config.records,
        mem_records: config.mem_records,
        threads: config.threads.max(1),
        operations: config.operations,
        duration: config.duration,
        value_size: config.value_size,
        batch: config.batch.max(1),
        distribution: config.distribution,
        seed: config.seed,
        servers: config.servers.max(1),
        values: ValuePool::new(config.value_size.max(1000), 1.0),
        inserts: InsertCounter::new(config.records),
    });

    let mut out = Vec::new();
    let (mut paper_loaded, mut mem_loaded, mut ycsb_loaded) = (config.existing, config.existing, config.existing);
    for (i, bench) in config.benchmarks.iter().enumerate() {
        let mut pre = None;
        match bench {
            Benchmark::Paper(Paper::SequentialWrite | Paper::RandomWrite) => {}
            Benchmark::Paper(Paper::RandomReadMem) if !mem_loaded => {
                pre = Some(
                    runner::load(&workload, workload.paper_mem.clone(), PAPER_MEM_TABLE, config.mem_records, false)
                        .await?,
                );
                mem_loaded = true;
            }
            Benchmark::Paper(Paper::RandomReadMem) => {}
            Benchmark::Paper(_) if !paper_loaded => {
                pre = Some(runner::load(&workload, workload.paper.clone(), PAPER_TABLE, config.records, false).await?);
                paper_loaded = true;
            }
            Benchmark::Paper(_) => {}
            Benchmark::Ycsb(_) if !ycsb_loaded => {
                pre = Some(runner::load(&workload, workload.ycsb.clone(), YCSB_TABLE, config.records, true).await?);
                ycsb_loaded = true;
            }
            Benchmark::Ycsb(_) => {}
        }
        if let Some(r) = pre {
            report(&r);
            out.push(r);
        }
        let r = runner::run(&workload, *bench, i).await?;
        if *bench == Benchmark::Paper(Paper::SequentialWrite) && r.units == config.records {
            paper_loaded = true;
        }
        report(&r);
        out.push(r);
    }
    Ok(out)
}

/// Creates table `id` with family `cf` keeping one version, split at `splits`.
async fn create_table(
    admin: &mut BigtableTableAdminClient<Channel>,
    instance: &str,
    id: &str,
    splits: &[Vec<u8>],
) -> Result<()> {
    let family = ColumnFamily { gc_rule: Some(GcRule { rule: Some(gc_rule::Rule::MaxNumVersions(1)) }) };
    let req = CreateTableRequest {
        parent: instance.to_string(),
        table_id: id.to_string(),
        table: Some(Table {
            column_families: [(FAMILY.to_string(), family)].into_iter().collect(),
            ..Default::default()
        }),
        initial_splits: splits.iter().map(|k| Split { key: k.clone() }).collect(),
    };
    match admin.create_table(req).await {
        Ok(_) => Ok(()),
        Err(s) if s.code() == Code::AlreadyExists => Err(cluster_err(
            format!("creating table {instance}/tables/{id}"),
            "it already exists (pass --existing to use it as it is, or start on an empty root)",
        )),
        Err(s) => Err(cluster_err(
            format!("creating table {instance}/tables/{id}"),
            format!("{:?}: {}", s.code(), s.message()),
        )),
    }
}

/// Waits (up to 30 s) until every tablet of `table` is served: through the master's
/// tablet map when the master is known, else by reading each tablet's first row until
/// the endpoint stops answering `UNAVAILABLE`.
async fn wait_ready(master: Option<&str>, store: &Store, table: &str, splits: &[Vec<u8>]) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let timeout = || cluster_err(format!("waiting for the tablets of {table}"), "not all served within 30 s");
    if let Some(master) = master {
        let mut control = MasterControlClient::new(endpoint(master)?.connect_lazy());
        loop {
            let req = LocateTabletsRequest { table_name: table.to_string(), ..Default::default() };
            if let Ok(resp) = control.locate_tablets(req).await {
                let tablets = resp.into_inner().tablets;
                if !tablets.is_empty() && tablets.iter().all(|t| !t.address.is_empty()) {
                    break;
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(timeout());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let firsts = std::iter::once(Vec::new()).chain(splits.iter().cloned());
    for key in firsts {
        loop {
            let probe =
                if key.is_empty() { store.scan(&key, 1).await.map(|_| ()) } else { store.read(&key).await.map(|_| ()) };
            match probe {
                Ok(()) => break,
                Err(e) if e.code == Code::Unavailable && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(cluster_err(format!("waiting for the tablets of {table}"), e)),
            }
        }
    }
    Ok(())
}
