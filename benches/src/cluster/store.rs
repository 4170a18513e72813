//! The two ways the driver talks to a cluster: the Rust client library, routing each
//! request straight to the tablet server that holds the row ([`Store::Client`]), or the
//! plain Bigtable data API against one address, normally the gateway
//! ([`Store::Endpoint`], tonic's generated `BigtableClient`, as any Bigtable client would).
//!
//! Both read the newest cell of each column (`cells_per_column_limit = 1`) and write with
//! server timestamps.

use tablet::client::build::{filter, rows};
use tablet::client::{ClientError, Table};
use tablet::proto::bigtable::bigtable_client::BigtableClient;
use tablet::proto::bigtable::{mutate_rows_request, MutateRowRequest, MutateRowsRequest, Mutation, ReadRowsRequest};
use tablet::ChunkMerger;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// An operation's failure, as counted in the report.
#[derive(Debug, Clone)]
pub struct OpError {
    /// The gRPC code (the client's code for client-side failures).
    pub code: Code,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl From<ClientError> for OpError {
    fn from(e: ClientError) -> Self {
        OpError { code: e.code(), message: e.to_string() }
    }
}

impl From<Status> for OpError {
    fn from(s: Status) -> Self {
        OpError { code: s.code(), message: s.message().to_string() }
    }
}

/// The result of one operation.
pub type OpResult<T> = std::result::Result<T, OpError>;

/// One table, reached one way or the other. Cheap to clone (one per worker).
#[derive(Clone, Debug)]
pub enum Store {
    /// Through `tablet::client` (location cache, straight to tablet servers).
    Client(Table),
    /// Through one address speaking the Bigtable data API.
    Endpoint {
        /// The connection (HTTP/2, shared by clones).
        conn: BigtableClient<Channel>,
        /// The table's full name.
        table: String,
    },
}

impl Store {
    /// Applies `mutations` to `row`.
    pub async fn write(&self, row: &[u8], mutations: Vec<Mutation>) -> OpResult<()> {
        match self {
            Store::Client(t) => Ok(t.mutate_row(row, mutations).await?),
            Store::Endpoint { conn, table } => {
                let req = MutateRowRequest {
                    table_name: table.clone(),
                    row_key: row.to_vec(),
                    mutations,
                    ..Default::default()
                };
                conn.clone().mutate_row(req).await?;
                Ok(())
            }
        }
    }

    /// Applies many rows' mutations in one request (per server); returns how many entries
    /// failed and the first failure.
    pub async fn write_many(&self, entries: Vec<(Vec<u8>, Vec<Mutation>)>) -> OpResult<(u64, Option<OpError>)> {
        match self {
            Store::Client(t) => {
                let results = t.mutate_rows(entries).await?;
                let mut failed = 0;
                let mut first = None;
                for r in results {
                    if let Err(s) = r {
                        failed += 1;
                        first.get_or_insert_with(|| OpError::from(s));
                    }
                }
                Ok((failed, first))
            }
            Store::Endpoint { conn, table } => {
                let n = entries.len();
                let req = MutateRowsRequest {
                    table_name: table.clone(),
                    entries: entries
                        .into_iter()
                        .map(|(row_key, mutations)| mutate_rows_request::Entry { row_key, mutations })
                        .collect(),
                    ..Default::default()
                };
                let mut stream = conn.clone().mutate_rows(req).await?.into_inner();
                let mut answered = 0;
                let mut failed = 0;
                let mut first = None;
                while let Some(msg) = stream.message().await? {
                    for e in msg.entries {
                        answered += 1;
                        let status = e.status.unwrap_or_default();
                        if status.code != 0 {
                            failed += 1;
                            first.get_or_insert_with(|| OpError {
                                code: Code::from_i32(status.code),
                                message: format!("entry {}: {}", e.index, status.message),
                            });
                        }
                    }
                }
                if answered < n {
                    failed += (n - answered) as u64;
                    first.get_or_insert_with(|| OpError {
                        code: Code::Internal,
                        message: format!("MutateRows answered {answered} of {n} entries"),
                    });
                }
                Ok((failed, first))
            }
        }
    }

    /// Reads the newest cells of `row`; `Ok(false)` when the row does not exist.
    pub async fn read(&self, row: &[u8]) -> OpResult<bool> {
        match self {
            Store::Client(t) => Ok(t.read_row(row, Some(filter::latest(1))).await?.is_some()),
            Store::Endpoint { .. } => Ok(self.endpoint_read(rows::keys([row]), 1).await? == 1),
        }
    }

    /// Reads the newest cells of each of `keys` in one request; returns how many rows
    /// exist.
    pub async fn read_many(&self, keys: Vec<Vec<u8>>) -> OpResult<u64> {
        let n = keys.len() as u64;
        match self {
            Store::Client(t) => {
                let mut reader = t.read_rows(rows::keys(keys), Some(filter::latest(1)), None);
                let mut found = 0;
                while reader.next_row().await?.is_some() {
                    found += 1;
                }
                Ok(found)
            }
            Store::Endpoint { .. } => self.endpoint_read(rows::keys(keys), n).await,
        }
    }

    /// Reads up to `limit` rows from `start` on; returns how many came back.
    pub async fn scan(&self, start: &[u8], limit: u64) -> OpResult<u64> {
        let set = rows::range_closed_open(start, b"");
        match self {
            Store::Client(t) => {
                let mut reader = t.read_rows(set, Some(filter::latest(1)), Some(limit));
                let mut n = 0;
                while reader.next_row().await?.is_some() {
                    n += 1;
                }
                Ok(n)
            }
            Store::Endpoint { .. } => self.endpoint_read(set, limit).await,
        }
    }

    /// `ReadRows` on the endpoint, rows reassembled from chunks (and checked) as an
    /// official client does; returns the rows received.
    async fn endpoint_read(&self, set: tablet::proto::bigtable::RowSet, limit: u64) -> OpResult<u64> {
        let Store::Endpoint { conn, table } = self else {
            return Err(OpError { code: Code::Internal, message: "not an endpoint store".into() });
        };
        let req = ReadRowsRequest {
            table_name: table.clone(),
            rows: Some(set),
            filter: Some(filter::latest(1)),
            rows_limit: i64::try_from(limit).unwrap_or(i64::MAX),
            ..Default::default()
        };
        let mut stream = conn.clone().read_rows(req).await?.into_inner();
        let mut merger = ChunkMerger::new(false);
        let mut n = 0u64;
        let bad = |e: tablet::Error| OpError { code: Code::Internal, message: format!("ReadRows stream: {e}") };
        while let Some(resp) = stream.message().await? {
            n += merger.push(&resp).map_err(bad)?.len() as u64;
        }
        merger.finish().map_err(bad)?;
        Ok(n)
    }
}
