//! Sizing and splitting a tablet.
//!
//! - [`Tablet::approximate_size`], [`Tablet::sample_row_keys`] and [`Tablet::split_point`]
//!   read the engine's key samples ([`engine::Db::approximate_key_samples`]: one per data
//!   block, from index blocks only) restricted to the tablet's range, so a split child whose
//!   files still hold its sibling's rows reports only its own.
//! - [`Tablet::split`] closes the write gate ([`crate::gate`]), checkpoints the engine into
//!   two directories (hard links, no data copied), opens the two children on them with the
//!   parent's options, and leaves the parent refusing writes with [`Error::NotServing`].
//!   Each child's compaction filter drops the other's rows ([`crate::range_filter`]); a
//!   background compaction of the other half's key range starts right away.
//!
//! Index keys may be shortened separators that are not cell keys, so a sample's row is
//! decoded leniently ([`row_at`]): the row the key falls in, or the next possible row.

use std::path::Path;

use engine::{DbIterator, ReadOptions};

use crate::error::{Error, Result};
use crate::gate::GateState;
use crate::keys::{escape_for_display, row_start};
use crate::tablet::Tablet;

/// At most this many candidate rows are checked by [`Tablet::split_point`].
const SPLIT_CANDIDATES: usize = 8;

/// The row an engine key falls in: the row of a cell key, or for any other key (an index
/// separator cut short) the smallest row whose cells are all at or above it, as far as the
/// key tells. `None` when the key holds no row (empty, or the reserved space).
pub fn row_at(key: &[u8]) -> Option<Vec<u8>> {
    let mut row = Vec::with_capacity(key.len());
    let mut i = 0;
    while let Some(&b) = key.get(i) {
        if b != 0 {
            row.push(b);
            i += 1;
            continue;
        }
        match key.get(i + 1) {
            // An escaped 00 inside the row.
            Some(0xFF) => {
                row.push(0);
                i += 2;
            }
            // `00 02`..`00 FE`: past every cell of `row`; the next row is `row 00`.
            Some(2..=0xFE) => {
                row.push(0);
                break;
            }
            // The terminator, a lone 00 at the end, or 00 00 (reserved space).
            _ => break,
        }
    }
    (!row.is_empty()).then_some(row)
}

/// The tablet's share of the engine's samples: (sample key, bytes of the tablet's range at
/// or below it) for each sample in range, in order, and the range's total bytes.
struct RangeSamples {
    /// (sample key, bytes of the range before its block, bytes up to and including it).
    samples: Vec<(Vec<u8>, u64, u64)>,
    table_bytes: u64,
    memtable_bytes: u64,
}

/// The row of the iterator's entry, skipping reserved-space keys forward.
fn current_row(it: &mut DbIterator) -> Option<Vec<u8>> {
    while it.valid() {
        if let Some(row) = row_at(it.key()) {
            return Some(row);
        }
        it.next();
    }
    None
}

impl Tablet {
    fn range_samples(&self) -> Result<RangeSamples> {
        let s = self.db.approximate_key_samples()?;
        let mut samples = Vec::new();
        let mut prev = 0u64;
        let mut in_range = 0u64;
        for sample in s.samples {
            let bytes = sample.offset.saturating_sub(prev);
            prev = sample.offset;
            if self.keys.contains(&sample.key) {
                let before = in_range;
                in_range += bytes;
                samples.push((sample.key, before, in_range));
            }
        }
        Ok(RangeSamples { samples, table_bytes: in_range, memtable_bytes: s.memtable_bytes })
    }

    /// Approximate bytes the tablet holds: its range's share of the table files (files
    /// shared with a split sibling count only for this tablet's rows) plus the memtables.
    /// Cheap (the split checker asks after every MiB written): files wholly inside the
    /// range count whole from the engine's metadata; only files shared with a sibling
    /// read their index ([`engine::Db::approximate_size_in`]).
    pub fn approximate_size(&self) -> Result<u64> {
        let s = self.db.approximate_size_in(&self.keys.start, self.keys.end.as_deref())?;
        Ok(s.table_bytes + s.memtable_bytes)
    }

    /// Bigtable's `SampleRowKeys` for this tablet: row keys strictly inside the tablet's
    /// range, increasing, each with the approximate bytes of the tablet's rows before it
    /// (counted from the tablet's start; non-decreasing); the last entry is the empty key
    /// with the tablet's total size (files plus memtables). Rows need not exist: they cut
    /// the range into pieces of about one data block each. Cheap: index blocks only.
    pub fn sample_row_keys(&self) -> Result<Vec<(Vec<u8>, u64)>> {
        let s = self.range_samples()?;
        let mut out: Vec<(Vec<u8>, u64)> = Vec::new();
        for (key, before, through) in s.samples {
            let Some(row) = row_at(&key) else { continue };
            // A key inside a row: the row began before this block (at most `before` bytes
            // precede it); a key past its block's last row: the whole block precedes it.
            let offset = if row_start(&row) > key { through } else { before };
            let after_last = out.last().is_none_or(|(last, _)| row > *last);
            if after_last && self.strictly_inside(&row) {
                out.push((row, offset));
            }
        }
        // The total as `approximate_size` counts it (whole files inside count whole: at
        // least the blocks sampled above).
        let total = self.approximate_size()?.max(s.table_bytes + s.memtable_bytes);
        out.push((Vec::new(), total));
        Ok(out)
    }

    /// True when `row` is inside the range and not its first row.
    fn strictly_inside(&self, row: &[u8]) -> bool {
        row > self.start.as_slice() && self.contains_row(row)
    }

    /// The row to split at: an existing row next to the sample nearest the middle of the
    /// tablet's bytes (the first row at or after the sample's key, or the last row when
    /// none is), such that rows lie on both sides of it. `None` when the tablet's files
    /// hold fewer than two data blocks of its rows (too small), or no such row exists (a
    /// single row). Data still in the memtable is not sampled: flush first for an exact
    /// picture. Costs an iterator seek per candidate (at most 8).
    pub fn split_point(&self) -> Result<Option<Vec<u8>>> {
        let s = self.range_samples()?;
        if s.samples.len() < 2 {
            return Ok(None);
        }
        let ro = ReadOptions {
            lower_bound: Some(self.keys.start.clone()),
            upper_bound: self.keys.end.clone(),
            ..Default::default()
        };
        let mut it = self.db.iter(&ro)?;
        it.seek_to_first();
        let first_row = current_row(&mut it);
        it.status()?;
        let Some(first_row) = first_row else { return Ok(None) };
        let half = s.table_bytes / 2;
        let mut order: Vec<(u64, &[u8])> =
            s.samples.iter().map(|(key, _, offset)| (offset.abs_diff(half), key.as_slice())).collect();
        order.sort();
        let mut tried: Vec<Vec<u8>> = Vec::new();
        for (_, key) in order {
            if tried.len() >= SPLIT_CANDIDATES {
                break;
            }
            it.seek(key);
            let mut row = current_row(&mut it);
            if row.is_none() {
                it.seek_to_last();
                row = it.valid().then(|| row_at(it.key())).flatten();
            }
            it.status()?;
            let Some(row) = row else { continue };
            if tried.contains(&row) {
                continue;
            }
            if row > first_row && self.strictly_inside(&row) {
                return Ok(Some(row));
            }
            tried.push(row);
        }
        Ok(None)
    }

    /// Splits the tablet at `split_row` (strictly inside its range) into `[start, split_row)`
    /// in `left_dir` and `[split_row, end)` in `right_dir` (both absent or empty).
    ///
    /// Holds new writes while it flushes and checkpoints the engine into both directories
    /// (hard links: no data is copied) and opens the children with the parent's options
    /// (sharing its caches and background pool) and current schema. Writes acknowledged
    /// before the call are in the children; from the moment it returns `Ok`, every write to
    /// the parent fails with [`Error::NotServing`], so no acknowledged write is lost between
    /// them. Reads of the parent go on (it still holds its data) until it is dropped. Each
    /// child starts a background compaction of its sibling's key range, which its compaction
    /// filter empties.
    ///
    /// On error the parent keeps serving, and the directories may hold an incomplete
    /// checkpoint (no `CURRENT`; the caller removes them). The caller records the split
    /// (`docs/cluster.md`: the `SPLIT` marker, then the report to the master) before the
    /// children take writes.
    pub fn split(
        &self,
        split_row: &[u8],
        left_dir: impl AsRef<Path>,
        right_dir: impl AsRef<Path>,
    ) -> Result<(Tablet, Tablet)> {
        if !self.strictly_inside(split_row) {
            return Err(Error::invalid(format!(
                "split row {} is not strictly inside the tablet's range [{}, {})",
                escape_for_display(split_row),
                escape_for_display(&self.start),
                if self.end.is_empty() { "<end of table>".to_string() } else { escape_for_display(&self.end) }
            )));
        }
        let mut gate = self.db.hold_writes();
        if let GateState::Closed(reason) = &*gate {
            return Err(Error::NotServing { reason: reason.clone() });
        }
        self.db.checkpoint(left_dir.as_ref())?;
        self.db.checkpoint(right_dir.as_ref())?;
        let schema = (*self.schema.get()).clone();
        let left = Tablet::open(left_dir, &self.start, split_row, schema.clone(), self.opts.clone())?;
        let right = Tablet::open(right_dir, split_row, &self.end, schema, self.opts.clone())?;
        *gate = GateState::Closed(format!(
            "tablet [{}, {}) was split at row {}; retry at the tablet that now holds the row",
            escape_for_display(&self.start),
            if self.end.is_empty() { "<end of table>".to_string() } else { escape_for_display(&self.end) },
            escape_for_display(split_row),
        ));
        drop(gate);
        // Failing to start these only delays the shrink to the children's next compactions.
        let boundary = row_start(split_row);
        let _ = left.db.compact_range_in_background(Some(&boundary), None);
        let _ = right.db.compact_range_in_background(None, Some(&boundary));
        Ok((left, right))
    }

    /// False once the tablet was split (it refuses writes).
    pub fn is_serving(&self) -> bool {
        self.db.gate_state() == GateState::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{encode_cell_key, row_end};

    #[test]
    fn row_at_decodes_cell_keys_and_cut_separators() {
        assert_eq!(row_at(&encode_cell_key(b"r\x00w", b"cf", b"q", 5)), Some(b"r\x00w".to_vec()));
        assert_eq!(row_at(&row_start(b"abc")), Some(b"abc".to_vec()));
        // A separator cut inside the row: that prefix is the row at or above it.
        assert_eq!(row_at(b"ab"), Some(b"ab".to_vec()));
        // Past every cell of "a": the next row is "a\0".
        assert_eq!(row_at(&row_end(b"a")), Some(b"a\x00".to_vec()));
        assert_eq!(row_at(b"a\x00"), Some(b"a".to_vec()));
        assert_eq!(row_at(b""), None);
        assert_eq!(row_at(b"\x00\x01meta"), None);
        assert_eq!(row_at(b"\x00\x00"), None);
    }

    #[test]
    fn row_at_is_at_or_above_the_key() {
        // For every key k: row_start(row_at(k)) >= k unless k lies inside that row.
        for k in [&b"ab"[..], b"a\x00\x02", b"a\x00\xff", b"zz\x00\x01cf", b"q"] {
            let row = row_at(k).unwrap();
            let s = row_start(&row);
            let e = row_end(&row);
            assert!(s.as_slice() >= k || (k >= s.as_slice() && k < e.as_slice()), "{k:?}");
        }
    }
}
