//! A request's `RowSet` as a sorted list of disjoint engine key ranges.
//!
//! Bigtable's rules: a `RowSet` is the union of its row keys and row ranges; an empty set
//! (no keys, no ranges) means every row. A range's unset start is the empty key
//! (inclusive), its unset end the end of the table. A range whose start is past its end
//! selects nothing (we treat it as empty rather than an error, as the emulator does). An
//! empty row key in `row_keys` selects nothing (no row has an empty key).

use crate::keys::{row_bounds_key_range, row_key_range, KeyRange, RowBound};
use crate::proto::bigtable::row_range::{EndKey, StartKey};
use crate::proto::bigtable::{RowRange, RowSet};

/// The engine key range of one `RowRange`.
pub fn row_range_keys(r: &RowRange) -> KeyRange {
    let lower = match &r.start_key {
        Some(StartKey::StartKeyClosed(k)) => RowBound::Closed(k),
        Some(StartKey::StartKeyOpen(k)) => RowBound::Open(k),
        None => RowBound::Unbounded,
    };
    let upper = match &r.end_key {
        // An empty end key means "to the end of the table", as clients send it.
        Some(EndKey::EndKeyOpen(k)) | Some(EndKey::EndKeyClosed(k)) if k.is_empty() => RowBound::Unbounded,
        Some(EndKey::EndKeyOpen(k)) => RowBound::Open(k),
        Some(EndKey::EndKeyClosed(k)) => RowBound::Closed(k),
        None => RowBound::Unbounded,
    };
    row_bounds_key_range(lower, upper)
}

/// The disjoint, ascending key ranges `rows` selects within `limit` (the tablet's range).
pub fn row_set_key_ranges(rows: &RowSet, limit: &KeyRange) -> Vec<KeyRange> {
    let mut ranges: Vec<KeyRange> = if rows.row_keys.is_empty() && rows.row_ranges.is_empty() {
        vec![KeyRange { start: Vec::new(), end: None }]
    } else {
        rows.row_keys
            .iter()
            .filter(|k| !k.is_empty())
            .map(|k| row_key_range(k))
            .chain(rows.row_ranges.iter().map(row_range_keys))
            .collect()
    };
    for r in &mut ranges {
        clip(r, limit);
    }
    ranges.retain(|r| !r.is_empty());
    ranges.sort_by(|a, b| a.start.cmp(&b.start));
    let mut merged: Vec<KeyRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        if let Some(last) = merged.last_mut() {
            if last.end.as_deref().is_none_or(|e| r.start.as_slice() <= e) {
                last.end = match (last.end.take(), r.end) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                continue;
            }
        }
        merged.push(r);
    }
    merged
}

/// Narrows `r` to its intersection with `limit`.
fn clip(r: &mut KeyRange, limit: &KeyRange) {
    if r.start < limit.start {
        r.start.clone_from(&limit.start);
    }
    if let Some(le) = &limit.end {
        if r.end.as_ref().is_none_or(|e| e > le) {
            r.end = Some(le.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{row_end, row_start, rows_key_range};

    fn everything() -> KeyRange {
        KeyRange { start: Vec::new(), end: None }
    }

    fn range(start: Option<StartKey>, end: Option<EndKey>) -> RowRange {
        RowRange { start_key: start, end_key: end }
    }

    #[test]
    fn empty_set_is_everything_within_the_limit() {
        assert_eq!(row_set_key_ranges(&RowSet::default(), &everything()), vec![everything()]);
        let tablet = rows_key_range(b"b", b"d");
        assert_eq!(row_set_key_ranges(&RowSet::default(), &tablet), vec![tablet]);
    }

    #[test]
    fn keys_and_ranges_are_sorted_merged_and_clipped() {
        let rows = RowSet {
            row_keys: vec![b"e".to_vec(), b"a".to_vec(), b"".to_vec(), b"c".to_vec(), b"c".to_vec()],
            row_ranges: vec![
                range(Some(StartKey::StartKeyOpen(b"b".to_vec())), Some(EndKey::EndKeyClosed(b"c".to_vec()))),
                range(Some(StartKey::StartKeyClosed(b"z".to_vec())), Some(EndKey::EndKeyOpen(b"y".to_vec()))),
            ],
        };
        let got = row_set_key_ranges(&rows, &everything());
        assert_eq!(
            got,
            vec![
                KeyRange { start: row_start(b"a"), end: Some(row_end(b"a")) },
                KeyRange { start: row_end(b"b"), end: Some(row_end(b"c")) },
                KeyRange { start: row_start(b"e"), end: Some(row_end(b"e")) },
            ]
        );
        // Clipped to the tablet [b, e): "a" and "e" fall out.
        let got = row_set_key_ranges(&rows, &rows_key_range(b"b", b"e"));
        assert_eq!(got, vec![KeyRange { start: row_end(b"b"), end: Some(row_end(b"c")) }]);
    }

    #[test]
    fn unbounded_ranges_swallow_what_follows() {
        let rows = RowSet {
            row_keys: vec![b"q".to_vec()],
            row_ranges: vec![
                range(Some(StartKey::StartKeyClosed(b"m".to_vec())), None),
                range(None, Some(EndKey::EndKeyOpen(b"c".to_vec()))),
                range(Some(StartKey::StartKeyClosed(b"x".to_vec())), Some(EndKey::EndKeyOpen(Vec::new()))),
            ],
        };
        let got = row_set_key_ranges(&rows, &everything());
        assert_eq!(
            got,
            vec![
                KeyRange { start: Vec::new(), end: Some(row_start(b"c")) },
                KeyRange { start: row_start(b"m"), end: None },
            ]
        );
    }
}
