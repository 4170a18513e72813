//! Row-level routing: the tablet location cache and clipping a `RowSet` to one tablet.
//!
//! Pure code (no I/O), so the rules are unit-tested here and the network side stays thin.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::proto::bigtable::row_range::{EndKey, StartKey};
use crate::proto::bigtable::{RowRange, RowSet};

/// Where one tablet is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// First row (inclusive).
    pub start: Vec<u8>,
    /// End row (exclusive); empty: the end of the table.
    pub end: Vec<u8>,
    /// `host:port` of the serving tablet server; empty while unassigned.
    pub address: String,
}

impl Location {
    /// True when `row` is in `[start, end)`.
    pub fn contains(&self, row: &[u8]) -> bool {
        row >= self.start.as_slice() && (self.end.is_empty() || row < self.end.as_slice())
    }
}

/// The cached locations of one table, keyed by start row. May have gaps (tablets not yet
/// looked up or dropped after a "not serving" answer).
#[derive(Clone, Debug, Default)]
pub struct TableLocations {
    by_start: BTreeMap<Vec<u8>, Location>,
}

impl TableLocations {
    /// Replaces every cached entry overlapping any of `locations` with them.
    pub fn insert_all(&mut self, locations: impl IntoIterator<Item = Location>) {
        for loc in locations {
            let overlapping: Vec<Vec<u8>> =
                self.by_start.values().filter(|l| overlaps(l, &loc.start, &loc.end)).map(|l| l.start.clone()).collect();
            for k in overlapping {
                self.by_start.remove(&k);
            }
            self.by_start.insert(loc.start.clone(), loc);
        }
    }

    /// The cached tablet holding `row`.
    pub fn find(&self, row: &[u8]) -> Option<&Location> {
        self.by_start
            .range::<[u8], _>((Bound::Unbounded, Bound::Included(row)))
            .next_back()
            .map(|(_, l)| l)
            .filter(|l| l.contains(row))
    }

    /// Forgets the tablet holding `row` (after a "not serving" answer).
    pub fn forget(&mut self, row: &[u8]) {
        if let Some(start) = self.find(row).map(|l| l.start.clone()) {
            self.by_start.remove(&start);
        }
    }

    /// The cached tablets covering `[start, end)` (empty end: to the end of the table) in
    /// row order, or `None` when there is a gap or an unassigned tablet in the cache.
    pub fn cover(&self, start: &[u8], end: &[u8]) -> Option<Vec<Location>> {
        let mut out = Vec::new();
        let mut at = start.to_vec();
        loop {
            let loc = self.find(&at)?;
            if loc.address.is_empty() {
                return None;
            }
            out.push(loc.clone());
            if loc.end.is_empty() || (!end.is_empty() && loc.end.as_slice() >= end) {
                return Some(out);
            }
            at.clone_from(&loc.end);
        }
    }

    /// Number of cached tablets.
    pub fn len(&self) -> usize {
        self.by_start.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.by_start.is_empty()
    }
}

fn overlaps(l: &Location, start: &[u8], end: &[u8]) -> bool {
    let starts_before_end = end.is_empty() || l.start.as_slice() < end;
    let ends_after_start = l.end.is_empty() || l.end.as_slice() > start;
    starts_before_end && ends_after_start
}

/// The lowest row a `RowSet` can select and the end of what it can select (exclusive; empty
/// for the end of the table): the span whose tablets a read must visit.
pub fn row_set_span(rows: &RowSet) -> (Vec<u8>, Vec<u8>) {
    if rows.row_keys.is_empty() && rows.row_ranges.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut lo: Option<Vec<u8>> = None;
    let mut hi: Option<Vec<u8>> = None; // None = unbounded once set_unbounded is true
    let mut unbounded = false;
    let mut take = |start: Vec<u8>, end: Option<Vec<u8>>| {
        if lo.as_ref().is_none_or(|l| &start < l) {
            lo = Some(start);
        }
        match end {
            None => unbounded = true,
            Some(e) => {
                if hi.as_ref().is_none_or(|h| &e > h) {
                    hi = Some(e);
                }
            }
        }
    };
    for k in &rows.row_keys {
        take(k.clone(), Some(successor(k)));
    }
    for r in &rows.row_ranges {
        let start = match &r.start_key {
            Some(StartKey::StartKeyClosed(k)) | Some(StartKey::StartKeyOpen(k)) => k.clone(),
            None => Vec::new(),
        };
        let end = match &r.end_key {
            Some(EndKey::EndKeyOpen(k)) if !k.is_empty() => Some(k.clone()),
            Some(EndKey::EndKeyClosed(k)) if !k.is_empty() => Some(successor(k)),
            _ => None,
        };
        take(start, end);
    }
    (lo.unwrap_or_default(), if unbounded { Vec::new() } else { hi.unwrap_or_default() })
}

/// The smallest key greater than `k`.
fn successor(k: &[u8]) -> Vec<u8> {
    let mut s = k.to_vec();
    s.push(0);
    s
}

/// The part of `rows` inside `[start, end)`, or `None` when nothing of it is. An empty
/// `RowSet` (every row) becomes the tablet's whole range.
pub fn clip_row_set(rows: &RowSet, start: &[u8], end: &[u8]) -> Option<RowSet> {
    let loc = Location { start: start.to_vec(), end: end.to_vec(), address: String::new() };
    let whole = RowRange {
        start_key: Some(StartKey::StartKeyClosed(start.to_vec())),
        end_key: (!end.is_empty()).then(|| EndKey::EndKeyOpen(end.to_vec())),
    };
    if rows.row_keys.is_empty() && rows.row_ranges.is_empty() {
        return Some(RowSet { row_keys: Vec::new(), row_ranges: vec![whole] });
    }
    let row_keys: Vec<Vec<u8>> = rows.row_keys.iter().filter(|k| !k.is_empty() && loc.contains(k)).cloned().collect();
    let row_ranges: Vec<RowRange> = rows.row_ranges.iter().filter_map(|r| clip_range(r, start, end)).collect();
    (!row_keys.is_empty() || !row_ranges.is_empty()).then_some(RowSet { row_keys, row_ranges })
}

/// `r` intersected with `[start, end)`, or `None` when the intersection is empty.
fn clip_range(r: &RowRange, start: &[u8], end: &[u8]) -> Option<RowRange> {
    // Lower bound: the larger of the two.
    let lower = match &r.start_key {
        Some(StartKey::StartKeyClosed(k)) if k.as_slice() >= start => StartKey::StartKeyClosed(k.clone()),
        Some(StartKey::StartKeyOpen(k)) if k.as_slice() >= start => StartKey::StartKeyOpen(k.clone()),
        _ => StartKey::StartKeyClosed(start.to_vec()),
    };
    // Upper bound: the smaller of the two (empty = unbounded on either side).
    let range_end = match &r.end_key {
        Some(EndKey::EndKeyOpen(k)) | Some(EndKey::EndKeyClosed(k)) if k.is_empty() => None,
        other => other.clone(),
    };
    let upper = match range_end {
        None if end.is_empty() => None,
        None => Some(EndKey::EndKeyOpen(end.to_vec())),
        Some(EndKey::EndKeyOpen(k)) if end.is_empty() || k.as_slice() <= end => Some(EndKey::EndKeyOpen(k)),
        Some(EndKey::EndKeyClosed(k)) if end.is_empty() || k.as_slice() < end => Some(EndKey::EndKeyClosed(k)),
        Some(_) => Some(EndKey::EndKeyOpen(end.to_vec())),
    };
    // Empty intersection?
    let empty = match (&lower, &upper) {
        (_, None) => false,
        (StartKey::StartKeyClosed(l), Some(EndKey::EndKeyOpen(u))) => l >= u,
        (StartKey::StartKeyClosed(l), Some(EndKey::EndKeyClosed(u))) => l > u,
        (StartKey::StartKeyOpen(l), Some(EndKey::EndKeyOpen(u))) => successor(l) >= *u,
        (StartKey::StartKeyOpen(l), Some(EndKey::EndKeyClosed(u))) => l >= u,
    };
    (!empty).then_some(RowRange { start_key: Some(lower), end_key: upper })
}

/// What is left of `rows` after the rows up to and including `last` (or, for a reversed
/// read, down to and including `last`) were delivered: the row set a retry asks for.
pub fn remaining_after(rows: &RowSet, last: &[u8], reversed: bool) -> Option<RowSet> {
    let rest = if reversed {
        RowRange { start_key: None, end_key: Some(EndKey::EndKeyOpen(last.to_vec())) }
    } else {
        RowRange { start_key: Some(StartKey::StartKeyOpen(last.to_vec())), end_key: None }
    };
    let everything = rows.row_keys.is_empty() && rows.row_ranges.is_empty();
    if everything {
        return Some(RowSet { row_keys: Vec::new(), row_ranges: vec![rest] });
    }
    let row_keys: Vec<Vec<u8>> = rows
        .row_keys
        .iter()
        .filter(|k| if reversed { k.as_slice() < last } else { k.as_slice() > last })
        .cloned()
        .collect();
    let row_ranges: Vec<RowRange> = rows.row_ranges.iter().filter_map(|r| intersect(r, &rest)).collect();
    (!row_keys.is_empty() || !row_ranges.is_empty()).then_some(RowSet { row_keys, row_ranges })
}

/// Intersection of `r` with a half-bounded `rest` (`StartKeyOpen(last)..` or `..EndKeyOpen(last)`).
fn intersect(r: &RowRange, rest: &RowRange) -> Option<RowRange> {
    match (&rest.start_key, &rest.end_key) {
        (Some(StartKey::StartKeyOpen(last)), None) => {
            // Everything strictly above `last`: clip_range with start = successor(last).
            clip_range(r, &successor(last), b"")
        }
        (None, Some(EndKey::EndKeyOpen(last))) => clip_range(r, b"", last),
        _ => Some(r.clone()),
    }
}

/// One SampleRowKeys sample: a row key and the approximate bytes before it.
pub type Sample = (Vec<u8>, i64);

/// The part of a tablet server's SampleRowKeys answer (docs/rpc.md: per tablet, in key
/// order, inner samples then the tablet's end key, offsets accumulated) that belongs to the
/// tablet `[start, end)`: its inner samples with offsets from the tablet's start, and its
/// size. `None` when the answer has no sample at the tablet's end (the server does not
/// hold it as one tablet or as tablets ending there: it moved or split; ask again).
pub fn tablet_samples(answer: &[Sample], start: &[u8], end: &[u8]) -> Option<(Vec<Sample>, i64)> {
    // Everything at or before `start` belongs to the server's earlier tablets; the last of
    // those is where this tablet's bytes begin.
    let base =
        answer.iter().filter(|(k, _)| !k.is_empty() && k.as_slice() <= start).map(|&(_, off)| off).max().unwrap_or(0);
    let own: Vec<Sample> = answer
        .iter()
        .filter(|(k, _)| !k.is_empty() && k.as_slice() > start && (end.is_empty() || k.as_slice() < end))
        .map(|(k, off)| (k.clone(), off.saturating_sub(base).max(0)))
        .collect();
    let end_sample = answer.iter().find(|(k, _)| k.as_slice() == end)?;
    Some((own, end_sample.1.saturating_sub(base).max(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str, e: &str, a: &str) -> Location {
        Location { start: s.into(), end: e.into(), address: a.into() }
    }

    fn range(s: Option<StartKey>, e: Option<EndKey>) -> RowRange {
        RowRange { start_key: s, end_key: e }
    }

    #[test]
    fn cache_find_cover_forget() {
        let mut t = TableLocations::default();
        t.insert_all([loc("", "g", "a:1"), loc("g", "p", "b:1"), loc("p", "", "c:1")]);
        assert_eq!(t.find(b"").unwrap().address, "a:1");
        assert_eq!(t.find(b"f\xff").unwrap().address, "a:1");
        assert_eq!(t.find(b"g").unwrap().address, "b:1");
        assert_eq!(t.find(b"zzz").unwrap().address, "c:1");
        let cover = t.cover(b"c", b"q").unwrap();
        assert_eq!(cover.iter().map(|l| l.address.as_str()).collect::<Vec<_>>(), ["a:1", "b:1", "c:1"]);
        assert_eq!(t.cover(b"c", b"g").unwrap().len(), 1);
        t.forget(b"h");
        assert!(t.find(b"h").is_none());
        assert!(t.cover(b"a", b"").is_none(), "gap after forgetting");
        // A split replaces the old entry.
        t.insert_all([loc("g", "k", "d:1"), loc("k", "p", "e:1")]);
        assert_eq!(t.cover(b"", b"").unwrap().len(), 4);
        t.insert_all([loc("", "p", "f:1")]);
        assert_eq!(t.len(), 2, "a merged entry replaces everything it overlaps");
    }

    #[test]
    fn unassigned_is_not_a_cover() {
        let mut t = TableLocations::default();
        t.insert_all([loc("", "", "")]);
        assert!(t.cover(b"", b"").is_none());
    }

    #[test]
    fn clip_keys_and_ranges() {
        let rows = RowSet {
            row_keys: vec![b"a".to_vec(), b"h".to_vec(), b"z".to_vec()],
            row_ranges: vec![
                range(Some(StartKey::StartKeyClosed(b"c".to_vec())), Some(EndKey::EndKeyOpen(b"j".to_vec()))),
                range(Some(StartKey::StartKeyOpen(b"x".to_vec())), None),
            ],
        };
        let c = clip_row_set(&rows, b"g", b"p").unwrap();
        assert_eq!(c.row_keys, vec![b"h".to_vec()]);
        assert_eq!(
            c.row_ranges,
            vec![range(Some(StartKey::StartKeyClosed(b"g".to_vec())), Some(EndKey::EndKeyOpen(b"j".to_vec())))]
        );
        let c = clip_row_set(&rows, b"p", b"").unwrap();
        assert_eq!(c.row_keys, vec![b"z".to_vec()]);
        assert_eq!(c.row_ranges, vec![range(Some(StartKey::StartKeyOpen(b"x".to_vec())), None)]);
        assert!(clip_row_set(&rows, b"k", b"p").is_none());
        // Empty set = the whole tablet.
        let c = clip_row_set(&RowSet::default(), b"g", b"p").unwrap();
        assert_eq!(
            c.row_ranges,
            vec![range(Some(StartKey::StartKeyClosed(b"g".to_vec())), Some(EndKey::EndKeyOpen(b"p".to_vec())))]
        );
        // Closed end at the tablet end is clipped to open.
        let r = RowSet { row_keys: vec![], row_ranges: vec![range(None, Some(EndKey::EndKeyClosed(b"p".to_vec())))] };
        let c = clip_row_set(&r, b"g", b"p").unwrap();
        assert_eq!(c.row_ranges[0].end_key, Some(EndKey::EndKeyOpen(b"p".to_vec())));
        // Open start at the last row of a tablet selects nothing there.
        let r = RowSet {
            row_keys: vec![],
            row_ranges: vec![range(
                Some(StartKey::StartKeyOpen(b"o".to_vec())),
                Some(EndKey::EndKeyOpen(b"o\0".to_vec())),
            )],
        };
        assert!(clip_row_set(&r, b"g", b"p").is_none());
    }

    #[test]
    fn tablet_samples_cut_a_server_answer() {
        // A server holding ["", "g") and ["m", ""): inner samples, then each end key.
        let answer: Vec<(Vec<u8>, i64)> =
            vec![(b"c".to_vec(), 10), (b"g".to_vec(), 25), (b"p".to_vec(), 40), (b"".to_vec(), 70)];
        let (own, size) = tablet_samples(&answer, b"", b"g").unwrap();
        assert_eq!(own, vec![(b"c".to_vec(), 10)]);
        assert_eq!(size, 25);
        let (own, size) = tablet_samples(&answer, b"m", b"").unwrap();
        assert_eq!(own, vec![(b"p".to_vec(), 15)]);
        assert_eq!(size, 45);
        // A tablet the server does not end: moved or split.
        assert!(tablet_samples(&answer, b"g", b"m").is_none());
        assert!(tablet_samples(&[], b"", b"").is_none());
        // A tablet split in two on the same server still reads as one.
        let (own, size) = tablet_samples(&answer, b"", b"").unwrap();
        assert_eq!(own.len(), 3);
        assert_eq!(size, 70);
    }

    #[test]
    fn span_of_row_sets() {
        assert_eq!(row_set_span(&RowSet::default()), (vec![], vec![]));
        let r = RowSet {
            row_keys: vec![b"m".to_vec()],
            row_ranges: vec![range(
                Some(StartKey::StartKeyClosed(b"c".to_vec())),
                Some(EndKey::EndKeyClosed(b"e".to_vec())),
            )],
        };
        assert_eq!(row_set_span(&r), (b"c".to_vec(), b"m\0".to_vec()));
        let r = RowSet { row_keys: vec![b"m".to_vec()], row_ranges: vec![range(None, None)] };
        assert_eq!(row_set_span(&r), (vec![], vec![]));
    }

    #[test]
    fn resume_after_last_row() {
        let all = remaining_after(&RowSet::default(), b"k", false).unwrap();
        assert_eq!(all.row_ranges, vec![range(Some(StartKey::StartKeyOpen(b"k".to_vec())), None)]);
        let rows = RowSet {
            row_keys: vec![b"a".to_vec(), b"q".to_vec()],
            row_ranges: vec![range(
                Some(StartKey::StartKeyClosed(b"c".to_vec())),
                Some(EndKey::EndKeyOpen(b"m".to_vec())),
            )],
        };
        let rest = remaining_after(&rows, b"f", false).unwrap();
        assert_eq!(rest.row_keys, vec![b"q".to_vec()]);
        assert_eq!(
            rest.row_ranges,
            vec![range(Some(StartKey::StartKeyClosed(b"f\0".to_vec())), Some(EndKey::EndKeyOpen(b"m".to_vec())))]
        );
        assert!(remaining_after(&rows, b"q", false).is_none());
        let rest = remaining_after(&rows, b"f", true).unwrap();
        assert_eq!(rest.row_keys, vec![b"a".to_vec()]);
        assert_eq!(
            rest.row_ranges,
            vec![range(Some(StartKey::StartKeyClosed(b"c".to_vec())), Some(EndKey::EndKeyOpen(b"f".to_vec())))]
        );
    }
}
