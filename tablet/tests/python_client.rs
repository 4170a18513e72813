//! End-to-end: the official Python client (`google-cloud-bigtable`, installed into a
//! virtual environment by `scripts/python-venv.sh`) against one `tablet-server` binary in
//! static mode. Needs `python3` and access to PyPI on the first run.
//!
//! The server holds two tables: `t` with the default split size (one tablet throughout) and
//! `s` with a 64 KiB one, so the run on `s` splits it under the client's writes. Once the
//! server's Status shows `s` in several tablets, a read-only pass checks the whole table
//! through reads that span them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tablet::proto::bt::internal::v1::tablet_control_client::TabletControlClient;
use tablet::proto::bt::internal::v1::{StatusRequest, TabletState, TabletStatus};

const SPLIT_TABLE: &str = "projects/p/instances/i/tables/s";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the tablet server and returns it with the address it printed.
fn start_server(root: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tablet-server"))
        .args(["--root", root.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--table", "projects/p/instances/i/tables/t=cf1,cf2:maxversions=1"])
        .args(["--table", &format!("{SPLIT_TABLE}=cf1,cf2:maxversions=1;split_kb=64")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start tablet-server");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .split_whitespace()
        .find(|w| w.parse::<std::net::SocketAddr>().is_ok())
        .unwrap_or_else(|| panic!("no address in the server's first line: {line:?}"))
        .to_string();
    (Server(child), addr)
}

/// Runs test_data_api.py on `table` (`BT_VERIFY=1` when `verify`) and checks it passed.
fn run_python(python: &str, addr: &str, table: &str, verify: bool) {
    let out = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/test_data_api.py"))
        .env("BIGTABLE_EMULATOR_HOST", addr)
        .env("BT_TABLE", table)
        .env("BT_VERIFY", if verify { "1" } else { "0" })
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python test on {table} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

/// The tablets of the split table the server reports, once it reports more than one
/// serving (a hang guard of 60 s, not a timing assertion).
fn split_tablets(addr: &str) -> Vec<TabletStatus> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut ctl = TabletControlClient::connect(format!("http://{addr}")).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = ctl.status(StatusRequest {}).await.unwrap().into_inner();
            let tablets: Vec<TabletStatus> = status
                .tablets
                .into_iter()
                .filter(|t| t.tablet.as_ref().is_some_and(|d| d.table_name == SPLIT_TABLE))
                .collect();
            if tablets.len() > 1 && tablets.iter().all(|t| t.state == TabletState::Serving as i32) {
                return tablets;
            }
            assert!(Instant::now() < deadline, "table s was never split: {tablets:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

#[test]
fn official_python_client_against_a_tablet_server() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let venv = Command::new(repo.join("scripts/python-venv.sh")).output().expect("run scripts/python-venv.sh");
    assert!(venv.status.success(), "python-venv.sh failed: {}", String::from_utf8_lossy(&venv.stderr));
    let python = String::from_utf8(venv.stdout).unwrap().trim().to_string();

    let root = tempfile::tempdir().unwrap();
    let (_server, addr) = start_server(root.path());
    run_python(&python, &addr, "t", false);
    run_python(&python, &addr, "s", false);

    // The 2 MiB value pushed `s` past 64 KiB: it was split, its children tile the table.
    let tablets = split_tablets(&addr);
    let ranges: Vec<(Vec<u8>, Vec<u8>)> =
        tablets.iter().map(|t| t.tablet.as_ref().map(|d| (d.start_key.clone(), d.end_key.clone())).unwrap()).collect();
    assert_eq!(ranges.first().unwrap().0, b"", "{ranges:?}");
    assert_eq!(ranges.last().unwrap().1, b"", "{ranges:?}");
    assert!(ranges.windows(2).all(|w| w[0].1 == w[1].0 && !w[0].1.is_empty()), "{ranges:?}");
    assert!(tablets.iter().all(|t| t.tablet.as_ref().unwrap().tablet_id != "static"), "the parent is gone");
    run_python(&python, &addr, "s", true);
}
