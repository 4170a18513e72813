//! `bt`, the cluster's command-line tool: the everyday verbs of Google's `cbt` against
//! the master (table admin, cluster status) and the tablet servers (data, through
//! `tablet::client`).
//!
//! - [`args`]: the command line, parsed without side effects (unit-tested);
//! - [`run`]: executing a parsed command;
//! - [`gc`]: GC policies (`maxage=1d or maxversions=2`) in and out;
//! - [`escape`]: bytes as text and back (keys, qualifiers, values);
//! - [`csv`]: the files of `import` and `export`;
//! - [`output`]: rows as cbt prints them, status tables.
//!
//! Exit status: 0 on success, 2 for a bad command line, 1 for anything else (a server's
//! error is printed with its gRPC code and message).

pub mod args;
pub mod csv;
pub mod escape;
pub mod gc;
pub mod output;
pub mod run;

pub use args::{parse, Command, Invocation, UsageError};
pub use run::CliError;

/// Runs `bt` with `args` (without the program name) and `BT_MASTER`'s value; returns the
/// exit status. Errors go to standard error.
pub fn main(args: &[String], env_master: Option<&str>) -> i32 {
    let inv = match args::parse(args, env_master) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("bt: {e}");
            return 2;
        }
    };
    if inv.command == Command::Help {
        print!("{}", args::USAGE);
        return 0;
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bt: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run::run(&inv)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("bt: {e}");
            e.exit_code()
        }
    }
}
