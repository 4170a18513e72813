//! ReadRows: route the row set to the tablets covering it, read them in key order (reverse
//! order for a reversed read) on a blocking thread, and stream the rows as chunks.
//!
//! Everything that can be refused is refused before the first message: the table name,
//! the lease, row keys over the limit, a negative `rows_limit`, an invalid filter, and rows
//! not covered by serving tablets (not serving). The tablets are entered then, so none of
//! them can close under the stream. The producer stops at `rows_limit` rows, when the
//! client goes away, or when the lease runs out (then the stream ends "not serving").
//! Each tablet is read through `Tablet::scan`: one consistent view per tablet, one row in
//! memory at a time.

use std::sync::Arc;

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

/// The response stream of one ReadRows call; see the module docs.
pub(crate) fn read_rows(
    shared: Arc<Shared>,
    req: ReadRowsRequest,
) -> Result<ReceiverStream<Result<ReadRowsResponse, Status>>, Status> {
    let table = table_of(&req.table_name, &req.authorized_view_name)?.to_string();
    shared.check_lease()?;
    if req.rows_limit < 0 {
        return Err(Status::invalid_argument(format!("rows_limit is {}; it must not be negative", req.rows_limit)));
    }
    let rows = req.rows.unwrap_or_default();
    for (i, key) in rows.row_keys.iter().enumerate() {
        if !key.is_empty() {
            check_row_key(&shared.config.limits, key, &format!("rows.row_keys[{i}]"))
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
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    let job = Job { shared, guards, rows, filter: req.filter, limit, reversed: req.reversed, tx };
    tokio::task::spawn_blocking(move || job.run());
    Ok(ReceiverStream::new(rx))
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
    tx: mpsc::Sender<Result<ReadRowsResponse, Status>>,
}

impl Job {
    fn run(mut self) {
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
                Err(e) => return self.fail(from_tablet_error(&e)),
            };
            for row in scan {
                if self.limit == 0 {
                    break;
                }
                let row = match row {
                    Ok(row) => row,
                    Err(e) => return self.fail(from_tablet_error(&e)),
                };
                let messages = match encoder.push_row(&row) {
                    Ok(m) => m,
                    Err(e) => return self.fail(Status::internal(e.to_string())),
                };
                for m in messages {
                    if !self.send(m) {
                        return;
                    }
                }
                self.limit -= 1;
            }
            drop(guard);
        }
        if let Some(last) = encoder.finish() {
            self.send(last);
        }
    }

    /// Sends one message if the lease still holds; false when the stream is over.
    fn send(&self, message: ReadRowsResponse) -> bool {
        if !self.shared.lease.is_valid() {
            self.fail(not_serving("the lease ran out during the read"));
            return false;
        }
        self.tx.blocking_send(Ok(message)).is_ok()
    }

    /// Ends the stream with `status` (ignored when the client is gone).
    fn fail(&self, status: Status) {
        let _ = self.tx.blocking_send(Err(status));
    }
}
