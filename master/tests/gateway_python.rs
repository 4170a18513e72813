//! The acceptance test: the official Python client (`google-cloud-bigtable`,
//! installed into a virtual environment by `scripts/python-venv.sh`) against a cluster —
//! a `MiniCluster` with two tablet servers — through a gateway, all in this process.
//! `master/tests/python/test_cluster.py` creates a table with families and GC rules,
//! writes, reads with filters, checks-and-mutates, increments, samples row keys, drops a
//! row range and deletes the table, asserting each result. Needs `python3`, and PyPI on
//! the first run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod gateway_support;

use std::path::Path;
use std::process::Command;

use gateway_support::Gateway;
use master::gateway::ReadPath;
use master::{MiniCluster, MiniClusterOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_client_through_the_gateway() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = Command::new(manifest.join("../scripts/python-venv.sh")).output().expect("run scripts/python-venv.sh");
    assert!(venv.status.success(), "python-venv.sh failed: {}", String::from_utf8_lossy(&venv.stderr));
    let python = String::from_utf8(venv.stdout).unwrap().trim().to_string();

    let root = tempfile::tempdir().unwrap();
    let cluster =
        MiniCluster::start(root.path(), MiniClusterOptions { servers: 2, ..Default::default() }).await.unwrap();
    let gateway = Gateway::start(cluster.master_addr, ReadPath::Forward).await;
    let script = manifest.join("tests/python/test_cluster.py");
    let host = gateway.addr.to_string();
    // The client blocks; run it off the runtime's worker threads, which serve the cluster.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python).arg(script).env("BIGTABLE_EMULATOR_HOST", host).output().expect("run python")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python test failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
    gateway.stop().await;
    cluster.stop().await;
}
