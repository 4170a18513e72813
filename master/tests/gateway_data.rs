//! Every data RPC through the gateway, over a table split into four tablets on two tablet
//! servers: reads across tablets (forward, reversed, limited, filtered) on both read paths,
//! MutateRows with per-entry statuses at their original indexes, the single-row calls,
//! SampleRowKeys merged over the servers, PingAndWarm, and the error codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod gateway_support;

use gateway_support::{cluster_with_table, row_key, set_cell, Gateway, INSTANCE, TABLE};
use master::gateway::ReadPath;
use tablet::client::build::{filter, rmw, rows};
use tablet::proto::bigtable::bigtable_client::BigtableClient;
use tablet::proto::bigtable::{
    mutate_rows_request, CheckAndMutateRowRequest, MutateRowRequest, MutateRowsRequest, PingAndWarmRequest,
    ReadModifyWriteRowRequest, ReadRowsRequest, Row, RowSet, SampleRowKeysRequest,
};
use tablet::ChunkMerger;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Reads through the gateway, checking the chunk rules of the whole stream.
async fn read(c: &mut BigtableClient<Channel>, req: ReadRowsRequest) -> Result<Vec<Row>, Status> {
    let reversed = req.reversed;
    let mut stream = c.read_rows(req).await?.into_inner();
    let mut merger = ChunkMerger::new(reversed);
    let mut out = Vec::new();
    while let Some(m) = stream.message().await? {
        out.extend(merger.push(&m).expect("a valid chunk stream"));
    }
    merger.finish().expect("the stream ends between rows");
    Ok(out)
}

fn req(set: RowSet, limit: i64, reversed: bool) -> ReadRowsRequest {
    ReadRowsRequest { table_name: TABLE.into(), rows: Some(set), rows_limit: limit, reversed, ..Default::default() }
}

fn keys(rows: &[Row]) -> Vec<Vec<u8>> {
    rows.iter().map(|r| r.key.clone()).collect()
}

fn expected(range: impl Iterator<Item = u32>) -> Vec<Vec<u8>> {
    range.map(row_key).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_data_rpc_through_the_gateway() {
    let root = tempfile::tempdir().unwrap();
    let (cluster, gateway) = cluster_with_table(root.path(), ReadPath::Forward).await;
    let reencode = Gateway::start(cluster.master_addr, ReadPath::Reencode).await;
    let mut c = gateway.data().await;
    let mut c2 = reencode.data().await;

    // MutateRows: 400 good rows over all four tablets, and two bad entries among them.
    let mut entries: Vec<mutate_rows_request::Entry> = (0..400)
        .map(|i| mutate_rows_request::Entry {
            row_key: row_key(i),
            mutations: vec![set_cell("cf", b"q", 1000, &row_key(i))],
        })
        .collect();
    entries.insert(
        150,
        mutate_rows_request::Entry {
            row_key: b"row0150x".to_vec(),
            mutations: vec![set_cell("nope", b"q", 1000, b"x")],
        },
    );
    entries.insert(
        320,
        mutate_rows_request::Entry { row_key: b"row0320x".to_vec(), mutations: vec![set_cell("cf", b"q", 7, b"x")] },
    );
    let total = entries.len();
    let mut stream = c
        .mutate_rows(MutateRowsRequest { table_name: TABLE.into(), entries, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut codes = vec![None; total];
    while let Some(m) = stream.message().await.unwrap() {
        for e in m.entries {
            let i = usize::try_from(e.index).unwrap();
            assert!(codes[i].is_none(), "entry {i} answered twice");
            codes[i] = Some(Code::from_i32(e.status.unwrap().code));
        }
    }
    for (i, code) in codes.iter().enumerate() {
        let want = match i {
            150 => Code::NotFound,
            320 => Code::InvalidArgument,
            _ => Code::Ok,
        };
        assert_eq!(*code, Some(want), "entry {i}");
    }

    // Reads across tablets, on both read paths.
    let range = rows::range_closed_open(b"row0095", b"row0305");
    let cases: Vec<(ReadRowsRequest, Vec<Vec<u8>>)> = vec![
        (req(rows::all(), 0, false), expected(0..400)),
        (req(rows::all(), 0, true), expected((0..400).rev())),
        (req(rows::all(), 250, false), expected(0..250)),
        (req(rows::all(), 150, true), expected((250..400).rev())),
        (req(range.clone(), 0, false), expected(95..305)),
        (req(range.clone(), 0, true), expected((95..305).rev())),
        (req(range, 7, true), expected((298..305).rev())),
        (
            req(rows::keys([row_key(399), row_key(5), row_key(105), row_key(250)]), 0, false),
            expected([5, 105, 250, 399].into_iter()),
        ),
        (
            req(rows::keys([row_key(399), row_key(5), row_key(105), row_key(250)]), 3, true),
            expected([399, 250, 105].into_iter()),
        ),
        (
            ReadRowsRequest { filter: Some(filter::value_regex(b"row01.*")), ..req(rows::all(), 0, false) },
            expected(100..200),
        ),
        (
            ReadRowsRequest { filter: Some(filter::value_regex(b"row0[23].*")), ..req(rows::all(), 0, true) },
            expected((200..400).rev()),
        ),
    ];
    for (i, (request, want)) in cases.into_iter().enumerate() {
        let got = read(&mut c, request.clone()).await.unwrap();
        assert_eq!(keys(&got), want, "case {i}, forwarded");
        assert_eq!(read(&mut c2, request).await.unwrap(), got, "case {i}, re-encoded equals forwarded");
    }

    // MutateRow, then a point read shows both versions, newest first.
    c.mutate_row(MutateRowRequest {
        table_name: TABLE.into(),
        row_key: row_key(250),
        mutations: vec![set_cell("cf", b"q", 2000, b"new")],
        ..Default::default()
    })
    .await
    .unwrap();
    let got = read(&mut c, req(rows::keys([row_key(250)]), 0, false)).await.unwrap();
    let cells = &got[0].families[0].columns[0].cells;
    assert_eq!(cells.iter().map(|c| c.value.as_slice()).collect::<Vec<_>>(), [b"new".as_slice(), b"row0250"]);

    // CheckAndMutateRow: matched and not matched.
    let cam = |row: u32, re: &[u8]| CheckAndMutateRowRequest {
        table_name: TABLE.into(),
        row_key: row_key(row),
        predicate_filter: Some(filter::value_regex(re)),
        true_mutations: vec![set_cell("cf", b"checked", 3000, b"yes")],
        false_mutations: vec![set_cell("cf", b"checked", 3000, b"no")],
        ..Default::default()
    };
    assert!(c.check_and_mutate_row(cam(350, b"row0350")).await.unwrap().into_inner().predicate_matched);
    assert!(!c.check_and_mutate_row(cam(50, b"nothing")).await.unwrap().into_inner().predicate_matched);
    let got = read(
        &mut c,
        ReadRowsRequest {
            filter: Some(filter::qualifier_regex(b"checked")),
            ..req(rows::keys([row_key(50), row_key(350)]), 0, false)
        },
    )
    .await
    .unwrap();
    let values: Vec<&[u8]> = got.iter().map(|r| r.families[0].columns[0].cells[0].value.as_slice()).collect();
    assert_eq!(values, [b"no".as_slice(), b"yes"]);

    // ReadModifyWriteRow: increments add up.
    let rmw_req = |n: i64| ReadModifyWriteRowRequest {
        table_name: TABLE.into(),
        row_key: row_key(399),
        rules: vec![rmw::increment("cf", b"n", n)],
        ..Default::default()
    };
    c.read_modify_write_row(rmw_req(5)).await.unwrap();
    let row = c.read_modify_write_row(rmw_req(-2)).await.unwrap().into_inner().row.unwrap();
    assert_eq!(row.families[0].columns[0].cells[0].value, 3i64.to_be_bytes());

    // SampleRowKeys: every tablet's end key, offsets growing, the empty key last.
    let mut stream = c
        .sample_row_keys(SampleRowKeysRequest { table_name: TABLE.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut samples = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        samples.push((m.row_key, m.offset_bytes));
    }
    let (last_key, total) = samples.last().cloned().unwrap();
    assert!(last_key.is_empty() && total > 0, "{samples:?}");
    for split in [b"row0100", b"row0200", b"row0300"] {
        assert!(samples.iter().any(|(k, _)| k == split), "{split:?} in {samples:?}");
    }
    let inner: Vec<&Vec<u8>> = samples.iter().map(|(k, _)| k).filter(|k| !k.is_empty()).collect();
    assert!(inner.windows(2).all(|w| w[0] < w[1]), "keys increase: {samples:?}");
    assert!(samples.windows(2).all(|w| w[0].1 <= w[1].1), "offsets grow: {samples:?}");

    // PingAndWarm.
    c.ping_and_warm(PingAndWarmRequest { name: INSTANCE.into(), ..Default::default() }).await.unwrap();
    let e = c.ping_and_warm(PingAndWarmRequest { name: "nonsense".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // Errors keep their codes.
    let unknown = ReadRowsRequest { table_name: "projects/p/instances/i/tables/none".into(), ..Default::default() };
    assert_eq!(read(&mut c, unknown).await.unwrap_err().code(), Code::NotFound);
    let bad = ReadRowsRequest { table_name: "tables/t".into(), ..Default::default() };
    assert_eq!(read(&mut c, bad).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(read(&mut c, req(rows::all(), -1, false)).await.unwrap_err().code(), Code::InvalidArgument);
    let bad_filter = ReadRowsRequest { filter: Some(filter::value_regex(b"(")), ..req(rows::all(), 0, false) };
    assert_eq!(read(&mut c, bad_filter).await.unwrap_err().code(), Code::InvalidArgument);
    let view = ReadRowsRequest { authorized_view_name: format!("{TABLE}/authorizedViews/v"), ..Default::default() };
    assert_eq!(read(&mut c, view).await.unwrap_err().code(), Code::Unimplemented);
    let e = c
        .mutate_row(MutateRowRequest {
            table_name: TABLE.into(),
            row_key: row_key(1),
            mutations: vec![set_cell("nope", b"q", 1000, b"x")],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = c.mutate_rows(MutateRowsRequest { table_name: TABLE.into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    reencode.stop().await;
    gateway.stop().await;
    cluster.stop().await;
}
