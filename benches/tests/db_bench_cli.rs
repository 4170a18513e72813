//! Runs the built `db_bench` binary and reads its output the way
//! `../shared/bench/vs-rocksdb.sh` does: lines containing `micros/op`, the first field as the
//! benchmark name and the field before `ops/sec` as the throughput.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

const ALL: &str =
    "fillseq,fillrandom,overwrite,readrandom,readseq,readreverse,seekrandom,deleterandom,readwhilewriting,compact,stats";

fn db_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_db_bench")).args(args).output().expect("run db_bench")
}

fn ok(args: &[&str]) -> String {
    let out = db_bench(args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "db_bench {args:?} failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn db_flag(dir: &Path) -> String {
    format!("--db={}", dir.display())
}

/// One result line as the script parses it.
#[derive(Debug)]
struct Line {
    name: String,
    micros_per_op: f64,
    ops_per_sec: u64,
    operations: u64,
    found: Option<(u64, u64)>,
}

fn results(stdout: &str) -> Vec<Line> {
    stdout
        .lines()
        .filter(|l| l.contains("micros/op"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let at = |word: &str| f.iter().position(|&x| x == word).unwrap_or_else(|| panic!("no {word} in {l:?}"));
            assert_eq!(f[1], ":", "{l:?}");
            let found = l.find('(').map(|i| {
                let inner: Vec<&str> = l[i + 1..].trim_end_matches(')').split_whitespace().collect();
                assert_eq!((inner[1], inner[3]), ("of", "found"), "{l:?}");
                (inner[0].parse().unwrap(), inner[2].parse().unwrap())
            });
            Line {
                name: f[0].to_string(),
                micros_per_op: f[at("micros/op") - 1].parse().unwrap(),
                ops_per_sec: f[at("ops/sec") - 1].parse().unwrap(),
                operations: f[at("operations;") - 1].parse().unwrap(),
                found,
            }
        })
        .collect()
}

#[test]
fn every_benchmark_prints_a_parsable_line_histograms_and_a_closing_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let stdout = ok(&["--num=1000", &format!("--benchmarks={ALL}"), "--histogram=1", "--seed=1", &db_flag(&db)]);
    let lines = results(&stdout);
    let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
    // `stats` prints the engine's statistics instead of a result line.
    assert_eq!(names, ALL.split(',').filter(|&n| n != "stats").collect::<Vec<_>>(), "{stdout}");
    for l in &lines {
        assert!(l.micros_per_op > 0.0 && l.ops_per_sec > 0, "{l:?}");
    }
    let ops = |name: &str| lines.iter().find(|l| l.name == name).unwrap();
    for name in ["fillseq", "fillrandom", "overwrite", "readrandom", "seekrandom", "deleterandom", "readwhilewriting"] {
        assert_eq!(ops(name).operations, 1000, "{name}");
    }
    assert_eq!(ops("compact").operations, 1);
    // readseq and readreverse visit every live key, the same number both ways.
    assert_eq!(ops("readseq").operations, ops("readreverse").operations);
    assert!(ops("readseq").operations < 1000, "fillrandom+overwrite leave gaps in 1000 keys");

    assert_eq!(stdout.matches("Microseconds per ").count(), 10, "{stdout}");
    assert!(stdout.contains("Percentiles: P50: "), "{stdout}");
    assert!(stdout.contains("Level  Files"), "stats output missing: {stdout}");
    assert!(stdout.starts_with("Keys:       16 bytes each\nValues:     100 bytes each (50 bytes after compression)\n"));
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("Write amplification: ") && last.contains("bytes on disk: "), "{last}");
}

#[test]
fn found_counts_follow_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let stdout = ok(&[
        "--num=1000",
        "--benchmarks=fillseq,readrandom,seekrandom,readseq,readreverse",
        "--seed=3",
        &db_flag(&db),
    ]);
    let lines = results(&stdout);
    assert_eq!(lines[1].found, Some((1000, 1000)), "{stdout}");
    assert_eq!(lines[2].found, Some((1000, 1000)), "{stdout}");
    assert_eq!((lines[3].operations, lines[4].operations), (1000, 1000), "{stdout}");

    // Deleting random keys leaves fewer to find; readrandom and readseq agree on how many.
    let stdout = ok(&["--num=1000", "--benchmarks=fillseq,deleterandom,readseq", "--seed=4", &db_flag(&db)]);
    let left = results(&stdout)[2].operations;
    assert!(left < 1000 && left > 0, "{stdout}");
}

#[test]
fn threads_add_up_operations() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let stdout = ok(&["--num=500", "--threads=3", "--benchmarks=fillseq,readrandom", "--seed=5", &db_flag(&db)]);
    let lines = results(&stdout);
    assert_eq!((lines[0].operations, lines[1].operations), (1500, 1500), "{stdout}");
    assert_eq!(lines[1].found, Some((1500, 1500)), "{stdout}");
}

#[test]
fn use_existing_db_sees_the_previous_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    ok(&["--num=700", "--benchmarks=fillseq", "--compression_type=none", &db_flag(&db)]);
    let stdout = ok(&["--num=700", "--benchmarks=fillseq,readrandom,readseq", "--use_existing_db=1", &db_flag(&db)]);
    assert!(stdout.contains("fillseq      : skipped (--use_existing_db is true)"), "{stdout}");
    let lines = results(&stdout);
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0].found, Some((700, 700)), "{stdout}");
    assert_eq!(lines[1].operations, 700, "{stdout}");
    // Without the flag the database starts empty again.
    let stdout = ok(&["--num=700", "--benchmarks=readrandom", &db_flag(&db)]);
    assert_eq!(results(&stdout)[0].found, Some((0, 700)), "{stdout}");
}

#[test]
fn bad_flags_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_flag(&dir.path().join("db"));
    for (args, needle) in [
        (vec!["--no_such_flag=1"], "--no_such_flag"),
        (vec!["--compression_type=snappy"], "snappy is not supported"),
        (vec!["--benchmarks=fillseq,warpdrive"], "warpdrive"),
        (vec!["--num=abc"], "--num"),
        (vec!["--sync=perhaps"], "perhaps"),
        (vec!["--threads=0"], "--threads"),
        (vec!["--benchmarks=readrandom", "--use_existing_db=1"], "opening the database"),
    ] {
        let mut all = args.clone();
        all.push(&db);
        let out = db_bench(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
