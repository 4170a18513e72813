//! `db_bench`: RocksDB's benchmark driver, for our engine. See the `benches` crate docs and
//! the README's "Benchmarks" section.
//!
//! ```text
//! db_bench --benchmarks=fillseq,readrandom --num=1000000 --db=/tmp/bench
//! ```

use std::process::ExitCode;

use benches::flags::Flags;
use clap::Parser;

fn main() -> ExitCode {
    // Bad or unknown flags: clap prints what and where, and exits with status 2.
    let flags = Flags::parse();
    let result = flags.validate().and_then(|cfg| benches::driver::run(&cfg, &mut std::io::stdout().lock()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("db_bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
