//! A tablet server stops while a gateway serves its tablets: once the master has moved
//! them, the gateway follows (its location cache refreshed on the failures) and every
//! acknowledged row is read back through it; writes to the moved tablets succeed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod gateway_support;

use gateway_support::{cluster_with_table, row_key, set_cell, TABLE};
use master::gateway::ReadPath;
use tablet::client::build::rows;
use tablet::proto::bigtable::{
    mutate_rows_request, CheckAndMutateRowRequest, MutateRowRequest, MutateRowsRequest, ReadRowsRequest,
    SampleRowKeysRequest,
};
use tablet::ChunkMerger;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_follows_tablets_to_their_new_server() {
    let root = tempfile::tempdir().unwrap();
    let (mut cluster, gateway) = cluster_with_table(root.path(), ReadPath::Forward).await;
    let mut c = gateway.data().await;
    let entries = (0..400)
        .map(|i| mutate_rows_request::Entry { row_key: row_key(i), mutations: vec![set_cell("cf", b"q", 1000, b"v1")] })
        .collect();
    let mut s = c
        .mutate_rows(MutateRowsRequest { table_name: TABLE.into(), entries, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    while let Some(m) = s.message().await.unwrap() {
        assert!(m.entries.iter().all(|e| e.status.as_ref().unwrap().code == 0));
    }
    let held: Vec<usize> = cluster.servers.iter().map(|s| s.server.tablet_count()).collect();
    assert_eq!(held, [2, 2], "fewest-first assignment spreads the four tablets");

    // Server 0 stops; the master moves its two tablets to server 1 after its lease.
    cluster.stop_server(0).await;

    // A write to every tablet: the ones that moved are retried until they are served again.
    for i in [0, 100, 200, 300] {
        c.mutate_row(MutateRowRequest {
            table_name: TABLE.into(),
            row_key: row_key(i),
            mutations: vec![set_cell("cf", b"q", 2000, b"v2")],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    assert_eq!(cluster.servers[1].server.tablet_count(), 4);

    // Everything acknowledged is read back, forward and reversed.
    for reversed in [false, true] {
        let mut stream = c
            .read_rows(ReadRowsRequest {
                table_name: TABLE.into(),
                rows: Some(rows::all()),
                reversed,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut merger = ChunkMerger::new(reversed);
        let mut got = Vec::new();
        while let Some(m) = stream.message().await.unwrap() {
            got.extend(merger.push(&m).unwrap());
        }
        assert_eq!(got.len(), 400);
        for row in &got {
            let i: u32 = std::str::from_utf8(&row.key[3..]).unwrap().parse().unwrap();
            let cells = &row.families[0].columns[0].cells;
            let want: &[&[u8]] = if i.is_multiple_of(100) { &[b"v2", b"v1"] } else { &[b"v1"] };
            assert_eq!(cells.iter().map(|c| c.value.as_slice()).collect::<Vec<_>>(), want, "row {i}");
        }
    }

    // The single-row calls that are never retried blindly work on the new locations, and
    // SampleRowKeys sees the four tablets on the one server left.
    let matched = c
        .check_and_mutate_row(CheckAndMutateRowRequest {
            table_name: TABLE.into(),
            row_key: row_key(100),
            true_mutations: vec![set_cell("cf", b"c", 3000, b"yes")],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .predicate_matched;
    assert!(matched);
    let mut stream = c
        .sample_row_keys(SampleRowKeysRequest { table_name: TABLE.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut keys = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        keys.push(m.row_key);
    }
    for split in [b"row0100", b"row0200", b"row0300"] {
        assert!(keys.iter().any(|k| k == split), "{split:?} in {keys:?}");
    }
    assert_eq!(keys.last(), Some(&Vec::new()));

    gateway.stop().await;
    cluster.stop().await;
}
