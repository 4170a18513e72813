//! The `tablet-server` command line as a library entry point, so that one binary can run
//! any role of the cluster (the `tablet-server` binary and `local-cluster role
//! tablet-server` both call [`run`]).
//!
//! [`run`] prints the bound address on stdout once the server is ready (so `--listen
//! 127.0.0.1:0` works in scripts), and shuts down gracefully when `shutdown` completes: it
//! stops accepting, lets requests in flight finish, and flushes and closes every tablet.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing::{error, info};

use super::{ServerConfig, StaticTable, TabletServer};

/// Serves tablets of a Bigtable-style store over gRPC.
#[derive(Debug, Clone, Parser)]
#[command(name = "tablet-server", version)]
pub struct Args {
    /// The data root (tablets live under ROOT/tables/...).
    #[arg(long)]
    pub root: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// The master's host:port; without it the server runs alone (static mode). With a
    /// standby master, list both, comma-separated: renewals go to whichever answers.
    #[arg(long)]
    pub master: Option<String>,
    /// The address to register with the master (default: the bound address).
    #[arg(long)]
    pub advertise: Option<String>,
    /// Block cache shared by all tablets, in MiB.
    #[arg(long, default_value_t = 256)]
    pub cache_mb: usize,
    /// Each tablet's memtable is flushed when it reaches this many MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub memtable_mb: u64,
    /// The memtables of all tablets together are kept near this many MiB: past it, a tablet
    /// being written flushes its memtable early (0: no shared limit).
    #[arg(long, default_value_t = 512)]
    pub memtables_total_mb: usize,
    /// Split a tablet once it passes this many MiB (0: never).
    #[arg(long, default_value_t = 512)]
    pub split_mb: u64,
    /// Static mode: serve this table (one tablet until it splits), e.g.
    /// `projects/p/instances/i/tables/t=cf1,cf2:maxversions=3:maxage=86400`; a trailing
    /// `;split_kb=N` gives the table its own split size. Repeatable.
    #[arg(long = "table")]
    pub tables: Vec<String>,
    /// fsync every write before acknowledging it (survives machine crashes).
    #[arg(long)]
    pub sync: bool,
    /// Apply writes on the blocking thread pool only, never on the thread that received
    /// them (which is the default when nothing makes them wait, without --sync).
    #[arg(long)]
    pub no_inline_writes: bool,
    /// Largest gRPC message either way, in MiB.
    #[arg(long, default_value_t = 256)]
    pub max_message_mb: usize,
    /// Async worker threads (default: one per core). Requests are decoded, served and
    /// answered on them; writes that need no wait are applied on them too, and wait for
    /// their group commit without holding one.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub worker_threads: Option<u16>,
}

/// Async worker threads by default: one per core. Measured on 2 cores under 100-row random
/// writes with writes awaiting their group commit (`BENCHMARKS.md`, run 13): 2 workers
/// 196k / 219k / 226k rows/s against 6 workers 195k / 204k / 168k in the same rounds. (Three
/// per core was the default while an applied write held its worker for the group commit.)
fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The whole `tablet-server` program: parses the arguments, logs to stderr (`RUST_LOG`,
/// default `info`), serves until SIGINT or SIGTERM. Exit status 1 on any failure (the
/// message on stderr), 2 on bad arguments.
pub fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let args = Args::parse();
    let workers = args.worker_threads.map_or_else(default_worker_threads, usize::from);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tablet-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a tablet server as `args` say until `shutdown` completes. Prints the bound
/// address (one line) on stdout once it serves.
pub async fn run(args: Args, shutdown: impl Future<Output = ()> + Send) -> Result<(), String> {
    let mut config = ServerConfig::new(&args.root);
    config.master = args.master;
    config.advertise = args.advertise;
    config.cache_bytes = args.cache_mb << 20;
    config.write_buffer_bytes = usize::try_from(args.memtable_mb << 20).unwrap_or(usize::MAX);
    config.memtable_budget_bytes = args.memtables_total_mb << 20;
    config.split_bytes = args.split_mb << 20;
    config.sync_writes = args.sync;
    config.inline_writes = !args.no_inline_writes;
    config.limits.max_message_bytes = args.max_message_mb << 20;
    for spec in &args.tables {
        config.static_tables.push(StaticTable::parse(spec).map_err(|e| e.to_string())?);
    }
    if config.master.is_none() && config.static_tables.is_empty() {
        info!("no --master and no --table: serving only tablets loaded through TabletControl");
    }
    let server = TabletServer::new(config).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| format!("listener address: {e}"))?;
    server.open_static_tables().await.map_err(|e| e.to_string())?;
    let mut out = std::io::stdout();
    writeln!(out, "{address}").and_then(|()| out.flush()).map_err(|e| format!("stdout: {e}"))?;
    server.serve(listener, shutdown).await.map_err(|e| e.to_string())?;
    info!("tablet server stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => info!("SIGINT: shutting down"),
                    _ = term.recv() => info!("SIGTERM: shutting down"),
                }
            }
            Err(e) => {
                error!(error = %e, "cannot watch SIGTERM; only SIGINT stops the server");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
        info!("interrupted: shutting down");
    }
}
