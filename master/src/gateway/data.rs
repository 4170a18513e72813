//! The data half of the gateway: `google.bigtable.v2.Bigtable`, each call routed to the
//! tablet servers that own its rows by a [`tablet::client::Client`].
//!
//! | RPC | how |
//! |---|---|
//! | `ReadRows` | the tablets covering the row set, one after another in key order (descending when `reversed`; adjacent tablets of one server in one request), `rows_limit` counted across them; each server's whole-row messages passed on ([`ReadPath::Forward`]) or decoded and encoded again ([`ReadPath::Reencode`]) |
//! | `MutateRows` | entries grouped by server and sent to the servers concurrently; one status per entry, at the entry's index in this request |
//! | `SampleRowKeys` | every server holding the table asked once; the samples joined in key order with offsets accumulated |
//! | `MutateRow` | the row's server; concurrent ones to one table combined into a `MutateRows` ([`super::coalesce`]) |
//! | `CheckAndMutateRow`, `ReadModifyWriteRow` | the row's server |
//! | `PingAndWarm` | answered here (the instance name is checked) |
//!
//! A tablet that moves or splits during a call answers "not serving"; the client refreshes
//! its locations and retries (writes on any `UNAVAILABLE`; check-and-mutate and
//! read-modify-write only when they were surely not applied; reads resume after the last
//! row passed on). Every other error reaches the caller with its gRPC code.
//!
//! Errors raised here, before any routing: an authorized view instead of a table →
//! `UNIMPLEMENTED`; a bad table or instance name, a negative `rows_limit`, `MutateRows`
//! without entries → `INVALID_ARGUMENT`. Unknown tables are `NOT_FOUND` (the master says
//! so when asked where the table's tablets are).

use std::pin::Pin;
use std::sync::Arc;

use tablet::chunks::{ChunkEncoder, ChunkLimits};
use tablet::client::{Client, ClientError, ResponseReader, Table};
use tablet::proto::bigtable::bigtable_server::Bigtable;
use tablet::proto::bigtable::{
    mutate_rows_response, CheckAndMutateRowRequest, CheckAndMutateRowResponse, MutateRowRequest, MutateRowResponse,
    MutateRowsRequest, MutateRowsResponse, PingAndWarmRequest, PingAndWarmResponse, ReadModifyWriteRowRequest,
    ReadModifyWriteRowResponse, ReadRowsRequest, ReadRowsResponse, SampleRowKeysRequest, SampleRowKeysResponse,
};
use tablet::proto::google::rpc::Status as RpcStatus;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};
use tracing::debug;

use super::coalesce::Coalescer;
use super::ReadPath;
use crate::names;

/// A server-streaming response.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Messages buffered between a ReadRows producer and the caller.
const STREAM_BUFFER: usize = 4;

/// The data service; see the module docs.
#[derive(Debug, Clone)]
pub struct DataService {
    /// Locates and routes; its location cache is the gateway's only state.
    client: Client,
    read_path: ReadPath,
    /// Combines concurrent `MutateRow`s ([`Coalescer`]); `None` sends each alone.
    coalescer: Option<Arc<Coalescer>>,
}

impl DataService {
    /// The service, routing through `client`, each call sent on alone.
    pub fn new(client: Client, read_path: ReadPath) -> Self {
        DataService { client, read_path, coalescer: None }
    }

    /// Combines concurrent `MutateRow`s into `MutateRows` with at most `flights` bulk calls
    /// per table under way (see [`super::coalesce`]); 0 turns it off.
    pub fn with_coalescing(mut self, flights: usize) -> Self {
        self.coalescer = (flights > 0).then(|| Arc::new(Coalescer::new(flights)));
        self
    }

    /// The table a request names, checked (the view check mirrors a tablet server's).
    fn table(&self, table_name: &str, view_name: &str) -> Result<Table, Status> {
        if table_name.is_empty() && !view_name.is_empty() {
            return Err(Status::unimplemented("authorized views are not supported; name the table"));
        }
        names::parse_table_name(table_name)?;
        Ok(self.client.table(table_name))
    }
}

/// The status a caller gets for a client error: the server's own status (its code and
/// message, without the cluster-internal metadata), or the error's code and text.
pub fn client_status(e: ClientError) -> Status {
    match e {
        ClientError::Status(s) => Status::new(s.code(), s.message()),
        other => Status::new(other.code(), other.to_string()),
    }
}

fn rpc_status(r: &Result<(), Status>) -> RpcStatus {
    match r {
        Ok(()) => RpcStatus { code: Code::Ok as i32, message: String::new(), details: Vec::new() },
        Err(s) => RpcStatus { code: s.code() as i32, message: s.message().to_string(), details: Vec::new() },
    }
}

/// Where a forwarded ReadRows stream stands.
enum Forward {
    /// The first message, awaited before the call answered, still to pass on.
    First(ResponseReader, ReadRowsResponse),
    /// Passing on the servers' messages as they come.
    Reading(ResponseReader),
    /// An error was passed on; the stream is over.
    Failed,
}

/// Passes on the whole-row messages of the tablet servers; the first message (or the
/// error that prevents it) is awaited before the call answers, so a refused read is the
/// call's status rather than a failed stream. The stream reads the servers as the caller
/// takes messages, on the response's own task (no task or channel per call: they were a
/// tenth of the gateway's work per small read).
async fn forward_rows(
    table: &Table,
    req: ReadRowsRequest,
    limit: Option<u64>,
) -> Result<ResponseStream<ReadRowsResponse>, Status> {
    let mut reader = table.read_responses(req.rows.unwrap_or_default(), req.filter, limit, req.reversed);
    let state = match reader.next_message().await.map_err(client_status)? {
        Some(first) => Forward::First(reader, first),
        None => return Ok(Box::pin(tokio_stream::empty())),
    };
    // Dropping the stream (the caller went away) drops the reader, which cancels the
    // server streams.
    Ok(Box::pin(futures_util::stream::unfold(state, |state| async move {
        match state {
            Forward::First(reader, first) => Some((Ok(first), Forward::Reading(reader))),
            Forward::Reading(mut reader) => match reader.next_message().await {
                Ok(Some(msg)) => Some((Ok(msg), Forward::Reading(reader))),
                Ok(None) => None,
                Err(e) => Some((Err(client_status(e)), Forward::Failed)),
            },
            Forward::Failed => None,
        }
    })))
}

/// Decodes the rows and encodes them again (the comparison path; see [`ReadPath`]).
async fn reencode_rows(
    table: &Table,
    req: ReadRowsRequest,
    limit: Option<u64>,
) -> Result<ReceiverStream<Result<ReadRowsResponse, Status>>, Status> {
    let reversed = req.reversed;
    let rows = req.rows.unwrap_or_default();
    let mut reader = if reversed {
        table.read_rows_reversed(rows, req.filter, limit)
    } else {
        table.read_rows(rows, req.filter, limit)
    };
    let first = reader.next_row().await.map_err(client_status)?;
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        let mut encoder = ChunkEncoder::new(ChunkLimits::default()).reversed(reversed);
        let mut next = first;
        while let Some(row) = next {
            let full = match encoder.push_row(&row) {
                Ok(full) => full,
                Err(e) => {
                    let _ = tx.send(Err(Status::internal(e.to_string()))).await;
                    return;
                }
            };
            for msg in full {
                if tx.send(Ok(msg)).await.is_err() {
                    return;
                }
            }
            next = match reader.next_row().await {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(client_status(e))).await;
                    return;
                }
            };
        }
        if let Some(last) = encoder.finish() {
            let _ = tx.send(Ok(last)).await;
        }
    });
    Ok(ReceiverStream::new(rx))
}

#[tonic::async_trait]
impl Bigtable for DataService {
    type ReadRowsStream = ResponseStream<ReadRowsResponse>;

    async fn read_rows(&self, request: Request<ReadRowsRequest>) -> Result<Response<Self::ReadRowsStream>, Status> {
        let req = request.into_inner();
        let table = self.table(&req.table_name, &req.authorized_view_name)?;
        if req.rows_limit < 0 {
            return Err(Status::invalid_argument(format!("rows_limit is {}; it must not be negative", req.rows_limit)));
        }
        let limit = u64::try_from(req.rows_limit).ok().filter(|&l| l > 0);
        debug!(table = %req.table_name, reversed = req.reversed, ?limit, "read rows");
        let stream = match self.read_path {
            ReadPath::Forward => forward_rows(&table, req, limit).await?,
            ReadPath::Reencode => Box::pin(reencode_rows(&table, req, limit).await?),
        };
        Ok(Response::new(stream))
    }

    type SampleRowKeysStream = ResponseStream<SampleRowKeysResponse>;

    async fn sample_row_keys(
        &self,
        request: Request<SampleRowKeysRequest>,
    ) -> Result<Response<Self::SampleRowKeysStream>, Status> {
        let req = request.into_inner();
        let table = self.table(&req.table_name, &req.authorized_view_name)?;
        let samples = table.sample_row_keys().await.map_err(client_status)?;
        let messages = samples
            .into_iter()
            .map(|(row_key, offset_bytes)| Ok(SampleRowKeysResponse { row_key, offset_bytes }))
            .collect::<Vec<_>>();
        Ok(Response::new(Box::pin(tokio_stream::iter(messages))))
    }

    async fn mutate_row(&self, request: Request<MutateRowRequest>) -> Result<Response<MutateRowResponse>, Status> {
        let req = request.into_inner();
        let table = self.table(&req.table_name, &req.authorized_view_name)?;
        match &self.coalescer {
            Some(c) => c.mutate_row(&table, req.row_key, req.mutations).await?,
            None => table.mutate_row(&req.row_key, req.mutations).await.map_err(client_status)?,
        }
        Ok(Response::new(MutateRowResponse {}))
    }

    type MutateRowsStream = ResponseStream<MutateRowsResponse>;

    async fn mutate_rows(
        &self,
        request: Request<MutateRowsRequest>,
    ) -> Result<Response<Self::MutateRowsStream>, Status> {
        let req = request.into_inner();
        let table = self.table(&req.table_name, &req.authorized_view_name)?;
        if req.entries.is_empty() {
            return Err(Status::invalid_argument("mutate rows: no entries given"));
        }
        let entries = req.entries.into_iter().map(|e| (e.row_key, e.mutations)).collect();
        let results = table.mutate_rows(entries).await.map_err(client_status)?;
        let entries = results
            .iter()
            .enumerate()
            .map(|(i, r)| mutate_rows_response::Entry {
                index: i64::try_from(i).unwrap_or(i64::MAX),
                status: Some(rpc_status(r)),
            })
            .collect();
        let response = MutateRowsResponse { entries, rate_limit_info: None };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(response)))))
    }

    async fn check_and_mutate_row(
        &self,
        request: Request<CheckAndMutateRowRequest>,
    ) -> Result<Response<CheckAndMutateRowResponse>, Status> {
        let req = request.into_inner();
        let table = self.table(&req.table_name, &req.authorized_view_name)?;
        let matched = table
            .check_and_mutate_row(&req.row_key, req.predicate_filter, req.true_mutations, req.false_mutations)
            .await
            .map_err(client_status)?;
        Ok(Response::new(CheckAndMutateRowResponse { predicate_matched: matched }))
    }

    async fn ping_and_warm(
        &self,
        request: Request<PingAndWarmRequest>,
    ) -> Result<Response<PingAndWarmResponse>, Status> {
        names::parse_instance(&request.get_ref().name)?;
        Ok(Response::new(PingAndWarmResponse {}))
    }

    async fn read_modify_write_row(
        &self,
        request: Request<ReadModifyWriteRowRequest>,
    ) -> Result<Response<ReadModifyWriteRowResponse>, Status> {
        let req = request.into_inner();
        let table = self.table(&req.table_name, &req.authorized_view_name)?;
        let row = table.read_modify_write_row(&req.row_key, req.rules).await.map_err(client_status)?;
        Ok(Response::new(ReadModifyWriteRowResponse { row: Some(row) }))
    }
}
