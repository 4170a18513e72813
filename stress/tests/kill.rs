//! The crash test, short: run the `stress` binary, SIGKILL it after a short random time,
//! verify the reopened database, 20 times over one database. The long version is
//! `scripts/crash-test.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure should panic

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime};

const BIN: &str = env!("CARGO_BIN_EXE_stress");
const LAYOUT: [&str; 4] = ["--threads", "3", "--keys", "300"];

/// Kills the child on drop, so a failing test leaves no process behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dirs(root: &Path) -> [String; 4] {
    ["--db".into(), root.join("db").display().to_string(), "--state".into(), root.join("state").display().to_string()]
}

fn verify(root: &Path) -> Output {
    Command::new(BIN).args(dirs(root)).args(LAYOUT).arg("--verify").output().unwrap()
}

/// Runs the writer for `ms` milliseconds, then SIGKILLs it (`Child::kill` sends SIGKILL).
fn run_and_kill(root: &Path, seed: u64, sync: bool, ms: u64) {
    let mut cmd = Command::new(BIN);
    cmd.args(dirs(root)).args(LAYOUT).args(["--seed", &seed.to_string(), "--max-seconds", "60"]);
    if sync {
        cmd.arg("--sync");
    }
    let mut child = Killed(cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(ms));
    if let Some(status) = child.0.try_wait().unwrap() {
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
        panic!("writer exited early ({status}): {err}");
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
}

fn cycles(sync: bool, n: u64) {
    let root = tempfile::tempdir().unwrap();
    let base = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64;
    for c in 0..n {
        let seed = base.wrapping_add(c);
        let ms = 50 + (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) % 250;
        run_and_kill(root.path(), seed, sync, ms);
        let out = verify(root.path());
        assert!(
            out.status.success(),
            "cycle {c} (seed {seed}, killed after {ms} ms): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn sigkill_loses_no_acknowledged_write_without_sync() {
    cycles(false, 14);
}

#[test]
fn sigkill_loses_no_acknowledged_write_with_sync() {
    cycles(true, 6);
}

/// The verifier itself: a lost write (the expected state names a version the database never
/// saw) and a half-applied batch are reported, with the key, and fail the run.
#[test]
fn verifier_reports_lost_writes_and_half_batches() {
    let root = tempfile::tempdir().unwrap();
    run_and_kill(root.path(), 7, false, 200);
    assert!(verify(root.path()).status.success());
    let path = root.path().join("state/thread-01.state");
    let settled = std::fs::read(&path).unwrap();
    let state = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let word = |slot: u64| u64::from_le_bytes(settled[slot as usize * 16..][..8].try_into().unwrap());
    let put = |version: u64| version << 1;
    let set = |slot: u64, acked: u64, pending: u64| {
        state.write_all_at(&acked.to_le_bytes(), slot * 16).unwrap();
        state.write_all_at(&pending.to_le_bytes(), slot * 16 + 8).unwrap();
    };

    // Key k01.000005 acknowledged as a version the database never saw: a lost write.
    set(5, put(999_999), put(999_999));
    let out = verify(root.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key k01.000005") && err.contains("put@999999"), "{err}");
    set(5, word(5), word(5));
    assert!(verify(root.path()).status.success(), "restoring the slot makes the state consistent again");

    // Keys 7 and 8 in one in-flight operation; 7 shows its new value, 8 its old one.
    set(7, put(999_998), word(7));
    set(8, word(8), put(999_998));
    let out = verify(root.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("batch half applied") && err.contains("k01.000007") && err.contains("k01.000008"), "{err}");
}
