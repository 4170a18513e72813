//! `tablet-server`: serves tablets over gRPC (docs/rpc.md), under a master or alone.
//!
//! Prints the bound address on stdout once it is ready (so `--listen 127.0.0.1:0` works
//! in scripts), logs to stderr (`RUST_LOG`, default `info`), and shuts down gracefully on
//! SIGINT or SIGTERM: it stops accepting, lets requests in flight finish, and flushes and
//! closes every tablet before exiting.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tablet::server::{ServerConfig, StaticTable, TabletServer};
use tracing::{error, info};

/// Serves tablets of a Bigtable-style store over gRPC.
#[derive(Debug, Parser)]
#[command(name = "tablet-server", version)]
struct Args {
    /// The data root (tablets live under ROOT/tables/...).
    #[arg(long)]
    root: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// The master's host:port; without it the server runs alone (static mode).
    #[arg(long)]
    master: Option<String>,
    /// The address to register with the master (default: the bound address).
    #[arg(long)]
    advertise: Option<String>,
    /// Block cache shared by all tablets, in MiB.
    #[arg(long, default_value_t = 256)]
    cache_mb: usize,
    /// Split a tablet once it passes this many MiB (0: never).
    #[arg(long, default_value_t = 512)]
    split_mb: u64,
    /// Static mode: serve this table (one tablet until it splits), e.g.
    /// `projects/p/instances/i/tables/t=cf1,cf2:maxversions=3:maxage=86400`; a trailing
    /// `;split_kb=N` gives the table its own split size. Repeatable.
    #[arg(long = "table")]
    tables: Vec<String>,
    /// fsync every write before acknowledging it (survives machine crashes).
    #[arg(long)]
    sync: bool,
    /// Largest gRPC message either way, in MiB.
    #[arg(long, default_value_t = 256)]
    max_message_mb: usize,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tablet-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut config = ServerConfig::new(&args.root);
    config.master = args.master;
    config.advertise = args.advertise;
    config.cache_bytes = args.cache_mb << 20;
    config.split_bytes = args.split_mb << 20;
    config.sync_writes = args.sync;
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
    server.serve(listener, shutdown_signal()).await.map_err(|e| e.to_string())?;
    info!("tablet server stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
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
