//! `Tablet::read_modify_write_row` against hand-worked rows: append and increment on
//! missing and existing cells, wrap-around, several rules on one column, the result row's
//! shape and order, server timestamps (and a cell from the future), errors that write
//! nothing, and GC-hidden cells counting as missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{cells, open, read, set};
use tablet::proto::bigtable::read_modify_write_rule::Rule;
use tablet::proto::bigtable::ReadModifyWriteRule;
use tablet::{Error, GcRule, Schema};

fn schema() -> Schema {
    Schema::new()
        .with_family("a", None)
        .unwrap()
        .with_family("b", None)
        .unwrap()
        .with_family("age", Some(GcRule::MaxAge(std::time::Duration::from_secs(1))))
        .unwrap()
}

fn append(family: &str, q: &[u8], v: &[u8]) -> ReadModifyWriteRule {
    ReadModifyWriteRule {
        family_name: family.into(),
        column_qualifier: q.to_vec(),
        rule: Some(Rule::AppendValue(v.to_vec())),
    }
}

fn incr(family: &str, q: &[u8], n: i64) -> ReadModifyWriteRule {
    ReadModifyWriteRule {
        family_name: family.into(),
        column_qualifier: q.to_vec(),
        rule: Some(Rule::IncrementAmount(n)),
    }
}

fn be(n: i64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// Clock at 5.0015 s: server time truncates to 5001000 us.
const NOW: i64 = 5_001_500;
const TS: i64 = 5_001_000;

#[test]
fn missing_cells_count_as_empty_and_zero() {
    let fx = open(schema(), NOW);
    let row = fx.tablet.read_modify_write_row(b"r", &[append("a", b"s", b"hi"), incr("a", b"n", 7)]).unwrap();
    // One cell per modified column, qualifiers in bytewise order ("n" < "s").
    assert_eq!(cells(&row), [format!("a:n@{TS}=\0\0\0\0\0\0\0\x07"), format!("a:s@{TS}=hi")]);
    assert_eq!(row.key, b"r");
    assert_eq!(read(&fx.tablet, b"r"), cells(&row), "the result is what was written");
}

#[test]
fn existing_values_are_appended_to_and_incremented() {
    let fx = open(schema(), NOW);
    let t = &fx.tablet;
    t.mutate_row(b"r", &[set("a", b"s", 1000, b"old"), set("a", b"s", 2000, b"abc"), set("b", b"n", 1000, &be(40))])
        .unwrap();
    let row = t.read_modify_write_row(b"r", &[incr("b", b"n", 2), append("a", b"s", b"def")]).unwrap();
    // Families in order too, though the rules named b first.
    assert_eq!(row.families.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(row.families[0].columns[0].cells[0].value, b"abcdef", "appended to the newest version");
    assert_eq!(row.families[1].columns[0].cells[0].value, be(42));
    assert_eq!(row.families[1].columns[0].cells[0].timestamp_micros, TS);
    // New versions beside the old ones.
    let all = read(t, b"r");
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(all[0], format!("a:s@{TS}=abcdef"));
}

#[test]
fn increments_wrap_around_in_both_directions() {
    let fx = open(schema(), NOW);
    let t = &fx.tablet;
    t.mutate_row(b"r", &[set("a", b"max", 0, &be(i64::MAX)), set("a", b"min", 0, &be(i64::MIN))]).unwrap();
    let row = t.read_modify_write_row(b"r", &[incr("a", b"max", 1), incr("a", b"min", -1)]).unwrap();
    assert_eq!(row.families[0].columns[0].cells[0].value, be(i64::MIN));
    assert_eq!(row.families[0].columns[1].cells[0].value, be(i64::MAX));
    let row = t.read_modify_write_row(b"r", &[incr("a", b"max", i64::MIN)]).unwrap();
    assert_eq!(row.families[0].columns[0].cells[0].value, be(0), "MIN + MIN wraps to 0");
}

#[test]
fn later_rules_on_one_column_see_earlier_results() {
    let fx = open(schema(), NOW);
    let t = &fx.tablet;
    let row = t
        .read_modify_write_row(
            b"r",
            &[
                incr("a", b"n", 5),
                incr("a", b"n", 10),
                append("a", b"s", b"x"),
                append("a", b"s", b"y"),
                incr("a", b"n", -1),
            ],
        )
        .unwrap();
    assert_eq!(cells(&row).len(), 2, "one cell per column: {:?}", cells(&row));
    assert_eq!(row.families[0].columns[0].cells[0].value, be(14));
    assert_eq!(row.families[0].columns[1].cells[0].value, b"xy");
    // Written once, at one timestamp.
    assert_eq!(read(t, b"r").len(), 2);

    // Appending to an 8-byte value then incrementing it fails: 9 bytes.
    let e = t.read_modify_write_row(b"r", &[append("a", b"n", b"!"), incr("a", b"n", 1)]).unwrap_err();
    assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("rule 1") && m.contains("9 bytes")), "{e}");
    assert_eq!(t.read_row(b"r").unwrap().unwrap().families[0].columns[0].cells[0].value, be(14), "nothing written");
}

#[test]
fn non_eight_byte_values_fail_and_write_nothing() {
    let fx = open(schema(), NOW);
    let t = &fx.tablet;
    t.mutate_row(b"r", &[set("a", b"n", 1000, b"12345678x"), set("a", b"e", 1000, b"")]).unwrap();
    let before = read(t, b"r");
    for (rules, what) in
        [(vec![append("a", b"s", b"ok"), incr("a", b"n", 1)], "9 bytes"), (vec![incr("a", b"e", 1)], "0 bytes")]
    {
        let e = t.read_modify_write_row(b"r", &rules).unwrap_err();
        assert!(matches!(&e, Error::InvalidArgument(m) if m.contains(what) && m.contains("a:")), "{e}");
    }
    assert_eq!(read(t, b"r"), before, "the append before the bad increment was not written");
    assert!(matches!(t.read_modify_write_row(b"r", &[]), Err(Error::InvalidArgument(_))));
    assert!(matches!(t.read_modify_write_row(b"r", &[incr("zz", b"n", 1)]), Err(Error::NotFound(_))));
    let no_kind = ReadModifyWriteRule { family_name: "a".into(), column_qualifier: b"n".to_vec(), rule: None };
    assert!(matches!(t.read_modify_write_row(b"r", &[no_kind]), Err(Error::InvalidArgument(_))));
    assert_eq!(read(t, b"r"), before);
}

#[test]
fn timestamps_are_server_time_or_a_later_existing_cell() {
    let fx = open(schema(), NOW);
    let t = &fx.tablet;
    let future = 9_000_000_000;
    t.mutate_row(b"r", &[set("a", b"f", future, &be(1))]).unwrap();
    let row = t.read_modify_write_row(b"r", &[incr("a", b"f", 1), incr("a", b"p", 1)]).unwrap();
    assert_eq!(row.families[0].columns[0].cells[0].timestamp_micros, future, "overwrites the future cell");
    assert_eq!(row.families[0].columns[1].cells[0].timestamp_micros, TS);
    assert_eq!(read(t, b"r"), [format!("a:f@{future}=\0\0\0\0\0\0\0\x02"), format!("a:p@{TS}=\0\0\0\0\0\0\0\x01")]);

    // Same millisecond again: the cell is replaced, not duplicated.
    fx.clock.advance(300);
    t.read_modify_write_row(b"r", &[incr("a", b"p", 1)]).unwrap();
    assert_eq!(read(t, b"r")[1], format!("a:p@{TS}=\0\0\0\0\0\0\0\x02"));
    fx.clock.advance(1000);
    t.read_modify_write_row(b"r", &[incr("a", b"p", 1)]).unwrap();
    assert_eq!(read(t, b"r")[1], format!("a:p@{}=\0\0\0\0\0\0\0\x03", TS + 1000));
}

#[test]
fn cells_hidden_by_gc_count_as_missing() {
    let fx = open(schema(), 10_000_000);
    let t = &fx.tablet;
    t.mutate_row(b"r", &[set("age", b"n", 1_000_000, &be(100))]).unwrap();
    // 9 s old, max age 1 s: the cell is gone for reads, so the increment starts from 0.
    let row = t.read_modify_write_row(b"r", &[incr("age", b"n", 1)]).unwrap();
    assert_eq!(row.families[0].columns[0].cells[0].value, be(1));
}
