//! The `master` binary as a process: it serves on the address it is given, a second
//! `master --standby` on the same root waits for the lock, SIGTERM stops the active one
//! gracefully (exit 0), and the standby then takes over with the state intact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;

use tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient;
use tablet::proto::admin::{CreateTableRequest, GetTableRequest, Table};

/// A running `master` whose stderr lines arrive on a channel.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn start(root: &std::path::Path, extra: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_master"))
            .args([
                "--root",
                root.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--lease-ms",
                "400",
                "--margin-ms",
                "200",
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr: ChildStderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    /// Waits for a log line containing `what` (panics if the process ends first).
    fn wait_for(&self, what: &str) -> String {
        loop {
            match self.lines.recv() {
                Ok(l) if l.contains(what) => {
                    eprintln!("{l}");
                    return l;
                }
                Ok(l) => eprintln!("{l}"),
                Err(_) => panic!("the master exited before logging {what:?}"),
            }
        }
    }

    /// The address from the "master serving" line.
    fn serving_addr(&self) -> String {
        let line = self.wait_for("master serving");
        let at = line.find("addr=").expect("addr field") + 5;
        line[at..].split_whitespace().next().unwrap().to_string()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sigterm_hands_over_to_the_standby() {
    let dir = tempfile::tempdir().unwrap();
    let mut active = Proc::start(dir.path(), &[]);
    let addr = active.serving_addr();
    let mut admin = BigtableTableAdminClient::connect(format!("http://{addr}")).await.unwrap();
    let req = CreateTableRequest {
        parent: "projects/p/instances/i".into(),
        table_id: "t".into(),
        table: Some(Table::default()),
        initial_splits: vec![],
    };
    admin.create_table(req).await.unwrap();
    drop(admin);

    let mut standby = Proc::start(dir.path(), &["--standby"]);
    standby.wait_for("standby: waiting");
    let status = active.terminate();
    assert!(status.success(), "{status:?}");

    let addr = standby.serving_addr();
    let mut admin = BigtableTableAdminClient::connect(format!("http://{addr}")).await.unwrap();
    let name = "projects/p/instances/i/tables/t".to_string();
    let t = admin.get_table(GetTableRequest { name: name.clone(), view: 0 }).await.unwrap().into_inner();
    assert_eq!(t.name, name);
    // With a client still connected, shutdown waits out the grace period, then exits 0.
    assert!(standby.terminate().success());
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_master")).args(["--listen", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--root"));
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_master"))
        .args(["--root", dir.path().to_str().unwrap(), "--listen", "not an address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on not an address"));
}
