//! The `tablet-server` binary in static mode: it prints its address, serves, shuts down
//! gracefully on SIGTERM / SIGINT keeping every acknowledged write, and a restart on the
//! same data root reopens the table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod server_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::set;
use server_support::*;
use tablet::proto::bigtable::bigtable_client::BigtableClient;
use tablet::server::StaticTable;

/// A running binary; killed if the test fails before stopping it.
struct Binary {
    child: Child,
    addr: String,
}

impl Binary {
    fn start(root: &std::path::Path) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tablet-server"))
            .args([
                "--root",
                root.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--cache-mb",
                "8",
                "--worker-threads",
                "3",
            ])
            .args(["--table", &format!("{TABLE}=cf1,cf2:maxversions=2")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().to_string();
        assert!(addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"), "printed {addr:?}");
        Binary { child, addr }
    }

    async fn client(&self) -> BigtableClient<tonic::transport::Channel> {
        BigtableClient::connect(format!("http://{}", self.addr)).await.unwrap()
    }

    /// Sends `signal` and waits for a clean exit.
    fn stop(mut self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "exit status {exit:?}");
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_keeps_acknowledged_writes_and_restart_reopens() {
    let root = tempfile::tempdir().unwrap();
    let server = Binary::start(root.path());
    let mut c = server.client().await;
    for i in 0..200 {
        let key = format!("row{i:03}");
        c.mutate_row(mutate(key.as_bytes(), vec![set("cf1", b"q", 1000, key.as_bytes())])).await.unwrap();
    }
    let batch: Vec<(&[u8], _)> =
        vec![(b"zz1", vec![set("cf2", b"q", 1000, b"a")]), (b"zz2", vec![set("cf2", b"q", 1000, b"b")])];
    c.mutate_rows(entries(batch)).await.unwrap();
    // The client's connection stays open: shutdown does not wait for it to go idle.
    server.stop("-TERM");
    drop(c);

    let table_id = StaticTable::parse(&format!("{TABLE}=cf1")).unwrap().table_id();
    let dir = root.path().join("tables").join(&table_id).join("static").join("e00000000000000000001");
    assert!(dir.join("CURRENT").is_file(), "the static tablet lives at {}", dir.display());

    let server = Binary::start(root.path());
    let mut c = server.client().await;
    let rows = read(&mut c, read_all_rows()).await.unwrap();
    assert_eq!(rows.len(), 202);
    assert_eq!(cell_lines(&rows[7]), vec!["cf1:q@1000=row007"]);
    assert_eq!(cell_lines(&rows[201]), vec!["cf2:q@1000=b"]);
    c.mutate_row(mutate(b"row000", vec![set("cf1", b"q", 2000, b"second run")])).await.unwrap();
    drop(c);
    server.stop("-INT");

    let server = Binary::start(root.path());
    let mut c = server.client().await;
    let rows = read(&mut c, read_keys(&[b"row000"])).await.unwrap();
    assert_eq!(cell_lines(&rows[0]), vec!["cf1:q@2000=second run", "cf1:q@1000=row000"]);
    drop(c);
    server.stop("-TERM");
}

#[test]
fn bad_flags_exit_with_a_clear_message() {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tablet-server"))
        .args(["--root", root.path().to_str().unwrap(), "--table", "tables/t=cf"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--table") && err.contains("projects/P/instances/I/tables/T"), "{err}");
    assert!(out.stdout.is_empty(), "no address is printed");
    let out = Command::new(env!("CARGO_BIN_EXE_tablet-server"))
        .args(["--root", root.path().to_str().unwrap(), "--worker-threads", "0"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--worker-threads"), "{err}");
}
