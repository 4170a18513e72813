//! A real cluster in one process (`MiniCluster`): the master assigns a pre-split table to
//! real tablet servers, the client routes writes and reads across tablets, and when a
//! server stops the master reassigns its tablets and nothing acknowledged is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use master::{MiniCluster, MiniClusterOptions};
use tablet::client::build::{mutation, rows};
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{ColumnFamily, CreateTableRequest, Table};

const TABLE: &str = "projects/p/instances/i/tables/t";

fn create(splits: &[&[u8]]) -> CreateTableRequest {
    CreateTableRequest {
        parent: "projects/p/instances/i".into(),
        table_id: "t".into(),
        table: Some(Table {
            column_families: [("cf".to_string(), ColumnFamily { gc_rule: None })].into_iter().collect(),
            ..Default::default()
        }),
        initial_splits: splits.iter().map(|k| Split { key: k.to_vec() }).collect(),
    }
}

fn row_key(i: u32) -> Vec<u8> {
    format!("row{i:04}").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_split_table_survives_a_server_stopping() {
    let root = tempfile::tempdir().unwrap();
    let mut cluster =
        MiniCluster::start(root.path(), MiniClusterOptions { servers: 2, ..Default::default() }).await.unwrap();
    cluster.admin().await.unwrap().create_table(create(&[b"row0100", b"row0200"])).await.unwrap();
    cluster.wait_assigned(TABLE).await.unwrap();

    let client = cluster.client().unwrap();
    let t = client.table(TABLE);
    let entries: Vec<_> =
        (0..300).map(|i| (row_key(i), vec![mutation::set_cell("cf", b"q", 1000, &row_key(i))])).collect();
    let results = t.mutate_rows(entries).await.unwrap();
    assert!(results.iter().all(Result::is_ok));
    let read = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(read.len(), 300);
    assert!(read.windows(2).all(|w| w[0].key < w[1].key), "key order across three tablets");

    // Both servers hold tablets (fewest-first assignment).
    let held: Vec<usize> = cluster.servers.iter().map(|s| s.server.tablet_count()).collect();
    assert_eq!(held.iter().sum::<usize>(), 3, "{held:?}");
    assert!(held.iter().all(|&n| n > 0), "{held:?}");

    // Stop server 0: after its lease runs out, its tablets move to server 1.
    cluster.stop_server(0).await;
    t.mutate_row(&row_key(5), vec![mutation::set_cell("cf", b"q", 2000, b"after")]).await.unwrap();
    let read = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(read.len(), 300, "every acknowledged row is still there");
    assert_eq!(cluster.servers[1].server.tablet_count(), 3);
    let row = t.read_row(&row_key(5), None).await.unwrap().unwrap();
    assert_eq!(row.families[0].columns[0].cells[0].value, b"after");
    cluster.stop().await;
}

/// The tablets of `TABLE` the master knows, in key order, with their servers.
async fn located(cluster: &MiniCluster) -> Vec<(Vec<u8>, Vec<u8>, String)> {
    use tablet::proto::bt::internal::v1::master_control_client::MasterControlClient;
    use tablet::proto::bt::internal::v1::LocateTabletsRequest;
    let mut c = MasterControlClient::connect(format!("http://{}", cluster.master_addr)).await.unwrap();
    let req = LocateTabletsRequest { table_name: TABLE.into(), ..Default::default() };
    c.locate_tablets(req)
        .await
        .unwrap()
        .into_inner()
        .tablets
        .into_iter()
        .map(|t| {
            let d = t.tablet.unwrap();
            (d.start_key, d.end_key, t.address)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_split_under_load_is_recorded_and_the_parent_files_are_collected() {
    let root = tempfile::tempdir().unwrap();
    let options = MiniClusterOptions {
        servers: 2,
        split_bytes: 64 << 10,
        write_buffer_bytes: 32 << 10,
        gc: master::gc::GcConfig { interval: None, grace_ms: 0 },
        ..Default::default()
    };
    let cluster = MiniCluster::start(root.path(), options).await.unwrap();
    cluster.admin().await.unwrap().create_table(create(&[])).await.unwrap();
    cluster.wait_assigned(TABLE).await.unwrap();
    let client = cluster.client().unwrap();
    let t = client.table(TABLE);

    // Writers in parallel while the single tablet passes the split size several times.
    // Values that do not compress (LZ4 would shrink repeated bytes to nothing).
    let value = |seed: u32| -> Vec<u8> {
        let mut x = u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..512)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let mut writers = Vec::new();
    for w in 0..4u32 {
        let t = t.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..150u32 {
                let key = row_key(i * 4 + w);
                t.mutate_row(&key, vec![mutation::set_cell("cf", b"q", 1000, &value(i * 4 + w))]).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }

    // The master records the splits: the table is in several tablets tiling the key space.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let tablets = loop {
        let tablets = located(&cluster).await;
        if tablets.len() > 1 && tablets.iter().all(|(_, _, a)| !a.is_empty()) {
            break tablets;
        }
        assert!(tokio::time::Instant::now() < deadline, "no split recorded: {tablets:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(tablets.first().unwrap().0.is_empty() && tablets.last().unwrap().1.is_empty());
    assert!(tablets.windows(2).all(|w| w[0].1 == w[1].0), "tablets tile the table: {tablets:?}");

    // Every acknowledged row is there exactly once, in order, across the children.
    let read = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(read.len(), 600);
    assert!(read.windows(2).all(|w| w[0].key < w[1].key));

    // File GC removes the split parents' directories (the children hold hard links) and
    // nothing live: everything still reads back afterwards.
    let table_dir = std::fs::read_dir(root.path().join("tables")).unwrap().next().unwrap().unwrap().path();
    let before = std::fs::read_dir(&table_dir).unwrap().count();
    let mut deleted = 0;
    for _ in 0..3 {
        deleted += cluster.master().collect_garbage().await.unwrap().deleted.len();
    }
    let after = std::fs::read_dir(&table_dir).unwrap().count();
    assert!(deleted > 0 && after < before, "GC deleted {deleted}; tablet dirs {before} -> {after}");
    let read = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(read.len(), 600, "nothing live was collected");
    cluster.stop().await;
}

/// Bulk writes applied on the tablet server's async workers queue their batch in every
/// tablet's group commit before awaiting any. Concurrent requests naming the same tablets
/// in opposite orders must all complete, and every row is there. (A write handed the lead
/// while its task awaits another tablet's would hold its queue up, and two such could
/// deadlock; the engine's `writes_awaited_one_after_another_in_opposite_orders_do_not_deadlock`
/// pins the hand-over rule that prevents it, deterministically.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bulk_writes_naming_tablets_in_opposite_orders_all_complete() {
    let root = tempfile::tempdir().unwrap();
    let cluster =
        MiniCluster::start(root.path(), MiniClusterOptions { servers: 1, ..Default::default() }).await.unwrap();
    cluster.admin().await.unwrap().create_table(create(&[b"row0100", b"row0200", b"row0300"])).await.unwrap();
    cluster.wait_assigned(TABLE).await.unwrap();
    let client = cluster.client().unwrap();
    let tasks: Vec<_> = (0..16u32)
        .map(|task| {
            let t = client.table(TABLE);
            tokio::spawn(async move {
                for round in 0..25u32 {
                    // One row in each of the four tablets, ascending or descending.
                    let mut keys: Vec<u32> = (0..4).map(|tablet| tablet * 100 + (task * 25 + round) % 100).collect();
                    if task % 2 == 1 {
                        keys.reverse();
                    }
                    let value = format!("{task}-{round}");
                    let entries = keys
                        .iter()
                        .map(|&k| (row_key(k), vec![mutation::set_cell("cf", b"q", -1, value.as_bytes())]))
                        .collect();
                    let results = t.mutate_rows(entries).await.unwrap();
                    assert!(results.iter().all(Result::is_ok), "{results:?}");
                }
            })
        })
        .collect();
    let all = async {
        for t in tasks {
            t.await.unwrap();
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), all).await.expect("bulk writes did not complete");
    let t = client.table(TABLE);
    let read = t.read_rows(rows::all(), None, None).collect_all().await.unwrap();
    assert_eq!(read.len(), 400, "every row of every tablet written");
    cluster.stop().await;
}
