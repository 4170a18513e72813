//! Builders for the protobuf messages a client sends: mutations, read-modify-write rules,
//! row sets and row filters.
//!
//! ```
//! use tablet::client::build::{filter, mutation, rows};
//!
//! let set = mutation::set_cell("cf", b"col", 1_000, b"value");
//! let f = filter::chain([filter::family("cf"), filter::latest(1)]);
//! let r = rows::range_closed_open(b"a", b"m");
//! # let _ = (set, f, r);
//! ```

/// Mutations (`google.bigtable.v2.Mutation`).
pub mod mutation {
    use crate::proto::bigtable::mutation::{self as m, Mutation as Kind};
    use crate::proto::bigtable::{Mutation, TimestampRange};

    /// Sets one cell; `timestamp_micros = -1` asks for server time.
    pub fn set_cell(family: &str, qualifier: &[u8], timestamp_micros: i64, value: &[u8]) -> Mutation {
        set_cell_shared(family, qualifier, timestamp_micros, bytes::Bytes::copy_from_slice(value))
    }

    /// [`set_cell`] with a value the mutation shares instead of copying (a slice of a
    /// bigger buffer, or a value also kept elsewhere).
    pub fn set_cell_shared(family: &str, qualifier: &[u8], timestamp_micros: i64, value: bytes::Bytes) -> Mutation {
        Mutation {
            mutation: Some(Kind::SetCell(m::SetCell {
                family_name: family.into(),
                column_qualifier: qualifier.to_vec(),
                timestamp_micros,
                value,
            })),
        }
    }

    /// Deletes the versions of one column with timestamps in `[start, end)` (0 = unbounded).
    pub fn delete_column_range(family: &str, qualifier: &[u8], start: i64, end: i64) -> Mutation {
        Mutation {
            mutation: Some(Kind::DeleteFromColumn(m::DeleteFromColumn {
                family_name: family.into(),
                column_qualifier: qualifier.to_vec(),
                time_range: Some(TimestampRange { start_timestamp_micros: start, end_timestamp_micros: end }),
            })),
        }
    }

    /// Deletes every version of one column.
    pub fn delete_column(family: &str, qualifier: &[u8]) -> Mutation {
        Mutation {
            mutation: Some(Kind::DeleteFromColumn(m::DeleteFromColumn {
                family_name: family.into(),
                column_qualifier: qualifier.to_vec(),
                time_range: None,
            })),
        }
    }

    /// Deletes every cell of one family.
    pub fn delete_family(family: &str) -> Mutation {
        Mutation { mutation: Some(Kind::DeleteFromFamily(m::DeleteFromFamily { family_name: family.into() })) }
    }

    /// Deletes the whole row.
    pub fn delete_row() -> Mutation {
        Mutation { mutation: Some(Kind::DeleteFromRow(m::DeleteFromRow {})) }
    }
}

/// Read-modify-write rules.
pub mod rmw {
    use crate::proto::bigtable::read_modify_write_rule::Rule;
    use crate::proto::bigtable::ReadModifyWriteRule;

    /// Appends `value` to the latest value of the column (empty when there is none).
    pub fn append(family: &str, qualifier: &[u8], value: &[u8]) -> ReadModifyWriteRule {
        ReadModifyWriteRule {
            family_name: family.into(),
            column_qualifier: qualifier.to_vec(),
            rule: Some(Rule::AppendValue(value.to_vec())),
        }
    }

    /// Adds `amount` to the latest value, read as a 64-bit big-endian integer (0 when there
    /// is none); wraps on overflow.
    pub fn increment(family: &str, qualifier: &[u8], amount: i64) -> ReadModifyWriteRule {
        ReadModifyWriteRule {
            family_name: family.into(),
            column_qualifier: qualifier.to_vec(),
            rule: Some(Rule::IncrementAmount(amount)),
        }
    }
}

/// Row sets.
pub mod rows {
    use crate::proto::bigtable::row_range::{EndKey, StartKey};
    use crate::proto::bigtable::{RowRange, RowSet};

    /// Every row of the table.
    pub fn all() -> RowSet {
        RowSet::default()
    }

    /// The listed rows.
    pub fn keys<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>) -> RowSet {
        RowSet { row_keys: keys.into_iter().map(|k| k.as_ref().to_vec()).collect(), row_ranges: Vec::new() }
    }

    /// Rows in `[start, end)`; an empty `end` runs to the end of the table.
    pub fn range_closed_open(start: &[u8], end: &[u8]) -> RowSet {
        RowSet {
            row_keys: Vec::new(),
            row_ranges: vec![RowRange {
                start_key: Some(StartKey::StartKeyClosed(start.to_vec())),
                end_key: (!end.is_empty()).then(|| EndKey::EndKeyOpen(end.to_vec())),
            }],
        }
    }

    /// Rows whose key starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> RowSet {
        range_closed_open(prefix, &prefix_end(prefix))
    }

    /// The first key after every key starting with `prefix` (empty: no such key).
    pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
        let mut end = prefix.to_vec();
        while let Some(last) = end.pop() {
            if last < u8::MAX {
                end.push(last + 1);
                return end;
            }
        }
        Vec::new()
    }
}

/// Row filters. Regular expressions are RE2 syntax matched against the whole value.
pub mod filter {
    use crate::proto::bigtable::row_filter::{Chain, Condition, Filter, Interleave};
    use crate::proto::bigtable::{column_range, value_range, ColumnRange, RowFilter, TimestampRange, ValueRange};

    fn f(filter: Filter) -> RowFilter {
        RowFilter { filter: Some(filter) }
    }

    /// Each filter applied to the output of the previous one.
    pub fn chain(filters: impl IntoIterator<Item = RowFilter>) -> RowFilter {
        f(Filter::Chain(Chain { filters: filters.into_iter().collect() }))
    }

    /// The union of the filters' outputs.
    pub fn interleave(filters: impl IntoIterator<Item = RowFilter>) -> RowFilter {
        f(Filter::Interleave(Interleave { filters: filters.into_iter().collect() }))
    }

    /// `then` when `predicate` yields any cell for the row, else `otherwise`.
    pub fn condition(predicate: RowFilter, then: Option<RowFilter>, otherwise: Option<RowFilter>) -> RowFilter {
        f(Filter::Condition(Box::new(Condition {
            predicate_filter: Some(Box::new(predicate)),
            true_filter: then.map(Box::new),
            false_filter: otherwise.map(Box::new),
        })))
    }

    /// Every cell.
    pub fn pass_all() -> RowFilter {
        f(Filter::PassAllFilter(true))
    }

    /// No cell.
    pub fn block_all() -> RowFilter {
        f(Filter::BlockAllFilter(true))
    }

    /// Rows whose key matches the regular expression.
    pub fn row_key_regex(re: &[u8]) -> RowFilter {
        f(Filter::RowKeyRegexFilter(re.to_vec()))
    }

    /// Cells of families matching the regular expression.
    pub fn family_regex(re: &str) -> RowFilter {
        f(Filter::FamilyNameRegexFilter(re.into()))
    }

    /// Cells of exactly this family (the name is escaped).
    pub fn family(name: &str) -> RowFilter {
        family_regex(&regex::escape(name))
    }

    /// Cells whose qualifier matches the regular expression.
    pub fn qualifier_regex(re: &[u8]) -> RowFilter {
        f(Filter::ColumnQualifierRegexFilter(re.to_vec()))
    }

    /// Cells of one family with qualifiers in `[start, end)` (empty `end`: unbounded).
    pub fn column_range(family: &str, start: &[u8], end: &[u8]) -> RowFilter {
        f(Filter::ColumnRangeFilter(ColumnRange {
            family_name: family.into(),
            start_qualifier: Some(column_range::StartQualifier::StartQualifierClosed(start.to_vec())),
            end_qualifier: (!end.is_empty()).then(|| column_range::EndQualifier::EndQualifierOpen(end.to_vec())),
        }))
    }

    /// Cells with timestamps in `[start, end)` (0 = unbounded).
    pub fn timestamp_range(start: i64, end: i64) -> RowFilter {
        f(Filter::TimestampRangeFilter(TimestampRange { start_timestamp_micros: start, end_timestamp_micros: end }))
    }

    /// Cells whose value matches the regular expression.
    pub fn value_regex(re: &[u8]) -> RowFilter {
        f(Filter::ValueRegexFilter(re.to_vec()))
    }

    /// Cells with values in `[start, end)` (empty `end`: unbounded).
    pub fn value_range(start: &[u8], end: &[u8]) -> RowFilter {
        f(Filter::ValueRangeFilter(ValueRange {
            start_value: Some(value_range::StartValue::StartValueClosed(start.to_vec())),
            end_value: (!end.is_empty()).then(|| value_range::EndValue::EndValueOpen(end.to_vec())),
        }))
    }

    /// The newest `n` versions of each column.
    pub fn latest(n: i32) -> RowFilter {
        f(Filter::CellsPerColumnLimitFilter(n))
    }

    /// The first `n` cells of each row.
    pub fn cells_per_row_limit(n: i32) -> RowFilter {
        f(Filter::CellsPerRowLimitFilter(n))
    }

    /// Skips the first `n` cells of each row.
    pub fn cells_per_row_offset(n: i32) -> RowFilter {
        f(Filter::CellsPerRowOffsetFilter(n))
    }

    /// Each row with probability `p`.
    pub fn row_sample(p: f64) -> RowFilter {
        f(Filter::RowSampleFilter(p))
    }

    /// Cells with their values replaced by empty ones.
    pub fn strip_value() -> RowFilter {
        f(Filter::StripValueTransformer(true))
    }

    /// Labels every cell.
    pub fn label(label: &str) -> RowFilter {
        f(Filter::ApplyLabelTransformer(label.into()))
    }

    /// Inside an interleave: the cells go straight to the output.
    pub fn sink() -> RowFilter {
        f(Filter::Sink(true))
    }
}

#[cfg(test)]
mod tests {
    use super::rows::prefix_end;

    #[test]
    fn prefix_end_rolls_over() {
        assert_eq!(prefix_end(b"abc"), b"abd");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"");
        assert_eq!(prefix_end(b""), b"");
    }
}
