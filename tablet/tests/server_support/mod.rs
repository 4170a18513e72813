//! Helpers for the tablet server's scenario tests: a server on port 0 in this process,
//! tonic clients, request builders, and a strict test-side chunk merger.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use tablet::proto::bigtable::bigtable_client::BigtableClient;
use tablet::proto::bigtable::read_rows_response::cell_chunk::RowStatus;
use tablet::proto::bigtable::{
    mutate_rows_request, Cell, Column, Family, MutateRowRequest, MutateRowsRequest, Mutation, ReadRowsRequest,
    ReadRowsResponse, Row, RowSet,
};
use tablet::proto::bt::internal::v1::tablet_control_client::TabletControlClient;
use tablet::proto::bt::internal::v1::{FamilySchema, LoadTabletRequest, TabletDescriptor};
use tablet::server::{ServerConfig, TabletServer};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::Status;

pub const TABLE: &str = "projects/p/instances/i/tables/t";

/// A server running in this process until `stop`.
pub struct Running {
    pub addr: SocketAddr,
    pub server: TabletServer,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Starts `config`'s server on 127.0.0.1:0, static tables opened.
    pub async fn start(config: ServerConfig) -> Running {
        let server = TabletServer::new(config).unwrap();
        Self::start_server(server).await
    }

    pub async fn start_server(server: TabletServer) -> Running {
        server.open_static_tables().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let s = server.clone();
        let task = tokio::spawn(async move {
            s.serve(listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Running { addr, server, stop: Some(tx), task: Some(task) }
    }

    pub async fn data(&self) -> BigtableClient<Channel> {
        BigtableClient::connect(format!("http://{}", self.addr)).await.unwrap().max_decoding_message_size(256 << 20)
    }

    pub async fn control(&self) -> TabletControlClient<Channel> {
        TabletControlClient::connect(format!("http://{}", self.addr)).await.unwrap()
    }

    /// Graceful shutdown; returns once every tablet is closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A config over `root` serving `TABLE` with families cf1 and cf2 (cf2 keeps 1 version).
pub fn static_config(root: &std::path::Path) -> ServerConfig {
    let mut c = ServerConfig::new(root);
    c.cache_bytes = 8 << 20;
    c.write_buffer_bytes = 1 << 20;
    c.static_tables.push(tablet::server::StaticTable::parse(&format!("{TABLE}=cf1,cf2:maxversions=1")).unwrap());
    c
}

pub fn mutate(row: &[u8], mutations: Vec<Mutation>) -> MutateRowRequest {
    MutateRowRequest { table_name: TABLE.into(), row_key: row.to_vec(), mutations, ..Default::default() }
}

pub fn entries(list: Vec<(&[u8], Vec<Mutation>)>) -> MutateRowsRequest {
    MutateRowsRequest {
        table_name: TABLE.into(),
        entries: list
            .into_iter()
            .map(|(k, m)| mutate_rows_request::Entry { row_key: k.to_vec(), mutations: m })
            .collect(),
        ..Default::default()
    }
}

pub fn read_all_rows() -> ReadRowsRequest {
    ReadRowsRequest { table_name: TABLE.into(), ..Default::default() }
}

pub fn read_keys(keys: &[&[u8]]) -> ReadRowsRequest {
    ReadRowsRequest {
        table_name: TABLE.into(),
        rows: Some(RowSet { row_keys: keys.iter().map(|k| k.to_vec()).collect(), row_ranges: vec![] }),
        ..Default::default()
    }
}

/// Every message of a ReadRows call.
pub async fn read_raw(
    client: &mut BigtableClient<Channel>,
    req: ReadRowsRequest,
) -> Result<Vec<ReadRowsResponse>, Status> {
    let mut stream = client.read_rows(req).await?.into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await? {
        out.push(m);
    }
    Ok(out)
}

/// The rows of a ReadRows call, rebuilt by a merger that panics on any chunk-rule violation.
pub async fn read(client: &mut BigtableClient<Channel>, req: ReadRowsRequest) -> Result<Vec<Row>, Status> {
    Ok(merge(&read_raw(client, req).await?))
}

/// Row keys of a ReadRows call, as strings.
pub async fn read_keys_of(client: &mut BigtableClient<Channel>, req: ReadRowsRequest) -> Vec<String> {
    read(client, req).await.unwrap().iter().map(|r| String::from_utf8_lossy(&r.key).into_owned()).collect()
}

pub fn merge(messages: &[ReadRowsResponse]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut cur: Option<Row> = None;
    let mut partial: Option<(usize, Vec<u8>)> = None;
    for c in messages.iter().flat_map(|m| &m.chunks) {
        if let Some((size, mut bytes)) = partial.take() {
            assert!(
                c.row_key.is_empty() && c.family_name.is_none() && c.qualifier.is_none() && c.timestamp_micros == 0
            );
            bytes.extend_from_slice(&c.value);
            if c.value_size > 0 {
                assert_eq!(c.value_size as usize, size);
                partial = Some((size, bytes));
            } else {
                assert_eq!(bytes.len(), size);
                let r = cur.as_mut().unwrap();
                r.families.last_mut().unwrap().columns.last_mut().unwrap().cells.last_mut().unwrap().value = bytes;
            }
        } else {
            let r = match cur.as_mut() {
                None => {
                    assert!(!c.row_key.is_empty() && c.family_name.is_some() && c.qualifier.is_some());
                    cur.insert(Row { key: c.row_key.clone(), families: vec![] })
                }
                Some(r) => {
                    assert!(c.row_key.is_empty() || c.row_key == r.key);
                    r
                }
            };
            if let Some(f) = &c.family_name {
                assert!(c.qualifier.is_some());
                r.families.push(Family { name: f.clone(), columns: vec![] });
            }
            let fam = r.families.last_mut().unwrap();
            if let Some(q) = &c.qualifier {
                fam.columns.push(Column { qualifier: q.clone(), cells: vec![] });
            }
            fam.columns.last_mut().unwrap().cells.push(Cell {
                timestamp_micros: c.timestamp_micros,
                labels: c.labels.clone(),
                value: c.value.clone(),
            });
            if c.value_size > 0 {
                partial = Some((c.value_size as usize, c.value.clone()));
            }
        }
        if matches!(c.row_status, Some(RowStatus::CommitRow(true))) {
            assert!(partial.is_none());
            rows.push(cur.take().unwrap());
        }
    }
    assert!(cur.is_none(), "stream ended inside a row");
    rows
}

pub fn descriptor(tablet_id: &str, start: &[u8], end: &[u8], epoch: u64) -> TabletDescriptor {
    TabletDescriptor {
        table_id: "t00000000000000aa".into(),
        tablet_id: tablet_id.into(),
        start_key: start.to_vec(),
        end_key: end.to_vec(),
        epoch,
        table_name: TABLE.into(),
    }
}

pub fn load(desc: TabletDescriptor) -> LoadTabletRequest {
    LoadTabletRequest { tablet: Some(desc), families: vec![FamilySchema { name: "cf1".into(), gc_rule: None }] }
}

/// Polls `cond` every 20 ms until it holds; panics after `limit` (a hang guard, not a
/// timing assertion).
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Row "key" as `family:qualifier@ts=value` lines.
pub fn cell_lines(row: &Row) -> Vec<String> {
    let mut out = Vec::new();
    for f in &row.families {
        for c in &f.columns {
            for cell in &c.cells {
                out.push(format!(
                    "{}:{}@{}={}",
                    f.name,
                    String::from_utf8_lossy(&c.qualifier),
                    cell.timestamp_micros,
                    String::from_utf8_lossy(&cell.value)
                ));
            }
        }
    }
    out
}
