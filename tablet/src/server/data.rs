//! `google.bigtable.v2.Bigtable`: the data API of one tablet server.
//!
//! Every call checks, in order: the table name (`INVALID_ARGUMENT`), the lease (not
//! serving), the request limits (`INVALID_ARGUMENT` naming the limit), then routes to the
//! tablet(s) holding the rows (an unknown table is `NOT_FOUND` in static mode, a row not
//! held is not serving) and runs the engine work on a blocking thread. A write is
//! acknowledged only if the lease is still valid once it is applied. A write that met a
//! tablet being split is run again on the child holding its row (`Shared::on_row`), and
//! every write counts towards its tablet's next size check (`splitter::note_write`).

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::config::{parse_table_name, Limits};
use super::status::{from_tablet_error, is_not_serving, rpc_ok, to_rpc_status};
use super::tablets::{HeldTablet, TabletGuard};
use super::{read, splitter, Shared};
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
/// `what` names the request part in the message (only formatted when the check fails).
pub(crate) fn check_row_key(limits: &Limits, key: &[u8], what: impl std::fmt::Display) -> Result<(), String> {
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

/// Roughly the bytes a mutation list adds to a tablet (what counts towards a size check).
fn write_bytes(row: &[u8], mutations: &[Mutation]) -> u64 {
    let cells: usize = mutations
        .iter()
        .map(|m| match &m.mutation {
            Some(Kind::SetCell(s)) => s.family_name.len() + s.column_qualifier.len() + s.value.len() + 16,
            _ => 16,
        })
        .sum();
    u64::try_from(row.len() + cells).unwrap_or(u64::MAX)
}

/// Adds `bytes` to `held`'s entry of `touched` (a tablet's entry, found by identity).
/// The `(row, mutations)` of the entries of `req` at `indexes`.
fn entries_at<'a>(req: &'a MutateRowsRequest, indexes: &[usize]) -> Vec<(&'a [u8], &'a [Mutation])> {
    indexes.iter().filter_map(|&i| req.entries.get(i)).map(|e| (e.row_key.as_slice(), e.mutations.as_slice())).collect()
}

fn add_touched(touched: &mut Vec<(Arc<HeldTablet>, u64)>, held: Arc<HeldTablet>, bytes: u64) {
    match touched.iter_mut().find(|(h, _)| Arc::ptr_eq(h, &held)) {
        Some((_, n)) => *n = n.saturating_add(bytes),
        None => touched.push((held, bytes)),
    }
}

/// The SampleRowKeys answer over `guards` (the table's tablets in key order): each
/// tablet's samples with the sizes of the tablets before it added, then its end key (the
/// empty key for the table's last tablet) with the bytes up to there.
fn sample_tablets(guards: &[TabletGuard]) -> Result<Vec<SampleRowKeysResponse>, Status> {
    let mut out = Vec::new();
    let mut before = 0u64;
    let offset = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    for g in guards {
        let samples = g.tablet.sample_row_keys().map_err(|e| from_tablet_error(&e))?;
        for (row_key, bytes) in samples {
            if row_key.is_empty() {
                // The last sample: the tablet's total size, at its end.
                before = before.saturating_add(bytes);
                let end = g.tablet.range().1.to_vec();
                out.push(SampleRowKeysResponse { row_key: end, offset_bytes: offset(before) });
            } else {
                out.push(SampleRowKeysResponse { row_key, offset_bytes: offset(before.saturating_add(bytes)) });
            }
        }
    }
    Ok(out)
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

    /// Validation shared by the single-row read-and-write calls (routing follows, on the
    /// blocking thread, through `Shared::on_row`).
    fn check_single_row(&self, row: &[u8], mutations: usize, values: usize) -> Result<(), Status> {
        self.shared.check_lease()?;
        let limits = &self.shared.config.limits;
        check_row_key(limits, row, "request").map_err(Status::invalid_argument)?;
        check_request_size(limits, mutations, values)
    }
}

#[tonic::async_trait]
impl Bigtable for DataService {
    type ReadRowsStream = ResponseStream<ReadRowsResponse>;

    async fn read_rows(&self, request: Request<ReadRowsRequest>) -> Result<Response<Self::ReadRowsStream>, Status> {
        Ok(Response::new(read::read_rows(self.shared.clone(), request.into_inner())?))
    }

    type SampleRowKeysStream = ResponseStream<SampleRowKeysResponse>;

    async fn sample_row_keys(
        &self,
        request: Request<SampleRowKeysRequest>,
    ) -> Result<Response<Self::SampleRowKeysStream>, Status> {
        let req = request.into_inner();
        let table = table_of(&req.table_name, &req.authorized_view_name)?;
        self.shared.check_lease()?;
        let guards = self.shared.tablets.table_guards(table).map_err(|m| self.shared.miss(table, m))?;
        let samples = joined(tokio::task::spawn_blocking(move || sample_tablets(&guards)).await)?;
        self.shared.check_lease()?;
        Ok(Response::new(Box::pin(tokio_stream::iter(samples.into_iter().map(Ok)))))
    }

    async fn mutate_row(&self, request: Request<MutateRowRequest>) -> Result<Response<MutateRowResponse>, Status> {
        let req = request.into_inner();
        let table = table_of(&req.table_name, &req.authorized_view_name)?.to_string();
        self.shared.check_lease()?;
        let limits = &self.shared.config.limits;
        check_row_key(limits, &req.row_key, "mutate row").map_err(Status::invalid_argument)?;
        if req.mutations.is_empty() {
            return Err(Status::invalid_argument("mutate row: no mutations given"));
        }
        check_request_size(limits, req.mutations.len(), value_bytes(&req.mutations))?;
        let bytes = write_bytes(&req.row_key, &req.mutations);
        let shared = self.shared.clone();
        let MutateRowRequest { row_key, mutations, .. } = req;
        // Applied without a blocking thread when nothing makes it wait, as in `mutate_rows`.
        let (row_key, mutations, inline) = if shared.config.applies_writes_inline() {
            let (shared, table) = (shared.clone(), table.clone());
            joined(
                tokio::spawn(async move {
                    let inline = shared.on_row_async(&table, &row_key, &mutations).await;
                    Ok((row_key, mutations, inline))
                })
                .await,
            )?
        } else {
            (row_key, mutations, None)
        };
        let held = match inline {
            Some(result) => result?,
            None => {
                joined(
                    tokio::task::spawn_blocking(move || {
                        shared.on_row(&table, &row_key, |t| t.mutate_row(&row_key, &mutations))
                    })
                    .await,
                )?
                .1
            }
        };
        splitter::note_write(&self.shared, &held, bytes);
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
        // Per entry: why it failed; `None` for written.
        let mut statuses: Vec<Option<Status>> = vec![None; req.entries.len()];
        let mut valid: Vec<usize> = Vec::new();
        for (i, entry) in req.entries.iter().enumerate() {
            statuses[i] = match check_row_key(&limits, &entry.row_key, format_args!("entry {i}")) {
                Err(m) => Some(Status::invalid_argument(m)),
                Ok(()) if entry.mutations.is_empty() => {
                    Some(Status::invalid_argument(format!("entry {i}: no mutations given")))
                }
                Ok(()) => {
                    valid.push(i);
                    None
                }
            };
        }
        // Applied without a blocking thread when nothing makes them wait
        // (`ServerConfig::inline_writes`), in a task of its own so that a caller going away
        // cannot drop a write that holds row locks; the entries left go to a blocking thread.
        let shared = &self.shared;
        let (req, mut applied): (MutateRowsRequest, Vec<Option<Result<Arc<HeldTablet>, Status>>>) =
            if shared.config.applies_writes_inline() {
                let (shared, table, valid) = (shared.clone(), table.clone(), valid.clone());
                joined(
                    tokio::spawn(async move {
                        let applied = shared.on_rows_async(&table, &entries_at(&req, &valid)).await;
                        Ok((req, applied))
                    })
                    .await,
                )?
            } else {
                (req, (0..valid.len()).map(|_| None).collect())
            };
        let left: Vec<usize> = (0..valid.len()).filter(|&k| applied[k].is_none()).collect();
        let req = if left.is_empty() {
            req
        } else {
            let rows: Vec<usize> = left.iter().map(|&k| valid[k]).collect();
            let shared = shared.clone();
            let (req, results) = joined(
                tokio::task::spawn_blocking(move || {
                    let results = shared.on_rows(&table, &entries_at(&req, &rows));
                    Ok((req, results))
                })
                .await,
            )?;
            for (&k, result) in left.iter().zip(results) {
                applied[k] = Some(result);
            }
            req
        };
        let mut touched = Vec::new();
        for (&i, result) in valid.iter().zip(applied) {
            let Some(entry) = req.entries.get(i) else { continue };
            statuses[i] = match result {
                Some(Ok(held)) => {
                    add_touched(&mut touched, held, write_bytes(&entry.row_key, &entry.mutations));
                    None
                }
                // "not serving" stays first: clients look for it there.
                Some(Err(s)) if is_not_serving(&s) => Some(s),
                Some(Err(s)) => Some(Status::new(s.code(), format!("entry {i}: {}", s.message()))),
                None => Some(Status::internal(format!("entry {i}: neither written nor failed"))),
            };
        }
        let entries = statuses
            .into_iter()
            .enumerate()
            .map(|(i, s)| mutate_rows_response::Entry {
                index: i64::try_from(i).unwrap_or(i64::MAX),
                status: Some(s.as_ref().map_or_else(rpc_ok, to_rpc_status)),
            })
            .collect::<Vec<_>>();
        for (held, bytes) in &touched {
            splitter::note_write(&self.shared, held, *bytes);
        }
        self.ack()?;
        let response = MutateRowsResponse { entries, rate_limit_info: None };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(response)))))
    }

    async fn check_and_mutate_row(
        &self,
        request: Request<CheckAndMutateRowRequest>,
    ) -> Result<Response<CheckAndMutateRowResponse>, Status> {
        let req = request.into_inner();
        let table = table_of(&req.table_name, &req.authorized_view_name)?.to_string();
        let count = req.true_mutations.len() + req.false_mutations.len();
        let values = value_bytes(&req.true_mutations) + value_bytes(&req.false_mutations);
        self.check_single_row(&req.row_key, count, values)?;
        let bytes = write_bytes(&req.row_key, &req.true_mutations).max(write_bytes(&req.row_key, &req.false_mutations));
        let shared = self.shared.clone();
        let (matched, held) = joined(
            tokio::task::spawn_blocking(move || {
                shared.on_row(&table, &req.row_key, |t| {
                    t.check_and_mutate_row(
                        &req.row_key,
                        req.predicate_filter.as_ref(),
                        &req.true_mutations,
                        &req.false_mutations,
                    )
                })
            })
            .await,
        )?;
        splitter::note_write(&self.shared, &held, bytes);
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
        let table = table_of(&req.table_name, &req.authorized_view_name)?.to_string();
        let values: usize = req
            .rules
            .iter()
            .map(|r| match &r.rule {
                Some(read_modify_write_rule::Rule::AppendValue(v)) => v.len(),
                _ => 0,
            })
            .sum();
        self.check_single_row(&req.row_key, req.rules.len(), values)?;
        // The appended bytes and a cell's worth per rule, like a SetCell each.
        let bytes = u64::try_from(req.row_key.len() + values + 24 * req.rules.len()).unwrap_or(u64::MAX);
        let shared = self.shared.clone();
        let (row, held) = joined(
            tokio::task::spawn_blocking(move || {
                shared.on_row(&table, &req.row_key, |t| t.read_modify_write_row(&req.row_key, &req.rules))
            })
            .await,
        )?;
        splitter::note_write(&self.shared, &held, bytes);
        self.ack()?;
        Ok(Response::new(ReadModifyWriteRowResponse { row: Some(row) }))
    }
}
