//! The cluster as separate processes (`local-cluster` roles on loopback port 0, 1 s
//! leases + 0.5 s margin): `kill -9` of a tablet server and of the active master under
//! load, a tablet server paused past its lease, and a restart of the whole cluster. Every
//! acknowledged write must be readable afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod procs;

use std::time::{Duration, Instant};

use procs::*;
use tablet::client::build::{mutation, rows};
use tablet::client::is_not_serving;
use tablet::proto::bigtable::bigtable_client::BigtableClient;
use tablet::proto::bigtable::{MutateRowRequest, ReadRowsRequest};

const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_a_tablet_server_under_load() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let master = Proc::master(root, "master", "127.0.0.1:0", &[]);
    let mut servers: Vec<Proc> =
        (1..=3).map(|i| Proc::tablet_server(root, &format!("tablet-server-{i}"), &master.addr)).collect();
    wait_servers(&master.addr, 3, WITHIN).await;
    create_table(&master.addr, &SPLITS).await;
    let (locs, _) = wait_served(&master.addr, &[], WITHIN).await;
    assert_eq!(locs.len(), 6);
    assert_eq!(by_server(&locs).len(), 3, "every server holds tablets: {locs:?}");

    let client = client(&master.addr);
    let load = Load::start(&client, 4);
    load.wait_more(200, WITHIN).await;

    // Kill the server holding the first tablet, mid-load.
    let victim = servers.iter().position(|s| s.addr == locs[0].1).unwrap();
    servers[victim].signal("-KILL");
    let killed = Instant::now();
    servers[victim].wait_exit(WITHIN);
    let dead = servers[victim].addr.clone();
    let (locs, _) = wait_served(&master.addr, &[&dead], WITHIN).await;
    let moved = killed.elapsed();
    eprintln!("tablets of the killed server served again {moved:?} after kill -9 (lease 1 s + margin 0.5 s)");
    assert_eq!(locs.len(), 6);
    // Writes go on, on the two servers left.
    load.wait_more(200, WITHIN).await;
    let (acked, errors) = load.stop().await;
    assert!(errors.is_empty(), "writes failed: {:?}", &errors[..errors.len().min(3)]);
    let n = check_all_present(&client, &acked).await;
    eprintln!("{} acknowledged writes, {n} rows read back", acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_the_active_master_under_load_and_the_standby_takes_over() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut active = Proc::master(root, "master-a", "127.0.0.1:0", &[]);
    let standby_addr = free_port();
    let standby = Proc::master(root, "master-b", &standby_addr, &["--standby"]);
    // Servers and clients know both masters and ask whichever answers.
    let masters = format!("{},{standby_addr}", active.addr);
    let _servers: Vec<Proc> =
        (1..=2).map(|i| Proc::tablet_server(root, &format!("tablet-server-{i}"), &masters)).collect();
    create_table(&active.addr, &SPLITS).await;
    wait_served(&active.addr, &[], WITHIN).await;

    let client = client(&masters);
    let load = Load::start(&client, 4);
    load.wait_more(200, WITHIN).await;
    active.signal("-KILL");
    active.wait_exit(WITHIN);
    let killed = Instant::now();
    // The standby prints its address once it holds the lock and listens.
    assert_eq!(standby.next_line(WITHIN), standby_addr);
    let (_, _) = wait_served(&standby_addr, &[], WITHIN).await;
    eprintln!("standby serving every tablet {:?} after kill -9 of the master", killed.elapsed());
    // Writes continue; the client locates through the new master once its cache is cold.
    load.wait_more(200, WITHIN).await;
    client.forget_table(TABLE);
    load.wait_more(200, WITHIN).await;
    let (acked, errors) = load.stop().await;
    assert!(errors.is_empty(), "writes failed: {:?}", &errors[..errors.len().min(3)]);
    client.forget_table(TABLE);
    let n = check_all_present(&client, &acked).await;
    eprintln!("{} acknowledged writes, {n} rows read back", acked.len());
    // The new master also serves admin calls on the same state.
    let mut admin = tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient::connect(format!(
        "http://{standby_addr}"
    ))
    .await
    .unwrap();
    let req = tablet::proto::admin::GetTableRequest { name: TABLE.into(), view: 0 };
    assert_eq!(admin.get_table(req).await.unwrap().into_inner().name, TABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_server_refuses_the_tablets_it_lost() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let master = Proc::master(root, "master", "127.0.0.1:0", &[]);
    let mut servers: Vec<Proc> =
        (1..=2).map(|i| Proc::tablet_server(root, &format!("tablet-server-{i}"), &master.addr)).collect();
    create_table(&master.addr, &SPLITS).await;
    let (locs, _) = wait_served(&master.addr, &[], WITHIN).await;
    let client = client(&master.addr);
    let t = client.table(TABLE);
    let rows_before: Vec<Vec<u8>> =
        (0..60).map(|i| format!("{}-{i:03}", (b'a' + i % 12) as char).into_bytes()).collect();
    for r in &rows_before {
        t.mutate_row(r, vec![mutation::set_cell("cf", b"q", 1000, r)]).await.unwrap();
    }

    // Pause the server of the first tablet, with a connection to it already open.
    let paused_addr = locs[0].1.clone();
    let paused = servers.iter().position(|s| s.addr == paused_addr).unwrap();
    let mut direct = BigtableClient::connect(format!("http://{paused_addr}")).await.unwrap();
    let row = b"a-000".to_vec();
    servers[paused].pause();
    // A write sent while it is paused waits in its socket until it wakes.
    let mut d = direct.clone();
    let stale_row = row.clone();
    let in_flight = tokio::spawn(async move {
        let req = MutateRowRequest {
            table_name: TABLE.into(),
            row_key: stale_row,
            mutations: vec![mutation::set_cell("cf", b"q", 5000, b"stale-in-flight")],
            ..Default::default()
        };
        d.mutate_row(req).await
    });

    // Its tablets move once its lease (1 s) and the margin (0.5 s) have passed.
    let (_, took) = wait_served(&master.addr, &[&paused_addr], WITHIN).await;
    eprintln!("tablets of the paused server reassigned after {took:?}");
    client.forget_table(TABLE);
    t.mutate_row(&row, vec![mutation::set_cell("cf", b"q", 3000, b"fresh")]).await.unwrap();

    servers[paused].signal("-CONT");
    let answer = in_flight.await.unwrap();
    let status = answer.expect_err("the paused server acknowledged a write after losing its lease");
    assert!(is_not_serving(&status), "{status:?}");
    // New requests to it are refused as well, reads and writes.
    let req = MutateRowRequest {
        table_name: TABLE.into(),
        row_key: row.clone(),
        mutations: vec![mutation::set_cell("cf", b"q", 6000, b"stale-after")],
        ..Default::default()
    };
    let status = direct.mutate_row(req).await.expect_err("write to a tablet the server lost");
    assert!(is_not_serving(&status), "{status:?}");
    let read = ReadRowsRequest { table_name: TABLE.into(), rows: Some(rows::keys([&row])), ..Default::default() };
    let refused = match direct.read_rows(read).await {
        Err(s) => s,
        Ok(stream) => stream.into_inner().message().await.expect_err("read of a tablet the server lost"),
    };
    assert!(is_not_serving(&refused), "{refused:?}");
    assert!(servers[paused].running(), "the woken server keeps running (empty, registered anew)");

    // The new owner's data is intact: the fresh write, none of the stale ones, all rows.
    let got = t.read_row(&row, None).await.unwrap().unwrap();
    let values: Vec<&[u8]> = got.families[0].columns[0].cells.iter().map(|c| c.value.as_slice()).collect();
    assert_eq!(values, [b"fresh".as_slice(), row.as_slice()]);
    let others: Vec<Vec<u8>> = rows_before.into_iter().filter(|r| *r != row).collect();
    check_all_present(&client, &others).await;
}

/// Starts `local-cluster` itself; returns it and the master address it printed.
fn launch(root: &std::path::Path) -> (Proc, String) {
    let r = root.to_str().unwrap();
    let mut args = vec!["--root", r, "--servers", "2", "--master-listen", "127.0.0.1:0", "--gateway", "none"];
    args.extend(LEASE);
    let launcher = Proc::start(&logs(root), "local-cluster", &args, false);
    let mut master = String::new();
    loop {
        let line = launcher.next_line(Duration::from_secs(60));
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"master") {
            master = words[1].to_string();
        }
        if line.starts_with("cluster ready") {
            break;
        }
    }
    assert!(master.starts_with("127.0.0.1:"), "{master:?}");
    (launcher, master)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_cluster_restarts_with_its_data() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (mut launcher, master) = launch(root);
    for name in ["master", "tablet-server-1", "tablet-server-2"] {
        assert!(root.join("logs").join(format!("{name}.log")).is_file(), "{name}.log");
    }
    create_table(&master, &SPLITS).await;
    let (before, _) = wait_served(&master, &[], WITHIN).await;
    let old: Vec<String> = by_server(&before).into_keys().collect();
    let c = client(&master);
    let load = Load::start(&c, 3);
    load.wait_more(300, WITHIN).await;
    let (acked, errors) = load.stop().await;
    assert!(errors.is_empty(), "{errors:?}");

    // SIGTERM: servers flush and close, then the master; the launcher exits 0.
    launcher.signal("-TERM");
    assert!(launcher.wait_exit(WITHIN).success());
    let said: Vec<String> = launcher.stdout.try_iter().collect();
    assert!(said.iter().any(|l| l.starts_with("stopped")), "{said:?}");
    assert!(!said.iter().any(|l| l.contains("killing")), "{said:?}");

    let (mut launcher, master) = launch(root);
    let c = client(&master);
    // Tablets come back at new epochs once the old servers' leases are surely over.
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    let (_, took) = wait_served(&master, &old, WITHIN).await;
    eprintln!("after the restart every tablet is served within {took:?}");
    let n = check_all_present(&c, &acked).await;
    assert_eq!(n, acked.len());
    launcher.signal("-TERM");
    assert!(launcher.wait_exit(WITHIN).success());
}

#[test]
fn the_launcher_reports_a_master_that_cannot_start() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().to_str().unwrap();
    let out = std::process::Command::new(EXE)
        .args(["--root", r, "--master-listen", "not an address", "--gateway", "none"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("master ended before it was ready"), "{err}");
    assert!(err.contains("cannot listen on not an address"), "the log's last lines: {err}");
    assert!(dir.path().join("logs/master.log").is_file());
    let out = std::process::Command::new(EXE).args(["--root", r, "--servers", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--servers must be at least 1"));
}
