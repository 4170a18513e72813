//! `google.bigtable.v2.Bigtable`: the data API of one tablet server.
//!
//! Every call checks, in order: the table name (`INVALID_ARGUMENT`), the lease (not
//! serving), the request limits (`INVALID_ARGUMENT` naming the limit), then routes to the
//! tablet(s) holding the rows (an unknown table is `NOT_FOUND` in static mode, a row not
//! held is not serving) and runs the engine work on a blocking thread. A write is
//! acknowledged only if the lease is still valid once it is applied.

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::config::{parse_table_name, Limits};
use super::status::{from_tablet_error, rpc_ok, to_rpc_status};
use super::{read, Shared};
use crate::proto::bigtable::bigtable_server::Bigtable;
use crate::proto::bigtable::mutation::Mutation as Kind;
use crate::proto::bigtable::{
    mutate_rows_response, read_modify_write_rule, CheckAndMutateRowRequest, CheckAndMutateRowResponse,
    MutateRowRequest, MutateRowResponse, MutateRowsRequest, MutateRowsResponse, Mutation, PingAndWarmRequest,
    PingAndWarmResponse, ReadModifyWriteRowRequest, ReadModifyWriteRowResponse, ReadRowsRequest, ReadRowsResponse,
    SampleRowKeysRequest, SampleRowKeysResponse,
};

/// A server-streaming response.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The data service; see the module docs.
#[derive(Debug)]
pub(crate) struct DataService {
    shared: Arc<Shared>,
}

impl DataService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        DataService { shared }
    }
}

/// The table a request names, checked; authorized views are not supported.
pub(crate) fn table_of<'a>(table_name: &'a str, view_name: &str) -> Result<&'a str, Status> {
    if table_name.is_empty() && !view_name.is_empty() {
        return Err(Status::unimplemented("authorized views are not supported; name the table"));
    }
    parse_table_name(table_name).map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(table_name)
}

/// Checks a row key against the limits: non-empty, not too long.
pub(crate) fn check_row_key(limits: &Limits, key: &[u8], what: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err(format!("{what}: row key must not be empty"));
    }
    if key.len() > limits.max_row_key_bytes {
        return Err(format!(
            "{what}: row key is {} bytes, more than the limit of {} bytes",
            key.len(),
            limits.max_row_key_bytes
        ));
    }
    Ok(())
}

/// SetCell value bytes of a mutation list.
fn value_bytes(mutations: &[Mutation]) -> usize {
    mutations
        .iter()
        .map(|m| match &m.mutation {
            Some(Kind::SetCell(s)) => s.value.len(),
            _ => 0,
        })
        .sum()
}

/// Checks a request's mutation count and value bytes against the limits.
fn check_request_size(limits: &Limits, mutations: usize, values: usize) -> Result<(), Status> {
    if mutations > limits.max_mutations {
        return Err(Status::invalid_argument(format!(
            "{mutations} mutations in one request, more than the limit of {}",
            limits.max_mutations
        )));
    }
    if values > limits.max_request_value_bytes {
        return Err(Status::invalid_argument(format!(
            "{values} bytes of cell values in one request, more than the limit of {} bytes",
            limits.max_request_value_bytes
        )));
    }
    Ok(())
}

/// The result of a blocking task, with a panic or cancellation as `INTERNAL`.
fn joined<T>(r: Result<Result<T, Status>, tokio::task::JoinError>) -> Result<T, Status> {
    r.unwrap_or_else(|e| Err(Status::internal(format!("request task failed: {e}"))))
}

impl DataService {
    /// The lease check made after a write is applied and before it is acknowledged.
    fn ack(&self) -> Result<(), Status> {
        self.shared
            .check_lease()
            // Deliberately not a "not serving" answer: the write was applied, so a client
            // must not take this as "not applied" and repeat a non-idempotent request.
            .map_err(|_| {
                Status::unavailable("the lease ran out after the write was applied; it may or may not persist")
            })
    }

    /// Validation and routing shared by the single-row read-and-write calls.
    fn route_single_row(
        &self,
        table: &str,
        row: &[u8],
        mutations: usize,
        values: usize,
    ) -> Result<super::tablets::TabletGuard, Status> {
        self.shared.check_lease()?;
        let limits = &self.shared.config.limits;
        check_row_key(limits, row, "request").map_err(Status::invalid_argument)?;
        check_request_size(limits, mutations, values)?;
        self.shared.tablets.route_row(table, row).map_err(|m| self.shared.miss(table, m))
    }
}

#[tonic::async_trait]
impl Bigtable for DataService {
    type ReadRowsStream = ResponseStream<ReadRowsResponse>;

    async fn read_rows(&self, request: Request<ReadRowsRequest>) -> Result<Response<Self::ReadRowsStream>, Status> {
        let stream = read::read_rows(self.shared.clone(), request.into_inner())?;
        Ok(Response::new(Box::pin(stream)))
    }

    type SampleRowKeysStream = ResponseStream<SampleRowKeysResponse>;

    async fn sample_row_keys(
        &self,
        request: Request<SampleRowKeysRequest>,
    ) -> Result<Response<Self::SampleRowKeysStream>, Status> {
        let req = request.into_inner();
        let table = table_of(&req.table_name, &req.authorized_view_name)?;
        self.shared.check_lease()?;
        if !self.shared.tablets.has_table(table) {
            return Err(self.shared.miss(table, super::tablets::Miss::Table));
        }
        // MERGE: answer from `Tablet::sample_row_keys` of each held tablet of the table
        // (split branch), in key order, ending with the tablet's end key.
        Err(Status::unimplemented("SampleRowKeys is not implemented by this tablet server yet"))
    }

    async fn mutate_row(&self, request: Request<MutateRowRequest>) -> Result<Response<MutateRowResponse>, Status> {
        let req = request.into_inner();
        let table = table_of(&req.table_name, &req.authorized_view_name)?;
        self.shared.check_lease()?;
        let limits = &self.shared.config.limits;
        check_row_key(limits, &req.row_key, "mutate row").map_err(Status::invalid_argument)?;
        if req.mutations.is_empty() {
            return Err(Status::invalid_argument("mutate row: no mutations given"));
        }
        check_request_size(limits, req.mutations.len(), value_bytes(&req.mutations))?;
        let guard = self.shared.tablets.route_row(table, &req.row_key).map_err(|m| self.shared.miss(table, m))?;
        let MutateRowRequest { row_key, mutations, .. } = req;
        joined(
            tokio::task::spawn_blocking(move || {
                guard.tablet.mutate_row(&row_key, &mutations).map_err(|e| from_tablet_error(&e))
            })
            .await,
        )?;
        // MERGE: when the tablet passed `split_bytes`, start `Tablet::split` (split branch).
        self.ack()?;
        Ok(Response::new(MutateRowResponse {}))
    }

    type MutateRowsStream = ResponseStream<MutateRowsResponse>;

    async fn mutate_rows(
        &self,
        request: Request<MutateRowsRequest>,
    ) -> Result<Response<Self::MutateRowsStream>, Status> {
        let req = request.into_inner();
        let table = table_of(&req.table_name, &req.authorized_view_name)?.to_string();
        self.shared.check_lease()?;
        if req.entries.is_empty() {
            return Err(Status::invalid_argument("mutate rows: no entries given"));
        }
        let limits = self.shared.config.limits;
        let total: usize = req.entries.iter().map(|e| e.mutations.len()).sum();
        let values: usize = req.entries.iter().map(|e| value_bytes(&e.mutations)).sum();
        check_request_size(&limits, total, values)?;
        if !self.shared.tablets.has_table(&table) {
            return Err(self.shared.miss(&table, super::tablets::Miss::Table));
        }
        let shared = self.shared.clone();
        let entries = joined(
            tokio::task::spawn_blocking(move || {
                let statuses = req
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, entry)| {
                        let what = format!("entry {i}");
                        let applied = check_row_key(&limits, &entry.row_key, &what)
                            .map_err(Status::invalid_argument)
                            .and_then(|()| {
                                if entry.mutations.is_empty() {
                                    return Err(Status::invalid_argument(format!("{what}: no mutations given")));
                                }
                                let guard = shared
                                    .tablets
                                    .route_row(&table, &entry.row_key)
                                    .map_err(|m| shared.miss(&table, m))?;
                                guard.tablet.mutate_row(&entry.row_key, &entry.mutations).map_err(|e| {
                                    let s = from_tablet_error(&e);
                                    Status::new(s.code(), format!("{what}: {}", s.message()))
                                })
                            });
                        mutate_rows_response::Entry {
                            index: i64::try_from(i).unwrap_or(i64::MAX),
                            status: Some(match applied {
                                Ok(()) => rpc_ok(),
                                Err(s) => to_rpc_status(&s),
                            }),
                        }
                    })
                    .collect::<Vec<_>>();
                Ok(statuses)
            })
            .await,
        )?;
        self.ack()?;
        let response = MutateRowsResponse { entries, rate_limit_info: None };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(response)))))
    }

    async fn check_and_mutate_row(
        &self,
        request: Request<CheckAndMutateRowRequest>,
    ) -> Result<Response<CheckAndMutateRowResponse>, Status> {
        let req = request.into_inner();
        let table = table_of(&req.table_name, &req.authorized_view_name)?;
        let count = req.true_mutations.len() + req.false_mutations.len();
        let values = value_bytes(&req.true_mutations) + value_bytes(&req.false_mutations);
        let guard = self.route_single_row(table, &req.row_key, count, values)?;
        let matched = joined(
            tokio::task::spawn_blocking(move || {
                guard
                    .tablet
                    .check_and_mutate_row(
                        &req.row_key,
                        req.predicate_filter.as_ref(),
                        &req.true_mutations,
                        &req.false_mutations,
                    )
                    .map_err(|e| from_tablet_error(&e))
            })
            .await,
        )?;
        self.ack()?;
        Ok(Response::new(CheckAndMutateRowResponse { predicate_matched: matched }))
    }

    async fn ping_and_warm(
        &self,
        request: Request<PingAndWarmRequest>,
    ) -> Result<Response<PingAndWarmResponse>, Status> {
        let name = request.into_inner().name;
        let parts: Vec<&str> = name.split('/').collect();
        let ok = parts.len() == 4
            && parts.first() == Some(&"projects")
            && parts.get(2) == Some(&"instances")
            && parts.iter().all(|p| !p.is_empty());
        if !ok {
            return Err(Status::invalid_argument(format!(
                "instance name {name:?} is not of the form projects/P/instances/I"
            )));
        }
        self.shared.check_lease()?;
        Ok(Response::new(PingAndWarmResponse {}))
    }

    async fn read_modify_write_row(
        &self,
        request: Request<ReadModifyWriteRowRequest>,
    ) -> Result<Response<ReadModifyWriteRowResponse>, Status> {
        let req = request.into_inner();
        let table = table_of(&req.table_name, &req.authorized_view_name)?;
        let values = req
            .rules
            .iter()
            .map(|r| match &r.rule {
                Some(read_modify_write_rule::Rule::AppendValue(v)) => v.len(),
                _ => 0,
            })
            .sum();
        let guard = self.route_single_row(table, &req.row_key, req.rules.len(), values)?;
        let row = joined(
            tokio::task::spawn_blocking(move || {
                guard.tablet.read_modify_write_row(&req.row_key, &req.rules).map_err(|e| from_tablet_error(&e))
            })
            .await,
        )?;
        self.ack()?;
        Ok(Response::new(ReadModifyWriteRowResponse { row: Some(row) }))
    }
}
