//! Encoding `Row`s as a `ReadRows` response stream: the chunk rules official clients enforce.
//!
//! A `ReadRowsResponse` carries `CellChunk`s; a client's chunk merger rebuilds rows from
//! them and rejects a stream that breaks any of these rules (Java's `RowMerger`, Go's
//! `chunkReader`, Python's row merger all check them):
//!
//! 1. Rows come in key order (descending for a reversed read), each key once; the first
//!    chunk of a row carries its non-empty `row_key`, `family_name` and `qualifier`.
//! 2. Later chunks of the row leave `row_key` empty; `family_name` is set only when the
//!    family changes (and then `qualifier` is set too); `qualifier` only when the column
//!    changes.
//! 3. The first chunk of each cell carries its `timestamp_micros` and `labels`.
//! 4. A value longer than the chunk limit is split over consecutive chunks; every chunk but
//!    the last carries `value_size` = the whole value's length, the last carries 0, and the
//!    continuation chunks set nothing but `value` (and, on the last one, `commit_row`).
//! 5. The last chunk of a row has `commit_row = true` (and `value_size = 0`).
//! 6. A row with no cells is never sent (Bigtable never returns empty rows).
//!
//! 7. A row never spans messages: the official Python client takes the first chunk of
//!    every message for the start of a row (its `chunk_stream` checks that chunk's key
//!    against the last row's), so a continuation at the head of a message breaks it.
//!
//! Whole rows are batched into messages of at most `max_message_bytes`; a row larger than
//! that goes alone in one message (so the gRPC message limit bounds the row size, as it
//! does in Bigtable). Rows are pushed one at a time, so a whole response never has to be in
//! memory.
//!
//! ```text
//!  row "r1": cf:a@2000 "x", cf:b@1000 <2.5 KiB>, cg:a@1000 "y"      (chunk limit 1 KiB)
//!  chunk  row_key family qualifier ts    value      value_size commit
//!  1      "r1"    cf     a         2000  "x"        0
//!  2              -      b         1000  1 KiB      2560
//!  3              -      -         0     1 KiB      2560
//!  4              -      -         0     0.5 KiB    0
//!  5              cg     a         1000  "y"        0          true
//! ```
//!
//! Thread safety: an encoder is plain data owned by one response stream.

use std::cmp::Ordering;

use prost::Message;

use crate::error::{Error, Result};
use crate::keys::escape_for_display;
use crate::proto::bigtable::read_rows_response::{cell_chunk::RowStatus, CellChunk};
use crate::proto::bigtable::{ReadRowsResponse, Row};

/// Default largest piece of a value in one chunk (1 MiB).
pub const DEFAULT_MAX_CHUNK_VALUE_BYTES: usize = 1 << 20;
/// Default byte budget of one response message (1 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Size limits of the encoded stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Largest value piece per chunk; longer values are split (rule 4). At least 1.
    pub max_chunk_value_bytes: usize,
    /// A message is closed before a row that would take it past this many encoded bytes
    /// (or right after a row that fills it). A message always takes at least one row, so a
    /// row larger than the budget still goes out, alone.
    pub max_message_bytes: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            max_chunk_value_bytes: DEFAULT_MAX_CHUNK_VALUE_BYTES,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Turns rows into `ReadRowsResponse` messages; see the module docs.
#[derive(Debug)]
pub struct ChunkEncoder {
    limits: ChunkLimits,
    /// Rows must descend instead of ascend.
    reversed: bool,
    /// The key of the last row pushed, to enforce rule 1.
    last_row: Option<Vec<u8>>,
    /// The message being filled.
    pending: ReadRowsResponse,
    /// `pending`'s encoded length.
    pending_bytes: usize,
}

impl ChunkEncoder {
    /// An encoder for an ascending stream.
    pub fn new(limits: ChunkLimits) -> Self {
        ChunkEncoder {
            limits: ChunkLimits { max_chunk_value_bytes: limits.max_chunk_value_bytes.max(1), ..limits },
            reversed: false,
            last_row: None,
            pending: ReadRowsResponse::default(),
            pending_bytes: 0,
        }
    }

    /// The same encoder expecting rows in descending key order (a reversed read).
    pub fn reversed(mut self, reversed: bool) -> Self {
        self.reversed = reversed;
        self
    }

    /// Appends `row`; returns the messages that became full. A row with no cells is skipped.
    /// A row out of order (or repeated) is refused with `Error::InvalidArgument`, since a
    /// client would reject the whole stream.
    pub fn push_row(&mut self, row: &Row) -> Result<Vec<ReadRowsResponse>> {
        self.push_owned_row(row.clone())
    }

    /// [`ChunkEncoder::push_row`] for a row the caller is done with: values that fit in one
    /// chunk move into it rather than being copied (a server's reads send every value
    /// this way).
    pub fn push_owned_row(&mut self, mut row: Row) -> Result<Vec<ReadRowsResponse>> {
        let has_cells = row.families.iter().any(|f| f.columns.iter().any(|c| !c.cells.is_empty()));
        if !has_cells {
            return Ok(Vec::new());
        }
        if row.key.is_empty() {
            return Err(Error::invalid("read rows: a row with an empty key cannot be encoded"));
        }
        if let Some(last) = &self.last_row {
            let want = if self.reversed { Ordering::Less } else { Ordering::Greater };
            if row.key.as_slice().cmp(last.as_slice()) != want {
                return Err(Error::invalid(format!(
                    "read rows: row {} follows row {} in a {} stream",
                    escape_for_display(&row.key),
                    escape_for_display(last),
                    if self.reversed { "descending" } else { "ascending" }
                )));
            }
        }
        self.last_row = Some(row.key.clone());

        let mut chunks: Vec<CellChunk> = Vec::new();
        let mut first_of_row = true;
        for family in &mut row.families {
            let mut first_of_family = true;
            for column in &mut family.columns {
                let mut first_of_column = true;
                for cell in &mut column.cells {
                    let limit = self.limits.max_chunk_value_bytes;
                    let owned = std::mem::take(&mut cell.value);
                    let value_len = owned.len();
                    let split = value_len > limit;
                    let pieces: Vec<Vec<u8>> =
                        if split { owned.chunks(limit).map(<[u8]>::to_vec).collect() } else { vec![owned] };
                    let count = pieces.len();
                    for (i, piece) in pieces.into_iter().enumerate() {
                        let mut chunk = CellChunk { value: piece, ..Default::default() };
                        if i == 0 {
                            if first_of_row {
                                chunk.row_key.clone_from(&row.key);
                            }
                            if first_of_family || first_of_row {
                                chunk.family_name = Some(family.name.clone());
                            }
                            if first_of_column || first_of_family || first_of_row {
                                chunk.qualifier = Some(column.qualifier.clone());
                            }
                            chunk.timestamp_micros = cell.timestamp_micros;
                            chunk.labels.clone_from(&cell.labels);
                        }
                        if split && i + 1 < count {
                            chunk.value_size = i32::try_from(value_len).map_err(|_| {
                                Error::invalid(format!(
                                    "read rows: a value of {} bytes in row {} is too large to send",
                                    value_len,
                                    escape_for_display(&row.key)
                                ))
                            })?;
                        }
                        chunks.push(chunk);
                        first_of_row = false;
                        first_of_family = false;
                        first_of_column = false;
                    }
                }
            }
        }
        if let Some(last) = chunks.last_mut() {
            last.row_status = Some(RowStatus::CommitRow(true));
        }
        Ok(self.add_row(chunks))
    }

    /// The last, partly filled message, if it holds anything.
    pub fn finish(self) -> Option<ReadRowsResponse> {
        (!self.pending.chunks.is_empty()).then_some(self.pending)
    }

    /// Adds one row's chunks to the pending message, first closing that message when the
    /// row would take it past the budget, and closing it after the row when it is full.
    /// Returns the closed messages.
    fn add_row(&mut self, chunks: Vec<CellChunk>) -> Vec<ReadRowsResponse> {
        let mut out = Vec::new();
        // Field 1, length-delimited: one tag byte, the length, the chunk.
        let framed = |c: &CellChunk| {
            let len = c.encoded_len();
            1 + prost::length_delimiter_len(len) + len
        };
        let row_bytes: usize = chunks.iter().map(framed).sum();
        if !self.pending.chunks.is_empty() && self.pending_bytes + row_bytes > self.limits.max_message_bytes {
            out.push(std::mem::take(&mut self.pending));
            self.pending_bytes = 0;
        }
        self.pending.chunks.extend(chunks);
        self.pending_bytes += row_bytes;
        if self.pending_bytes >= self.limits.max_message_bytes {
            out.push(std::mem::take(&mut self.pending));
            self.pending_bytes = 0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::bigtable::{Cell, Column, Family};

    fn cell(ts: i64, value: &[u8], labels: &[&str]) -> Cell {
        Cell { timestamp_micros: ts, value: value.to_vec(), labels: labels.iter().map(|l| l.to_string()).collect() }
    }

    type Columns<'a> = Vec<(&'a str, Vec<Cell>)>;

    fn row(key: &str, families: Vec<(&str, Columns<'_>)>) -> Row {
        Row {
            key: key.as_bytes().to_vec(),
            families: families
                .into_iter()
                .map(|(name, cols)| Family {
                    name: name.into(),
                    columns: cols
                        .into_iter()
                        .map(|(q, cells)| Column { qualifier: q.as_bytes().to_vec(), cells })
                        .collect(),
                })
                .collect(),
        }
    }

    fn encode(limits: ChunkLimits, rows: &[Row]) -> Vec<ReadRowsResponse> {
        let mut enc = ChunkEncoder::new(limits);
        let mut out = Vec::new();
        for r in rows {
            out.extend(enc.push_row(r).unwrap());
        }
        out.extend(enc.finish());
        out
    }

    fn chunks(msgs: &[ReadRowsResponse]) -> Vec<CellChunk> {
        msgs.iter().flat_map(|m| m.chunks.iter().cloned()).collect()
    }

    /// Rebuilds rows from chunks, checking every rule of the module docs the way a
    /// client's merger does; panics on a violation.
    fn merge(chunks: &[CellChunk]) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        let mut cur: Option<Row> = None;
        let mut partial: Option<(usize, Vec<u8>)> = None; // (value_size, bytes so far)
        for c in chunks {
            if let Some((size, mut bytes)) = partial.take() {
                assert!(c.row_key.is_empty() && c.family_name.is_none() && c.qualifier.is_none());
                assert!(c.timestamp_micros == 0 && c.labels.is_empty());
                bytes.extend_from_slice(&c.value);
                let r = cur.as_mut().unwrap();
                let cell = r.families.last_mut().unwrap().columns.last_mut().unwrap().cells.last_mut().unwrap();
                if c.value_size > 0 {
                    assert_eq!(c.value_size as usize, size);
                    partial = Some((size, bytes));
                } else {
                    assert_eq!(bytes.len(), size, "split value length");
                    cell.value = bytes;
                }
            } else {
                let r = match cur.as_mut() {
                    None => {
                        assert!(!c.row_key.is_empty(), "new row without key");
                        assert!(c.family_name.is_some() && c.qualifier.is_some(), "new row without column");
                        if let Some(prev) = rows.last() {
                            assert!(c.row_key > prev.key, "rows out of order");
                        }
                        cur.insert(Row { key: c.row_key.clone(), families: vec![] })
                    }
                    Some(r) => {
                        assert!(c.row_key.is_empty() || c.row_key == r.key, "row key changed mid-row");
                        r
                    }
                };
                if let Some(f) = &c.family_name {
                    assert!(c.qualifier.is_some(), "family without qualifier");
                    r.families.push(Family { name: f.clone(), columns: vec![] });
                }
                let fam = r.families.last_mut().unwrap();
                if let Some(q) = &c.qualifier {
                    fam.columns.push(Column { qualifier: q.clone(), cells: vec![] });
                }
                let col = fam.columns.last_mut().unwrap();
                col.cells.push(Cell {
                    timestamp_micros: c.timestamp_micros,
                    labels: c.labels.clone(),
                    value: c.value.clone(),
                });
                if c.value_size > 0 {
                    assert!(c.row_status.is_none(), "commit inside a split value");
                    partial = Some((c.value_size as usize, c.value.clone()));
                }
            }
            if matches!(c.row_status, Some(RowStatus::CommitRow(true))) {
                assert!(partial.is_none());
                rows.push(cur.take().unwrap());
            }
        }
        assert!(cur.is_none() && partial.is_none(), "stream ended inside a row");
        rows
    }

    fn sample_rows() -> Vec<Row> {
        vec![
            row(
                "r1",
                vec![(
                    "cf",
                    vec![("a", vec![cell(2000, b"x", &[]), cell(1000, b"w", &[])]), ("b", vec![cell(1000, b"", &[])])],
                )],
            ),
            row(
                "r2",
                vec![
                    ("cf", vec![("a", vec![cell(3000, b"y", &[])])]),
                    ("cg", vec![("a", vec![cell(1000, b"z", &[])])]),
                ],
            ),
        ]
    }

    #[test]
    fn round_trips_through_a_strict_merger() {
        let rows = sample_rows();
        let msgs = encode(ChunkLimits::default(), &rows);
        assert_eq!(msgs.len(), 1, "small rows share one message");
        assert_eq!(merge(&chunks(&msgs)), rows);
    }

    #[test]
    fn row_family_and_qualifier_only_when_they_change() {
        let c = chunks(&encode(ChunkLimits::default(), &sample_rows()));
        type Shape<'a> = (bool, Option<&'a str>, Option<&'a [u8]>, bool);
        let shape: Vec<Shape<'_>> = c
            .iter()
            .map(|c| {
                (
                    !c.row_key.is_empty(),
                    c.family_name.as_deref(),
                    c.qualifier.as_deref(),
                    matches!(c.row_status, Some(RowStatus::CommitRow(true))),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (true, Some("cf"), Some(&b"a"[..]), false),
                (false, None, None, false),
                (false, None, Some(&b"b"[..]), true),
                (true, Some("cf"), Some(&b"a"[..]), false),
                (false, Some("cg"), Some(&b"a"[..]), true),
            ]
        );
        assert_eq!(c[1].timestamp_micros, 1000, "every cell's first chunk has its timestamp");
    }

    #[test]
    fn commit_row_is_on_the_last_chunk_of_each_row_only() {
        let c = chunks(&encode(ChunkLimits::default(), &sample_rows()));
        let commits: Vec<usize> =
            c.iter().enumerate().filter(|(_, c)| c.row_status.is_some()).map(|(i, _)| i).collect();
        assert_eq!(commits, vec![2, 4]);
    }

    #[test]
    fn large_values_are_split_with_value_size() {
        let big: Vec<u8> = (0..2560u32).map(|i| i as u8).collect();
        let rows = vec![row("r", vec![("cf", vec![("a", vec![cell(5000, &big, &["l1"]), cell(4000, b"s", &[])])])])];
        let limits = ChunkLimits { max_chunk_value_bytes: 1024, ..ChunkLimits::default() };
        let c = chunks(&encode(limits, &rows));
        assert_eq!(c.len(), 4);
        assert_eq!(c.iter().map(|c| c.value.len()).collect::<Vec<_>>(), vec![1024, 1024, 512, 1]);
        assert_eq!(c.iter().map(|c| c.value_size).collect::<Vec<_>>(), vec![2560, 2560, 0, 0]);
        assert_eq!(c[0].labels, vec!["l1".to_string()]);
        assert!(c[1].labels.is_empty() && c[1].timestamp_micros == 0 && c[1].qualifier.is_none());
        assert_eq!(c[3].timestamp_micros, 4000);
        assert!(c[3].row_status.is_some() && c[2].row_status.is_none());
        assert_eq!(merge(&c), rows);
    }

    #[test]
    fn a_split_value_at_the_end_of_a_row_commits_on_its_last_piece() {
        let rows = vec![row("r", vec![("cf", vec![("a", vec![cell(1000, &[7u8; 10], &[])])])])];
        let c = chunks(&encode(ChunkLimits { max_chunk_value_bytes: 4, ..ChunkLimits::default() }, &rows));
        assert_eq!(c.len(), 3);
        assert!(matches!(c[2].row_status, Some(RowStatus::CommitRow(true))));
        assert_eq!(c[2].value_size, 0);
        assert_eq!(merge(&c), rows);
    }

    #[test]
    fn labels_travel_with_their_cell() {
        let rows = vec![row("r", vec![("cf", vec![("a", vec![cell(1000, b"v", &["x", "y"])])])])];
        let c = chunks(&encode(ChunkLimits::default(), &rows));
        assert_eq!(c[0].labels, vec!["x".to_string(), "y".to_string()]);
    }

    #[test]
    fn messages_are_batched_to_the_byte_budget() {
        let rows: Vec<Row> = (0..100)
            .map(|i| row(&format!("row{i:03}"), vec![("cf", vec![("q", vec![cell(1000, &[1u8; 100], &[])])])]))
            .collect();
        let limits = ChunkLimits { max_message_bytes: 1000, ..ChunkLimits::default() };
        let msgs = encode(limits, &rows);
        assert!(msgs.len() > 10, "{} messages", msgs.len());
        for m in &msgs {
            assert!(m.encoded_len() <= 1000, "message of {} bytes", m.encoded_len());
            assert!(!m.chunks.is_empty());
        }
        assert_eq!(merge(&chunks(&msgs)), rows);
    }

    #[test]
    fn rows_never_span_messages_and_a_big_row_goes_alone() {
        let rows = vec![
            row("a", vec![("cf", vec![("q", vec![cell(1000, b"x", &[])])])]),
            row("b", vec![("cf", vec![("q", vec![cell(1000, &[1u8; 500], &[]), cell(0, b"x", &[])])])]),
            row("c", vec![("cf", vec![("q", vec![cell(1000, b"y", &[])])])]),
        ];
        let msgs = encode(ChunkLimits { max_message_bytes: 100, max_chunk_value_bytes: 64 }, &rows);
        let per_message: Vec<Vec<u8>> = msgs
            .iter()
            .map(|m| m.chunks.iter().filter(|c| !c.row_key.is_empty()).map(|c| c.row_key[0]).collect())
            .collect();
        assert_eq!(per_message, vec![vec![b'a'], vec![b'b'], vec![b'c']]);
        for m in &msgs {
            assert!(!m.chunks[0].row_key.is_empty(), "every message starts a row");
            assert!(m.chunks.last().unwrap().row_status.is_some(), "every message ends a row");
        }
        assert_eq!(msgs[1].chunks.len(), 9, "the 500-byte value in 8 pieces, then the second cell");
        assert_eq!(merge(&chunks(&msgs)), rows);
    }

    #[test]
    fn rows_out_of_order_are_refused_and_reversed_streams_descend() {
        let rows = sample_rows();
        let mut enc = ChunkEncoder::new(ChunkLimits::default());
        enc.push_row(&rows[1]).unwrap();
        assert!(matches!(enc.push_row(&rows[0]), Err(Error::InvalidArgument(_))));
        assert!(matches!(enc.push_row(&rows[1]), Err(Error::InvalidArgument(_))), "a repeated row");

        let mut enc = ChunkEncoder::new(ChunkLimits::default()).reversed(true);
        enc.push_row(&rows[1]).unwrap();
        enc.push_row(&rows[0]).unwrap();
        let msg = enc.finish().unwrap();
        assert_eq!(msg.chunks[0].row_key, b"r2");
    }

    #[test]
    fn empty_rows_are_skipped() {
        let mut enc = ChunkEncoder::new(ChunkLimits::default());
        assert!(enc.push_row(&row("r", vec![("cf", vec![("q", vec![])])])).unwrap().is_empty());
        assert!(enc.finish().is_none());
    }
}
