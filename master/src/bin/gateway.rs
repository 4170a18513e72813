//! `gateway --master ADDR [--listen ADDR]`: Google's Bigtable data and table-admin APIs on
//! one port, in front of a cluster, for official clients (`BIGTABLE_EMULATOR_HOST`).
//! Prints the bound address on stdout once it serves (so `--listen 127.0.0.1:0` works);
//! logs go to stderr (`RUST_LOG`, default `info`). SIGINT or SIGTERM stops it cleanly.

/// mimalloc rather than glibc malloc: under load, glibc's malloc/free/consolidate took
/// about 14% of a tablet server's and the driver's CPU (BENCHMARKS.md, "Cluster").
/// [`tablet::allocator::keep_freed_memory`] sets how long it keeps freed memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use master::gateway::{GatewayConfig, ReadPath};
use tracing::error;

/// The gateway: Bigtable's data and admin APIs for official clients.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The master's address (host:port).
    #[arg(long)]
    master: String,
    /// Address to serve on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8086")]
    listen: String,
    /// How long a data call follows moving tablets before it fails, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    retry_ms: u64,
    /// How ReadRows answers travel: `forward` (the servers' messages as they are) or
    /// `reencode` (rows decoded and encoded again).
    #[arg(long, default_value = "forward")]
    read_path: ReadPath,
    /// Concurrent MutateRow calls of a table are combined into MutateRows calls to the
    /// tablet servers, at most this many under way per table; 0 sends each call on alone.
    #[arg(long, default_value_t = 1)]
    coalesce_flights: usize,
    /// Largest gRPC message, either direction, in MiB.
    #[arg(long, default_value_t = 256)]
    max_message_mb: usize,
    /// Threads serving calls (default: one per core). 1 runs the gateway on a single
    /// thread: no hand-offs and wake-ups between threads, which on a machine it shares
    /// with tablet servers cut its CPU per single-row read by about a quarter
    /// (`BENCHMARKS.md`, run 13); `local-cluster` starts it so.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    worker_threads: Option<u16>,
}

/// The async runtime: a single-threaded one for `--worker-threads 1`, else a
/// multi-threaded one with that many workers (default one per core).
fn runtime(worker_threads: Option<u16>) -> std::io::Result<tokio::runtime::Runtime> {
    match worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(usize::from(n)).enable_all().build(),
        None => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut config = GatewayConfig::new(&args.master);
    config.client.retry_deadline = Duration::from_millis(args.retry_ms);
    config.read_path = args.read_path;
    config.coalesce_flights = args.coalesce_flights;
    config.max_message_bytes = args.max_message_mb.saturating_mul(1 << 20);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| format!("listener: {e}"))?;
    let mut out = std::io::stdout();
    writeln!(out, "{address}").and_then(|()| out.flush()).map_err(|e| format!("stdout: {e}"))?;
    master::gateway::serve(config, listener, master::cli::shutdown_signal()).await.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    tablet::allocator::keep_freed_memory();
    let args = Args::parse();
    master::cli::init_tracing();
    let runtime = match runtime(args.worker_threads) {
        Ok(r) => r,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "gateway failed");
            ExitCode::FAILURE
        }
    }
}
