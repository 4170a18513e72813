//! `stress`: the engine's crash-test driver (in the style of RocksDB's `db_stress`).
//!
//! ```text
//! stress --db DIR --state DIR [--threads 4] [--keys 2000] [--sync] [--seed N]
//!        [--max-seconds 600] [--value-max 200]            # write until killed
//! stress --db DIR --state DIR --verify [--threads 4] [--keys 2000]
//! ```
//!
//! Write mode opens the database with tiny memtables, tables and level-0 triggers so that
//! flushes and compactions run all the time, and runs `--threads` writers. Thread `t` owns
//! the keys `kTT.IIIIII` (`I < --keys`) and does puts, deletes and multi-key batches (one
//! version for all keys of a batch), plus reads and scans of its own keys that must match
//! what it last wrote. Before each write it records the value as *pending* and after the
//! acknowledgement as *acked* in its expected-state file under `--state` (see `state.rs`).
//! It stops by itself after `--max-seconds` (a safety net: the driver kills it first).
//!
//! Verify mode reopens the database (with `paranoid_checks`) after a SIGKILL and checks:
//! every key holds its acked value or its in-flight (pending) one; the keys of an
//! in-flight batch agree (all new or all old); a full scan, forwards and backwards, holds
//! exactly the keys `get` finds, with the same values, and nothing else. Then it settles the
//! expected state to what it found, so the next write run starts from it. Exit status: 0
//! when everything holds, 1 on a violation or error.

mod state;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{Compression, Db, Options, ReadOptions, WriteBatch, WriteBufferManager, WriteOptions};
use state::{ThreadState, Word};

/// Parsed command line.
struct Args {
    db: PathBuf,
    state: PathBuf,
    threads: u32,
    keys: u64,
    sync: bool,
    seed: u64,
    max_seconds: u64,
    value_max: usize,
    verify: bool,
}

fn usage() -> String {
    "usage: stress --db DIR --state DIR [--verify] [--threads N] [--keys N] [--sync] [--seed N] \
     [--max-seconds N] [--value-max N]"
        .to_string()
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        db: PathBuf::new(),
        state: PathBuf::new(),
        threads: 4,
        keys: 2000,
        sync: false,
        seed: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64),
        max_seconds: 600,
        value_max: 200,
        verify: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{}", usage()));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{flag} {s}: {e}"));
        match flag.as_str() {
            "--db" => a.db = PathBuf::from(value()?),
            "--state" => a.state = PathBuf::from(value()?),
            "--threads" => a.threads = num(value()?)?.clamp(1, 99) as u32,
            "--keys" => a.keys = num(value()?)?.clamp(1, 999_999),
            "--seed" => a.seed = num(value()?)?,
            "--max-seconds" => a.max_seconds = num(value()?)?,
            "--value-max" => a.value_max = num(value()?)? as usize,
            "--sync" => a.sync = true,
            "--verify" => a.verify = true,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if a.db.as_os_str().is_empty() || a.state.as_os_str().is_empty() {
        return Err(format!("--db and --state are required\n{}", usage()));
    }
    Ok(a)
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| if args.verify { verify(&args) } else { stress(&args) });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stress: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A small xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn key(t: u32, i: u64) -> Vec<u8> {
    format!("k{t:02}.{i:06}").into_bytes()
}

/// Parses a key written by [`key`] into `(thread, index)`.
fn parse_key(k: &[u8]) -> Option<(u32, u64)> {
    let s = std::str::from_utf8(k).ok()?;
    let (t, i) = s.strip_prefix('k')?.split_once('.')?;
    if t.len() != 2 || i.len() != 6 {
        return None;
    }
    Some((t.parse().ok()?, i.parse().ok()?))
}

/// `kTT.IIIIII=VVVVVVVVVVVV|xxxx...`: the key, the version, padding.
fn value(k: &[u8], version: u64, pad: usize) -> Vec<u8> {
    let mut v = k.to_vec();
    v.extend_from_slice(format!("={version:012}|").as_bytes());
    v.resize(v.len() + pad, b'x');
    v
}

/// The version stored in `v`, checking that it was written for key `k`.
fn parse_value(k: &[u8], v: &[u8]) -> Result<u64, String> {
    let bad = || format!("key {}: malformed value {:?}", String::from_utf8_lossy(k), String::from_utf8_lossy(v));
    let rest = v.strip_prefix(k).and_then(|r| r.strip_prefix(b"=")).ok_or_else(bad)?;
    let digits = rest.get(..12).ok_or_else(bad)?;
    if rest.get(12) != Some(&b'|') || rest.iter().skip(13).any(|&b| b != b'x') {
        return Err(bad());
    }
    std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).ok_or_else(bad)
}

/// Options that keep flushes and compactions running continuously; a few vary by seed.
fn db_options(seed: u64, paranoid: bool) -> Options {
    let mut rng = Rng::new(seed ^ 0x5EED);
    Options {
        paranoid_checks: paranoid,
        write_buffer_size: 64 << 10,
        target_file_size: 64 << 10,
        level1_max_bytes: 256 << 10,
        level_fanout: 4,
        l0_compaction_trigger: 2,
        l0_slowdown_trigger: 8,
        l0_stop_trigger: 12,
        block_size: if rng.below(2) == 0 { 1024 } else { 4096 },
        compression: if rng.below(2) == 0 { Compression::Lz4 } else { Compression::None },
        bloom_bits_per_key: if rng.below(4) == 0 { 0 } else { 10 },
        max_background_compactions: 1 + rng.below(2) as usize,
        max_manifest_size: 64 << 10,
        background_threads: 2,
        write_yield_micros: if rng.below(2) == 0 { 0 } else { 500 },
        // Half the seeds freeze memtables early for a shared budget (a tablet server's way).
        write_buffer_manager: (rng.below(2) == 0).then(|| Arc::new(WriteBufferManager::new(32 << 10))),
        ..Options::default()
    }
}

/// Records (or checks) the key layout, so a state directory is never read with another one.
fn check_meta(args: &Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.state).map_err(|e| format!("{}: {e}", args.state.display()))?;
    let path = args.state.join("stress.meta");
    let want = format!("threads={} keys={}\n", args.threads, args.keys);
    match std::fs::read_to_string(&path) {
        Ok(have) if have == want => Ok(()),
        Ok(have) => Err(format!("{}: made with {:?}, this run uses {:?}", path.display(), have.trim(), want.trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&path, want).map_err(|e| format!("{}: {e}", path.display()))
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn stress(args: &Args) -> Result<(), String> {
    check_meta(args)?;
    let mut states = Vec::new();
    for t in 0..args.threads {
        let st = ThreadState::open(&args.state, t, args.keys)?;
        let mut acked = Vec::with_capacity(args.keys as usize);
        for i in 0..args.keys {
            let (a, p) = st.get(i)?;
            if a != p {
                return Err(format!("thread {t} key {i} has a write in flight: run --verify first"));
            }
            acked.push(a);
        }
        states.push((st, acked));
    }
    let db = Arc::new(
        Db::open(&args.db, db_options(args.seed, false)).map_err(|e| format!("open {}: {e}", args.db.display()))?,
    );
    eprintln!("stress: seed {} threads {} keys {} sync {}", args.seed, args.threads, args.keys, args.sync);
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let mut handles = Vec::new();
    for (t, (st, acked)) in states.into_iter().enumerate() {
        let w = Writer {
            t: t as u32,
            db: db.clone(),
            st,
            acked,
            rng: Rng::new(args.seed.wrapping_add(t as u64 * 7919)),
            wo: WriteOptions { sync: args.sync },
            value_max: args.value_max as u64,
        };
        let (stop, ops) = (stop.clone(), ops.clone());
        handles.push(std::thread::spawn(move || w.run(&stop, &ops, deadline)));
    }
    let mut first_err = None;
    for h in handles {
        let r = h.join().unwrap_or_else(|_| Err("writer thread panicked".to_string()));
        if let Err(e) = r {
            stop.store(true, Ordering::Relaxed);
            first_err.get_or_insert(e);
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    db.close().map_err(|e| format!("close: {e}"))?;
    eprintln!("stress: {} operations, stopped at --max-seconds", ops.load(Ordering::Relaxed));
    Ok(())
}

/// One writer thread and the keys it owns.
struct Writer {
    t: u32,
    db: Arc<Db>,
    st: ThreadState,
    /// In-memory copy of the acked words (this thread is the keys' only writer).
    acked: Vec<Word>,
    rng: Rng,
    wo: WriteOptions,
    value_max: u64,
}

impl Writer {
    fn run(mut self, stop: &AtomicBool, ops: &AtomicU64, deadline: Instant) -> Result<(), String> {
        let mut version = self.acked.iter().map(|w| w.version()).max().unwrap_or(0);
        let mut n = 0u64;
        // `stop` only tells the other threads to end early after a failure: Relaxed suffices.
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            if n % 256 == 0 && Instant::now() >= deadline {
                break;
            }
            ops.fetch_add(1, Ordering::Relaxed);
            let dice = self.rng.below(1000);
            if dice < 100 {
                self.check_read()?;
                continue;
            }
            if dice < 101 {
                self.check_scan()?;
                continue;
            }
            version += 1;
            let count = if dice < 250 { 2 + self.rng.below(5) } else { 1 };
            let mut picked: Vec<(u64, Word)> = Vec::new();
            while (picked.len() as u64) < count.min(self.st.keys()) {
                let i = self.rng.below(self.st.keys());
                if picked.iter().all(|(j, _)| *j != i) {
                    let del = self.rng.below(100) < 20;
                    picked.push((i, if del { Word::delete(version) } else { Word::put(version) }));
                }
            }
            for (i, w) in &picked {
                self.st.set_pending(*i, *w)?;
            }
            let mut batch = WriteBatch::new();
            for (i, w) in &picked {
                let k = key(self.t, *i);
                if w.absent() {
                    batch.delete(&k);
                } else {
                    let pad = self.rng.below(self.value_max + 1) as usize;
                    batch.put(&k, &value(&k, version, pad));
                }
            }
            let r =
                if picked.len() == 1 { self.write_single(&picked, version) } else { self.db.write(&self.wo, batch) };
            r.map_err(|e| format!("thread {} write of version {version}: {e}", self.t))?;
            for (i, w) in picked {
                self.st.set_acked(i, w)?;
                if let Some(slot) = self.acked.get_mut(i as usize) {
                    *slot = w;
                }
            }
        }
        Ok(())
    }

    /// A single-key operation through `put`/`delete` rather than a batch.
    fn write_single(&mut self, picked: &[(u64, Word)], version: u64) -> engine::Result<()> {
        let Some(&(i, w)) = picked.first() else { return Ok(()) };
        let k = key(self.t, i);
        if w.absent() {
            self.db.delete(&self.wo, &k)
        } else {
            let pad = self.rng.below(self.value_max + 1) as usize;
            self.db.put(&self.wo, &k, &value(&k, version, pad))
        }
    }

    /// Read-your-writes: a key of this thread holds exactly what was last acknowledged.
    fn check_read(&mut self) -> Result<(), String> {
        let i = self.rng.below(self.st.keys());
        let k = key(self.t, i);
        let got = self.db.get(&ReadOptions::default(), &k).map_err(|e| format!("get: {e}"))?;
        let observed = got.map(|v| parse_value(&k, &v)).transpose()?;
        let want = self.acked.get(i as usize).copied().unwrap_or(Word(0));
        if !want.matches(observed) {
            return Err(format!(
                "thread {} key {}: read {observed:?}, last acknowledged {want:?}",
                self.t,
                String::from_utf8_lossy(&k)
            ));
        }
        Ok(())
    }

    /// A scan of this thread's keys matches what was last acknowledged, key by key.
    fn check_scan(&mut self) -> Result<(), String> {
        let ro = ReadOptions {
            lower_bound: Some(format!("k{:02}.", self.t).into_bytes()),
            upper_bound: Some(format!("k{:02}/", self.t).into_bytes()),
            ..Default::default()
        };
        let mut it = self.db.iter(&ro).map_err(|e| format!("iter: {e}"))?;
        let mut seen = vec![None; self.acked.len()];
        it.seek_to_first();
        while it.valid() {
            let (t, i) = parse_key(it.key()).ok_or_else(|| format!("scan: unexpected key {:?}", it.key()))?;
            let slot = seen.get_mut(i as usize).filter(|_| t == self.t);
            let slot = slot.ok_or_else(|| format!("scan: key outside thread {}: {:?}", self.t, it.key()))?;
            *slot = Some(parse_value(it.key(), it.value())?);
            it.next();
        }
        it.status().map_err(|e| format!("scan: {e}"))?;
        for (i, (w, got)) in self.acked.iter().zip(seen).enumerate() {
            if !w.matches(got) {
                return Err(format!("thread {} key {i}: scan found {got:?}, last acknowledged {w:?}", self.t));
            }
        }
        Ok(())
    }
}

/// What one key showed and what that means for the expected state.
struct Seen {
    observed: Option<u64>,
    settled: Word,
}

fn verify(args: &Args) -> Result<(), String> {
    check_meta(args)?;
    let db = Db::open(&args.db, db_options(args.seed, true))
        .map_err(|e| format!("reopen {} after the crash: {e}", args.db.display()))?;
    let mut failures: Vec<String> = Vec::new();
    let mut seen_all: Vec<Vec<Seen>> = Vec::new();
    let (mut present, mut in_flight, mut resolved_new) = (0u64, 0u64, 0u64);
    for t in 0..args.threads {
        let st = ThreadState::open(&args.state, t, args.keys)?;
        let (mut any_new, mut any_old) = (None, None);
        let mut seen = Vec::new();
        for i in 0..args.keys {
            let k = key(t, i);
            let (a, p) = st.get(i)?;
            let got = db.get(&ReadOptions::default(), &k).map_err(|e| format!("get {}: {e}", show(&k)))?;
            let observed = got.map(|v| parse_value(&k, &v)).transpose()?;
            present += u64::from(observed.is_some());
            let (is_old, is_new) = (a.matches(observed), p.matches(observed));
            if !is_old && !is_new {
                failures.push(format!(
                    "key {}: found {}, but acknowledged {} and in flight {}",
                    show(&k),
                    fmt_seen(observed),
                    fmt_word(a),
                    fmt_word(p)
                ));
            }
            if a != p {
                in_flight += 1;
                if is_new && !is_old {
                    any_new.get_or_insert(i);
                }
                if is_old && !is_new {
                    any_old.get_or_insert(i);
                }
            }
            seen.push(Seen { observed, settled: if is_old { a } else { p } });
        }
        if let (Some(n), Some(o)) = (any_new, any_old) {
            failures.push(format!(
                "thread {t}: batch half applied: key {} shows the in-flight write, key {} the old value",
                show(&key(t, n)),
                show(&key(t, o))
            ));
        }
        resolved_new += u64::from(any_new.is_some());
        seen_all.push(seen);
    }

    // A full scan, both ways, holds exactly the keys `get` found, with the same values.
    for reverse in [false, true] {
        let mut it = db.iter(&ReadOptions::default()).map_err(|e| format!("iter: {e}"))?;
        if reverse {
            it.seek_to_last();
        } else {
            it.seek_to_first();
        }
        let mut count = 0u64;
        let mut prev: Option<Vec<u8>> = None;
        while it.valid() {
            let k = it.key().to_vec();
            count += 1;
            if let Some(p) = &prev {
                if (p < &k) == reverse {
                    failures.push(format!("scan (reverse {reverse}): {} after {}", show(&k), show(p)));
                }
            }
            let expected = parse_key(&k)
                .and_then(|(t, i)| seen_all.get(t as usize).and_then(|s| s.get(i as usize)))
                .map(|s| s.observed);
            match expected {
                None => failures.push(format!("scan: unexpected key {}", show(&k))),
                Some(want) => {
                    let got = parse_value(&k, it.value())?;
                    if want != Some(got) {
                        failures.push(format!("scan: key {} has version {got}, get gave {want:?}", show(&k)));
                    }
                }
            }
            prev = Some(k);
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status().map_err(|e| format!("scan: {e}"))?;
        if count != present {
            failures.push(format!("scan (reverse {reverse}) found {count} keys, get found {present}"));
        }
    }

    if !failures.is_empty() {
        for f in failures.iter().take(20) {
            eprintln!("stress: violation: {f}");
        }
        return Err(format!("{} violation(s) in {}", failures.len(), args.db.display()));
    }
    // Settle the expected state to what the database holds, for the next run.
    for (t, seen) in seen_all.iter().enumerate() {
        let st = ThreadState::open(&args.state, t as u32, args.keys)?;
        for (i, s) in seen.iter().enumerate() {
            st.settle(i as u64, s.settled)?;
        }
        st.sync()?;
    }
    db.close().map_err(|e| format!("close: {e}"))?;
    println!(
        "verify: ok: {present} keys present of {}, {in_flight} key(s) in flight at the kill, {resolved_new} in-flight \
         operation(s) found applied",
        u64::from(args.threads) * args.keys
    );
    Ok(())
}

fn show(k: &[u8]) -> String {
    String::from_utf8_lossy(k).into_owned()
}

fn fmt_seen(v: Option<u64>) -> String {
    v.map_or("nothing".to_string(), |v| format!("version {v}"))
}

fn fmt_word(w: Word) -> String {
    if w.0 == 0 {
        "never written".to_string()
    } else if w.absent() {
        format!("delete@{}", w.version())
    } else {
        format!("put@{}", w.version())
    }
}
