//! The `sst-dump` command line. See the crate docs of `sstable_tools` and the README.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sstable_tools::report::Report;
use sstable_tools::show::{self, ByteStyle, KeyDecode};
use sstable_tools::sst::SstOptions;
use sstable_tools::{db, manifest, sst, wal, Error};

/// Inspect the engine's files: tables (.sst), write-ahead logs (.log), MANIFESTs and
/// database directories. Read-only; never takes the database lock, so it works on a live
/// database. Exits 0 on success, 1 on any error or failed verify, 2 on bad usage.
#[derive(Parser, Debug)]
#[command(name = "sst-dump", version, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    sst: SstArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Dump a table: footer, properties, block list; optionally its entries and a full check.
    Sst(SstArgs),
    /// Dump a write-ahead log: every record's write batch, and how the log ends.
    Wal(FileArgs),
    /// Dump a MANIFEST: its version edits in order and the tables live after them.
    Manifest(FileArgs),
    /// Summarize a database directory: MANIFEST, levels, tables, live WALs, totals.
    Db(DbArgs),
}

#[derive(Args, Debug, Clone)]
struct Output {
    /// Write JSON (one object; a failure is its "error" member) instead of text.
    #[arg(long)]
    json: bool,
    /// Write keys and values as hex (the sst command then reads --from/--to as hex too).
    #[arg(long)]
    hex: bool,
    /// Show user keys decoded: `tablet` reads them as tablet cell keys
    /// (`"row" / family:"qualifier" @ timestamp`); keys that do not decode are shown raw,
    /// marked `(not a tablet key)`.
    #[arg(long, value_enum, value_name = "HOW", default_value = "none")]
    decode: KeyDecode,
}

impl Output {
    fn style(&self) -> ByteStyle {
        if self.hex {
            ByteStyle::Hex
        } else {
            ByteStyle::Readable
        }
    }
}

#[derive(Args, Debug, Clone)]
struct SstArgs {
    /// The table file (NNNNNN.sst).
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// Print the entries: key, sequence, kind, value (streamed, constant memory).
    #[arg(long)]
    scan: bool,
    /// Start the scan at this user key (inclusive). Escapes: \xNN, \\, \". Implies --scan.
    #[arg(long, value_name = "KEY")]
    from: Option<String>,
    /// Stop the scan before this user key (exclusive). Implies --scan.
    #[arg(long, value_name = "KEY")]
    to: Option<String>,
    /// Print at most N entries. Implies --scan.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Check everything: block checksums, key order, index, bloom filter, properties.
    #[arg(long)]
    verify: bool,
    #[command(flatten)]
    out: Output,
}

#[derive(Args, Debug, Clone)]
struct FileArgs {
    /// The file.
    file: PathBuf,
    #[command(flatten)]
    out: Output,
}

#[derive(Args, Debug, Clone)]
struct DbArgs {
    /// The database directory.
    dir: PathBuf,
    /// Verify every live table and read every live WAL to its end.
    #[arg(long)]
    verify: bool,
    #[command(flatten)]
    out: Output,
}

fn run_sst(a: SstArgs) -> Result<(), Error> {
    let style = a.out.style();
    let parse = |k: &Option<String>| -> Result<Option<Vec<u8>>, Error> {
        k.as_deref().map(|s| show::parse_bytes(s, style).map_err(Error::InvalidArgument)).transpose()
    };
    let opts = SstOptions {
        scan: a.scan || a.from.is_some() || a.to.is_some() || a.limit.is_some(),
        from: parse(&a.from)?,
        to: parse(&a.to)?,
        limit: a.limit,
        verify: a.verify,
        style,
        decode: a.out.decode,
    };
    let file = a.file.ok_or_else(|| Error::InvalidArgument("no table file given".into()))?;
    sst::run(&file, &opts, Report::new(stdout(), a.out.json)?)
}

fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_sst(cli.sst),
        Some(Command::Sst(a)) => run_sst(a),
        Some(Command::Wal(a)) => Report::new(stdout(), a.out.json)
            .map_err(Error::from)
            .and_then(|r| wal::run(&a.file, a.out.style(), a.out.decode, r)),
        Some(Command::Manifest(a)) => Report::new(stdout(), a.out.json)
            .map_err(Error::from)
            .and_then(|r| manifest::run(&a.file, a.out.style(), a.out.decode, r)),
        Some(Command::Db(a)) => Report::new(stdout(), a.out.json)
            .map_err(Error::from)
            .and_then(|r| db::run(&a.dir, a.verify, a.out.style(), a.out.decode, r)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`sst-dump ... | head`): not our failure.
        Err(Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = io::stdout().flush();
            eprintln!("sst-dump: error: {e}");
            ExitCode::FAILURE
        }
    }
}
