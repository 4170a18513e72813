//! Reading a table as the tablet servers' own `ReadRowsResponse` messages, tablet after
//! tablet (adjacent tablets held by one server in one request): what a proxy (the gateway)
//! passes on without decoding rows, and what [`RowReader`](super::RowReader) decodes.
//!
//! A tablet server never lets a row span two messages (docs/rpc.md, "ReadRows chunks"), so
//! every message holds whole rows and can be forwarded as it is: the stream stays valid
//! across tablets (each tablet's rows follow the previous tablet's in key order) and across
//! a resumed read (the retry asks for the rows after the last one passed on). The reader
//! only looks at the chunks' `row_key` and `commit_row` to count rows for `rows_limit` and
//! to know where to resume; a message that ends inside a row, or resets one, is refused.

use tonic::Streaming;

use super::routing::{clip_row_set, remaining_after, row_set_span, Location};
use super::{is_transient, Backoff, ClientError, ClientResult, Table};
use crate::proto::bigtable::read_rows_response::cell_chunk::RowStatus;
use crate::proto::bigtable::{ReadRowsRequest, ReadRowsResponse, RowFilter, RowSet};

/// The stream a [`ResponseReader`] is reading from: one server's part of the read, a run of
/// adjacent tablets that server holds (`location` spans them all).
struct Current {
    location: Location,
    /// The start rows of the tablets in the span (forgotten together after a failure).
    tablet_starts: Vec<Vec<u8>>,
    stream: Streaming<ReadRowsResponse>,
}

/// The adjacent tablets at the front of `locs` (in reading order) that one server holds,
/// as one span: a tablet server reads a row set across the tablets it holds in key order,
/// so one request covers them all (a 100-key read of a table in four tablets on one server
/// was four requests, one after another).
fn server_run(locs: &[Location], reversed: bool) -> (Location, Vec<Vec<u8>>) {
    let mut n = 0;
    while let Some(next) = locs.get(n) {
        let joins = match n.checked_sub(1).and_then(|p| locs.get(p)) {
            None => true,
            Some(prev) if reversed => next.address == prev.address && !next.end.is_empty() && next.end == prev.start,
            Some(prev) => next.address == prev.address && !prev.end.is_empty() && prev.end == next.start,
        };
        if !joins {
            break;
        }
        n += 1;
    }
    let run = locs.get(..n).unwrap_or_default();
    let (low, high) = if reversed { (run.last(), run.first()) } else { (run.first(), run.last()) };
    let span = Location {
        start: low.map(|l| l.start.clone()).unwrap_or_default(),
        end: high.map(|l| l.end.clone()).unwrap_or_default(),
        address: run.first().map(|l| l.address.clone()).unwrap_or_default(),
    };
    (span, run.iter().map(|l| l.start.clone()).collect())
}

/// A read of a table as whole-row `ReadRowsResponse` messages; see the module docs. Built by
/// [`Table::read_responses`].
pub struct ResponseReader {
    table: Table,
    /// What is still to be read; `None` once everything was read.
    remaining: Option<RowSet>,
    filter: Option<RowFilter>,
    /// Rows still allowed; `None` for no limit.
    limit: Option<u64>,
    reversed: bool,
    current: Option<Current>,
    /// The key of the last row passed on (the resume point).
    last_key: Option<Vec<u8>>,
    /// The server of the last message returned (for error messages).
    address: String,
    backoff: Backoff,
}

impl std::fmt::Debug for ResponseReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseReader")
            .field("table", &self.table.name)
            .field("limit", &self.limit)
            .field("reversed", &self.reversed)
            .finish_non_exhaustive()
    }
}

/// What one message holds: its committed rows and the last one's key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct WholeRows {
    /// Rows committed in the message.
    pub(crate) rows: u64,
    /// The key of the last of them.
    pub(crate) last_key: Option<Vec<u8>>,
}

/// Checks that `resp` holds whole rows and cuts it after `limit` rows (if given). Errors
/// name the rule broken.
pub(crate) fn whole_rows(resp: &mut ReadRowsResponse, limit: Option<u64>) -> Result<WholeRows, String> {
    let mut rows = 0u64;
    let mut key: Option<&[u8]> = None;
    let mut last_key: Option<Vec<u8>> = None;
    let mut open = false;
    let mut cut = None;
    for (i, chunk) in resp.chunks.iter().enumerate() {
        if !chunk.row_key.is_empty() {
            key = Some(chunk.row_key.as_slice());
        }
        open = true;
        match chunk.row_status {
            Some(RowStatus::ResetRow(true)) => return Err(format!("chunk {i} resets a row")),
            Some(RowStatus::CommitRow(true)) => {
                let Some(k) = key else { return Err(format!("chunk {i} commits a row that has no key")) };
                rows += 1;
                last_key = Some(k.to_vec());
                key = None;
                open = false;
                if limit == Some(rows) {
                    cut = Some(i + 1);
                    break;
                }
            }
            _ => {}
        }
    }
    if open {
        return Err("the message ends inside a row".into());
    }
    if let Some(n) = cut {
        resp.chunks.truncate(n);
    }
    Ok(WholeRows { rows, last_key })
}

impl ResponseReader {
    pub(super) fn new(
        table: Table,
        rows: RowSet,
        filter: Option<RowFilter>,
        limit: Option<u64>,
        reversed: bool,
    ) -> ResponseReader {
        let backoff = table.client.backoff();
        ResponseReader {
            table,
            remaining: Some(rows),
            filter,
            limit,
            reversed,
            current: None,
            last_key: None,
            address: String::new(),
            backoff,
        }
    }

    /// The next message (whole rows, at least one chunk), or `None` at the end.
    pub async fn next_message(&mut self) -> ClientResult<Option<ReadRowsResponse>> {
        loop {
            if self.limit == Some(0) {
                self.drain().await;
                return Ok(None);
            }
            if self.current.is_none() {
                let Some(rows) = self.remaining.clone() else { return Ok(None) };
                match self.open(&rows).await {
                    Ok(true) => {}
                    Ok(false) => {
                        self.remaining = None;
                        return Ok(None);
                    }
                    Err(e) => self.retry_or_fail(e).await?,
                }
                continue;
            }
            let Some(cur) = self.current.as_mut() else { continue };
            match cur.stream.message().await {
                Ok(Some(mut resp)) => {
                    let seen = whole_rows(&mut resp, self.limit)
                        .map_err(|reason| ClientError::Chunks { address: cur.location.address.clone(), reason })?;
                    if seen.rows == 0 {
                        continue;
                    }
                    if let Some(l) = self.limit.as_mut() {
                        *l = l.saturating_sub(seen.rows);
                    }
                    self.last_key = seen.last_key;
                    self.address.clone_from(&cur.location.address);
                    return Ok(Some(resp));
                }
                Ok(None) => {
                    // The tablet is done: go on past it.
                    let loc = cur.location.clone();
                    self.current = None;
                    self.remaining = match self.remaining.take() {
                        Some(rows) if self.reversed && !loc.start.is_empty() => clip_row_set(&rows, b"", &loc.start),
                        Some(rows) if !self.reversed && !loc.end.is_empty() => clip_row_set(&rows, &loc.end, b""),
                        _ => None,
                    };
                }
                Err(s) => self.retry_or_fail(ClientError::Status(s)).await?,
            }
        }
    }

    /// Once the row limit is reached, reads the current tablet stream to its end (the
    /// server honours the same limit, so only the end of the stream is left) instead of
    /// dropping it. A dropped stream is reset, and under load enough resets make h2 close
    /// the whole connection (`ENHANCE_YOUR_CALM`), failing every request in flight on it:
    /// `cluster_bench` saw 32 reads fail at once every ~60,000 `read_row`s.
    pub(super) async fn drain(&mut self) {
        if self.limit == Some(0) {
            if let Some(mut cur) = self.current.take() {
                while let Ok(Some(_)) = cur.stream.message().await {}
            }
        }
    }

    /// The tablet server that sent the last message returned.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// True for a reversed read.
    pub fn reversed(&self) -> bool {
        self.reversed
    }

    /// Opens the stream of the first (last, when reversed) tablet with rows to read.
    /// `Ok(false)` when no tablet has any.
    async fn open(&mut self, rows: &RowSet) -> ClientResult<bool> {
        let (start, end) = row_set_span(rows);
        let mut locs = self.table.client.locate(&self.table.name, &start, &end).await?;
        if self.reversed {
            locs.reverse();
        }
        let mut rest = locs.as_slice();
        while !rest.is_empty() {
            let (loc, tablet_starts) = server_run(rest, self.reversed);
            rest = rest.get(tablet_starts.len().max(1)..).unwrap_or_default();
            let Some(clipped) = clip_row_set(rows, &loc.start, &loc.end) else { continue };
            let mut conn = self.table.client.server(&loc.address)?;
            let req = ReadRowsRequest {
                table_name: self.table.name.clone(),
                rows: Some(clipped),
                filter: self.filter.clone(),
                rows_limit: self.limit.map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX)),
                reversed: self.reversed,
                ..Default::default()
            };
            let stream = conn.read_rows(req).await?.into_inner();
            self.current = Some(Current { location: loc, tablet_starts, stream });
            return Ok(true);
        }
        Ok(false)
    }

    /// After a failure: forget the tablet, narrow the request to what is left, back off.
    async fn retry_or_fail(&mut self, err: ClientError) -> ClientResult<()> {
        let retryable = matches!(&err, ClientError::Status(s) if is_transient(s));
        if !retryable {
            return Err(err);
        }
        match self.current.take() {
            Some(cur) => {
                for start in &cur.tablet_starts {
                    self.table.client.forget(&self.table.name, start);
                }
            }
            None => self.table.client.forget_table(&self.table.name),
        }
        if let Some(last) = self.last_key.as_ref() {
            self.remaining = self.remaining.take().and_then(|rows| remaining_after(&rows, last, self.reversed));
        }
        self.backoff.wait(err).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::bigtable::read_rows_response::CellChunk;

    fn chunk(key: &str, commit: bool) -> CellChunk {
        CellChunk {
            row_key: key.as_bytes().to_vec(),
            row_status: commit.then_some(RowStatus::CommitRow(true)),
            ..Default::default()
        }
    }

    fn loc(start: &str, end: &str, address: &str) -> Location {
        Location { start: start.into(), end: end.into(), address: address.into() }
    }

    #[test]
    fn one_request_covers_the_adjacent_tablets_of_one_server() {
        let locs = [loc("", "b", "s1"), loc("b", "d", "s1"), loc("d", "f", "s2"), loc("f", "", "s1")];
        let (span, starts) = server_run(&locs, false);
        assert_eq!((span, starts), (loc("", "d", "s1"), vec![b"".to_vec(), b"b".to_vec()]));
        let (span, starts) = server_run(&locs[2..], false);
        assert_eq!((span, starts.len()), (loc("d", "f", "s2"), 1));
        // A gap in the cached locations ends the run even on the same server.
        let gap = [loc("a", "b", "s1"), loc("c", "d", "s1")];
        assert_eq!(server_run(&gap, false).0, loc("a", "b", "s1"));
        // Reversed: the locations come last first; the span is still [low start, high end).
        let rev = [loc("f", "", "s1"), loc("d", "f", "s1"), loc("b", "d", "s2")];
        let (span, starts) = server_run(&rev, true);
        assert_eq!((span, starts), (loc("d", "", "s1"), vec![b"f".to_vec(), b"d".to_vec()]));
        assert_eq!(server_run(&rev[2..], true).0, loc("b", "d", "s2"));
    }

    #[test]
    fn whole_rows_counts_cuts_and_refuses_open_rows() {
        let mut m = ReadRowsResponse {
            chunks: vec![chunk("a", false), chunk("", true), chunk("b", true), chunk("c", false), chunk("", true)],
            ..Default::default()
        };
        let mut all = m.clone();
        assert_eq!(whole_rows(&mut all, None), Ok(WholeRows { rows: 3, last_key: Some(b"c".to_vec()) }));
        assert_eq!(all.chunks.len(), 5);
        assert_eq!(whole_rows(&mut m, Some(2)), Ok(WholeRows { rows: 2, last_key: Some(b"b".to_vec()) }));
        assert_eq!(m.chunks.len(), 3, "cut after the second row");

        let mut open = ReadRowsResponse { chunks: vec![chunk("a", true), chunk("b", false)], ..Default::default() };
        assert!(whole_rows(&mut open, None).unwrap_err().contains("inside a row"));
        let mut reset = ReadRowsResponse {
            chunks: vec![CellChunk { row_status: Some(RowStatus::ResetRow(true)), ..chunk("a", false) }],
            ..Default::default()
        };
        assert!(whole_rows(&mut reset, None).unwrap_err().contains("resets"));
        let mut keyless = ReadRowsResponse { chunks: vec![chunk("", true)], ..Default::default() };
        assert!(whole_rows(&mut keyless, None).unwrap_err().contains("no key"));
        let mut empty = ReadRowsResponse::default();
        assert_eq!(whole_rows(&mut empty, None), Ok(WholeRows { rows: 0, last_key: None }));
    }
}
