//! `master --root DIR --listen ADDR [--lease-ms N] [--margin-ms N] [--standby]
//! [--no-balance] [--balance-max-moves N] [--balance-interval-ms N] [--gc-interval-ms N]
//! [--gc-grace-ms N]`: the cluster master. Waits for `<root>/master/MASTER.lock` if
//! another master holds it, then loads its state, asks the tablet servers what they hold,
//! and serves until SIGINT or SIGTERM; balances tablets and collects unused files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use master::{Config, Master, MasterLock, MonotonicClock, Timing};
use tracing::{error, info, warn};

/// The cluster master (schema, tablet map, assignment, leases, splits, balancing, file GC).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The data root shared with the tablet servers.
    #[arg(long)]
    root: PathBuf,
    /// Address to serve the admin and control APIs on (host:port).
    #[arg(long)]
    listen: String,
    /// Lease granted to tablet servers, in milliseconds.
    #[arg(long, default_value_t = 4000)]
    lease_ms: u64,
    /// Extra wait before a silent server is declared dead, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    margin_ms: u64,
    /// Start as a standby: wait for the active master's lock without warning about it.
    #[arg(long)]
    standby: bool,
    /// Never move tablets between live servers (moves found in the state still finish).
    #[arg(long)]
    no_balance: bool,
    /// Most balancing moves under way at once.
    #[arg(long, default_value_t = 2)]
    balance_max_moves: usize,
    /// Least time between two balancing rounds that start moves, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    balance_interval_ms: u64,
    /// File GC: time between rounds, in milliseconds (0: no file GC).
    #[arg(long, default_value_t = 60_000)]
    gc_interval_ms: u64,
    /// File GC: how long a directory must stay garbage before it is deleted, in milliseconds.
    #[arg(long, default_value_t = 600_000)]
    gc_grace_ms: u64,
}

#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(args: Args) -> master::Result<()> {
    if args.lease_ms == 0 {
        return Err(master::Error::invalid("--lease-ms must be at least 1"));
    }
    let root = args.root.clone();
    let lock = match MasterLock::try_acquire(&root)? {
        Some(l) => l,
        None => {
            if args.standby {
                info!(root = %root.display(), "standby: waiting for the active master's lock");
            } else {
                warn!(root = %root.display(), "another master is active on this root; waiting for its lock as a standby");
            }
            let r = root.clone();
            let wait = tokio::task::spawn_blocking(move || MasterLock::acquire(&r));
            tokio::select! {
                l = wait => l.map_err(|e| master::Error::Unavailable(format!("waiting for the lock: {e}")))??,
                _ = shutdown_signal() => {
                    info!("stopped while standing by");
                    return Ok(());
                }
            }
        }
    };
    info!(lock = %lock.path().display(), "this master is active");
    let mut config = Config::with_timing(&root, Timing { lease_ms: args.lease_ms, margin_ms: args.margin_ms });
    config.balance.enabled = !args.no_balance;
    config.balance.max_moves_in_flight = args.balance_max_moves;
    config.balance.min_interval_ms = args.balance_interval_ms;
    config.gc.interval = (args.gc_interval_ms > 0).then(|| std::time::Duration::from_millis(args.gc_interval_ms));
    config.gc.grace_ms = args.gc_grace_ms;
    let master = Master::open(lock, config, Arc::new(MonotonicClock::new()))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| master::Error::Unavailable(format!("cannot listen on {}: {e}", args.listen)))?;
    master::serve(master, listener, shutdown_signal()).await
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "master failed");
            ExitCode::FAILURE
        }
    }
}
