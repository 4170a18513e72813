//! Runs a [`Config`]: header, each benchmark in turn (in `threads` threads), and a closing
//! line with write amplification and bytes on disk.
//!
//! As in RocksDB's `db_bench`: the database is destroyed first unless `--use_existing_db=1`;
//! `fillseq`, `fillrandom` and `fillsync` start from a fresh database (and are skipped with
//! `--use_existing_db=1`); other benchmarks use what is there. A result's time covers the
//! threads' loops only: not the open, not the final wait for compactions, and a write
//! benchmark does not wait for the flushes and compactions it caused.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;

use engine::filename::parse_file_name;
use engine::{Compression, Db};

use crate::error::{BenchError, Result};
use crate::flags::{Benchmark, Config};
use crate::progress::Progress;
use crate::random::{Rng, ValuePool};
use crate::report::{merge, Report, ThreadStats};
use crate::workloads::{self, KeyOrder, Shared, ThreadInput};

/// Runs every benchmark of `cfg`, writing RocksDB-style results to `out`.
pub fn run(cfg: &Config, out: &mut dyn Write) -> Result<()> {
    let mut d =
        Driver { cfg, out, db: None, pool: ValuePool::new(cfg.value_size, cfg.compression_ratio), threads_started: 0 };
    if !cfg.use_existing_db {
        destroy(&cfg.db)?;
    }
    d.open()?;
    d.header()?;
    for &bench in &cfg.benchmarks {
        if bench.fresh_db() {
            if cfg.use_existing_db {
                d.emit(&format!("{:<12} : skipped (--use_existing_db is true)", bench.name()))?;
                continue;
            }
            d.close()?;
            destroy(&cfg.db)?;
            d.open()?;
        }
        d.run_one(bench)?;
    }
    d.finish()
}

struct Driver<'a> {
    cfg: &'a Config,
    out: &'a mut dyn Write,
    db: Option<Db>,
    pool: ValuePool,
    /// Threads started so far in this run; each thread's seed is `seed + this` (as RocksDB's
    /// `total_thread_count_`), so successive benchmarks draw different keys.
    threads_started: u64,
}

impl Driver<'_> {
    fn emit(&mut self, text: &str) -> Result<()> {
        writeln!(self.out, "{text}")
            .and_then(|()| self.out.flush())
            .map_err(|source| BenchError::Io { path: "<standard output>".into(), source })
    }

    fn header(&mut self) -> Result<()> {
        let c = self.cfg;
        if c.seed_from_clock {
            self.emit(&format!("Set seed to {} because --seed was 0", c.seed))?;
        }
        let compressed = (c.value_size as f64 * c.compression_ratio + 0.5) as u64;
        let mb = |per_entry: f64| per_entry * c.num as f64 / 1_048_576.0;
        let text = format!(
            "Keys:       {} bytes each\n\
             Values:     {} bytes each ({} bytes after compression)\n\
             Entries:    {}\n\
             RawSize:    {:.1} MB (estimated)\n\
             FileSize:   {:.1} MB (estimated)\n\
             Compression: {}\n\
             Threads:    {}\n\
             ------------------------------------------------\n\
             DB path: [{}]",
            c.key_size,
            c.value_size,
            compressed,
            c.num,
            mb((c.key_size + c.value_size) as f64),
            mb(c.key_size as f64 + c.value_size as f64 * c.compression_ratio),
            match c.compression {
                Compression::None => "NoCompression",
                Compression::Lz4 => "LZ4",
            },
            c.threads,
            c.db.display()
        );
        self.emit(&text)
    }

    fn open(&mut self) -> Result<()> {
        let db = Db::open(&self.cfg.db, self.cfg.open_options())
            .map_err(|e| BenchError::engine(format!("opening the database at {}", self.cfg.db.display()), e))?;
        self.db = Some(db);
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some(db) = self.db.take() {
            db.close().map_err(|e| BenchError::engine("closing the database", e))?;
        }
        Ok(())
    }

    fn db(&self) -> Result<&Db> {
        self.db.as_ref().ok_or_else(|| BenchError::engine("running a benchmark", engine::Error::Closed))
    }

    fn run_one(&mut self, bench: Benchmark) -> Result<()> {
        let c = self.cfg;
        let (mut report, op) = match bench {
            Benchmark::Stats => {
                let stats = self.db()?.stats();
                return self.emit(&stats.to_string());
            }
            Benchmark::Compact => {
                let mut st = ThreadStats::start(c.histogram);
                let began = st.op_clock();
                self.db()?.compact_range(None, None).map_err(|e| BenchError::engine("compact", e))?;
                st.op_done(began);
                st.stop();
                (merge(vec![st]), "compaction")
            }
            Benchmark::FillSeq => (
                self.threads(bench, c.num, |s, i| workloads::write(s, i, KeyOrder::Sequential, c.num, c.sync))?,
                "write",
            ),
            Benchmark::FillRandom | Benchmark::Overwrite => {
                (self.threads(bench, c.num, |s, i| workloads::write(s, i, KeyOrder::Random, c.num, c.sync))?, "write")
            }
            Benchmark::FillSync => {
                let ops = (c.num / 1000).max(1);
                (self.threads(bench, ops, |s, i| workloads::write(s, i, KeyOrder::Random, ops, true))?, "write")
            }
            Benchmark::DeleteRandom => {
                (self.threads(bench, c.num, |s, i| workloads::delete_random(s, i, c.num, c.sync))?, "delete")
            }
            Benchmark::ReadRandom => {
                (self.threads(bench, c.reads, |s, i| workloads::read_random(s, i, c.reads))?, "read")
            }
            Benchmark::ReadSeq => {
                (self.threads(bench, c.reads, |s, _| workloads::read_scan(s, c.reads, true))?, "read")
            }
            Benchmark::ReadReverse => {
                (self.threads(bench, c.reads, |s, _| workloads::read_scan(s, c.reads, false))?, "read")
            }
            Benchmark::SeekRandom => {
                (self.threads(bench, c.reads, |s, i| workloads::seek_random(s, i, c.reads))?, "seek")
            }
            Benchmark::ReadWhileWriting => (self.read_while_writing()?, "read"),
        };
        self.emit(&report.line(bench.name()))?;
        if let Some(h) = report.histogram(op) {
            self.emit(&h)?;
        }
        Ok(())
    }

    fn inputs(&mut self, n: usize) -> Vec<ThreadInput> {
        (0..n)
            .map(|_| {
                self.threads_started += 1;
                ThreadInput {
                    rng: Rng::new(self.cfg.seed.wrapping_add(self.threads_started)),
                    values: self.pool.generator(),
                }
            })
            .collect()
    }

    /// Runs `body` in `--threads` threads that start together; `ops` is each one's op count
    /// (for the progress bar).
    fn threads<F>(&mut self, bench: Benchmark, ops: u64, body: F) -> Result<Report>
    where
        F: Fn(&Shared<'_>, &mut ThreadInput) -> Result<ThreadStats> + Sync,
    {
        let c = self.cfg;
        let inputs = self.inputs(c.threads);
        let progress = Progress::new(bench.name(), ops.saturating_mul(c.threads as u64));
        let shared = Shared {
            db: self.db()?,
            key_space: c.num,
            key_size: c.key_size,
            value_size: c.value_size,
            histogram: c.histogram,
            progress: &progress,
        };
        let barrier = Barrier::new(c.threads);
        let results: Vec<Result<ThreadStats>> = std::thread::scope(|scope| {
            let handles: Vec<_> = inputs
                .into_iter()
                .map(|mut input| {
                    let (shared, barrier, body) = (&shared, &barrier, &body);
                    scope.spawn(move || {
                        barrier.wait();
                        body(shared, &mut input)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(BenchError::ThreadPanicked(bench.name().into()))))
                .collect()
        });
        progress.finish();
        Ok(merge(results.into_iter().collect::<Result<Vec<_>>>()?))
    }

    /// `--threads` readers doing `readrandom` while one more thread writes random keys until
    /// the last reader finishes; the report covers the readers.
    fn read_while_writing(&mut self) -> Result<Report> {
        let c = self.cfg;
        let mut inputs = self.inputs(c.threads + 1);
        let mut writer_input = inputs.pop();
        let progress = Progress::new("readwhilewriting", c.reads.saturating_mul(c.threads as u64));
        let shared = Shared {
            db: self.db()?,
            key_space: c.num,
            key_size: c.key_size,
            value_size: c.value_size,
            histogram: c.histogram,
            progress: &progress,
        };
        let stop = AtomicBool::new(false);
        let readers_left = AtomicUsize::new(c.threads);
        let barrier = Barrier::new(c.threads + 1);
        let (readers, writer) = std::thread::scope(|scope| {
            let (shared, stop, readers_left, barrier) = (&shared, &stop, &readers_left, &barrier);
            let writer = scope.spawn(move || {
                barrier.wait();
                match writer_input.as_mut() {
                    Some(input) => workloads::write_until(shared, input, stop),
                    None => Ok(0),
                }
            });
            let readers: Vec<_> = inputs
                .into_iter()
                .map(|mut input| {
                    scope.spawn(move || {
                        barrier.wait();
                        let r = workloads::read_random(shared, &mut input, c.reads);
                        // AcqRel: the last reader to finish sees every other reader's
                        // decrement; Release on `stop` pairs with the writer's Acquire.
                        if readers_left.fetch_sub(1, Ordering::AcqRel) == 1 {
                            stop.store(true, Ordering::Release);
                        }
                        r
                    })
                })
                .collect();
            let readers: Vec<Result<ThreadStats>> = readers
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(BenchError::ThreadPanicked("readwhilewriting".into()))))
                .collect();
            // A panicked reader never decremented the count: stop the writer regardless.
            stop.store(true, Ordering::Release);
            let writer = writer.join().unwrap_or_else(|_| Err(BenchError::ThreadPanicked("readwhilewriting".into())));
            (readers, writer)
        });
        progress.finish();
        writer?;
        Ok(merge(readers.into_iter().collect::<Result<Vec<_>>>()?))
    }

    /// Waits for background work, prints the closing line and closes the database.
    fn finish(&mut self) -> Result<()> {
        let db = self.db()?;
        db.wait_for_compactions().map_err(|e| BenchError::engine("waiting for compactions", e))?;
        let s = db.stats();
        let on_disk = dir_bytes(&self.cfg.db)?;
        let line = format!(
            "Write amplification: {:.2} (tables only {:.2}); bytes on disk: {on_disk} ({} in tables); user bytes written: {}",
            s.write_amplification(),
            s.table_write_amplification(),
            s.total_table_bytes(),
            s.user_bytes_written
        );
        self.emit(&line)?;
        self.close()
    }
}

/// Total size of the files directly in `dir`.
fn dir_bytes(dir: &Path) -> Result<u64> {
    let io = |source| BenchError::Io { path: dir.to_path_buf(), source };
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let meta = entry.and_then(|e| e.metadata()).map_err(io)?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Removes the database at `dir` (RocksDB's `DestroyDB`): every engine file, then the
/// directory. Refuses if the directory holds anything that is not an engine file, so a
/// mistyped `--db` cannot wipe unrelated data. A missing directory is fine.
pub fn destroy(dir: &Path) -> Result<()> {
    let io = |path: &Path, source| BenchError::Io { path: path.to_path_buf(), source };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().map_err(|e| io(&entry.path(), e))?.is_file();
        if !is_file || parse_file_name(&name).is_none() {
            return Err(BenchError::NotADatabase { path: dir.to_path_buf(), name });
        }
        files.push(entry.path());
    }
    for f in files {
        std::fs::remove_file(&f).map_err(|e| io(&f, e))?;
    }
    std::fs::remove_dir(dir).map_err(|e| io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destroy_removes_a_database_but_refuses_foreign_files() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("db");
        Db::open(&db, engine::Options::default()).unwrap().close().unwrap();
        assert!(db.join("CURRENT").exists());
        destroy(&db).unwrap();
        assert!(!db.exists());
        destroy(&db).unwrap(); // missing is fine

        let other = tmp.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("notes.txt"), b"keep me").unwrap();
        let e = destroy(&other).unwrap_err().to_string();
        assert!(e.contains("notes.txt") && e.contains("refusing"), "{e}");
        assert!(other.join("notes.txt").exists());
    }
}
