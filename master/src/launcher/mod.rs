//! `local-cluster`: a whole cluster on one machine, as separate processes.
//!
//! ```text
//! local-cluster [--root data] [--servers 3] [--master-listen 127.0.0.1:7000]
//!               [--gateway 127.0.0.1:8086] [--standby-listen ADDR] [--lease-ms N] ...
//! ```
//!
//! It re-executes itself once per process, with a hidden role argument
//! (`local-cluster role master ...`, `role tablet-server ...`, `role gateway ...`;
//! [`roles`]): the master first, then an optional standby master, the tablet servers and
//! the gateway, each logging to `<root>/logs/<name>.log`. It prints the endpoints and
//! waits. A child that dies is reported and the rest keep running (the master moves a
//! dead server's tablets to the others once its lease runs out). On SIGINT or SIGTERM it
//! stops the gateway, then the tablet servers (each flushes and closes its tablets), then
//! the master, and exits 0. Started again on the same root, it serves all earlier data:
//! the servers register anew and the master assigns their tablets at new epochs.

pub mod children;
pub mod roles;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use children::{tail, Children};
pub use roles::Role;

/// A master, tablet servers and a gateway on this machine, as separate processes.
#[derive(Debug, Parser)]
#[command(name = "local-cluster", version, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Run one role instead of a cluster (what the launcher starts its children with).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The cluster's settings.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `local-cluster role ...`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs one role of the cluster in this process.
    #[command(hide = true)]
    Role {
        /// Which role, with its flags.
        #[command(subcommand)]
        role: Role,
    },
}

/// How the local cluster is made.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// The data root: master state, tablets, and `logs/`. Reused across runs.
    #[arg(long, default_value = "data")]
    pub root: PathBuf,
    /// Number of tablet servers.
    #[arg(long, default_value_t = 3)]
    pub servers: usize,
    /// The master's address (admin API and tablet locations).
    #[arg(long, default_value = "127.0.0.1:7000")]
    pub master_listen: String,
    /// Also start a standby master on this address; it takes over if the master dies.
    #[arg(long)]
    pub standby_listen: Option<String>,
    /// The gateway's address (for official Bigtable clients); `none` to start none.
    #[arg(long, default_value = "127.0.0.1:8086")]
    pub gateway: String,
    /// Host the tablet servers listen on (each on a free port).
    #[arg(long, default_value = "127.0.0.1")]
    pub server_host: String,
    /// Lease granted to tablet servers, in milliseconds.
    #[arg(long, default_value_t = 4000)]
    pub lease_ms: u64,
    /// Extra wait before a silent server's tablets move, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub margin_ms: u64,
    /// Block cache of each tablet server, in MiB.
    #[arg(long, default_value_t = 64)]
    pub cache_mb: usize,
    /// Split a tablet once it passes this many MiB.
    #[arg(long, default_value_t = 512)]
    pub split_mb: u64,
    /// fsync every write before acknowledging it.
    #[arg(long)]
    pub sync: bool,
    /// How long each child may take to stop gracefully before it is killed, in seconds.
    #[arg(long, default_value_t = 30)]
    pub stop_timeout_secs: u64,
}

/// The whole `local-cluster` program.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("local-cluster: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args.command {
        Some(Command::Role { role }) => {
            roles::init_tracing();
            match runtime.block_on(roles::run(role)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "role failed");
                    eprintln!("local-cluster role: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        None => match runtime.block_on(run(args.cluster)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("local-cluster: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// How long a child may take to print its address.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Starts the cluster, waits for a signal, stops it. `Ok(false)`: it ran but did not end
/// cleanly (a child failed to stop, or every child died).
pub async fn run(args: ClusterArgs) -> Result<bool, String> {
    if args.servers == 0 {
        return Err("--servers must be at least 1".into());
    }
    let root = args.root.clone();
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let root_str = root.to_str().ok_or_else(|| format!("the root {} is not valid UTF-8", root.display()))?.to_string();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    let mut children = Children::new(exe);
    let grace = Duration::from_secs(args.stop_timeout_secs);
    let (lease, margin) = (args.lease_ms.to_string(), args.margin_ms.to_string());

    let started = start(&mut children, &args, &root_str, &logs, &lease, &margin).await;
    let (master_ids, server_ids, gateway_ids) = match started {
        Ok(ids) => ids,
        Err(e) => {
            let all: Vec<usize> = (0..children.list.len()).rev().collect();
            children.stop(&all, grace).await;
            return Err(e);
        }
    };
    print_endpoints(&children, &args, &logs);

    // Serve until a signal; report children that end meanwhile.
    let signal = crate::cli::shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => break,
            exit = children.next_exit() => match exit {
                Some((id, how, _)) => {
                    if let Some(c) = children.list.get(id) {
                        report_death(c, &how, master_ids.contains(&id), args.standby_listen.is_some());
                    }
                }
                None => {
                    println!("every process of the cluster has ended; exiting (logs in {})", logs.display());
                    return Ok(false);
                }
            },
        }
    }

    let gateway_first = if gateway_ids.is_empty() { "" } else { "the gateway, then " };
    println!("stopping: {gateway_first}tablet servers (they flush their tablets), then the master");
    // A second Ctrl-C kills whatever is left.
    let second = crate::cli::shutdown_signal();
    tokio::pin!(second);
    let stopped = {
        let ordered = async {
            let mut clean = children.stop(&gateway_ids, grace).await;
            clean &= children.stop(&server_ids, grace).await;
            // The standby first, so that it does not take over from the stopping master.
            let mut masters = master_ids.clone();
            masters.reverse();
            clean &= children.stop(&masters, grace).await;
            clean
        };
        tokio::select! {
            clean = ordered => Some(clean),
            () = &mut second => None,
        }
    };
    let Some(clean) = stopped else {
        println!("second signal: killing every process");
        children.kill_all();
        while children.next_exit().await.is_some() {}
        return Ok(false);
    };
    println!("stopped{}", if clean { "" } else { " (not all cleanly; see the logs)" });
    Ok(clean)
}

/// Child ids of the masters (active first), tablet servers and gateway.
type Started = (Vec<usize>, Vec<usize>, Vec<usize>);

async fn start(
    children: &mut Children,
    args: &ClusterArgs,
    root: &str,
    logs: &std::path::Path,
    lease: &str,
    margin: &str,
) -> Result<Started, String> {
    let mut masters = Vec::new();
    let timing = ["--lease-ms", lease, "--margin-ms", margin];
    let mut role = os(&["master", "--root", root, "--listen", &args.master_listen]);
    role.extend(os(&timing));
    masters.push(children.spawn("master", role, &logs.join("master.log"), Some(READY_WITHIN)).await?);
    let master_addr = children.list.first().and_then(|c| c.address.clone()).unwrap_or_default();
    let mut master_list = master_addr.clone();
    if let Some(standby) = &args.standby_listen {
        let mut role = os(&["master", "--root", root, "--listen", standby, "--standby"]);
        role.extend(os(&timing));
        masters.push(children.spawn("standby-master", role, &logs.join("standby-master.log"), None).await?);
        master_list = format!("{master_addr},{standby}");
    }
    let mut servers = Vec::new();
    for i in 1..=args.servers {
        let name = format!("tablet-server-{i}");
        let listen = format!("{}:0", args.server_host);
        let (cache, split) = (args.cache_mb.to_string(), args.split_mb.to_string());
        let mut role = os(&["tablet-server", "--root", root, "--listen", &listen, "--master", &master_list]);
        role.extend(os(&["--cache-mb", &cache, "--split-mb", &split]));
        if args.sync {
            role.push("--sync".into());
        }
        servers.push(children.spawn(&name, role, &logs.join(format!("{name}.log")), Some(READY_WITHIN)).await?);
    }
    let mut gateways = Vec::new();
    if args.gateway != "none" && roles::GATEWAY_AVAILABLE {
        // One thread: the gateway shares this machine with every other role
        // (`gateway --worker-threads`).
        let role = os(&["gateway", "--master", &master_list, "--listen", &args.gateway, "--worker-threads", "1"]);
        gateways.push(children.spawn("gateway", role, &logs.join("gateway.log"), Some(READY_WITHIN)).await?);
    }
    Ok((masters, servers, gateways))
}

fn print_endpoints(children: &Children, args: &ClusterArgs, logs: &std::path::Path) {
    println!("local cluster on data root {} (logs in {})", args.root.display(), logs.display());
    let mut master = String::new();
    let mut gateway = None;
    for c in &children.list {
        let addr = match (&c.address, c.name.as_str()) {
            (Some(a), _) => a.clone(),
            (None, "standby-master") => format!("{} (standing by)", args.standby_listen.clone().unwrap_or_default()),
            (None, _) => "-".into(),
        };
        if c.name == "master" {
            master.clone_from(&addr);
        }
        if c.name == "gateway" {
            gateway = Some(addr.clone());
        }
        let log = c.log.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        println!("  {:<16} {:<24} pid {:<8} logs/{log}", c.name, addr, c.pid);
    }
    let masters = match &args.standby_listen {
        Some(s) => format!("{master},{s}"),
        None => master.clone(),
    };
    match gateway {
        Some(g) => {
            println!("  {:<16} {g}", "gateway");
            println!("official clients:  BIGTABLE_EMULATOR_HOST={g} python your_app.py");
        }
        None if args.gateway == "none" => println!("  {:<16} not started (--gateway none)", "gateway"),
        None => println!(
            "  {:<16} not started: this build has no gateway yet (official clients need it; use bt or tablet::client)",
            "gateway"
        ),
    }
    println!(
        "admin and data:    BT_MASTER={masters} bt createtable demo families=cf && BT_MASTER={masters} bt read demo"
    );
    println!("Rust:              tablet::client::Client::connect_master(\"{masters}\")");
    println!("cluster ready; Ctrl-C stops it (tablet servers flush first, then the master)");
}

fn report_death(c: &children::Child, how: &str, is_master: bool, has_standby: bool) {
    let what = if is_master && c.name == "master" && has_standby {
        "the standby master takes over"
    } else if is_master && c.name == "master" {
        "tablet servers keep serving until their leases run out; restart the cluster to get a master back"
    } else if is_master {
        "the cluster has no standby master any more"
    } else if c.name.starts_with("tablet-server") {
        "the master moves its tablets to the other servers once its lease runs out; the rest keep running"
    } else {
        "the rest keep running"
    };
    println!("{} (pid {}) {how}: {what}. Its log {}:", c.name, c.pid, c.log.display());
    print!("{}", tail(&c.log, 5));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_take_their_binaries_flags() {
        let a = Args::try_parse_from([
            "local-cluster",
            "role",
            "master",
            "--root",
            "r",
            "--listen",
            "127.0.0.1:0",
            "--standby",
            "--stop-with-parent",
        ])
        .unwrap();
        match a.command {
            Some(Command::Role { role: Role::Master { args, stop_with_parent } }) => {
                assert!(args.standby && stop_with_parent);
                assert_eq!((args.lease_ms, args.listen.as_str()), (4000, "127.0.0.1:0"));
            }
            other => panic!("{other:?}"),
        }
        let a = Args::try_parse_from(["local-cluster", "role", "tablet-server", "--root", "r", "--master", "a:1,b:2"])
            .unwrap();
        match a.command {
            Some(Command::Role { role: Role::TabletServer { args, stop_with_parent } }) => {
                assert!(!stop_with_parent);
                assert_eq!(args.master.as_deref(), Some("a:1,b:2"));
                assert_eq!(args.listen, "127.0.0.1:0");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cluster_defaults_and_bad_flags() {
        let a = Args::try_parse_from(["local-cluster"]).unwrap();
        assert!(a.command.is_none());
        let c = a.cluster;
        assert_eq!(c.root, PathBuf::from("data"));
        assert_eq!((c.servers, c.master_listen.as_str(), c.gateway.as_str()), (3, "127.0.0.1:7000", "127.0.0.1:8086"));
        assert!(Args::try_parse_from(["local-cluster", "--servers", "x"]).is_err());
        assert!(Args::try_parse_from(["local-cluster", "role", "janitor"]).is_err());
        // A role's flags are not cluster flags, and the other way round.
        assert!(Args::try_parse_from(["local-cluster", "--servers", "2", "role", "master"]).is_err());
    }
}
