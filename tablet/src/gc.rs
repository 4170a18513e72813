//! Per-family garbage-collection rules: what they collect, and the compaction filter that
//! removes it from disk.
//!
//! A rule decides, for one cell, from the cell's *version index* in its column (0 for the
//! newest visible version, 1 for the next...), its timestamp, and "now", whether the cell
//! is garbage. It is applied twice:
//!
//! 1. **At read time** ([`crate::cells::RowCollector`]): a cell the rule collects is never
//!    returned, from the moment it becomes garbage (the version index counts the cells the
//!    read sees, so deleted versions do not count).
//! 2. **Physically**, by [`GcFilterFactory`], an engine compaction filter. It sees the keys
//!    of one flush or compaction in order and counts versions per column among *those*
//!    keys. A flush or compaction that holds only part of a column sees at most as many
//!    newer versions as really exist, so it never removes a cell that a read still shows,
//!    with one exception that Bigtable shares (its GC is eventual too): when the newest
//!    versions of a column were deleted but their deletion has not yet reached the level
//!    being compacted, the filter still counts them, and may remove older versions that a
//!    read would show once the newer ones are gone. Deleting the newest versions of a
//!    column is therefore not a way to bring back versions a max-versions rule hid.
//!
//! "Now" for max-age comes from the injected [`Clock`]; a filter fixes it when its
//! compaction starts, which is never later than any read after it, so a filter never
//! removes a cell that a later read would show.

use std::sync::Arc;
use std::time::Duration;

use engine::{CompactionFilter, CompactionFilterFactory, Decision, FilterContext};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::keys::{decode_cell_key, TIMESTAMP_LEN};
use crate::proto::bt::internal::v1 as internal;
use crate::schema::{Schema, SharedSchema};

/// A garbage-collection rule, as the admin API's `GcRule` (and our internal copy of it)
/// describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcRule {
    /// Collect all but the newest N versions of each column (N >= 1).
    MaxNumVersions(u32),
    /// Collect cells whose timestamp is more than this far before now.
    MaxAge(Duration),
    /// Collect what every one of the rules collects (an empty list collects nothing).
    Intersection(Vec<GcRule>),
    /// Collect what any of the rules collects (an empty list collects nothing).
    Union(Vec<GcRule>),
}

impl GcRule {
    /// True when the rule collects a cell that is version `version` (0 = newest) of its
    /// column, stamped `timestamp_micros`, at time `now_micros`.
    pub fn collects(&self, version: usize, timestamp_micros: i64, now_micros: i64) -> bool {
        match self {
            GcRule::MaxNumVersions(n) => version >= *n as usize,
            GcRule::MaxAge(age) => {
                let age_micros = i128::try_from(age.as_micros()).unwrap_or(i128::MAX);
                i128::from(now_micros) - i128::from(timestamp_micros) > age_micros
            }
            GcRule::Intersection(rules) => {
                !rules.is_empty() && rules.iter().all(|r| r.collects(version, timestamp_micros, now_micros))
            }
            GcRule::Union(rules) => rules.iter().any(|r| r.collects(version, timestamp_micros, now_micros)),
        }
    }

    /// The rule an internal-protocol `GcRule` describes; `None` when it sets no rule (never
    /// collect). A nested unset rule collects nothing. Invalid values (max versions below
    /// 1, a negative or out-of-range age) are [`Error::InvalidArgument`].
    pub fn from_proto(rule: &internal::GcRule) -> Result<Option<GcRule>> {
        use internal::gc_rule::Rule;
        let Some(r) = &rule.rule else { return Ok(None) };
        let nested = |rules: &[internal::GcRule]| -> Result<Vec<GcRule>> {
            rules.iter().map(|r| Ok(GcRule::from_proto(r)?.unwrap_or(GcRule::Union(Vec::new())))).collect()
        };
        Ok(Some(match r {
            Rule::MaxNumVersions(n) => match u32::try_from(*n) {
                Ok(n) if n >= 1 => GcRule::MaxNumVersions(n),
                _ => return Err(Error::invalid(format!("gc rule: max_num_versions must be at least 1, got {n}"))),
            },
            Rule::MaxAge(d) => {
                let secs = u64::try_from(d.seconds).ok();
                let nanos = u32::try_from(d.nanos).ok().filter(|n| *n < 1_000_000_000);
                match (secs, nanos) {
                    (Some(s), Some(n)) => GcRule::MaxAge(Duration::new(s, n)),
                    _ => {
                        return Err(Error::invalid(format!(
                            "gc rule: max_age must be a non-negative duration, got {}s {}ns",
                            d.seconds, d.nanos
                        )))
                    }
                }
            }
            Rule::Intersection(i) => GcRule::Intersection(nested(&i.rules)?),
            Rule::Union(u) => GcRule::Union(nested(&u.rules)?),
        }))
    }
}

/// Makes the GC compaction filter of one tablet: the current schema's rules, the clock's
/// time at the start of each flush or compaction.
#[derive(Debug, Clone)]
pub struct GcFilterFactory {
    schema: SharedSchema,
    clock: Arc<dyn Clock>,
}

impl GcFilterFactory {
    /// A factory reading rules from `schema` (so later schema changes apply to later
    /// compactions) and time from `clock`.
    pub fn new(schema: SharedSchema, clock: Arc<dyn Clock>) -> Self {
        GcFilterFactory { schema, clock }
    }
}

impl CompactionFilterFactory for GcFilterFactory {
    fn create(&self, _ctx: &FilterContext) -> Option<Box<dyn CompactionFilter>> {
        let schema = self.schema.get();
        if !schema.has_gc_rules() {
            return None;
        }
        Some(Box::new(GcFilter::new(schema, self.clock.now_micros())))
    }
}

/// One flush's or compaction's filter: counts versions per column over the keys it is
/// shown (in ascending order) and removes what the family's rule collects.
#[derive(Debug)]
pub struct GcFilter {
    schema: Arc<Schema>,
    now_micros: i64,
    /// The current column: the last key without its timestamp.
    column: Vec<u8>,
    /// The current column's rule (`None`: keep everything).
    rule: Option<GcRule>,
    /// Version index of the next key of the current column.
    next_version: usize,
}

impl GcFilter {
    /// A filter applying `schema`'s rules as of `now_micros`.
    pub fn new(schema: Arc<Schema>, now_micros: i64) -> Self {
        GcFilter { schema, now_micros, column: Vec::new(), rule: None, next_version: 0 }
    }
}

impl CompactionFilter for GcFilter {
    fn filter(&mut self, key: &[u8], _value: &[u8]) -> Decision {
        let Some(column) = key.len().checked_sub(TIMESTAMP_LEN).and_then(|n| key.get(..n)) else {
            return Decision::Keep;
        };
        if column != self.column.as_slice() || self.column.is_empty() {
            // A new column: decode once to find its family's rule. Keys that do not decode
            // (reserved metadata, damage) are kept: never drop what is not understood.
            let Ok(cell) = decode_cell_key(key) else {
                self.column.clear();
                self.rule = None;
                return Decision::Keep;
            };
            self.column.clear();
            self.column.extend_from_slice(column);
            // Families missing from the schema keep their cells: reads hide them, and
            // removing a dropped family's data is the master's decision, not a GC rule's.
            self.rule = self.schema.gc_rule(&cell.family).cloned();
            self.next_version = 0;
        }
        let version = self.next_version;
        self.next_version += 1;
        let Some(rule) = &self.rule else { return Decision::Keep };
        let Some(ts) = key.get(column.len()..).and_then(|t| <[u8; TIMESTAMP_LEN]>::try_from(t).ok()) else {
            return Decision::Keep;
        };
        if rule.collects(version, crate::keys::decode_timestamp(ts), self.now_micros) {
            Decision::Remove
        } else {
            Decision::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::encode_cell_key;

    const S: i64 = 1_000_000;

    #[test]
    fn max_versions_keeps_the_newest_n() {
        let r = GcRule::MaxNumVersions(2);
        assert!(!r.collects(0, 0, 0));
        assert!(!r.collects(1, 0, 0));
        assert!(r.collects(2, 0, 0));
    }

    #[test]
    fn max_age_collects_strictly_older_cells() {
        let r = GcRule::MaxAge(Duration::from_secs(10));
        let now = 100 * S;
        assert!(!r.collects(5, 95 * S, now));
        assert!(!r.collects(5, 90 * S, now), "exactly max_age old is kept");
        assert!(r.collects(0, 90 * S - 1, now));
        assert!(!r.collects(0, 200 * S, now), "future cells are young");
        assert!(GcRule::MaxAge(Duration::ZERO).collects(0, i64::MIN, i64::MAX));
        assert!(!GcRule::MaxAge(Duration::MAX).collects(0, i64::MIN, i64::MAX));
    }

    #[test]
    fn union_and_intersection_combine() {
        let versions = GcRule::MaxNumVersions(1);
        let age = GcRule::MaxAge(Duration::from_secs(10));
        let now = 100 * S;
        let union = GcRule::Union(vec![versions.clone(), age.clone()]);
        let inter = GcRule::Intersection(vec![versions, age]);
        // (version, ts) -> (union collects, intersection collects)
        let cases = [
            ((0, 99 * S), (false, false)),
            ((1, 99 * S), (true, false)),
            ((0, S), (true, false)),
            ((1, S), (true, true)),
        ];
        for ((v, ts), (u, i)) in cases {
            assert_eq!(union.collects(v, ts, now), u, "union {v} {ts}");
            assert_eq!(inter.collects(v, ts, now), i, "intersection {v} {ts}");
        }
        assert!(!GcRule::Union(vec![]).collects(9, 0, now));
        assert!(!GcRule::Intersection(vec![]).collects(9, 0, now));
    }

    #[test]
    fn from_proto_converts_and_validates() {
        use internal::gc_rule::{Intersection, Rule, Union};
        let p = |rule| internal::GcRule { rule: Some(rule) };
        assert_eq!(GcRule::from_proto(&internal::GcRule { rule: None }).unwrap(), None);
        let nested = p(Rule::Union(Union {
            rules: vec![
                p(Rule::MaxNumVersions(3)),
                p(Rule::Intersection(Intersection {
                    rules: vec![
                        p(Rule::MaxAge(prost_types::Duration { seconds: 5, nanos: 7 })),
                        internal::GcRule { rule: None },
                    ],
                })),
            ],
        }));
        assert_eq!(
            GcRule::from_proto(&nested).unwrap(),
            Some(GcRule::Union(vec![
                GcRule::MaxNumVersions(3),
                GcRule::Intersection(vec![GcRule::MaxAge(Duration::new(5, 7)), GcRule::Union(vec![])]),
            ]))
        );
        for bad in [
            p(Rule::MaxNumVersions(0)),
            p(Rule::MaxNumVersions(-2)),
            p(Rule::MaxAge(prost_types::Duration { seconds: -1, nanos: 0 })),
            p(Rule::MaxAge(prost_types::Duration { seconds: 1, nanos: 1_000_000_000 })),
        ] {
            assert!(matches!(GcRule::from_proto(&bad), Err(Error::InvalidArgument(_))), "{bad:?}");
        }
    }

    #[test]
    fn filter_counts_versions_per_column_in_key_order() {
        let schema =
            Schema::new().with_family("v", Some(GcRule::MaxNumVersions(1))).unwrap().with_family("keep", None).unwrap();
        let mut f = GcFilter::new(Arc::new(schema), 0);
        let mut decide =
            |row: &[u8], fam: &str, q: &[u8], ts| f.filter(&encode_cell_key(row, fam.as_bytes(), q, ts), b"");
        assert_eq!(decide(b"r", "keep", b"a", 3000), Decision::Keep);
        assert_eq!(decide(b"r", "keep", b"a", 2000), Decision::Keep);
        assert_eq!(decide(b"r", "v", b"a", 3000), Decision::Keep);
        assert_eq!(decide(b"r", "v", b"a", 2000), Decision::Remove);
        assert_eq!(decide(b"r", "v", b"a", 1000), Decision::Remove);
        assert_eq!(decide(b"r", "v", b"b", 1000), Decision::Keep);
        assert_eq!(decide(b"s", "v", b"b", 9000), Decision::Keep, "new row, new column");
        assert_eq!(decide(b"s", "v", b"b", 8000), Decision::Remove);
        assert_eq!(decide(b"s", "gone", b"b", 8000), Decision::Keep, "unknown family kept");
        assert_eq!(f.filter(b"garbage", b""), Decision::Keep);
        assert_eq!(f.filter(b"", b""), Decision::Keep);
    }
}
