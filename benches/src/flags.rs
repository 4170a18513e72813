//! The command line: RocksDB 7.8 `db_bench` flag names and meanings, in `--flag=value` form.
//!
//! [`Flags`] is what clap parses; [`Flags::validate`] turns it into a [`Config`] or a
//! [`BenchError::Flag`] naming the flag. Unknown flags are an error (clap's message names
//! them). Booleans take `0`, `1`, `true` or `false`, and a bare `--flag` means true.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{ArgAction, Parser};
use engine::{BlockCache, Compression, Options};

use crate::error::{BenchError, Result};

/// A `db_bench` boolean: `0`/`1`/`true`/`false` (any case, as gflags).
pub fn parse_bool(s: &str) -> std::result::Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" => Ok(true),
        "0" | "false" | "f" | "no" | "n" => Ok(false),
        _ => Err(format!("expected 0, 1, true or false, got {s:?}")),
    }
}

/// The flags, as RocksDB's `db_bench` names them.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "db_bench",
    about = "A RocksDB db_bench-compatible benchmark driver for the engine",
    rename_all = "snake_case",
    disable_version_flag = true
)]
pub struct Flags {
    /// Comma-separated benchmarks to run in order: fillseq, fillrandom, fillsync, overwrite,
    /// readrandom, readseq, readreverse, seekrandom, deleterandom, readwhilewriting, compact, stats.
    #[arg(long, default_value = "fillseq,fillrandom,overwrite,readrandom,readseq,readreverse,seekrandom,stats")]
    pub benchmarks: String,
    /// Number of key/values to place in the database (and ops per write benchmark, per thread).
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Reads (or seeks) per thread; -1 means --num.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub reads: i64,
    /// Bytes of each value.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Bytes of each key.
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,
    /// Block compression: none or lz4.
    #[arg(long, default_value = "lz4")]
    pub compression_type: String,
    /// Values compress to this fraction of their size.
    #[arg(long, default_value_t = 0.5)]
    pub compression_ratio: f64,
    /// Block cache capacity in bytes.
    #[arg(long, default_value_t = 8 << 20, allow_negative_numbers = true)]
    pub cache_size: i64,
    /// Bloom filter bits per key; -1 or 0 means no filter.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    pub bloom_bits: i64,
    /// Bytes of memtable before it is flushed.
    #[arg(long, default_value_t = 64 << 20)]
    pub write_buffer_size: usize,
    /// Sync the WAL on every write (0/1).
    #[arg(long, default_value = "false", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub sync: bool,
    /// Threads running each benchmark concurrently.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Database directory (default /tmp/dbbench-<pid>).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Open the database as it is instead of starting empty (0/1).
    #[arg(long, default_value = "false", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub use_existing_db: bool,
    /// Base seed of the key generators; 0 picks one from the clock.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print per-operation latency percentiles after each benchmark (0/1).
    #[arg(long, default_value = "false", value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub histogram: bool,

    // Engine tuning flags RocksDB's db_bench also has; unset keeps the engine's default.
    /// Uncompressed bytes per data block.
    #[arg(long)]
    pub block_size: Option<usize>,
    /// Table readers kept open.
    #[arg(long)]
    pub open_files: Option<usize>,
    /// Target size of compaction output files.
    #[arg(long)]
    pub target_file_size_base: Option<u64>,
    /// Size target of level 1.
    #[arg(long)]
    pub max_bytes_for_level_base: Option<u64>,
    /// Growth factor between levels.
    #[arg(long)]
    pub max_bytes_for_level_multiplier: Option<u64>,
    /// Level-0 files that trigger a compaction.
    #[arg(long)]
    pub level0_file_num_compaction_trigger: Option<usize>,
    /// Level-0 files at which writes slow down.
    #[arg(long)]
    pub level0_slowdown_writes_trigger: Option<usize>,
    /// Level-0 files at which writes stop.
    #[arg(long)]
    pub level0_stop_writes_trigger: Option<usize>,
    /// Background threads (flushes and compactions).
    #[arg(long)]
    pub max_background_jobs: Option<usize>,
    /// Compactions of the database at once.
    #[arg(long)]
    pub max_background_compactions: Option<usize>,
    /// Memtables (the active one plus frozen ones) before writes stop.
    #[arg(long)]
    pub max_write_buffer_number: Option<usize>,
}

/// One benchmark of `--benchmarks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Benchmark {
    /// Write keys 0..num in order to a fresh database.
    FillSeq,
    /// Write num random keys to a fresh database.
    FillRandom,
    /// fillrandom with sync writes and num/1000 operations (as RocksDB).
    FillSync,
    /// Write num random keys over the existing data.
    Overwrite,
    /// Point-read random keys.
    ReadRandom,
    /// Scan forward.
    ReadSeq,
    /// Scan backward.
    ReadReverse,
    /// Seek to random keys.
    SeekRandom,
    /// Delete random keys.
    DeleteRandom,
    /// Random reads in `threads` threads while one more thread writes.
    ReadWhileWriting,
    /// Compact the whole key range.
    Compact,
    /// Print the engine's statistics.
    Stats,
}

impl Benchmark {
    /// The name used on the command line and in result lines.
    pub fn name(self) -> &'static str {
        match self {
            Benchmark::FillSeq => "fillseq",
            Benchmark::FillRandom => "fillrandom",
            Benchmark::FillSync => "fillsync",
            Benchmark::Overwrite => "overwrite",
            Benchmark::ReadRandom => "readrandom",
            Benchmark::ReadSeq => "readseq",
            Benchmark::ReadReverse => "readreverse",
            Benchmark::SeekRandom => "seekrandom",
            Benchmark::DeleteRandom => "deleterandom",
            Benchmark::ReadWhileWriting => "readwhilewriting",
            Benchmark::Compact => "compact",
            Benchmark::Stats => "stats",
        }
    }

    /// True for benchmarks that start from an empty database (RocksDB's `fresh_db`).
    pub fn fresh_db(self) -> bool {
        matches!(self, Benchmark::FillSeq | Benchmark::FillRandom | Benchmark::FillSync)
    }

    /// Every benchmark, in the order of the flag's help.
    pub const ALL: [Benchmark; 12] = [
        Benchmark::FillSeq,
        Benchmark::FillRandom,
        Benchmark::FillSync,
        Benchmark::Overwrite,
        Benchmark::ReadRandom,
        Benchmark::ReadSeq,
        Benchmark::ReadReverse,
        Benchmark::SeekRandom,
        Benchmark::DeleteRandom,
        Benchmark::ReadWhileWriting,
        Benchmark::Compact,
        Benchmark::Stats,
    ];
}

impl FromStr for Benchmark {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Benchmark::ALL.iter().copied().find(|b| b.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Benchmark::ALL.iter().map(|b| b.name()).collect();
            format!("unknown benchmark {s:?} (known: {})", names.join(", "))
        })
    }
}

/// A validated run configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Benchmarks in order.
    pub benchmarks: Vec<Benchmark>,
    /// Keys in the key space, and ops per thread of write benchmarks.
    pub num: u64,
    /// Ops per thread of read benchmarks.
    pub reads: u64,
    /// Key size in bytes (at least 1).
    pub key_size: usize,
    /// Value size in bytes.
    pub value_size: usize,
    /// Compressibility of values.
    pub compression_ratio: f64,
    /// Block compression.
    pub compression: Compression,
    /// Sync every write.
    pub sync: bool,
    /// Threads per benchmark (at least 1).
    pub threads: usize,
    /// Database directory.
    pub db: PathBuf,
    /// Keep the existing database.
    pub use_existing_db: bool,
    /// Base seed (never 0 here: a time-based seed is already chosen).
    pub seed: u64,
    /// True when `seed` was chosen from the clock (the header says so).
    pub seed_from_clock: bool,
    /// Record per-op latencies.
    pub histogram: bool,
    /// Engine options without the block cache (made fresh at each open).
    pub options: Options,
    /// Block cache capacity in bytes.
    pub cache_size: usize,
}

impl Flags {
    /// Checks every flag and builds the run configuration.
    pub fn validate(&self) -> Result<Config> {
        let bad = |flag: &'static str, reason: String| Err(BenchError::Flag { flag, reason });
        let mut benchmarks = Vec::new();
        for name in self.benchmarks.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name.parse() {
                Ok(b) => benchmarks.push(b),
                Err(e) => return bad("benchmarks", e),
            }
        }
        if self.num == 0 {
            return bad("num", "must be at least 1".into());
        }
        let reads = match self.reads {
            r if r < 0 => self.num,
            r => r as u64,
        };
        if self.key_size == 0 || self.key_size > 1 << 20 {
            return bad("key_size", format!("must be between 1 and 1048576, got {}", self.key_size));
        }
        if self.value_size > 64 << 20 {
            return bad("value_size", format!("must be at most 64 MiB, got {}", self.value_size));
        }
        if !(self.compression_ratio > 0.0 && self.compression_ratio <= 1.0) {
            return bad("compression_ratio", format!("must be in (0, 1], got {}", self.compression_ratio));
        }
        let compression = match self.compression_type.to_ascii_lowercase().as_str() {
            "none" | "no" => Compression::None,
            "lz4" => Compression::Lz4,
            other @ ("snappy" | "zlib" | "bzip2" | "lz4hc" | "xpress" | "zstd") => {
                return bad(
                    "compression_type",
                    format!("{other} is not supported by this engine; use lz4 (its default) or none"),
                )
            }
            other => return bad("compression_type", format!("unknown compression {other:?}; use lz4 or none")),
        };
        if self.cache_size < 0 {
            return bad("cache_size", format!("must be at least 0, got {}", self.cache_size));
        }
        let bloom_bits_per_key = match self.bloom_bits {
            b if b <= 0 => 0,
            b if b <= 1000 => b as u32,
            b => return bad("bloom_bits", format!("must be at most 1000, got {b}")),
        };
        if self.threads == 0 || self.threads > 1024 {
            return bad("threads", format!("must be between 1 and 1024, got {}", self.threads));
        }
        let (seed, seed_from_clock) = match self.seed {
            0 => {
                let now =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_micros());
                ((now as u64).max(1), true)
            }
            s => (s, false),
        };
        let db = self.db.clone().unwrap_or_else(|| PathBuf::from(format!("/tmp/dbbench-{}", std::process::id())));

        let mut options = Options {
            create_if_missing: !self.use_existing_db,
            write_buffer_size: self.write_buffer_size,
            compression,
            bloom_bits_per_key,
            ..Options::default()
        };
        if let Some(v) = self.block_size {
            options.block_size = v;
        }
        if let Some(v) = self.open_files {
            options.max_open_files = v;
        }
        if let Some(v) = self.target_file_size_base {
            options.target_file_size = v;
        }
        if let Some(v) = self.max_bytes_for_level_base {
            options.level1_max_bytes = v;
        }
        if let Some(v) = self.max_bytes_for_level_multiplier {
            options.level_fanout = v;
        }
        if let Some(v) = self.level0_file_num_compaction_trigger {
            options.l0_compaction_trigger = v;
        }
        if let Some(v) = self.level0_slowdown_writes_trigger {
            options.l0_slowdown_trigger = v;
        }
        if let Some(v) = self.level0_stop_writes_trigger {
            options.l0_stop_trigger = v;
        }
        if let Some(v) = self.max_background_jobs {
            options.background_threads = v;
        }
        if let Some(v) = self.max_background_compactions {
            options.max_background_compactions = v;
        }
        if let Some(v) = self.max_write_buffer_number {
            if v < 2 {
                return bad("max_write_buffer_number", format!("must be at least 2, got {v}"));
            }
            options.max_immutable_memtables = v - 1;
        }
        if let Err(e) = options.validate() {
            return Err(BenchError::engine("engine options from the flags", e));
        }
        Ok(Config {
            benchmarks,
            num: self.num,
            reads,
            key_size: self.key_size,
            value_size: self.value_size,
            compression_ratio: self.compression_ratio,
            compression,
            sync: self.sync,
            threads: self.threads,
            db,
            use_existing_db: self.use_existing_db,
            seed,
            seed_from_clock,
            histogram: self.histogram,
            options,
            cache_size: self.cache_size as usize,
        })
    }
}

impl Config {
    /// Engine options for one open: the flags' options with a fresh block cache.
    pub fn open_options(&self) -> Options {
        Options { block_cache: Some(BlockCache::new(self.cache_size)), ..self.options.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Flags, clap::Error> {
        Flags::try_parse_from(std::iter::once("db_bench").chain(args.iter().copied()))
    }

    #[test]
    fn rocksdb_style_flags_parse() {
        let f = parse(&[
            "--num=500",
            "--reads=-1",
            "--value_size=64",
            "--key_size=16",
            "--compression_type=none",
            "--bloom_bits=-1",
            "--sync=1",
            "--use_existing_db=false",
            "--histogram",
            "--benchmarks=fillseq,readrandom",
        ])
        .unwrap();
        let c = f.validate().unwrap();
        assert_eq!(c.benchmarks, vec![Benchmark::FillSeq, Benchmark::ReadRandom]);
        assert_eq!((c.num, c.reads, c.value_size), (500, 500, 64));
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.options.bloom_bits_per_key, 0);
        assert!(c.sync && c.histogram && !c.use_existing_db);
    }

    #[test]
    fn unknown_flags_and_bad_values_are_errors() {
        let e = parse(&["--nonsense=3"]).unwrap_err().to_string();
        assert!(e.contains("--nonsense"), "{e}");
        assert!(parse(&["--sync=maybe"]).is_err());
        let e = parse(&["--compression_type=snappy"]).unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("compression_type") && e.contains("snappy") && e.contains("not supported"), "{e}");
        let e = parse(&["--benchmarks=fillseq,bogus"]).unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
        assert!(parse(&["--threads=0"]).unwrap().validate().is_err());
    }

    #[test]
    fn seed_zero_is_replaced_by_a_clock_seed() {
        let c = parse(&["--seed=0"]).unwrap().validate().unwrap();
        assert!(c.seed != 0 && c.seed_from_clock);
        let c = parse(&["--seed=7"]).unwrap().validate().unwrap();
        assert_eq!((c.seed, c.seed_from_clock), (7, false));
    }
}
