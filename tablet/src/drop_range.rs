//! Dropping rows in bulk: [`Tablet::drop_row_range`] deletes every row whose key starts
//! with a prefix, or every row of the tablet (the tablet's share of Bigtable's admin
//! `DropRowRange`).
//!
//! The engine has no range deletion, so the rows' cells are deleted key by key, in engine
//! batches of bounded size, chunk by chunk:
//!
//! 1. Scan forward from where the last chunk ended and note the next rows, up to
//!    [`DropLimits::rows`] rows or [`DropLimits::cells`] cells.
//! 2. Take the locks of exactly those rows ([`crate::locks::RowLocks::lock_all`]), then
//!    read each noted row again through a fresh iterator and delete every cell it holds
//!    *now*, in batches of at most [`DropLimits::cells`] deletes.
//! 3. Release the locks; go on after the chunk's last row.
//!
//! So each row is dropped in one step with respect to writers of that row: a mutation,
//! check-and-mutate or read-modify-write of it happens wholly before its deletion (and is
//! deleted with it) or wholly after (and survives). Writers wait at most for one chunk's
//! batches, never for the whole drop. A row with more cells than one batch holds is
//! deleted over several batches under its lock: readers may then see part of it gone
//! before the rest, which Bigtable allows (`DropRowRange` is not atomic). Rows written
//! after their chunk was scanned, or inside the prefix while the drop runs, may survive;
//! every row that existed when the call began, and was not rewritten meanwhile, is gone
//! when it returns.
//!
//! The deletions are tombstones until compactions drop them; reads skip them meanwhile.

use engine::{ReadOptions, WriteBatch};

use crate::error::{Error, Result};
use crate::keys::{decode_row, row_end, row_key_range, row_start, KeyRange};
use crate::tablet::Tablet;

/// Bounds on the work of one chunk of a drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropLimits {
    /// Most rows locked and deleted in one chunk.
    pub rows: usize,
    /// Most cells counted into one chunk, and most deletes in one engine batch.
    pub cells: usize,
}

impl Default for DropLimits {
    fn default() -> Self {
        DropLimits { rows: 256, cells: 4096 }
    }
}

/// What a drop deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropStats {
    /// Rows that had at least one cell deleted.
    pub rows: u64,
    /// Cells (engine keys, including versions hidden by GC) deleted.
    pub cells: u64,
    /// Engine write batches written.
    pub batches: u64,
}

/// The engine keys of every row starting with `prefix`: an escaped row starts with the
/// escaped prefix exactly when the row starts with the prefix (escaping maps byte by byte
/// and the escaped prefix never ends inside an escape), so this is a plain key-prefix range.
fn prefix_key_range(prefix: &[u8]) -> KeyRange {
    // row_end(prefix) = escape(prefix) 00 02; drop the suffix to get the escaped prefix.
    let mut start = row_end(prefix);
    start.truncate(start.len().saturating_sub(2));
    let mut end = start.clone();
    while let Some(last) = end.pop() {
        if last != 0xFF {
            end.push(last + 1);
            return KeyRange { start, end: Some(end) };
        }
    }
    KeyRange { start, end: None }
}

/// `a` narrowed to its intersection with `b`.
fn intersect(mut a: KeyRange, b: &KeyRange) -> KeyRange {
    if a.start < b.start {
        a.start.clone_from(&b.start);
    }
    if let Some(be) = &b.end {
        if a.end.as_ref().is_none_or(|ae| ae > be) {
            a.end = Some(be.clone());
        }
    }
    a
}

impl Tablet {
    /// Deletes every row of this tablet whose key starts with `prefix` (`None`: every row
    /// of the tablet), in bounded batches; see the module docs. An empty prefix is
    /// `Error::InvalidArgument` (Bigtable's `delete_all_data_from_table` is `None` here).
    pub fn drop_row_range(&self, prefix: Option<&[u8]>) -> Result<DropStats> {
        self.drop_row_range_with(prefix, DropLimits::default())
    }

    /// [`Tablet::drop_row_range`] with explicit chunk and batch bounds.
    pub fn drop_row_range_with(&self, prefix: Option<&[u8]>, limits: DropLimits) -> Result<DropStats> {
        if limits.rows == 0 || limits.cells == 0 {
            return Err(Error::invalid(format!("drop limits must be positive: {limits:?}")));
        }
        let range = match prefix {
            Some([]) => return Err(Error::invalid("drop_row_range: the row key prefix must not be empty")),
            Some(p) => intersect(prefix_key_range(p), &self.cell_keys()),
            None => self.cell_keys(),
        };
        let mut stats = DropStats::default();
        let mut cursor = range.start.clone();
        while range.end.as_ref().is_none_or(|e| cursor < *e) {
            let rows = self.next_rows(&cursor, &range, limits)?;
            let Some(last) = rows.last() else { break };
            cursor = row_end(last);
            self.drop_rows(&rows, limits, &mut stats)?;
        }
        Ok(stats)
    }

    /// The keys of the rows that hold cells in `range` from `from` on, up to the limits
    /// (at least one row when there is one).
    fn next_rows(&self, from: &[u8], range: &KeyRange, limits: DropLimits) -> Result<Vec<Vec<u8>>> {
        let ro = ReadOptions {
            lower_bound: Some(from.to_vec()),
            upper_bound: range.end.clone(),
            fill_cache: false,
            ..Default::default()
        };
        let mut it = self.db.iter(&ro)?;
        it.seek_to_first();
        let mut rows: Vec<Vec<u8>> = Vec::new();
        let mut row_prefix = Vec::new();
        let mut cells = 0;
        while it.valid() {
            if rows.is_empty() || !it.key().starts_with(&row_prefix) {
                if rows.len() >= limits.rows || cells >= limits.cells {
                    break;
                }
                let row = decode_row(it.key())?;
                row_prefix = row_start(&row);
                rows.push(row);
            }
            cells += 1;
            it.next();
        }
        it.status()?;
        Ok(rows)
    }

    /// Deletes every cell `rows` hold now, under their locks, in batches of at most
    /// `limits.cells` deletes.
    fn drop_rows(&self, rows: &[Vec<u8>], limits: DropLimits, stats: &mut DropStats) -> Result<()> {
        let guards = self.locks.lock_all(rows.iter().map(|r| r.as_slice()));
        let mut batch = WriteBatch::new();
        for row in rows {
            let keys = row_key_range(row);
            let ro = ReadOptions {
                lower_bound: Some(keys.start),
                upper_bound: keys.end,
                fill_cache: false,
                ..Default::default()
            };
            let mut it = self.db.iter(&ro)?;
            it.seek_to_first();
            let mut any = false;
            while it.valid() {
                batch.delete(it.key());
                any = true;
                stats.cells += 1;
                if batch.count() as usize >= limits.cells {
                    self.db.write(&self.write, std::mem::take(&mut batch))?;
                    stats.batches += 1;
                }
                it.next();
            }
            it.status()?;
            stats.rows += u64::from(any);
        }
        if !batch.is_empty() {
            self.db.write(&self.write, batch)?;
            stats.batches += 1;
        }
        drop(guards);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::encode_cell_key;

    #[test]
    fn prefix_ranges_hold_exactly_the_rows_with_the_prefix() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"ab", b"ab", true),
            (b"ab", b"abc", true),
            (b"ab", b"ab\x00", true),
            (b"ab", b"a", false),
            (b"ab", b"ac", false),
            (b"ab", b"aa\xff", false),
            (b"a\x00", b"a\x00x", true),
            (b"a\x00", b"a", false),
            (b"a\x00", b"a\x01", false),
            (b"a\xff", b"a\xff\xff", true),
            (b"a\xff", b"b", false),
            (b"\xff\xff", b"\xff\xff\x00", true),
            (b"\xff\xff", b"\xff\xfe", false),
        ];
        for &(prefix, row, inside) in cases {
            let r = prefix_key_range(prefix);
            for key in [encode_cell_key(row, b"f", b"q", 0), encode_cell_key(row, b"", b"", i64::MAX)] {
                assert_eq!(r.contains(&key), inside, "prefix {prefix:?} row {row:?}");
            }
        }
        assert_eq!(prefix_key_range(b"\xff").end, None);
    }
}
