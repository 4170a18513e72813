//! CI smoke run of `cluster_bench` (issue 8): every paper benchmark and YCSB workload for a
//! few hundred operations against a cluster in the driver's own process (`--mini 1`), and
//! the plain Bigtable-API path (`--gateway`) through the gateway; zero errors and the
//! counts each benchmark must produce.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use master::{MiniCluster, MiniClusterOptions};
use serde_json::Value;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cluster_bench")).args(args).output().expect("run cluster_bench")
}

fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\nstderr:\n{stderr}"))
}

/// One benchmark of a run: name, ops, errors, the benchmark's object.
type Bench = (String, u64, u64, Value);

/// The run's benchmarks in order.
fn by_name(doc: &Value) -> Vec<Bench> {
    doc["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["ops"].as_u64().unwrap(),
                b["errors"].as_u64().unwrap(),
                b.clone(),
            )
        })
        .collect()
}

/// A `--json` run on `--mini 1` with 200 records and 300 operations plus `args`: the
/// benchmarks (name, ops, errors, object) and their names.
fn mini_run(args: &[&str]) -> (Vec<Bench>, Vec<String>) {
    let mut all = vec!["--mini", "1", "--records", "200", "--operations", "300", "--json"];
    all.extend_from_slice(args);
    let got = by_name(&json_of(&bench(&all)));
    let names = got.iter().map(|(n, ..)| n.clone()).collect();
    (got, names)
}

#[test]
fn smoke_every_benchmark_on_a_mini_cluster() {
    let (got, names) = mini_run(&["--threads", "4", "--benchmarks", "paper,ycsb"]);
    assert_eq!(
        names,
        [
            "paper:sequential-write",
            "paper:random-write",
            "paper:sequential-read",
            "paper:random-read",
            "load:paper-mem",
            "paper:random-read-mem",
            "paper:scan",
            "load:usertable",
            "ycsb:a",
            "ycsb:b",
            "ycsb:c",
            "ycsb:f",
            "ycsb:d",
            "ycsb:e",
        ]
    );
    for (name, ops, errors, b) in &got {
        assert_eq!(*errors, 0, "{name}: {b}");
        let expected = match name.as_str() {
            "paper:sequential-write" | "load:usertable" => 200,
            "load:paper-mem" => 20,
            _ => 300,
        };
        assert_eq!(*ops, expected, "{name}: {b}");
        assert!(b["ops_per_sec"].as_f64().unwrap() > 0.0, "{name}");
        // Every op type that ran has percentiles in order; reads found their rows.
        for (kind, o) in b["op_types"].as_object().unwrap() {
            let (p50, p99, p999) =
                (o["p50_us"].as_f64().unwrap(), o["p99_us"].as_f64().unwrap(), o["p99_9_us"].as_f64().unwrap());
            assert!(0.0 < p50 && p50 <= p99 && p99 <= p999, "{name} {kind}: {o}");
            assert_eq!(o["not_found"], 0, "{name} {kind}: {o}");
        }
    }
    let kinds = |name: &str| -> Vec<String> {
        let b = &got.iter().find(|(n, ..)| n == name).unwrap().3;
        b["op_types"].as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(kinds("paper:scan"), ["scan"]);
    assert_eq!(kinds("ycsb:a"), ["read", "write"]);
    assert_eq!(kinds("ycsb:c"), ["read"]);
    assert_eq!(kinds("ycsb:f"), ["read", "rmw"]);
    // Operation counts of a mix add up to the total.
    let a = &got.iter().find(|(n, ..)| n == "ycsb:a").unwrap().3;
    let sum: u64 = a["op_types"].as_object().unwrap().values().map(|o| o["count"].as_u64().unwrap()).sum();
    assert_eq!(sum, 300);
}

/// `--batch`: the paper's reads and writes with several rows per request count rows, not
/// requests, and find every row they ask for.
#[test]
fn batched_paper_benchmarks_count_rows() {
    let (got, names) = mini_run(&["--threads", "2", "--batch", "10", "--benchmarks", "paper"]);
    assert_eq!(
        names,
        [
            "paper:sequential-write/b10",
            "paper:random-write/b10",
            "paper:sequential-read/b10",
            "paper:random-read/b10",
            "load:paper-mem",
            "paper:random-read-mem/b10",
            "paper:scan",
        ]
    );
    for (name, ops, errors, b) in &got {
        assert_eq!(*errors, 0, "{name}: {b}");
        let requests: u64 = b["op_types"].as_object().unwrap().values().map(|o| o["count"].as_u64().unwrap()).sum();
        let not_found: u64 =
            b["op_types"].as_object().unwrap().values().map(|o| o["not_found"].as_u64().unwrap()).sum();
        assert_eq!(not_found, 0, "{name}: {b}");
        match name.as_str() {
            // 200 rows in pieces of 10 (200 / (10 × 2 workers)), one request per piece.
            "paper:sequential-write/b10" => assert_eq!((*ops, requests), (200, 20), "{b}"),
            "paper:sequential-read/b10" => assert_eq!((*ops, requests), (300, 30), "{b}"),
            // 300 rows in pieces of 64 per claim (64, 64, 64, 64, 44), batches of at most 10
            // within a piece: 4 × 7 + 5 requests.
            "paper:random-write/b10" => assert_eq!((*ops, requests), (300, 33), "{b}"),
            // Random keys drawn twice in one request are read once.
            "paper:random-read/b10" | "paper:random-read-mem/b10" => {
                assert!(*ops > 0 && *ops <= 300 && requests == 33, "{name}: {b}")
            }
            _ => {}
        }
    }
}

#[test]
fn text_output_has_one_line_per_benchmark() {
    let out =
        bench(&["--mini", "1", "--records", "100", "--operations", "50", "--benchmarks", "paper:random-read,ycsb:b"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("# cluster_bench: in-process mini cluster of 1"), "{stdout}");
    let names: Vec<&str> = lines[1..].iter().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(names, ["load:paper", "paper:random-read", "load:usertable", "ycsb:b"], "{stdout}");
    let rr = lines[2];
    assert!(rr.contains(" 50 ops ") && rr.contains(" read ") && rr.ends_with("errors 0"), "{rr}");
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let out = bench(&["--mini", "1", "--benchmarks", "ycsb:z"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--benchmarks"));
    let out = bench(&["--records", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--master ADDR, --gateway ADDR or --mini N"));
}

/// The `--gateway` path: the plain Bigtable API (data and admin) through the real gateway,
/// in front of a cluster of two servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_bigtable_api_path_through_the_gateway() {
    let root = tempfile::tempdir().unwrap();
    let cluster =
        MiniCluster::start(root.path(), MiniClusterOptions { servers: 2, ..Default::default() }).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(master::gateway::serve(
        master::gateway::GatewayConfig::new(cluster.master_addr.to_string()),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    // A `--json` run through the gateway: 2 servers, 150 records, 200 operations, plus
    // `args`; (name, ops, errors) per benchmark.
    let run = |args: &'static [&'static str]| {
        let gateway = gateway.clone();
        async move {
            let out = tokio::task::spawn_blocking(move || {
                let mut all =
                    vec!["--gateway", &gateway, "--servers", "2", "--records", "150", "--operations", "200", "--json"];
                all.extend_from_slice(args);
                bench(&all)
            })
            .await
            .unwrap();
            by_name(&json_of(&out)).into_iter().map(|(n, o, e, _)| (n, o, e)).collect::<Vec<(String, u64, u64)>>()
        }
    };
    let got = run(&["--benchmarks", "paper:sequential-write,paper:scan,ycsb:e,ycsb:f"]).await;
    assert_eq!(
        got,
        [
            ("paper:sequential-write".to_string(), 150, 0),
            ("paper:scan".to_string(), 200, 0),
            ("load:usertable".to_string(), 150, 0),
            ("ycsb:e".to_string(), 200, 0),
            ("ycsb:f".to_string(), 200, 0),
        ]
    );
    // Batched requests through the gateway: MutateRows of 10 rows, ReadRows of up to 8 keys
    // (the sequential pieces of 150 rows / (10 × 2 workers)).
    let got = run(&[
        "--threads",
        "2",
        "--existing",
        "--batch",
        "10",
        "--benchmarks",
        "paper:random-write,paper:sequential-read",
    ])
    .await;
    assert_eq!(
        got,
        [("paper:random-write/b10".to_string(), 200, 0), ("paper:sequential-read/b10".to_string(), 200, 0)]
    );
    // Both servers hold tablets of the pre-split tables (4 per server by default).
    let held: Vec<usize> = cluster.servers.iter().map(|s| s.server.tablet_count()).collect();
    assert!(held.iter().all(|&n| n > 0), "{held:?}");
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    cluster.stop().await;
}
