//! ReadRows: route the row set to the tablets covering it, read them in key order (reverse
//! order for a reversed read) on a blocking thread (or, for a few row keys, on the
//! request's own task), and stream the rows as chunks.
//!
//! Everything that can be refused is refused before the first message: the table name,
//! the lease, row keys over the limit, a negative `rows_limit`, an invalid filter, and rows
//! not covered by serving tablets (not serving). The tablets are entered then, so none of
//! them can close under the stream. The producer stops at `rows_limit` rows, when the
//! client goes away, or when the lease runs out (then the stream ends "not serving").
//! Each tablet is read through `Tablet::scan`: one consistent view per tablet, one row in
//! memory at a time. A read of a few row keys runs on the request's own task (see
//! `INLINE_KEYS`), its few messages collected before the first is sent.

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::Stream;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::data::{check_row_key, table_of};
use super::status::{from_tablet_error, not_serving};
use super::tablets::TabletGuard;
use super::Shared;
use crate::chunks::ChunkEncoder;
use crate::filter;
use crate::keys::KeyRange;
use crate::proto::bigtable::{ReadRowsRequest, ReadRowsResponse, RowFilter, RowSet};
use crate::rowset::row_set_key_ranges;

/// Messages buffered between the producer and the network.
const STREAM_BUFFER: usize = 4;

/// A read of at most this many row keys (and no ranges) runs on the calling task rather
/// than a blocking thread: a point read is a few microseconds of engine work, and handing
/// it to a blocking thread and its answer back cost more than the read (two thread
/// wake-ups per request; see BENCHMARKS.md, "Cluster").
const INLINE_KEYS: usize = 16;

/// The response stream of one ReadRows call.
pub(crate) type ReadStream = Pin<Box<dyn Stream<Item = Result<ReadRowsResponse, Status>> + Send>>;

/// The response stream of one ReadRows call; see the module docs.
pub(crate) fn read_rows(shared: Arc<Shared>, req: ReadRowsRequest) -> Result<ReadStream, Status> {
    let table = table_of(&req.table_name, &req.authorized_view_name)?.to_string();
    shared.check_lease()?;
    if req.rows_limit < 0 {
        return Err(Status::invalid_argument(format!("rows_limit is {}; it must not be negative", req.rows_limit)));
    }
    let rows = req.rows.unwrap_or_default();
    for (i, key) in rows.row_keys.iter().enumerate() {
        if !key.is_empty() {
            check_row_key(&shared.config.limits, key, format_args!("rows.row_keys[{i}]"))
                .map_err(Status::invalid_argument)?;
        }
    }
    if let Some(f) = &req.filter {
        filter::compile(f).map_err(|e| from_tablet_error(&e))?;
    }
    let everything = KeyRange { start: Vec::new(), end: None };
    let ranges = row_set_key_ranges(&rows, &everything);
    let mut guards = shared.tablets.route_ranges(&table, &ranges).map_err(|m| shared.miss(&table, m))?;
    if req.reversed {
        guards.reverse();
    }
    let limit = if req.rows_limit > 0 { u64::try_from(req.rows_limit).unwrap_or(u64::MAX) } else { u64::MAX };
    let inline = rows.row_ranges.is_empty() && !rows.row_keys.is_empty() && rows.row_keys.len() <= INLINE_KEYS;
    let job = Job { shared, guards, rows, filter: req.filter, limit, reversed: req.reversed };
    if inline {
        let mut messages = Vec::new();
        job.run(|m| {
            messages.push(m);
            true
        });
        return Ok(Box::pin(tokio_stream::iter(messages)));
    }
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::task::spawn_blocking(move || job.run(|m| tx.blocking_send(m).is_ok()));
    Ok(Box::pin(ReceiverStream::new(rx)))
}

/// The producer side of one stream.
struct Job {
    shared: Arc<Shared>,
    /// The tablets to read, in the order to read them.
    guards: Vec<TabletGuard>,
    rows: RowSet,
    filter: Option<RowFilter>,
    /// Rows still to send.
    limit: u64,
    reversed: bool,
}

impl Job {
    /// Produces the stream's messages into `sink`, which returns false when the client is
    /// gone.
    fn run(mut self, mut sink: impl FnMut(Result<ReadRowsResponse, Status>) -> bool) {
        let mut encoder = ChunkEncoder::new(self.shared.config.limits.chunks).reversed(self.reversed);
        let guards = std::mem::take(&mut self.guards);
        for guard in guards {
            if self.limit == 0 {
                break;
            }
            // One engine iterator per tablet, one row in memory at a time; stopping early
            // (the limit, a client gone) stops reading the engine.
            let scan = match guard.tablet.scan(&self.rows, self.filter.as_ref(), self.reversed) {
                Ok(scan) => scan,
                Err(e) => {
                    sink(Err(from_tablet_error(&e)));
                    return;
                }
            };
            for row in scan {
                if self.limit == 0 {
                    break;
                }
                let row = match row {
                    Ok(row) => row,
                    Err(e) => {
                        sink(Err(from_tablet_error(&e)));
                        return;
                    }
                };
                let messages = match encoder.push_owned_row(row) {
                    Ok(m) => m,
                    Err(e) => {
                        sink(Err(Status::internal(e.to_string())));
                        return;
                    }
                };
                for m in messages {
                    if !self.send(&mut sink, m) {
                        return;
                    }
                }
                self.limit -= 1;
            }
            drop(guard);
        }
        if let Some(last) = encoder.finish() {
            self.send(&mut sink, last);
        }
    }

    /// Sends one message if the lease still holds; false when the stream is over.
    fn send(&self, sink: &mut impl FnMut(Result<ReadRowsResponse, Status>) -> bool, message: ReadRowsResponse) -> bool {
        if !self.shared.lease.is_valid() {
            sink(Err(not_serving("the lease ran out during the read")));
            return false;
        }
        sink(Ok(message))
    }
}
