//! The `master` command line as a library entry point, so that one binary can run any role
//! of the cluster (the `master` binary and `local-cluster role master` both call [`run`]).
//!
//! `master --root DIR --listen ADDR [--lease-ms N] [--margin-ms N] [--standby]`: waits for
//! `<root>/master/MASTER.lock` if another master holds it, then loads its state, asks the
//! tablet servers what they hold, and serves until its shutdown signal.

use std::future::Future;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tracing::{error, info, warn};

use crate::{Config, Master, MasterLock, MonotonicClock, Timing};

/// The cluster master (schema, tablet map, assignment, leases, splits).
#[derive(Debug, Clone, Parser)]
#[command(name = "master", version)]
pub struct Args {
    /// The data root shared with the tablet servers.
    #[arg(long)]
    pub root: PathBuf,
    /// Address to serve the admin and control APIs on (host:port).
    #[arg(long)]
    pub listen: String,
    /// Lease granted to tablet servers, in milliseconds.
    #[arg(long, default_value_t = 4000)]
    pub lease_ms: u64,
    /// Extra wait before a silent server is declared dead, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub margin_ms: u64,
    /// Start as a standby: wait for the active master's lock without warning about it.
    #[arg(long)]
    pub standby: bool,
    /// Never move tablets between live servers (moves found in the state still finish).
    #[arg(long)]
    pub no_balance: bool,
    /// Most balancing moves under way at once.
    #[arg(long, default_value_t = 2)]
    pub balance_max_moves: usize,
    /// Least time between two balancing rounds that start moves, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub balance_interval_ms: u64,
    /// File GC: time between rounds, in milliseconds (0: no file GC).
    #[arg(long, default_value_t = 60_000)]
    pub gc_interval_ms: u64,
    /// File GC: how long a directory must stay garbage before it is deleted, in milliseconds.
    #[arg(long, default_value_t = 600_000)]
    pub gc_grace_ms: u64,
}

/// Completes on SIGINT or SIGTERM.
#[cfg(unix)]
pub async fn shutdown_signal() {
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

/// Completes on Ctrl-C.
#[cfg(not(unix))]
pub async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs a master as `args` say until `shutdown` completes (also while it is still
/// waiting for the lock as a standby). `ready` is called with the bound address once the
/// master holds the lock and listens.
pub async fn run(args: Args, shutdown: impl Future<Output = ()>, ready: impl FnOnce(SocketAddr)) -> crate::Result<()> {
    if args.lease_ms == 0 {
        return Err(crate::Error::invalid("--lease-ms must be at least 1"));
    }
    tokio::pin!(shutdown);
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
                l = wait => l.map_err(|e| crate::Error::Unavailable(format!("waiting for the lock: {e}")))??,
                _ = &mut shutdown => {
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
        .map_err(|e| crate::Error::Unavailable(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr().map_err(|e| crate::Error::Unavailable(format!("listener address: {e}")))?;
    ready(addr);
    crate::serve(master, listener, shutdown).await
}

/// Logs to stderr at `RUST_LOG` (default `info`), with colours only on a terminal.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The whole `master` program: parses the arguments, logs to stderr, serves until SIGINT
/// or SIGTERM (exit 0); 1 on failure, 2 on bad arguments.
pub fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, shutdown_signal(), |_| {})) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "master failed");
            ExitCode::FAILURE
        }
    }
}
