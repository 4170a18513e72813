//! End-to-end: the official Python client (`google-cloud-bigtable`, installed into a
//! virtual environment by `scripts/python-venv.sh`) against one tablet server in static
//! mode holding a whole table. Needs `python3` and access to PyPI on the first run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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

#[test]
fn official_python_client_against_a_tablet_server() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let venv = Command::new(repo.join("scripts/python-venv.sh")).output().expect("run scripts/python-venv.sh");
    assert!(venv.status.success(), "python-venv.sh failed: {}", String::from_utf8_lossy(&venv.stderr));
    let python = String::from_utf8(venv.stdout).unwrap().trim().to_string();

    let root = tempfile::tempdir().unwrap();
    let (_server, addr) = start_server(root.path());
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/test_data_api.py"))
        .env("BIGTABLE_EMULATOR_HOST", &addr)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python test failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
