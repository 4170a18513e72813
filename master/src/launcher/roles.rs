//! The roles one `local-cluster` binary can run (`local-cluster role master ...`, `role
//! tablet-server ...`, `role gateway ...`): each is the same program as its own binary,
//! with the same flags, plus `--stop-with-parent`.
//!
//! `--stop-with-parent` makes the role shut down gracefully when its standard input
//! reaches end of file, as well as on SIGINT/SIGTERM. The launcher gives each child a pipe
//! as stdin and stops a child by closing its end, so a child never outlives its launcher,
//! however the launcher ends (even `kill -9`: the OS closes the pipe). Tests use it the
//! same way.

use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;

use clap::Subcommand;
use tokio::sync::oneshot;
use tracing::info;

/// One role of the cluster.
#[derive(Debug, Clone, Subcommand)]
pub enum Role {
    /// The master (flags as the `master` binary's); prints its address on stdout once it
    /// holds the lock and listens.
    Master {
        /// The master's own flags.
        #[command(flatten)]
        args: crate::cli::Args,
        /// Also stop (gracefully) when stdin is closed.
        #[arg(long)]
        stop_with_parent: bool,
    },
    /// A tablet server (flags as the `tablet-server` binary's); prints its address on
    /// stdout once it serves.
    TabletServer {
        /// The tablet server's own flags.
        #[command(flatten)]
        args: tablet::server::cli::Args,
        /// Also stop (gracefully) when stdin is closed.
        #[arg(long)]
        stop_with_parent: bool,
    },
    /// The gateway (Bigtable data and admin APIs on one port, for official clients).
    Gateway {
        /// The master's address(es), comma-separated.
        #[arg(long)]
        master: String,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8086")]
        listen: String,
        /// Also stop (gracefully) when stdin is closed.
        #[arg(long)]
        stop_with_parent: bool,
    },
}

/// True when this build can run the gateway role.
pub const GATEWAY_AVAILABLE: bool = true;

/// Runs `role` until it is told to stop; the error is the message for stderr.
pub async fn run(role: Role) -> Result<(), String> {
    match role {
        Role::Master { args, stop_with_parent } => {
            let ready = |addr: SocketAddr| {
                let mut out = std::io::stdout();
                // The launcher reads this line; if it cannot be written, the launcher
                // reports the role as not ready.
                let _ = writeln!(out, "{addr}").and_then(|()| out.flush());
            };
            crate::cli::run(args, stop_signal(stop_with_parent), ready).await.map_err(|e| e.to_string())
        }
        Role::TabletServer { args, stop_with_parent } => {
            tablet::server::cli::run(args, stop_signal(stop_with_parent)).await
        }
        Role::Gateway { master, listen, stop_with_parent } => {
            run_gateway(&master, &listen, stop_signal(stop_with_parent)).await
        }
    }
}

async fn run_gateway(master: &str, listen: &str, stop: impl Future<Output = ()>) -> Result<(), String> {
    let config = crate::gateway::GatewayConfig::new(master);
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| format!("listener: {e}"))?;
    let mut out = std::io::stdout();
    // The launcher reads this line to learn the address.
    writeln!(out, "{address}").and_then(|()| out.flush()).map_err(|e| format!("stdout: {e}"))?;
    crate::gateway::serve(config, listener, stop).await.map_err(|e| e.to_string())
}

/// Logs to stderr at `RUST_LOG` (default `info`), colours only on a terminal (a child's
/// stderr is its log file).
pub fn init_tracing() {
    crate::cli::init_tracing();
}

/// Completes on SIGINT or SIGTERM, and, with `with_parent`, when stdin is closed.
pub fn stop_signal(with_parent: bool) -> impl Future<Output = ()> + Send {
    let closed = if with_parent { stdin_closed() } else { None };
    async move {
        match closed {
            Some(closed) => {
                tokio::select! {
                    () = crate::cli::shutdown_signal() => info!("signal: shutting down"),
                    _ = closed => info!("stdin closed (the launcher is gone or stopping us): shutting down"),
                }
            }
            None => crate::cli::shutdown_signal().await,
        }
    }
}

/// A receiver that completes once stdin reaches end of file (or fails); `None` if no
/// thread could be started to watch it. A plain thread blocks on the read: tokio's stdin
/// is itself a blocking thread, and this one must not hold up the runtime's shutdown.
fn stdin_closed() -> Option<oneshot::Receiver<()>> {
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new().name("stdin-watch".into()).spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = tx.send(());
    });
    match spawned {
        Ok(_) => Some(rx),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch stdin; only signals stop this role");
            None
        }
    }
}
