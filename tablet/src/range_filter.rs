//! The tablet's compaction filter: the GC rules, plus every cell whose row is outside the
//! tablet's range.
//!
//! A tablet's own writes never leave its range, but right after a split each child's
//! database holds the parent's files, half of which belong to its sibling. This filter
//! makes every flush and compaction drop those cells, so each child shrinks to its own
//! half as its files are rewritten (the split asks for a background compaction of the
//! other half's key range right away).
//!
//! Keys in the reserved space below every cell (`00 00` … `00 FE`, see
//! `docs/tablet_key_encoding.md`) are kept: they are tablet metadata, not rows.

use engine::{CompactionFilter, CompactionFilterFactory, Decision, FilterContext};

use crate::gc::GcFilterFactory;
use crate::keys::KeyRange;

/// Makes a tablet's filters: [`GcFilterFactory`]'s, behind a range check.
#[derive(Debug, Clone)]
pub struct RangeGcFilterFactory {
    gc: GcFilterFactory,
    range: KeyRange,
}

impl RangeGcFilterFactory {
    /// Filters that drop cells outside `range` (engine keys of the tablet's rows) and apply
    /// `gc`'s rules to the rest.
    pub fn new(gc: GcFilterFactory, range: KeyRange) -> Self {
        RangeGcFilterFactory { gc, range }
    }

    fn covers_everything(&self) -> bool {
        self.range.start.is_empty() && self.range.end.is_none()
    }
}

impl CompactionFilterFactory for RangeGcFilterFactory {
    fn create(&self, ctx: &FilterContext) -> Option<Box<dyn CompactionFilter>> {
        let gc = self.gc.create(ctx);
        if self.covers_everything() {
            return gc;
        }
        Some(Box::new(RangeGcFilter { range: self.range.clone(), gc }))
    }
}

/// One flush's or compaction's filter.
struct RangeGcFilter {
    range: KeyRange,
    gc: Option<Box<dyn CompactionFilter>>,
}

/// True for keys of the reserved (metadata) space: `00` followed by anything but `FF`.
fn is_reserved(key: &[u8]) -> bool {
    matches!(key, [0, second, ..] if *second != 0xFF)
}

impl CompactionFilter for RangeGcFilter {
    fn filter(&mut self, key: &[u8], value: &[u8]) -> Decision {
        if !is_reserved(key) && !self.range.contains(key) {
            return Decision::Remove;
        }
        match self.gc.as_mut() {
            Some(gc) => gc.filter(key, value),
            None => Decision::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::keys::{encode_cell_key, rows_key_range};
    use crate::schema::{Schema, SharedSchema};

    fn factory(start: &[u8], end: &[u8]) -> RangeGcFilterFactory {
        let gc = GcFilterFactory::new(SharedSchema::new(Schema::new()), Arc::new(ManualClock::new(0)));
        RangeGcFilterFactory::new(gc, rows_key_range(start, end))
    }

    const CTX: FilterContext = FilterContext { is_flush: false, output_level: 1, bottommost: true };

    #[test]
    fn drops_rows_outside_the_range_keeps_metadata() {
        let mut f = factory(b"b", b"d").create(&CTX).unwrap();
        let k = |row: &[u8]| encode_cell_key(row, b"cf", b"q", 1);
        assert_eq!(f.filter(&k(b"a"), b""), Decision::Remove);
        assert_eq!(f.filter(&k(b"b"), b""), Decision::Keep);
        assert_eq!(f.filter(&k(b"c\xff"), b""), Decision::Keep);
        assert_eq!(f.filter(&k(b"d"), b""), Decision::Remove);
        assert_eq!(f.filter(&k(b"\x00"), b""), Decision::Remove); // row "\0" encodes as 00 FF
        assert_eq!(f.filter(b"\x00\x01meta", b""), Decision::Keep);
    }

    #[test]
    fn the_whole_table_needs_no_range_check() {
        // No GC rules and no range: no filter at all.
        assert!(factory(b"", b"").create(&CTX).is_none());
        assert!(factory(b"", b"m").create(&CTX).is_some());
    }
}
