//! Streaming reads: [`Tablet::scan`] yields the rows of a `RowSet` one at a time.
//!
//! A [`RowScan`] owns one engine iterator, made when the scan starts: every row it yields
//! is read as of that moment (one consistent view, whatever is written meanwhile), and it
//! holds at most one row in memory, however large the scan. It takes no lock; writers are
//! never held up by a reader.
//!
//! **Order.** Forward scans yield rows in ascending key order. Reversed scans yield them in
//! descending key order, and, as Bigtable's reversed scans do, keep the cells *inside* a
//! row in the normal order (families, qualifiers, then versions newest first): the scan
//! walks the engine backwards, gathers one row's cells, and assembles them the forward way.
//!
//! **Filters and limits.** The optional `RowFilter` is compiled once and applied to each
//! row; rows it empties are skipped. `ReadRowsRequest.rows_limit` is *not* applied here:
//! the caller stops after `n` rows with `.take(n)`, which also stops reading the engine.
//!
//! **GC.** Cells that their family's GC rule collects (as of the scan's start) and cells of
//! families the schema no longer has are hidden, as in every read ([`crate::cells`]).

use engine::{DbIterator, ReadOptions};

use crate::cells::RowCollector;
use crate::error::Result;
use crate::filter::{compile_with_seed, CompiledFilter};
use crate::keys::{decode_row, row_start, KeyRange};
use crate::proto::bigtable::{Row, RowFilter, RowSet};
use crate::rowset::row_set_key_ranges;
use crate::tablet::Tablet;

/// The smallest engine key a cell can have: a row key is never empty, so every cell key
/// starts with an escaped non-empty row, which is at least `00 FF` (the row `"\x00"`). Keys
/// below it are reserved for tablet metadata ([`crate::keys`]) and never read as cells.
const FIRST_CELL_KEY: [u8; 2] = [0x00, 0xFF];

impl Tablet {
    /// The engine keys of every cell this tablet may hold: its row range, without the
    /// reserved metadata key space.
    pub(crate) fn cell_keys(&self) -> KeyRange {
        let mut keys = self.keys.clone();
        if keys.start.as_slice() < FIRST_CELL_KEY.as_slice() {
            keys.start = FIRST_CELL_KEY.to_vec();
        }
        keys
    }

    /// Streams the rows of `rows` that this tablet holds and that have visible cells,
    /// through `filter` when given, in ascending key order (descending when `reversed`).
    /// An empty `RowSet` means every row; parts of the set outside the tablet's range are
    /// ignored. See the module docs for consistency, order and `rows_limit` (`.take(n)`).
    ///
    /// Errors: an invalid filter is `Error::InvalidArgument` here; a read failure or a
    /// corrupt key is yielded as an `Err` item, after which the scan ends.
    pub fn scan(&self, rows: &RowSet, filter: Option<&RowFilter>, reversed: bool) -> Result<RowScan> {
        let now = self.clock.now_micros();
        let filter = filter.map(|f| compile_with_seed(f, now.unsigned_abs())).transpose()?;
        let mut ranges = row_set_key_ranges(rows, &self.cell_keys());
        let bounds = match (ranges.first(), ranges.last()) {
            (Some(first), Some(last)) => Some((first.start.clone(), last.end.clone())),
            _ => None,
        };
        let it = match bounds {
            None => None,
            Some((lower, upper)) => {
                let ro = ReadOptions { lower_bound: Some(lower), upper_bound: upper, ..Default::default() };
                Some(self.db.iter(&ro)?)
            }
        };
        if reversed {
            ranges.reverse();
        }
        Ok(RowScan {
            it,
            ranges,
            next_range: 0,
            in_range: false,
            reversed,
            collector: RowCollector::new(self.schema.get(), now),
            filter,
            done: false,
        })
    }
}

/// A lazy stream of rows from one engine iterator; see the module docs and
/// [`Tablet::scan`]. `Send`: it may be handed to another thread (a server's streaming
/// task), but one thread drives it.
pub struct RowScan {
    /// `None` when the row set selects nothing in this tablet.
    it: Option<DbIterator>,
    /// Disjoint key ranges in visiting order (ascending, or descending when reversed).
    ranges: Vec<KeyRange>,
    /// The range being read (or next to be read).
    next_range: usize,
    /// True once the iterator has been positioned in `ranges[next_range]`.
    in_range: bool,
    reversed: bool,
    collector: RowCollector,
    filter: Option<CompiledFilter>,
    /// Set after the last row or an error: the scan yields nothing more.
    done: bool,
}

impl std::fmt::Debug for RowScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowScan")
            .field("ranges", &self.ranges.len())
            .field("next_range", &self.next_range)
            .field("reversed", &self.reversed)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl RowScan {
    /// `row` through the filter, if any.
    fn filtered(&self, row: Row) -> Option<Row> {
        match &self.filter {
            Some(f) => f.apply_owned(row),
            None => Some(row),
        }
    }

    /// The next row with visible cells before filtering, reading forward.
    fn next_forward(&mut self) -> Result<Option<Row>> {
        let Some(it) = self.it.as_mut() else { return Ok(None) };
        while let Some(range) = self.ranges.get(self.next_range) {
            if !self.in_range {
                it.seek(&range.start);
                self.in_range = true;
            }
            while it.valid() && range.contains(it.key()) {
                let finished = self.collector.push_encoded(it.key(), it.value())?;
                it.next();
                if finished.is_some() {
                    return Ok(finished);
                }
            }
            it.status()?;
            self.next_range += 1;
            self.in_range = false;
        }
        Ok(self.collector.take_row())
    }

    /// The next row with visible cells before filtering, reading backward.
    fn next_reverse(&mut self) -> Result<Option<Row>> {
        let Some(it) = self.it.as_mut() else { return Ok(None) };
        while let Some(range) = self.ranges.get(self.next_range) {
            if !self.in_range {
                match &range.end {
                    Some(end) => {
                        it.seek_for_prev(end);
                        if it.valid() && it.key() >= end.as_slice() {
                            it.prev();
                        }
                    }
                    None => it.seek_to_last(),
                }
                self.in_range = true;
            }
            while it.valid() && range.contains(it.key()) {
                // Gather the row's cells backwards, then assemble them in forward order.
                let prefix = row_start(&decode_row(it.key())?);
                let mut cells = Vec::new();
                while it.valid() && it.key().starts_with(&prefix) && range.contains(it.key()) {
                    cells.push((it.key().to_vec(), it.value().to_vec()));
                    it.prev();
                }
                it.status()?;
                for (key, value) in cells.iter().rev() {
                    // One row only: the collector never finishes a row here.
                    self.collector.push_encoded(key, value)?;
                }
                if let Some(row) = self.collector.take_row() {
                    return Ok(Some(row));
                }
            }
            it.status()?;
            self.next_range += 1;
            self.in_range = false;
        }
        Ok(None)
    }
}

impl Iterator for RowScan {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        while !self.done {
            let step = if self.reversed { self.next_reverse() } else { self.next_forward() };
            match step {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(None) => self.done = true,
                Ok(Some(row)) => {
                    if let Some(row) = self.filtered(row) {
                        return Some(Ok(row));
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<RowScan>();
    }
}
