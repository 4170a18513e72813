//! The cluster master: it owns the schema and the tablet map, assigns tablets to tablet
//! servers under leases, records splits, and fails over to a standby
//! (docs/cluster.md is the contract, docs/master.md the internals).
//!
//! - [`state`]: tables and tablets in the master's own engine `Db` (`<root>/master/`),
//!   changed only in whole, synced batches; [`state::format`] is the key encoding.
//! - [`assign`]: the assignment decisions, a pure function of the state, the leases and
//!   the clock; [`leases`] the lease table; [`clock`] the injected monotonic clock.
//! - [`balance`]: which tablets to move between live servers and how a move goes on
//!   (pure); [`gc`]: file garbage collection under `<root>/tables/` (a pure mark phase,
//!   a grace period, then the sweep).
//! - [`master`]: the running master (one lock around the state; the assignment loop;
//!   fail-over recovery; load answers and split reports).
//! - [`admin`] and [`control`]: the gRPC services (`BigtableTableAdmin`, `MasterControl`);
//!   [`server::serve`] puts them on a listener.
//! - [`mini`]: `MiniCluster`, a master and tablet servers in one process over loopback
//!   (for tests and examples).
//! - [`gateway`]: Google's data and admin APIs on one port for official clients, routed
//!   to the tablet servers and forwarded to the master (docs/gateway.md).
//! - [`lock`]: the active master's `MASTER.lock`; [`names`]: name rules and ids.
//! - [`cli`]: the `master` program as a library entry point; [`launcher`]: the
//!   `local-cluster` program (a master and tablet servers as separate processes).
//! - [`cluster_status`]: what `MasterControl.ClusterStatus` answers; [`bt`]: the `bt`
//!   command-line tool (argument parsing apart from execution).

pub mod admin;
pub mod assign;
pub mod balance;
pub mod bt;
pub mod cli;
pub mod clock;
pub mod cluster_status;
pub mod control;
pub mod error;
pub mod gateway;
pub mod gc;
pub mod launcher;
pub mod leases;
pub mod lock;
pub mod master;
pub mod mini;
pub mod names;
pub mod rpc;
pub mod schema;
pub mod server;
pub mod state;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use error::{Error, Result};
pub use leases::Timing;
pub use lock::MasterLock;
pub use master::{Config, Master};
pub use mini::{MiniCluster, MiniClusterOptions};
pub use server::serve;
