//! The data API over a real socket: a static-mode server on port 0, tonic clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod server_support;

use common::set;
use server_support::*;
use tablet::chunks::ChunkLimits;
use tablet::proto::bigtable::row_filter::{Chain, Filter};
use tablet::proto::bigtable::row_range::{EndKey, StartKey};
use tablet::proto::bigtable::{MutateRowRequest, PingAndWarmRequest, ReadRowsRequest, RowFilter, RowRange, RowSet};
use tonic::Code;

fn filter(f: Filter) -> RowFilter {
    RowFilter { filter: Some(f) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_read_round_trip() {
    let root = tempfile::tempdir().unwrap();
    let server = Running::start(static_config(root.path())).await;
    let mut c = server.data().await;
    c.mutate_row(mutate(
        b"r1",
        vec![
            set("cf1", b"a", 1000, b"v1"),
            set("cf1", b"a", 2000, b"v2"),
            set("cf2", b"b", 1000, b"old"),
            set("cf2", b"b", 2000, b"new"),
        ],
    ))
    .await
    .unwrap();
    c.mutate_row(mutate(b"r0", vec![set("cf1", b"", 5000, b"")])).await.unwrap();

    let rows = read(&mut c, read_all_rows()).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.key.as_slice()).collect::<Vec<_>>(), vec![&b"r0"[..], b"r1"]);
    assert_eq!(cell_lines(&rows[0]), vec!["cf1:@5000="]);
    // cf2 keeps one version.
    assert_eq!(cell_lines(&rows[1]), vec!["cf1:a@2000=v2", "cf1:a@1000=v1", "cf2:b@2000=new"]);

    let one = read(&mut c, read_keys(&[b"r1", b"nope"])).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].key, b"r1");
    c.ping_and_warm(PingAndWarmRequest { name: "projects/p/instances/i".into(), app_profile_id: String::new() })
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_limits_ranges_and_reversed_reads() {
    let root = tempfile::tempdir().unwrap();
    let server = Running::start(static_config(root.path())).await;
    let mut c = server.data().await;
    for i in 0..10 {
        let key = format!("r{i:02}");
        c.mutate_row(mutate(
            key.as_bytes(),
            vec![
                set("cf1", b"q", 1000, format!("old{i}").as_bytes()),
                set("cf1", b"q", 2000, format!("v{i}").as_bytes()),
            ],
        ))
        .await
        .unwrap();
    }
    let limited = ReadRowsRequest { rows_limit: 3, ..read_all_rows() };
    assert_eq!(read_keys_of(&mut c, limited).await, vec!["r00", "r01", "r02"]);

    // Open start, closed end.
    let range = RowRange {
        start_key: Some(StartKey::StartKeyOpen(b"r03".to_vec())),
        end_key: Some(EndKey::EndKeyClosed(b"r05".to_vec())),
    };
    let ranged =
        ReadRowsRequest { rows: Some(RowSet { row_keys: vec![], row_ranges: vec![range] }), ..read_all_rows() };
    assert_eq!(read_keys_of(&mut c, ranged).await, vec!["r04", "r05"]);

    let reversed = ReadRowsRequest { reversed: true, rows_limit: 2, ..read_all_rows() };
    assert_eq!(read_keys_of(&mut c, reversed).await, vec!["r09", "r08"]);

    // Latest version only, of rows whose key ends in an odd digit, labelled.
    let f = filter(Filter::Chain(Chain {
        filters: vec![
            filter(Filter::RowKeyRegexFilter(b"r0[13579]".to_vec())),
            filter(Filter::CellsPerColumnLimitFilter(1)),
            filter(Filter::ApplyLabelTransformer("odd".into())),
        ],
    }));
    let rows = read(&mut c, ReadRowsRequest { filter: Some(f), ..read_all_rows() }).await.unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(cell_lines(&rows[0]), vec!["cf1:q@2000=v1"]);
    assert_eq!(rows[0].families[0].columns[0].cells[0].labels, vec!["odd".to_string()]);

    let bad = filter(Filter::RowKeyRegexFilter(b"(".to_vec()));
    let err = read(&mut c, ReadRowsRequest { filter: Some(bad), ..read_all_rows() }).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = read(&mut c, ReadRowsRequest { rows_limit: -1, ..read_all_rows() }).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("rows_limit"), "{}", err.message());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_are_chunked_and_messages_batched() {
    let root = tempfile::tempdir().unwrap();
    let mut config = static_config(root.path());
    config.limits.chunks = ChunkLimits { max_chunk_value_bytes: 64 << 10, max_message_bytes: 256 << 10 };
    let server = Running::start(config).await;
    let mut c = server.data().await;
    let big: Vec<u8> = (0..(1 << 20) + 17).map(|i: u32| (i % 251) as u8).collect();
    c.mutate_row(mutate(b"big", vec![set("cf1", b"blob", 1000, &big), set("cf1", b"small", 1000, b"s")]))
        .await
        .unwrap();
    for i in 0..50 {
        c.mutate_row(mutate(format!("row{i:02}").as_bytes(), vec![set("cf1", b"q", 1000, &[7u8; 10_000])]))
            .await
            .unwrap();
    }
    let messages = read_raw(&mut c, read_all_rows()).await.unwrap();
    let chunks: Vec<_> = messages.iter().flat_map(|m| &m.chunks).collect();
    let split = chunks.iter().filter(|c| c.value_size as usize == big.len()).count();
    assert_eq!(split, big.len().div_ceil(64 << 10) - 1, "every piece but the last carries value_size");
    assert!(chunks.iter().all(|c| c.value.len() <= 64 << 10));
    assert!(messages.len() >= 3, "{} messages", messages.len());
    // The big row fills a message of its own; the small rows are batched up to the budget;
    // no row spans two messages.
    assert_eq!(messages[0].chunks.iter().filter(|c| c.row_status.is_some()).count(), 1);
    for m in &messages {
        assert!(!m.chunks[0].row_key.is_empty() && m.chunks.last().unwrap().row_status.is_some());
    }
    for m in &messages[1..] {
        assert!(prost::Message::encoded_len(m) <= 256 << 10);
    }
    let rows = merge(&messages);
    assert_eq!(rows.len(), 51);
    assert_eq!(rows[0].key, b"big");
    assert_eq!(rows[0].families[0].columns[0].cells[0].value, big);
    assert_eq!(rows[0].families[0].columns[1].cells[0].value, b"s");
    server.stop().await;
}

/// Both ways a write is applied (on the worker thread that received it, the default, and
/// on a blocking thread) give the same answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutate_rows_reports_each_entry() {
    for inline_writes in [true, false] {
        mutate_rows_reports_each_entry_with(inline_writes).await;
    }
}

async fn mutate_rows_reports_each_entry_with(inline_writes: bool) {
    let root = tempfile::tempdir().unwrap();
    let mut config = static_config(root.path());
    config.inline_writes = inline_writes;
    let server = Running::start(config).await;
    let mut c = server.data().await;
    let req = entries(vec![
        (b"ok1", vec![set("cf1", b"q", 1000, b"a")]),
        (b"badfam", vec![set("nope", b"q", 1000, b"b")]),
        (b"badts", vec![set("cf1", b"q", 1234, b"c")]),
        (b"", vec![set("cf1", b"q", 1000, b"d")]),
        (b"nomut", vec![]),
        (b"ok2", vec![set("cf1", b"q", -1, b"e")]),
    ]);
    let mut stream = c.mutate_rows(req).await.unwrap().into_inner();
    let mut statuses = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        statuses.extend(m.entries.into_iter().map(|e| (e.index, e.status.unwrap())));
    }
    statuses.sort_by_key(|(i, _)| *i);
    let codes: Vec<i32> = statuses.iter().map(|(_, s)| s.code).collect();
    assert_eq!(
        codes,
        vec![
            Code::Ok as i32,
            Code::NotFound as i32,
            Code::InvalidArgument as i32,
            Code::InvalidArgument as i32,
            Code::InvalidArgument as i32,
            Code::Ok as i32
        ]
    );
    assert!(statuses[1].1.message.contains("entry 1") && statuses[1].1.message.contains("nope"));
    assert!(statuses[2].1.message.contains("timestamp"));
    assert_eq!(read_keys_of(&mut c, read_all_rows()).await, vec!["ok1", "ok2"]);
    // And single-row writes.
    c.mutate_row(mutate(b"ok3", vec![set("cf1", b"q", 1000, b"f")])).await.unwrap();
    let e = c.mutate_row(mutate(b"ok4", vec![set("nope", b"q", 1000, b"g")])).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    assert_eq!(read_keys_of(&mut c, read_all_rows()).await, vec!["ok1", "ok2", "ok3"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_documented_codes() {
    let root = tempfile::tempdir().unwrap();
    let server = Running::start(static_config(root.path())).await;
    let mut c = server.data().await;
    let code = |r: Result<tonic::Response<_>, tonic::Status>| r.map(|_: tonic::Response<_>| ()).unwrap_err();

    let other = MutateRowRequest {
        table_name: "projects/p/instances/i/tables/other".into(),
        ..mutate(b"r", vec![set("cf1", b"q", 0, b"")])
    };
    let e = code(c.mutate_row(other).await);
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e =
        read(&mut c, ReadRowsRequest { table_name: "projects/p/instances/i/tables/other".into(), ..read_all_rows() })
            .await
            .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    let bad_name = MutateRowRequest { table_name: "tables/t".into(), ..mutate(b"r", vec![set("cf1", b"q", 0, b"")]) };
    assert_eq!(code(c.mutate_row(bad_name).await).code(), Code::InvalidArgument);

    let e = code(c.mutate_row(mutate(b"r", vec![set("nope", b"q", 0, b"")])).await);
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("nope"), "{}", e.message());

    let e = code(c.mutate_row(mutate(b"r", vec![set("cf1", b"q", 1500, b"")])).await);
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("timestamp"));

    let e = code(c.mutate_row(mutate(&[b'k'; 4097], vec![set("cf1", b"q", 0, b"")])).await);
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("4097 bytes") && e.message().contains("limit of 4096"), "{}", e.message());
    c.mutate_row(mutate(&[b'k'; 4096], vec![set("cf1", b"q", 0, b"")])).await.unwrap();

    let e = read(&mut c, read_keys(&[&[b'k'; 5000]])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    assert_eq!(code(c.mutate_row(mutate(b"r", vec![])).await).code(), Code::InvalidArgument);

    let many: Vec<_> = (0..100_001).map(|_| set("cf1", b"q", 0, b"")).collect();
    let e = code(c.mutate_row(mutate(b"r", many)).await);
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("limit of 100000"), "{}", e.message());

    let e = c
        .ping_and_warm(PingAndWarmRequest { name: "projects/p".into(), app_profile_id: String::new() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(read_keys_of(&mut c, read_all_rows()).await.len(), 1, "nothing but the 4096-byte row was written");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_values_and_messages_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let mut config = static_config(root.path());
    config.limits.max_message_bytes = 4 << 20;
    config.limits.max_request_value_bytes = 1 << 20;
    let server = Running::start(config).await;
    let mut c = server.data().await;
    let e = c.mutate_row(mutate(b"r", vec![set("cf1", b"q", 0, &vec![1u8; (1 << 20) + 1])])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("limit of 1048576 bytes"), "{}", e.message());
    let req = entries(vec![
        (b"a", vec![set("cf1", b"q", 0, &vec![1u8; 600 << 10])]),
        (b"b", vec![set("cf1", b"q", 0, &vec![1u8; 600 << 10])]),
    ]);
    let e = c.mutate_rows(req).await.map(|_| ()).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "the limit counts the whole request");

    let e = c.mutate_row(mutate(b"r", vec![set("cf1", b"q", 0, &vec![1u8; 5 << 20])])).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    c.mutate_row(mutate(b"r", vec![set("cf1", b"q", 0, &vec![1u8; 1 << 20])])).await.unwrap();
    assert_eq!(read_keys_of(&mut c, read_all_rows()).await, vec!["r"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_mutate_and_read_modify_write() {
    use tablet::proto::bigtable::read_modify_write_rule::Rule;
    use tablet::proto::bigtable::{CheckAndMutateRowRequest, ReadModifyWriteRowRequest, ReadModifyWriteRule};

    let root = tempfile::tempdir().unwrap();
    let server = Running::start(static_config(root.path())).await;
    let mut c = server.data().await;
    c.mutate_row(mutate(b"r", vec![set("cf1", b"status", 1000, b"new")])).await.unwrap();

    let cam = |value: &[u8], then: &[u8]| CheckAndMutateRowRequest {
        table_name: TABLE.into(),
        row_key: b"r".to_vec(),
        // The newest status is `value`.
        predicate_filter: Some(filter(Filter::Chain(Chain {
            filters: vec![
                filter(Filter::ColumnQualifierRegexFilter(b"status".to_vec())),
                filter(Filter::CellsPerColumnLimitFilter(1)),
                filter(Filter::ValueRegexFilter(value.to_vec())),
            ],
        }))),
        true_mutations: vec![set("cf1", b"status", 2000, then)],
        false_mutations: vec![set("cf1", b"missed", 2000, b"x")],
        ..Default::default()
    };
    assert!(c.check_and_mutate_row(cam(b"new", b"claimed")).await.unwrap().into_inner().predicate_matched);
    assert!(!c.check_and_mutate_row(cam(b"new", b"again")).await.unwrap().into_inner().predicate_matched);
    let row = read(&mut c, read_keys(&[b"r"])).await.unwrap();
    assert_eq!(cell_lines(&row[0]), vec!["cf1:missed@2000=x", "cf1:status@2000=claimed", "cf1:status@1000=new"]);
    let empty = CheckAndMutateRowRequest { true_mutations: vec![], false_mutations: vec![], ..cam(b"x", b"y") };
    assert_eq!(c.check_and_mutate_row(empty).await.unwrap_err().code(), Code::InvalidArgument);

    let rmw = |rules: Vec<ReadModifyWriteRule>| ReadModifyWriteRowRequest {
        table_name: TABLE.into(),
        row_key: b"counter".to_vec(),
        rules,
        ..Default::default()
    };
    let incr = |n: i64| ReadModifyWriteRule {
        family_name: "cf1".into(),
        column_qualifier: b"n".to_vec(),
        rule: Some(Rule::IncrementAmount(n)),
    };
    c.read_modify_write_row(rmw(vec![incr(5)])).await.unwrap();
    let row = c.read_modify_write_row(rmw(vec![incr(-2)])).await.unwrap().into_inner().row.unwrap();
    assert_eq!(row.families[0].columns[0].cells[0].value, 3i64.to_be_bytes());
    let append = ReadModifyWriteRule {
        family_name: "cf1".into(),
        column_qualifier: b"s".to_vec(),
        rule: Some(Rule::AppendValue(b"ab".to_vec())),
    };
    c.read_modify_write_row(rmw(vec![append.clone(), append])).await.unwrap();
    let row = read(&mut c, read_keys(&[b"counter"])).await.unwrap();
    assert_eq!(row[0].families[0].columns[1].cells[0].value, b"abab");
    let bad = ReadModifyWriteRule { family_name: "nope".into(), ..incr(1) };
    assert_eq!(c.read_modify_write_row(rmw(vec![bad])).await.unwrap_err().code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crates_own_chunk_merger_accepts_the_stream() {
    let root = tempfile::tempdir().unwrap();
    let mut config = static_config(root.path());
    config.limits.chunks = ChunkLimits { max_chunk_value_bytes: 1000, max_message_bytes: 4000 };
    let server = Running::start(config).await;
    let mut c = server.data().await;
    for i in 0..30 {
        let value = vec![i as u8; 700 * (i % 5)];
        let mutations =
            vec![set("cf1", b"a", 1000, &value), set("cf1", b"b", 1000, b"x"), set("cf2", b"c", 3000, &value)];
        c.mutate_row(mutate(format!("k{i:02}").as_bytes(), mutations)).await.unwrap();
    }
    for reversed in [false, true] {
        let messages = read_raw(&mut c, ReadRowsRequest { reversed, ..read_all_rows() }).await.unwrap();
        let merged: Vec<_> = tablet::ChunkMerger::merge(messages.clone(), reversed).collect::<Result<_, _>>().unwrap();
        assert_eq!(merged.len(), 30);
        if !reversed {
            assert_eq!(merged, merge(&messages));
        }
        assert_eq!(merged[0].key, if reversed { b"k29".to_vec() } else { b"k00".to_vec() });
    }
    server.stop().await;
}
