//! The client side of `ReadRows`: [`ChunkMerger`] turns the stream of `ReadRowsResponse`
//! chunks back into whole rows, and refuses a stream that breaks the protocol.
//!
//! The protocol, as the official clients enforce it (their "read rows acceptance tests"):
//!
//! ```text
//!   awaiting a new row --chunk with row_key, family_name, qualifier--> in a row
//!   in a row:  each chunk starts a new cell, inheriting family / qualifier when absent
//!              (a family change must name the qualifier too); a cell whose chunk has
//!              value_size > 0 is split: continuation chunks carry only value bytes
//!              (value_size = the whole size again, 0 on the last one, and the bytes
//!              must add up to it)
//!   commit_row on a row's last complete cell --> the row is done --> awaiting a new row
//!   reset_row (a chunk carrying nothing else) --> the row so far is dropped --> awaiting
//! ```
//!
//! Row keys must strictly increase (strictly decrease for a reversed read) from one
//! committed row to the next, and past any `last_scanned_row_key`; a response's
//! `last_scanned_row_key` is taken after its chunks and may not arrive inside a row. A
//! stream that ends inside a row is an error ([`ChunkMerger::finish`]). A chunk without a
//! timestamp has timestamp 0; labels belong to the first chunk of a cell only.
//!
//! Each broken rule is an [`Error::InvalidChunk`] naming the [`ChunkRule`] and the chunk's
//! index in the stream; after an error the merger refuses every later call with the same
//! error (the stream must be retried from the last good row).
//!
//! Cells become a `Row` in arrival order: families in the order they first appear, columns
//! likewise within their family, cells appended (a server sends a row's cells grouped, so
//! this is the row's order).

use std::collections::VecDeque;

use crate::error::{Error, Result};
use crate::keys::escape_for_display;
use crate::proto::bigtable::read_rows_response::cell_chunk::RowStatus;
use crate::proto::bigtable::read_rows_response::CellChunk;
use crate::proto::bigtable::{Cell, Column, Family, ReadRowsResponse, Row};

/// A rule of the ReadRows chunk protocol; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChunkRule {
    /// The first chunk of a row must set `row_key`.
    NewRowNeedsRowKey,
    /// The first chunk of a row must set `family_name`.
    NewRowNeedsFamily,
    /// The first chunk of a row must set `qualifier`.
    NewRowNeedsQualifier,
    /// `reset_row` only while a row is in progress.
    ResetWithoutRow,
    /// A reset chunk carries nothing but `reset_row`.
    ResetCarriesData,
    /// Row keys strictly increase (strictly decrease in a reversed read).
    RowKeyOrder,
    /// A chunk inside a row names another row (a row was not committed).
    RowKeyChangedInRow,
    /// A chunk that changes the family must also set the qualifier.
    FamilyWithoutQualifier,
    /// `value_size` may not be negative.
    NegativeValueSize,
    /// `value_size` > 0 (more chunks follow for this cell) forbids `commit_row`.
    CommitInSplitCell,
    /// The first chunk of a split cell must carry value bytes.
    SplitCellWithoutValue,
    /// A continuation chunk of a split cell carries only value bytes (no row key, family,
    /// qualifier, timestamp or labels).
    ContinuationHasCellFields,
    /// Non-final chunks of a split cell repeat the same `value_size`.
    SplitValueSizeChanged,
    /// The chunks of a split cell add up to exactly its `value_size`.
    SplitValueLength,
    /// `last_scanned_row_key` may not arrive while a row is in progress.
    LastScannedInRow,
    /// `last_scanned_row_key` moves strictly forward (backward in a reversed read).
    LastScannedOrder,
    /// The stream ended while a row was in progress (no `commit_row`).
    StreamEndedInRow,
}

impl std::fmt::Display for ChunkRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChunkRule::NewRowNeedsRowKey => "a new row must set row_key",
            ChunkRule::NewRowNeedsFamily => "a new row must set family_name",
            ChunkRule::NewRowNeedsQualifier => "a new row must set qualifier",
            ChunkRule::ResetWithoutRow => "reset_row with no row in progress",
            ChunkRule::ResetCarriesData => "a reset_row chunk must carry nothing else",
            ChunkRule::RowKeyOrder => "row keys must be strictly ordered",
            ChunkRule::RowKeyChangedInRow => "row key changed inside a row (missing commit_row)",
            ChunkRule::FamilyWithoutQualifier => "family_name set without qualifier",
            ChunkRule::NegativeValueSize => "value_size is negative",
            ChunkRule::CommitInSplitCell => "commit_row on a chunk that announces more value chunks",
            ChunkRule::SplitCellWithoutValue => "a split cell's first chunk has no value bytes",
            ChunkRule::ContinuationHasCellFields => "a split cell's continuation chunk sets cell fields",
            ChunkRule::SplitValueSizeChanged => "value_size changed inside a split cell",
            ChunkRule::SplitValueLength => "a split cell's chunks do not add up to its value_size",
            ChunkRule::LastScannedInRow => "last_scanned_row_key inside a row",
            ChunkRule::LastScannedOrder => "last_scanned_row_key out of order",
            ChunkRule::StreamEndedInRow => "the stream ended inside a row",
        })
    }
}

/// A split cell being received.
#[derive(Debug)]
struct SplitCell {
    /// The whole value's size, as announced.
    size: usize,
    timestamp_micros: i64,
    labels: Vec<String>,
    value: Vec<u8>,
}

/// The row being received.
#[derive(Debug)]
struct RowInProgress {
    row: Row,
    family: String,
    qualifier: Vec<u8>,
    split: Option<SplitCell>,
}

impl RowInProgress {
    fn add_cell(&mut self, cell: Cell) {
        let families = &mut self.row.families;
        let fi = match families.iter().position(|f| f.name == self.family) {
            Some(i) => i,
            None => {
                families.push(Family { name: self.family.clone(), columns: Vec::new() });
                families.len() - 1
            }
        };
        let Some(family) = families.get_mut(fi) else { return };
        let ci = match family.columns.iter().position(|c| c.qualifier == self.qualifier) {
            Some(i) => i,
            None => {
                family.columns.push(Column { qualifier: self.qualifier.clone(), cells: Vec::new() });
                family.columns.len() - 1
            }
        };
        if let Some(column) = family.columns.get_mut(ci) {
            column.cells.push(cell);
        }
    }
}

/// Reassembles rows from `ReadRows` chunks; see the module docs. One per stream.
#[derive(Debug)]
pub struct ChunkMerger {
    reversed: bool,
    /// The last committed row key or `last_scanned_row_key`: the next row must pass it.
    last_key: Option<Vec<u8>>,
    /// Index of the next chunk in the stream.
    next_chunk: u64,
    row: Option<RowInProgress>,
    /// The first error; every later call returns it.
    failed: Option<Error>,
}

impl Default for ChunkMerger {
    fn default() -> Self {
        ChunkMerger::new(false)
    }
}

fn fail(chunk: u64, rule: ChunkRule, detail: impl Into<String>) -> Error {
    Error::InvalidChunk { chunk, rule, detail: detail.into() }
}

fn is_reset(chunk: &CellChunk) -> bool {
    matches!(chunk.row_status, Some(RowStatus::ResetRow(true)))
}

fn is_commit(chunk: &CellChunk) -> bool {
    matches!(chunk.row_status, Some(RowStatus::CommitRow(true)))
}

/// The cell fields a chunk sets, by name (for reset and continuation chunks).
fn cell_fields(chunk: &CellChunk) -> Vec<&'static str> {
    let mut set = Vec::new();
    if !chunk.row_key.is_empty() {
        set.push("row_key");
    }
    if chunk.family_name.is_some() {
        set.push("family_name");
    }
    if chunk.qualifier.is_some() {
        set.push("qualifier");
    }
    if chunk.timestamp_micros != 0 {
        set.push("timestamp_micros");
    }
    if !chunk.labels.is_empty() {
        set.push("labels");
    }
    set
}

impl ChunkMerger {
    /// A merger for a stream of a forward (`reversed = false`) or reversed read.
    pub fn new(reversed: bool) -> Self {
        ChunkMerger { reversed, last_key: None, next_chunk: 0, row: None, failed: None }
    }

    /// The key of the last committed row or `last_scanned_row_key`: where a retry resumes.
    pub fn last_row_key(&self) -> Option<&[u8]> {
        self.last_key.as_deref()
    }

    /// True while a row has been started and not yet committed or reset.
    pub fn row_in_progress(&self) -> bool {
        self.row.is_some()
    }

    /// Feeds one response: its chunks in order, then its `last_scanned_row_key`. Returns
    /// the rows it completed. On error, rows completed earlier in the same response are
    /// lost; use [`ChunkMerger::push_chunk`] to receive each row as soon as it completes.
    pub fn push(&mut self, response: &ReadRowsResponse) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for chunk in &response.chunks {
            rows.extend(self.push_chunk(chunk)?);
        }
        if !response.last_scanned_row_key.is_empty() {
            self.push_last_scanned(&response.last_scanned_row_key)?;
        }
        Ok(rows)
    }

    /// Feeds one chunk; returns the row it committed, if any.
    pub fn push_chunk(&mut self, chunk: &CellChunk) -> Result<Option<Row>> {
        self.guarded(|m| {
            let index = m.next_chunk;
            m.next_chunk += 1;
            m.chunk(index, chunk)
        })
    }

    /// Feeds a `last_scanned_row_key` (the server scanned up to this row without sending
    /// more): later rows must lie beyond it.
    pub fn push_last_scanned(&mut self, key: &[u8]) -> Result<()> {
        self.guarded(|m| {
            if let Some(r) = &m.row {
                return Err(fail(
                    m.next_chunk,
                    ChunkRule::LastScannedInRow,
                    format!("last_scanned_row_key {} while row {} is open", escape_for_display(key), key_of(r)),
                ));
            }
            if !m.beyond_last(key) {
                return Err(fail(
                    m.next_chunk,
                    ChunkRule::LastScannedOrder,
                    format!("last_scanned_row_key {} does not pass {}", escape_for_display(key), m.last_key_text()),
                ));
            }
            m.last_key = Some(key.to_vec());
            Ok(())
        })
    }

    /// Ends the stream: an error if a row is still in progress.
    pub fn finish(&mut self) -> Result<()> {
        self.guarded(|m| match &m.row {
            Some(r) => Err(fail(
                m.next_chunk,
                ChunkRule::StreamEndedInRow,
                format!("the stream ended after {} chunks with row {} not committed", m.next_chunk, key_of(r)),
            )),
            None => Ok(()),
        })
    }

    /// Merges a whole stream of responses: the rows, each as soon as it completes, then
    /// the error that stopped the stream, if any (a stream ending inside a row included).
    pub fn merge<I>(responses: I, reversed: bool) -> MergedRows<I::IntoIter>
    where
        I: IntoIterator<Item = ReadRowsResponse>,
    {
        MergedRows {
            responses: responses.into_iter(),
            merger: ChunkMerger::new(reversed),
            pending: VecDeque::new(),
            error: None,
            done: false,
        }
    }

    /// Runs `f` unless the merger has failed; remembers `f`'s error.
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let out = f(self);
        if let Err(e) = &out {
            self.failed = Some(e.clone());
            self.row = None;
        }
        out
    }

    /// True when `key` lies strictly beyond the last row key in the read's direction.
    fn beyond_last(&self, key: &[u8]) -> bool {
        match &self.last_key {
            None => true,
            Some(last) if self.reversed => key < last.as_slice(),
            Some(last) => key > last.as_slice(),
        }
    }

    fn last_key_text(&self) -> String {
        self.last_key.as_deref().map_or_else(|| "nothing".into(), escape_for_display)
    }

    fn chunk(&mut self, i: u64, chunk: &CellChunk) -> Result<Option<Row>> {
        let Some(r) = self.row.as_mut() else { return self.new_row(i, chunk) };
        if is_reset(chunk) {
            let fields = cell_fields(chunk);
            if !fields.is_empty() || !chunk.value.is_empty() || chunk.value_size != 0 {
                let mut all = fields.join(", ");
                if !chunk.value.is_empty() || chunk.value_size != 0 {
                    all.push_str(if all.is_empty() { "value / value_size" } else { ", value / value_size" });
                }
                return Err(fail(
                    i,
                    ChunkRule::ResetCarriesData,
                    format!("reset of row {} also sets {all}", key_of(r)),
                ));
            }
            self.row = None;
            return Ok(None);
        }
        if r.split.is_some() {
            return self.continuation(i, chunk);
        }
        if !chunk.row_key.is_empty() && chunk.row_key != r.row.key {
            return Err(fail(
                i,
                ChunkRule::RowKeyChangedInRow,
                format!("chunk names row {} inside row {}", escape_for_display(&chunk.row_key), key_of(r)),
            ));
        }
        if let Some(family) = &chunk.family_name {
            if chunk.qualifier.is_none() {
                return Err(fail(
                    i,
                    ChunkRule::FamilyWithoutQualifier,
                    format!("family {family:?} in row {} without a qualifier", key_of(r)),
                ));
            }
            r.family.clone_from(family);
        }
        if let Some(q) = &chunk.qualifier {
            r.qualifier.clone_from(q);
        }
        self.new_cell(i, chunk)
    }

    /// A chunk that starts a row.
    fn new_row(&mut self, i: u64, chunk: &CellChunk) -> Result<Option<Row>> {
        if is_reset(chunk) {
            return Err(fail(i, ChunkRule::ResetWithoutRow, "reset_row before any chunk of a row"));
        }
        if chunk.row_key.is_empty() {
            return Err(fail(i, ChunkRule::NewRowNeedsRowKey, "the first chunk of a row has no row_key"));
        }
        // Only errors name the row: escaping it for every row was a share of a reader's CPU.
        let key = || escape_for_display(&chunk.row_key);
        let (Some(family), Some(qualifier)) = (&chunk.family_name, &chunk.qualifier) else {
            let rule = if chunk.family_name.is_none() {
                ChunkRule::NewRowNeedsFamily
            } else {
                ChunkRule::NewRowNeedsQualifier
            };
            return Err(fail(i, rule, format!("first chunk of row {}", key())));
        };
        if !self.beyond_last(&chunk.row_key) {
            let dir = if self.reversed { "below" } else { "above" };
            return Err(fail(
                i,
                ChunkRule::RowKeyOrder,
                format!("row {} is not {dir} {}", key(), self.last_key_text()),
            ));
        }
        self.row = Some(RowInProgress {
            row: Row { key: chunk.row_key.clone(), families: Vec::new() },
            family: family.clone(),
            qualifier: qualifier.clone(),
            split: None,
        });
        self.new_cell(i, chunk)
    }

    /// The cell part of a chunk that starts a cell (family and qualifier already taken).
    fn new_cell(&mut self, i: u64, chunk: &CellChunk) -> Result<Option<Row>> {
        let Some(r) = self.row.as_mut() else { return Ok(None) };
        if chunk.value_size < 0 {
            return Err(fail(
                i,
                ChunkRule::NegativeValueSize,
                format!("value_size {} in row {}", chunk.value_size, key_of(r)),
            ));
        }
        if chunk.value_size > 0 {
            let size = usize::try_from(chunk.value_size).unwrap_or(usize::MAX);
            if is_commit(chunk) {
                return Err(fail(
                    i,
                    ChunkRule::CommitInSplitCell,
                    format!("value_size {size} with commit_row in row {}", key_of(r)),
                ));
            }
            if chunk.value.is_empty() {
                return Err(fail(
                    i,
                    ChunkRule::SplitCellWithoutValue,
                    format!("value_size {size} in row {}", key_of(r)),
                ));
            }
            if chunk.value.len() > size {
                return Err(fail(
                    i,
                    ChunkRule::SplitValueLength,
                    format!("{} value bytes in a cell of value_size {size} in row {}", chunk.value.len(), key_of(r)),
                ));
            }
            let mut value = Vec::with_capacity(size);
            value.extend_from_slice(&chunk.value);
            r.split =
                Some(SplitCell { size, timestamp_micros: chunk.timestamp_micros, labels: chunk.labels.clone(), value });
            return Ok(None);
        }
        r.add_cell(Cell {
            timestamp_micros: chunk.timestamp_micros,
            value: chunk.value.clone(),
            labels: chunk.labels.clone(),
        });
        Ok(self.commit_if(chunk))
    }

    /// A chunk continuing a split cell.
    fn continuation(&mut self, i: u64, chunk: &CellChunk) -> Result<Option<Row>> {
        let Some(r) = self.row.as_mut() else { return Ok(None) };
        let Some(split) = r.split.as_mut() else { return Ok(None) };
        let fields = cell_fields(chunk);
        if !fields.is_empty() {
            return Err(fail(
                i,
                ChunkRule::ContinuationHasCellFields,
                format!("continuation in row {} sets {}", key_of_row(&r.row), fields.join(", ")),
            ));
        }
        let received = split.value.len() + chunk.value.len();
        if chunk.value_size != 0 {
            if usize::try_from(chunk.value_size).ok() != Some(split.size) {
                return Err(fail(
                    i,
                    ChunkRule::SplitValueSizeChanged,
                    format!("value_size {} after {} in row {}", chunk.value_size, split.size, key_of_row(&r.row)),
                ));
            }
            if is_commit(chunk) {
                return Err(fail(
                    i,
                    ChunkRule::CommitInSplitCell,
                    format!("value_size {} with commit_row in row {}", split.size, key_of_row(&r.row)),
                ));
            }
            if received > split.size {
                return Err(fail(
                    i,
                    ChunkRule::SplitValueLength,
                    format!(
                        "{received} value bytes so far in a cell of value_size {} in row {}",
                        split.size,
                        key_of_row(&r.row)
                    ),
                ));
            }
            split.value.extend_from_slice(&chunk.value);
            return Ok(None);
        }
        if received != split.size {
            return Err(fail(
                i,
                ChunkRule::SplitValueLength,
                format!("{received} value bytes in a cell of value_size {} in row {}", split.size, key_of_row(&r.row)),
            ));
        }
        split.value.extend_from_slice(&chunk.value);
        if let Some(s) = r.split.take() {
            r.add_cell(Cell { timestamp_micros: s.timestamp_micros, value: s.value, labels: s.labels });
        }
        Ok(self.commit_if(chunk))
    }

    /// Completes the row when `chunk` commits it.
    fn commit_if(&mut self, chunk: &CellChunk) -> Option<Row> {
        if !is_commit(chunk) {
            return None;
        }
        let r = self.row.take()?;
        self.last_key = Some(r.row.key.clone());
        Some(r.row)
    }
}

fn key_of(r: &RowInProgress) -> String {
    key_of_row(&r.row)
}

fn key_of_row(row: &Row) -> String {
    escape_for_display(&row.key)
}

/// The rows of a stream of responses; see [`ChunkMerger::merge`].
#[derive(Debug)]
pub struct MergedRows<I> {
    responses: I,
    merger: ChunkMerger,
    /// Rows completed by the current response, not yet yielded.
    pending: VecDeque<Row>,
    /// The error that stopped the stream, yielded after `pending`.
    error: Option<Error>,
    done: bool,
}

impl<I: Iterator<Item = ReadRowsResponse>> Iterator for MergedRows<I> {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        loop {
            if let Some(row) = self.pending.pop_front() {
                return Some(Ok(row));
            }
            if let Some(e) = self.error.take() {
                self.done = true;
                return Some(Err(e));
            }
            if self.done {
                return None;
            }
            let Some(response) = self.responses.next() else {
                self.done = true;
                return self.merger.finish().err().map(Err);
            };
            for chunk in &response.chunks {
                match self.merger.push_chunk(chunk) {
                    Ok(row) => self.pending.extend(row),
                    Err(e) => {
                        self.error = Some(e);
                        break;
                    }
                }
            }
            if self.error.is_none() && !response.last_scanned_row_key.is_empty() {
                self.error = self.merger.push_last_scanned(&response.last_scanned_row_key).err();
            }
        }
    }
}
