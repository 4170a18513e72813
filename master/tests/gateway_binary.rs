//! The `gateway` binary: prints the address it bound, serves both APIs in front of a
//! cluster, and exits 0 on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod gateway_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use gateway_support::{create_request, set_cell, INSTANCE};
use master::{MiniCluster, MiniClusterOptions};
use tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient;
use tablet::proto::admin::ListTablesRequest;
use tablet::proto::bigtable::bigtable_client::BigtableClient;
use tablet::proto::bigtable::{MutateRowRequest, PingAndWarmRequest, ReadRowsRequest};

/// With the default runtime and with `--worker-threads 1` (a single-threaded one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_binary_serves_and_stops_on_sigterm() {
    for extra in [&[][..], &["--worker-threads", "1"][..]] {
        serves_and_stops_on_sigterm(extra).await;
    }
}

#[test]
fn gateway_binary_refuses_zero_worker_threads() {
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--master", "127.0.0.1:1", "--worker-threads", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--worker-threads"), "{err}");
}

async fn serves_and_stops_on_sigterm(extra: &[&str]) {
    let root = tempfile::tempdir().unwrap();
    let cluster = MiniCluster::start(root.path(), MiniClusterOptions::default()).await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["--master", &cluster.master_addr.to_string(), "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line.trim().parse().unwrap_or_else(|_| panic!("an address, not {line:?}"));

    let url = format!("http://{addr}");
    let mut admin = BigtableTableAdminClient::connect(url.clone()).await.unwrap();
    admin.create_table(create_request("t", &[])).await.unwrap();
    let listed = admin.list_tables(ListTablesRequest { parent: INSTANCE.into(), ..Default::default() }).await.unwrap();
    assert_eq!(listed.into_inner().tables.len(), 1);
    let mut data = BigtableClient::connect(url).await.unwrap();
    data.ping_and_warm(PingAndWarmRequest { name: INSTANCE.into(), ..Default::default() }).await.unwrap();
    let table = format!("{INSTANCE}/tables/t");
    data.mutate_row(MutateRowRequest {
        table_name: table.clone(),
        row_key: b"r".to_vec(),
        mutations: vec![set_cell("cf", b"q", 1000, b"v")],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut stream =
        data.read_rows(ReadRowsRequest { table_name: table, ..Default::default() }).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.chunks[0].row_key, b"r");
    assert_eq!(first.chunks[0].value, b"v");
    drop((stream, data, admin));

    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    cluster.stop().await;
}
