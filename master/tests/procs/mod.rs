//! Harness for multi-process tests: the `local-cluster` binary's roles as real child
//! processes on loopback port 0, each killed (SIGKILL) when its handle drops, so a failed
//! test leaves nothing running; `--stop-with-parent` also stops them if the test process
//! itself dies. Each child logs to a file in the test's directory; a failing test prints
//! the last lines of every log.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tablet::client::{Client, ClientOptions};
use tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient;
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{ColumnFamily, CreateTableRequest, Table};
use tablet::proto::bt::internal::v1::master_control_client::MasterControlClient;
use tablet::proto::bt::internal::v1::LocateTabletsRequest;

pub const EXE: &str = env!("CARGO_BIN_EXE_local-cluster");
pub const TABLE: &str = "projects/p/instances/i/tables/t";
/// Short leases so that failures are noticed within seconds.
pub const LEASE: [&str; 4] = ["--lease-ms", "1000", "--margin-ms", "500"];

/// Tests of this file run one at a time: each starts several processes, and on two
/// cores parallel clusters would starve each other's lease renewals.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One child process.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
    /// Lines the child prints on stdout (its address once ready).
    pub stdout: mpsc::Receiver<String>,
    /// The address it printed first, if waited for.
    pub addr: String,
}

impl Proc {
    /// Starts `local-cluster <args>` logging stderr to `dir/<name>.log`; with `wait`,
    /// reads the first stdout line as its address (within 60 s).
    pub fn start(dir: &Path, name: &str, args: &[&str], wait: bool) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut child = Command::new(EXE)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, stdout) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = Proc { name: name.into(), child, log, stdout, addr: String::new() };
        if wait {
            p.addr = p.next_line(Duration::from_secs(60));
        }
        p
    }

    /// `local-cluster role master --root ROOT --listen LISTEN` (+ `extra`).
    pub fn master(root: &Path, name: &str, listen: &str, extra: &[&str]) -> Proc {
        let r = root.to_str().unwrap();
        let mut args = vec!["role", "master", "--root", r, "--listen", listen, "--stop-with-parent"];
        args.extend(LEASE);
        args.extend(extra);
        let wait = !extra.contains(&"--standby");
        Proc::start(&logs(root), name, &args, wait)
    }

    /// `local-cluster role tablet-server --root ROOT --master MASTERS` on port 0.
    pub fn tablet_server(root: &Path, name: &str, masters: &str) -> Proc {
        let r = root.to_str().unwrap();
        let args = [
            "role",
            "tablet-server",
            "--root",
            r,
            "--listen",
            "127.0.0.1:0",
            "--master",
            masters,
            "--cache-mb",
            "8",
            "--stop-with-parent",
        ];
        Proc::start(&logs(root), name, &args, true)
    }

    /// The next stdout line (panics after `within`).
    pub fn next_line(&self, within: Duration) -> String {
        match self.stdout.recv_timeout(within) {
            Ok(l) => l.trim().to_string(),
            Err(e) => panic!("{}: no line on stdout within {within:?} ({e}); log:\n{}", self.name, tail(&self.log)),
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends `signal` (`-KILL`, `-STOP`, `-CONT`, `-TERM`).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill").args([signal, &self.pid()]).status().unwrap();
        assert!(ok.success(), "kill {signal} {}", self.name);
    }

    /// Sends SIGSTOP and waits until the kernel reports the process stopped (state `T` in
    /// `/proc/<pid>/stat`): `kill` returns before a busy process is actually descheduled, and
    /// a request sent in that window would be served, legitimately, before the pause.
    pub fn pause(&self) {
        self.signal("-STOP");
        let stat = format!("/proc/{}/stat", self.pid());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&stat).unwrap_or_default();
            // The state follows the parenthesised command name.
            let state = text.rsplit(')').next().and_then(|rest| rest.split_whitespace().next());
            if matches!(state, Some("T") | Some("t")) {
                return;
            }
            assert!(Instant::now() < deadline, "{} did not stop within 10 s", self.name);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits (at most `within`) for the process to end.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "{} still running after {within:?}", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- last lines of {} ({}) ---\n{}", self.name, self.log.display(), tail(&self.log));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn logs(root: &Path) -> PathBuf {
    let d = root.join("test-logs");
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

/// A loopback port that was free a moment ago (for a standby master, which binds only
/// once it takes over, so it cannot report a port-0 address in advance).
pub fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

pub fn client(masters: &str) -> Client {
    let opts = ClientOptions { retry_deadline: Duration::from_secs(40), ..ClientOptions::default() };
    Client::connect_master_with(masters, opts).unwrap()
}

/// Creates `TABLE` with family `cf` and `splits`.
pub async fn create_table(master: &str, splits: &[&str]) {
    let mut admin = BigtableTableAdminClient::connect(format!("http://{master}")).await.unwrap();
    let req = CreateTableRequest {
        parent: "projects/p/instances/i".into(),
        table_id: "t".into(),
        table: Some(Table {
            column_families: [("cf".to_string(), ColumnFamily { gc_rule: None })].into_iter().collect(),
            ..Default::default()
        }),
        initial_splits: splits.iter().map(|k| Split { key: k.as_bytes().to_vec() }).collect(),
    };
    admin.create_table(req).await.unwrap();
}

/// `(start row, address)` of every tablet of `TABLE`, from the master.
pub async fn locations(master: &str) -> Option<Vec<(Vec<u8>, String)>> {
    let mut c = MasterControlClient::connect(format!("http://{master}")).await.ok()?;
    let req = LocateTabletsRequest { table_name: TABLE.into(), ..Default::default() };
    let tablets = c.locate_tablets(req).await.ok()?.into_inner().tablets;
    Some(tablets.into_iter().map(|t| (t.tablet.map(|d| d.start_key).unwrap_or_default(), t.address)).collect())
}

/// Waits (at most `within`) until every tablet is assigned to an address other than
/// those in `not`; returns the locations and how long it took.
pub async fn wait_served(master: &str, not: &[&str], within: Duration) -> (Vec<(Vec<u8>, String)>, Duration) {
    let started = Instant::now();
    loop {
        if let Some(locs) = locations(master).await {
            if !locs.is_empty() && locs.iter().all(|(_, a)| !a.is_empty() && !not.contains(&a.as_str())) {
                return (locs, started.elapsed());
            }
        }
        assert!(started.elapsed() < within, "tablets not all served (away from {not:?}) within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Tablets per address.
pub fn by_server(locs: &[(Vec<u8>, String)]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for (_, a) in locs {
        *m.entry(a.clone()).or_default() += 1;
    }
    m
}

/// Split points of the test table, and the first letters rows are spread over.
pub const SPLITS: [&str; 5] = ["c", "e", "g", "i", "k"];
const LETTERS: &[u8] = b"abcdefghijkl";

/// Writers that each put rows through `tablet::client` until stopped, recording every
/// row whose write was acknowledged.
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acked: std::sync::Arc<parking_lot::Mutex<Vec<Vec<u8>>>>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Load {
    pub fn start(client: &Client, writers: usize) -> Load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let acked = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let tasks = (0..writers)
            .map(|w| {
                let t = client.table(TABLE);
                let (stop, acked) = (stop.clone(), acked.clone());
                tokio::spawn(async move {
                    let mut errors = Vec::new();
                    let mut i = 0usize;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let letter = LETTERS[(i * 5 + w) % LETTERS.len()] as char;
                        let row = format!("{letter}-w{w}-{i:06}").into_bytes();
                        let m = tablet::client::build::mutation::set_cell("cf", b"q", 1000, &row);
                        match t.mutate_row(&row, vec![m]).await {
                            Ok(()) => acked.lock().push(row),
                            Err(e) => errors.push(format!("{}: {e}", String::from_utf8_lossy(&row))),
                        }
                        i += 1;
                    }
                    errors
                })
            })
            .collect();
        Load { stop, acked, tasks }
    }

    pub fn acked(&self) -> usize {
        self.acked.lock().len()
    }

    /// Waits until `n` more writes than now were acknowledged (at most `within`).
    pub async fn wait_more(&self, n: usize, within: Duration) {
        let target = self.acked() + n;
        let started = Instant::now();
        while self.acked() < target {
            assert!(started.elapsed() < within, "writes stalled: {} of {target} acknowledged", self.acked());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the writers; returns the acknowledged rows and the failed writes' errors.
    pub async fn stop(self) -> (Vec<Vec<u8>>, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut errors = Vec::new();
        for t in self.tasks {
            errors.extend(t.await.unwrap());
        }
        let acked = std::mem::take(&mut *self.acked.lock());
        (acked, errors)
    }
}

/// Reads the whole table and checks that every row in `acked` is there with its value
/// (the row key). Returns the number of rows read.
pub async fn check_all_present(client: &Client, acked: &[Vec<u8>]) -> usize {
    let rows =
        client.table(TABLE).read_rows(tablet::client::build::rows::all(), None, None).collect_all().await.unwrap();
    let found: HashMap<Vec<u8>, Vec<u8>> = rows
        .into_iter()
        .map(|r| {
            let v = r.families.first().and_then(|f| f.columns.first()).and_then(|c| c.cells.first());
            (r.key.clone(), v.map(|c| c.value.clone()).unwrap_or_default())
        })
        .collect();
    let missing: Vec<String> =
        acked.iter().filter(|k| found.get(*k) != Some(*k)).map(|k| String::from_utf8_lossy(k).into_owned()).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged rows missing or wrong, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    found.len()
}

/// Waits (at most `within`) until `n` tablet servers hold live leases at `master`, so a
/// table created next is spread over all of them.
pub async fn wait_servers(master: &str, n: usize, within: Duration) {
    use tablet::proto::bt::internal::v1::ClusterStatusRequest;
    let mut c = MasterControlClient::connect(format!("http://{master}")).await.unwrap();
    let deadline = Instant::now() + within;
    loop {
        if let Ok(resp) = c.cluster_status(ClusterStatusRequest {}).await {
            if resp.into_inner().servers.iter().filter(|s| s.live).count() >= n {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{n} tablet servers did not register within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
