//! `RowFilter` evaluation with Cloud Bigtable's semantics.
//!
//! A request's filter is compiled once ([`compile`]: regexes built, arguments checked) into
//! a [`CompiledFilter`], which is then applied to each row ([`CompiledFilter::apply`]).
//! A row is seen as the flat sequence of its cells in the row's order (families, then
//! qualifiers, then versions newest first); every filter maps such a sequence to a
//! subsequence of it, possibly transformed:
//!
//! - `chain`: each sub-filter reads the previous one's output (an empty chain passes all).
//! - `interleave`: each sub-filter reads a copy of the input; the outputs are merged back
//!   into row order, duplicates kept (ties between copies in sub-filter order). An empty
//!   interleave outputs nothing.
//! - `condition`: if `predicate_filter` outputs any cell, `true_filter` is applied to the
//!   input, else `false_filter`; a missing branch outputs nothing, a missing predicate
//!   passes all.
//! - `sink`: the cells reaching it go straight to the final output (merged into row order,
//!   duplicates kept); it passes nothing on to its parent. Not allowed inside a condition.
//! - Regex filters (`row_key`, `family_name`, `column_qualifier`, `value`) use RE2 syntax
//!   and must match the whole byte string. Bytes are matched one by one (Latin-1, like
//!   Google's emulator): `.` is any byte but `\n`, `\C` any byte. Family regexes may not
//!   contain `:`.
//! - `column_range`, `timestamp_range` (`[start, end)`, end 0 = unbounded), `value_range`,
//!   `cells_per_row_offset`, `cells_per_row_limit`, `cells_per_column_limit` (per column,
//!   newest first), `row_sample` (a deterministic function of the seed, the filter's
//!   position and the row key), `strip_value_transformer`, `apply_label_transformer`
//!   (label `[a-z0-9-]{1,15}`; a chain may have at most one sub-filter that labels).
//! - An unset filter passes every cell. The boolean filters must be `true` when set.
//!
//! Bad filters (invalid regex, negative limit, bad label, sink in a condition...) are
//! [`Error::InvalidArgument`] from [`compile`], naming the filter's path in the tree.

#![deny(clippy::indexing_slicing)]

use std::ops::Bound;

use regex::bytes::Regex;

use crate::error::{Error, Result};
use crate::proto::bigtable::row_filter::{Condition, Filter};
use crate::proto::bigtable::{column_range, value_range, Cell, Column, Family, Row, RowFilter};

/// A `RowFilter` ready to apply to rows; see the module docs. Cheap to share (`Sync`).
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    root: Node,
    seed: u64,
}

#[derive(Debug, Clone)]
enum Node {
    Pass,
    Block,
    Sink,
    Chain(Vec<Node>),
    Interleave(Vec<Node>),
    Condition { predicate: Box<Node>, on_true: Option<Box<Node>>, on_false: Option<Box<Node>> },
    RowKeyRegex(Regex),
    RowSample { probability: f64, salt: u64 },
    FamilyRegex(Regex),
    QualifierRegex(Regex),
    ColumnRange { family: String, start: Bound<Vec<u8>>, end: Bound<Vec<u8>> },
    TimestampRange { start: i64, end: Option<i64> },
    ValueRegex(Regex),
    ValueRange { start: Bound<Vec<u8>>, end: Bound<Vec<u8>> },
    RowOffset(usize),
    RowLimit(usize),
    ColumnLimit(usize),
    StripValue,
    Label(String),
}

/// Compiles `filter` (seed 0 for `row_sample_filter`); see [`compile_with_seed`].
pub fn compile(filter: &RowFilter) -> Result<CompiledFilter> {
    compile_with_seed(filter, 0)
}

/// Compiles `filter`. `seed` decides which rows a `row_sample_filter` keeps: the same
/// seed, filter and row give the same answer; a server passes a fresh seed per request.
pub fn compile_with_seed(filter: &RowFilter, seed: u64) -> Result<CompiledFilter> {
    let mut c = Compiler { next_salt: 0 };
    let (root, _) = c.node(filter, "filter", false)?;
    Ok(CompiledFilter { root, seed })
}

/// Applies `filter` to `row`; see [`CompiledFilter::apply`].
pub fn apply(filter: &CompiledFilter, row: &Row) -> Option<Row> {
    filter.apply(row)
}

struct Compiler {
    next_salt: u64,
}

impl Compiler {
    /// Compiles `f` found at `path`; also returns whether it applies a label somewhere.
    fn node(&mut self, f: &RowFilter, path: &str, in_condition: bool) -> Result<(Node, bool)> {
        let bad = |what: String| Err(Error::invalid(format!("{path}: {what}")));
        let must_be_true = |name: &str, v: bool| {
            if v {
                Ok(())
            } else {
                Err(Error::invalid(format!("{path}: {name} must be true when set")))
            }
        };
        let count = |name: &str, n: i32| {
            usize::try_from(n).map_err(|_| Error::invalid(format!("{path}: {name} must not be negative, got {n}")))
        };
        let Some(kind) = &f.filter else { return Ok((Node::Pass, false)) };
        let node = match kind {
            Filter::Chain(chain) => {
                let mut nodes = Vec::with_capacity(chain.filters.len());
                let mut labelling = 0;
                for (i, sub) in chain.filters.iter().enumerate() {
                    let (n, labels) = self.node(sub, &format!("{path}.chain[{i}]"), in_condition)?;
                    labelling += usize::from(labels);
                    nodes.push(n);
                }
                if labelling > 1 {
                    return bad(format!(
                        "{labelling} filters of the chain apply labels; a cell can carry only one, so at most one \
                         sub-filter of a chain may contain apply_label_transformer"
                    ));
                }
                return Ok((Node::Chain(nodes), labelling > 0));
            }
            Filter::Interleave(il) => {
                let mut nodes = Vec::with_capacity(il.filters.len());
                let mut any_label = false;
                for (i, sub) in il.filters.iter().enumerate() {
                    let (n, labels) = self.node(sub, &format!("{path}.interleave[{i}]"), in_condition)?;
                    any_label |= labels;
                    nodes.push(n);
                }
                return Ok((Node::Interleave(nodes), any_label));
            }
            Filter::Condition(cond) => return self.condition(cond, path),
            Filter::Sink(v) => {
                must_be_true("sink", *v)?;
                if in_condition {
                    return bad("sink cannot be used inside a condition".into());
                }
                Node::Sink
            }
            Filter::PassAllFilter(v) => {
                must_be_true("pass_all_filter", *v)?;
                Node::Pass
            }
            Filter::BlockAllFilter(v) => {
                must_be_true("block_all_filter", *v)?;
                Node::Block
            }
            Filter::RowKeyRegexFilter(p) => Node::RowKeyRegex(regex(p, path, "row_key_regex_filter")?),
            Filter::RowSampleFilter(p) => {
                if !(0.0..=1.0).contains(p) {
                    return bad(format!("row_sample_filter must be a probability in [0, 1], got {p}"));
                }
                self.next_salt += 1;
                Node::RowSample { probability: *p, salt: self.next_salt }
            }
            Filter::FamilyNameRegexFilter(p) => {
                if p.contains(':') {
                    return bad(format!("family_name_regex_filter {p:?} must not contain ':'"));
                }
                Node::FamilyRegex(regex(p.as_bytes(), path, "family_name_regex_filter")?)
            }
            Filter::ColumnQualifierRegexFilter(p) => {
                Node::QualifierRegex(regex(p, path, "column_qualifier_regex_filter")?)
            }
            Filter::ColumnRangeFilter(r) => Node::ColumnRange {
                family: r.family_name.clone(),
                start: match &r.start_qualifier {
                    None => Bound::Unbounded,
                    Some(column_range::StartQualifier::StartQualifierClosed(q)) => Bound::Included(q.clone()),
                    Some(column_range::StartQualifier::StartQualifierOpen(q)) => Bound::Excluded(q.clone()),
                },
                end: match &r.end_qualifier {
                    None => Bound::Unbounded,
                    Some(column_range::EndQualifier::EndQualifierClosed(q)) => Bound::Included(q.clone()),
                    Some(column_range::EndQualifier::EndQualifierOpen(q)) => Bound::Excluded(q.clone()),
                },
            },
            Filter::TimestampRangeFilter(r) => {
                let end = (r.end_timestamp_micros != 0).then_some(r.end_timestamp_micros);
                Node::TimestampRange { start: r.start_timestamp_micros, end }
            }
            Filter::ValueRegexFilter(p) => Node::ValueRegex(regex(p, path, "value_regex_filter")?),
            Filter::ValueRangeFilter(r) => Node::ValueRange {
                start: match &r.start_value {
                    None => Bound::Unbounded,
                    Some(value_range::StartValue::StartValueClosed(v)) => Bound::Included(v.clone()),
                    Some(value_range::StartValue::StartValueOpen(v)) => Bound::Excluded(v.clone()),
                },
                end: match &r.end_value {
                    None => Bound::Unbounded,
                    Some(value_range::EndValue::EndValueClosed(v)) => Bound::Included(v.clone()),
                    Some(value_range::EndValue::EndValueOpen(v)) => Bound::Excluded(v.clone()),
                },
            },
            Filter::CellsPerRowOffsetFilter(n) => Node::RowOffset(count("cells_per_row_offset_filter", *n)?),
            Filter::CellsPerRowLimitFilter(n) => Node::RowLimit(count("cells_per_row_limit_filter", *n)?),
            Filter::CellsPerColumnLimitFilter(n) => Node::ColumnLimit(count("cells_per_column_limit_filter", *n)?),
            Filter::StripValueTransformer(v) => {
                must_be_true("strip_value_transformer", *v)?;
                Node::StripValue
            }
            Filter::ApplyLabelTransformer(label) => {
                let ok = (1..=15).contains(&label.len())
                    && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !ok {
                    return bad(format!("apply_label_transformer label {label:?} must match [a-z0-9-]{{1,15}}"));
                }
                return Ok((Node::Label(label.clone()), true));
            }
        };
        Ok((node, false))
    }

    fn condition(&mut self, cond: &Condition, path: &str) -> Result<(Node, bool)> {
        let predicate = match &cond.predicate_filter {
            Some(p) => self.node(p, &format!("{path}.condition.predicate_filter"), true)?.0,
            None => Node::Pass,
        };
        let mut labels = false;
        let mut branch = |f: &Option<Box<RowFilter>>, name: &str| -> Result<Option<Box<Node>>> {
            let Some(f) = f else { return Ok(None) };
            let (n, l) = self.node(f, &format!("{path}.condition.{name}"), true)?;
            labels |= l;
            Ok(Some(Box::new(n)))
        };
        let on_true = branch(&cond.true_filter, "true_filter")?;
        let on_false = branch(&cond.false_filter, "false_filter")?;
        Ok((Node::Condition { predicate: Box::new(predicate), on_true, on_false }, labels))
    }
}

/// Compiles an RE2 `pattern` to match whole byte strings, byte by byte; see [`translate`].
fn regex(pattern: &[u8], path: &str, name: &str) -> Result<Regex> {
    let shown = crate::keys::escape_for_display(pattern);
    let fail = |why: String| Error::invalid(format!("{path}: {name} {shown} is not a valid RE2 pattern: {why}"));
    let translated = translate(pattern).map_err(fail)?;
    Regex::new(&format!("(?-u)^(?:{translated})$")).map_err(|e| fail(e.to_string()))
}

/// Rewrites RE2 bytes as a `regex` pattern matched without Unicode: non-ASCII and control
/// bytes become `\xHH`, `\C` becomes "any byte", and class characters that `regex` would
/// read as nested classes or set operations (`[`, `&`, `~`) are escaped. Also checks
/// that parentheses balance, so the pattern cannot escape the anchoring group.
fn translate(pattern: &[u8]) -> std::result::Result<String, String> {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(pattern.len() + 8);
    let push_byte = |out: &mut String, b: u8| {
        if b.is_ascii_graphic() || b == b' ' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02X}");
        }
    };
    let mut depth: usize = 0;
    let mut in_class = false;
    let mut class_start = 0; // Position of the first byte inside the class.
    let mut i = 0;
    while let Some(&b) = pattern.get(i) {
        let next = pattern.get(i + 1).copied();
        if b == b'\\' {
            match next {
                None => return Err("trailing backslash".into()),
                Some(b'C') if !in_class => out.push_str("(?s-u:.)"),
                Some(n) if !n.is_ascii() || n.is_ascii_control() => push_byte(&mut out, n),
                Some(n) => {
                    out.push('\\');
                    out.push(char::from(n));
                }
            }
            i += 2;
            continue;
        }
        if in_class {
            match b {
                b']' if i > class_start => {
                    in_class = false;
                    out.push(']');
                }
                b'[' if next == Some(b':') => {
                    // A POSIX class `[:alpha:]`, copied through to its `:]`.
                    let rest = pattern.get(i..).unwrap_or_default();
                    let len = rest.windows(2).position(|w| w == b":]").map(|p| p + 2).unwrap_or(rest.len());
                    for &c in rest.iter().take(len) {
                        push_byte(&mut out, c);
                    }
                    i += len;
                    continue;
                }
                b'[' | b'&' | b'~' => {
                    out.push('\\');
                    out.push(char::from(b));
                }
                _ => push_byte(&mut out, b),
            }
            i += 1;
            continue;
        }
        match b {
            b'[' => {
                in_class = true;
                out.push('[');
                if next == Some(b'^') {
                    out.push('^');
                    i += 1;
                }
                class_start = i + 1;
            }
            b'(' => {
                depth += 1;
                out.push('(');
            }
            b')' => {
                depth = depth.checked_sub(1).ok_or_else(|| format!("unmatched ')' at byte {i}"))?;
                out.push(')');
            }
            _ => push_byte(&mut out, b),
        }
        i += 1;
    }
    if in_class {
        return Err("missing ']'".into());
    }
    if depth != 0 {
        return Err("missing ')'".into());
    }
    Ok(out)
}

/// One cell of the row being filtered: borrowed from the input row, with its position.
#[derive(Debug, Clone)]
struct FlatCell<'a> {
    /// Position in the input row; outputs are merged back into this order.
    seq: usize,
    /// Index of the family and of the column in the input row.
    family_idx: usize,
    column_idx: usize,
    family: &'a str,
    qualifier: &'a [u8],
    timestamp_micros: i64,
    value: &'a [u8],
    labels: Vec<String>,
}

fn in_range(v: &[u8], start: &Bound<Vec<u8>>, end: &Bound<Vec<u8>>) -> bool {
    let above = match start {
        Bound::Unbounded => true,
        Bound::Included(s) => v >= s.as_slice(),
        Bound::Excluded(s) => v > s.as_slice(),
    };
    let below = match end {
        Bound::Unbounded => true,
        Bound::Included(e) => v <= e.as_slice(),
        Bound::Excluded(e) => v < e.as_slice(),
    };
    above && below
}

/// Merges cell lists, each in row order, into row order; equal positions keep list order.
fn merge<'a>(lists: Vec<Vec<FlatCell<'a>>>) -> Vec<FlatCell<'a>> {
    let mut all: Vec<FlatCell<'a>> = lists.into_iter().flatten().collect();
    all.sort_by_key(|c| c.seq); // Stable: duplicates stay in sub-filter order.
    all
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl CompiledFilter {
    /// Sets the `row_sample_filter` seed; see [`compile_with_seed`].
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The cells of `row` that the filter outputs, in the row's order, or `None` when it
    /// outputs none (Bigtable never returns an empty row). Families and columns keep the
    /// input's order.
    pub fn apply(&self, row: &Row) -> Option<Row> {
        let (_, out) = self.run(row);
        (!out.is_empty()).then(|| rebuild(&row.key, out))
    }

    /// [`CompiledFilter::apply`] taking the row: when the filter passes every cell as it
    /// is (what most reads' filters do to most rows, `latest(1)` to a row of one version
    /// per column for one), the row itself comes back and nothing is copied; otherwise the
    /// output is built as `apply` builds it.
    pub fn apply_owned(&self, row: Row) -> Option<Row> {
        let rebuilt = {
            let (inputs, out) = self.run(&row);
            if out.is_empty() {
                return None;
            }
            // (An empty family or column in the input is dropped by a rebuild.)
            let unchanged = out.len() == inputs.len()
                && row.families.iter().all(|f| !f.columns.is_empty() && f.columns.iter().all(|c| !c.cells.is_empty()))
                && out.iter().zip(&inputs).enumerate().all(|(i, (c, input))| {
                    c.seq == i
                        && c.labels == input.labels
                        && (std::ptr::eq(c.value, input.value.as_slice()) || c.value == input.value.as_slice())
                });
            (!unchanged).then(|| rebuild(&row.key, out))
        };
        Some(rebuilt.unwrap_or(row))
    }

    /// The cells of `row` in order, and the filter's output cells.
    fn run<'a>(&self, row: &'a Row) -> (Vec<&'a Cell>, Vec<FlatCell<'a>>) {
        let mut cells = Vec::new();
        let mut inputs = Vec::new();
        for (fi, f) in row.families.iter().enumerate() {
            for (ci, c) in f.columns.iter().enumerate() {
                for cell in &c.cells {
                    inputs.push(cell);
                    cells.push(FlatCell {
                        seq: cells.len(),
                        family_idx: fi,
                        column_idx: ci,
                        family: &f.name,
                        qualifier: &c.qualifier,
                        timestamp_micros: cell.timestamp_micros,
                        value: &cell.value,
                        labels: cell.labels.clone(),
                    });
                }
            }
        }
        let mut sunk = Vec::new();
        let out = self.eval(&self.root, &row.key, cells, &mut sunk);
        let out = if sunk.is_empty() { out } else { merge(vec![out, sunk]) };
        (inputs, out)
    }

    fn eval<'a>(
        &self,
        node: &Node,
        key: &[u8],
        cells: Vec<FlatCell<'a>>,
        sunk: &mut Vec<FlatCell<'a>>,
    ) -> Vec<FlatCell<'a>> {
        let keep = |cells: Vec<FlatCell<'a>>, pred: &dyn Fn(&FlatCell<'a>) -> bool| -> Vec<FlatCell<'a>> {
            cells.into_iter().filter(|c| pred(c)).collect()
        };
        match node {
            Node::Pass => cells,
            Node::Block => Vec::new(),
            Node::Sink => {
                sunk.extend(cells);
                Vec::new()
            }
            Node::Chain(nodes) => {
                let mut cells = cells;
                for n in nodes {
                    if cells.is_empty() {
                        break;
                    }
                    cells = self.eval(n, key, cells, sunk);
                }
                cells
            }
            Node::Interleave(nodes) => {
                let outs = nodes.iter().map(|n| self.eval(n, key, cells.clone(), sunk)).collect();
                merge(outs)
            }
            Node::Condition { predicate, on_true, on_false } => {
                let matched = !self.eval(predicate, key, cells.clone(), sunk).is_empty();
                match if matched { on_true } else { on_false } {
                    Some(n) => self.eval(n, key, cells, sunk),
                    None => Vec::new(),
                }
            }
            Node::RowKeyRegex(re) => {
                if re.is_match(key) {
                    cells
                } else {
                    Vec::new()
                }
            }
            Node::RowSample { probability, salt } => {
                let h = key
                    .iter()
                    .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
                let draw = mix(mix(self.seed ^ mix(*salt)) ^ h) >> 11; // 53 bits: exact in an f64.
                let u = draw as f64 / (1u64 << 53) as f64;
                if u < *probability {
                    cells
                } else {
                    Vec::new()
                }
            }
            Node::FamilyRegex(re) => keep(cells, &|c| re.is_match(c.family.as_bytes())),
            Node::QualifierRegex(re) => keep(cells, &|c| re.is_match(c.qualifier)),
            Node::ColumnRange { family, start, end } => {
                keep(cells, &|c| c.family == family && in_range(c.qualifier, start, end))
            }
            Node::TimestampRange { start, end } => {
                keep(cells, &|c| c.timestamp_micros >= *start && end.is_none_or(|e| c.timestamp_micros < e))
            }
            Node::ValueRegex(re) => keep(cells, &|c| re.is_match(c.value)),
            Node::ValueRange { start, end } => keep(cells, &|c| in_range(c.value, start, end)),
            Node::RowOffset(n) => cells.into_iter().skip(*n).collect(),
            Node::RowLimit(n) => cells.into_iter().take(*n).collect(),
            Node::ColumnLimit(n) => {
                let mut column = None;
                let mut seen = 0;
                cells
                    .into_iter()
                    .filter(|c| {
                        if column != Some((c.family_idx, c.column_idx)) {
                            column = Some((c.family_idx, c.column_idx));
                            seen = 0;
                        }
                        seen += 1;
                        seen <= *n
                    })
                    .collect()
            }
            Node::StripValue => cells.into_iter().map(|c| FlatCell { value: &[], ..c }).collect(),
            Node::Label(label) => cells
                .into_iter()
                .map(|mut c| {
                    c.labels.push(label.clone());
                    c
                })
                .collect(),
        }
    }
}

/// Nests flat cells (in row order) back into a `Row`.
fn rebuild(key: &[u8], cells: Vec<FlatCell<'_>>) -> Row {
    let mut row = Row { key: key.to_vec(), families: Vec::new() };
    let mut last: Option<(usize, usize)> = None;
    for c in cells {
        if last.is_none_or(|(f, _)| f != c.family_idx) {
            row.families.push(Family { name: c.family.to_string(), columns: Vec::new() });
        }
        let Some(family) = row.families.last_mut() else { continue };
        if last != Some((c.family_idx, c.column_idx)) {
            family.columns.push(Column { qualifier: c.qualifier.to_vec(), cells: Vec::new() });
        }
        last = Some((c.family_idx, c.column_idx));
        if let Some(column) = family.columns.last_mut() {
            column.cells.push(Cell { timestamp_micros: c.timestamp_micros, value: c.value.to_vec(), labels: c.labels });
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(pattern: &[u8], subject: &[u8]) -> bool {
        regex(pattern, "filter", "test").unwrap().is_match(subject)
    }

    #[test]
    fn translate_escapes_bytes_and_keeps_re2_meaning() {
        assert_eq!(translate(b"a\xff\x00b").unwrap(), "a\\xFF\\x00b");
        assert_eq!(translate(b"\\C\\.").unwrap(), "(?s-u:.)\\.");
        assert_eq!(translate(b"\\\xff").unwrap(), "\\xFF", "an escaped non-ASCII byte is that byte");
        assert_eq!(translate(b"[a&&b~~[]").unwrap(), "[a\\&\\&b\\~\\~\\[]", "no nested classes or set operations");
        assert_eq!(translate(b"[]a]").unwrap(), "[]a]");
        assert_eq!(translate(b"[^]a]").unwrap(), "[^]a]");
        assert_eq!(translate(b"[[:digit:]x]").unwrap(), "[[:digit:]x]");
        assert!(translate(b"(a").is_err());
        assert!(translate(b"a)").is_err());
        assert!(translate(b"[a").is_err());
        assert!(translate(b"[)]").is_ok(), "a parenthesis in a class is a literal");
    }

    #[test]
    fn regexes_match_whole_byte_strings() {
        assert!(full(b"[a&&b]+", b"a&b&"), "RE2 reads && in a class literally");
        assert!(full(b"[[:digit:]]+", b"0123"));
        assert!(full(b"\xff+", b"\xff\xff"));
        assert!(full(b".", b"\x80"), "`.` is one byte, not one UTF-8 character");
        assert!(!full(b".", b"\n"));
        assert!(full(b"\\C", b"\n"));
        assert!(!full(b"ab", b"xab"));
        assert!(!full(b"a|b", b"ab"));
    }

    #[test]
    fn sample_draws_are_uniform_enough() {
        let c = compile_with_seed(&RowFilter { filter: Some(Filter::RowSampleFilter(0.25)) }, 3).unwrap();
        let row = |i: u32| Row {
            key: i.to_be_bytes().to_vec(),
            families: vec![Family {
                name: "f".into(),
                columns: vec![Column { qualifier: vec![], cells: vec![Cell::default()] }],
            }],
        };
        let kept = (0..4000).filter(|&i| c.apply(&row(i)).is_some()).count();
        assert!((800..=1200).contains(&kept), "about a quarter of 4000 rows, got {kept}");
    }
}
