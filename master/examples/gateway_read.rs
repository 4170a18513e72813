//! Times full-table reads through a gateway on its two read paths: the tablet servers'
//! whole-row messages forwarded as they are, against rows decoded and encoded again.
//!
//! `cargo run --release -p master --example gateway_read [ROWS] [ROUNDS]`
//!
//! A `MiniCluster` (master and two tablet servers in this process, over loopback) holds a
//! table split into four tablets; ROWS rows (default 200,000) of three 100-byte cells are
//! loaded through the Rust client; then each round scans the whole table forward and
//! reversed through each gateway, and the best round of each is printed.

use std::time::{Duration, Instant};

use master::gateway::{GatewayConfig, ReadPath};
use master::{MiniCluster, MiniClusterOptions};
use tablet::client::build::mutation;
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::{ColumnFamily, CreateTableRequest, Table};
use tablet::proto::bigtable::bigtable_client::BigtableClient;
use tablet::proto::bigtable::ReadRowsRequest;

const TABLE: &str = "projects/p/instances/i/tables/bench";

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn key(i: usize) -> Vec<u8> {
    format!("user{i:08}").into_bytes()
}

/// Scans the table through the gateway at `addr`; returns (rows, bytes, time).
async fn scan(addr: std::net::SocketAddr, reversed: bool) -> Res<(u64, u64, Duration)> {
    let mut c = BigtableClient::connect(format!("http://{addr}")).await?.max_decoding_message_size(256 << 20);
    let start = Instant::now();
    let req = ReadRowsRequest { table_name: TABLE.into(), reversed, ..Default::default() };
    let mut stream = c.read_rows(req).await?.into_inner();
    let (mut rows, mut bytes) = (0u64, 0u64);
    while let Some(m) = stream.message().await? {
        for ch in &m.chunks {
            bytes += ch.value.len() as u64;
            if matches!(
                ch.row_status,
                Some(tablet::proto::bigtable::read_rows_response::cell_chunk::RowStatus::CommitRow(true))
            ) {
                rows += 1;
            }
        }
    }
    Ok((rows, bytes, start.elapsed()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200_000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let root = tempfile::tempdir()?;
    let opts =
        MiniClusterOptions { servers: 2, write_buffer_bytes: 64 << 20, cache_bytes: 256 << 20, ..Default::default() };
    let cluster = MiniCluster::start(root.path(), opts).await?;
    let splits = (1..4).map(|q| Split { key: key(n * q / 4) }).collect();
    let families = ["a", "b", "c"].iter().map(|f| (f.to_string(), ColumnFamily { gc_rule: None })).collect();
    cluster
        .admin()
        .await?
        .create_table(CreateTableRequest {
            parent: "projects/p/instances/i".into(),
            table_id: "bench".into(),
            table: Some(Table { column_families: families, ..Default::default() }),
            initial_splits: splits,
        })
        .await?;
    cluster.wait_assigned(TABLE).await?;
    let client = cluster.client()?;
    let table = client.table(TABLE);
    let load = Instant::now();
    let value = vec![b'x'; 100];
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let entries = chunk
            .iter()
            .map(|&i| {
                let m = ["a", "b", "c"].iter().map(|f| mutation::set_cell(f, b"q", 1000, &value)).collect();
                (key(i), m)
            })
            .collect();
        for r in table.mutate_rows(entries).await? {
            r?;
        }
    }
    println!("loaded {n} rows of 3 x 100 B in {:.1} s", load.elapsed().as_secs_f64());

    let mut gateways = Vec::new();
    for path in [ReadPath::Forward, ReadPath::Reencode] {
        let mut config = GatewayConfig::new(cluster.master_addr.to_string());
        config.read_path = path;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(master::gateway::serve(config, listener, std::future::pending()));
        gateways.push((path, addr));
    }
    for reversed in [false, true] {
        let mut best: Vec<Option<(u64, u64, Duration)>> = vec![None; gateways.len()];
        for _ in 0..rounds {
            for (i, (_, addr)) in gateways.iter().enumerate() {
                let r = scan(*addr, reversed).await?;
                if best[i].is_none_or(|b| r.2 < b.2) {
                    best[i] = Some(r);
                }
            }
        }
        for ((path, _), b) in gateways.iter().zip(best) {
            if let Some((rows, bytes, t)) = b {
                let s = t.as_secs_f64();
                println!(
                    "{:<8} {:<9} {rows} rows in {s:.3} s: {:.0} rows/s, {:.1} MB/s of values",
                    if reversed { "reversed" } else { "forward" },
                    format!("{path:?}").to_lowercase(),
                    rows as f64 / s,
                    bytes as f64 / s / 1e6
                );
            }
        }
    }
    cluster.stop().await;
    Ok(())
}
