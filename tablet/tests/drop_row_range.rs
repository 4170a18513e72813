//! `Tablet::drop_row_range`: by prefix (including prefixes with `00` and `FF` bytes), all
//! rows, within a tablet's range, across flushed and unflushed data, in several bounded
//! batches, and with writers running meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::{open, open_range, read, set};
use tablet::proto::bigtable::RowSet;
use tablet::{DropLimits, Error, Schema, Tablet};

fn schema() -> Schema {
    Schema::new().with_family("cf", None).unwrap()
}

fn keys(t: &Tablet) -> Vec<Vec<u8>> {
    t.read_rows(&RowSet::default()).unwrap().into_iter().map(|r| r.key).collect()
}

fn fill(t: &Tablet, rows: &[&[u8]]) {
    for r in rows {
        t.mutate_row(r, &[set("cf", b"a", 1000, b"1"), set("cf", b"b", 1000, b"2"), set("cf", b"b", 2000, b"3")])
            .unwrap();
    }
}

const ROWS: [&[u8]; 9] = [b"a", b"ab", b"ab\x00", b"ab\x00z", b"ab\xff", b"abc", b"ac", b"b", b"\xff\xff"];

#[test]
fn by_prefix_drops_exactly_the_rows_with_it() {
    let fx = open(schema(), 0);
    let t = &fx.tablet;
    fill(t, &ROWS);
    t.db().flush().unwrap(); // half on disk, half in the memtable
    t.mutate_row(b"abd", &[set("cf", b"x", 0, b"")]).unwrap();

    let stats = t.drop_row_range(Some(b"ab")).unwrap();
    assert_eq!(stats.rows, 6, "ab, ab\\0, ab\\0z, ab\\xff, abc, abd");
    assert_eq!(stats.cells, 5 * 3 + 1);
    assert_eq!(keys(t), [&b"a"[..], b"ac", b"b", b"\xff\xff"]);

    let stats = t.drop_row_range(Some(b"\xff")).unwrap();
    assert_eq!(stats.rows, 1);
    assert_eq!(keys(t), [&b"a"[..], b"ac", b"b"]);

    // A prefix with nothing under it, and an empty prefix.
    assert_eq!(t.drop_row_range(Some(b"zzz")).unwrap().rows, 0);
    assert!(matches!(t.drop_row_range(Some(b"")), Err(Error::InvalidArgument(_))));
    assert_eq!(keys(t), [&b"a"[..], b"ac", b"b"]);

    // The rows can be written again afterwards.
    t.mutate_row(b"abc", &[set("cf", b"new", 5000, b"v")]).unwrap();
    assert_eq!(read(t, b"abc"), ["cf:new@5000=v"]);
}

#[test]
fn prefix_with_zero_bytes() {
    let fx = open(schema(), 0);
    let t = &fx.tablet;
    fill(t, &ROWS);
    t.drop_row_range(Some(b"ab\x00")).unwrap();
    assert_eq!(keys(t), [&b"a"[..], b"ab", b"abc", b"ab\xff", b"ac", b"b", b"\xff\xff"]);
}

#[test]
fn all_rows_in_small_batches() {
    let fx = open(schema(), 0);
    let t = &fx.tablet;
    let rows: Vec<Vec<u8>> = (0..100u32).map(|i| format!("row{i:03}").into_bytes()).collect();
    for r in &rows {
        t.mutate_row(r, &[set("cf", b"a", 1000, b"x"), set("cf", b"b", 1000, b"y")]).unwrap();
    }
    // A big row: more cells than one batch holds.
    let big: Vec<_> = (0..25).map(|i| set("cf", format!("q{i:02}").as_bytes(), 1000, b"z")).collect();
    t.mutate_row(b"row050", &big).unwrap();
    let stats = t.drop_row_range_with(None, DropLimits { rows: 7, cells: 10 }).unwrap();
    assert_eq!(stats.rows, 100);
    assert_eq!(stats.cells, 99 * 2 + 25 + 2);
    assert!(stats.batches >= 23, "cells / 10 at least: {stats:?}");
    assert!(keys(t).is_empty());
    assert!(matches!(t.drop_row_range_with(None, DropLimits { rows: 0, cells: 1 }), Err(Error::InvalidArgument(_))));
}

#[test]
fn stays_inside_the_tablet() {
    let fx = open_range(schema(), 0, b"ab", b"ac");
    let t = &fx.tablet;
    fill(t, &[b"ab", b"ab\x00", b"abc"]);
    // The prefix "a" reaches beyond the tablet; only the tablet's rows are touched.
    assert_eq!(t.drop_row_range(Some(b"a")).unwrap().rows, 3);
    fill(t, &[b"ab", b"abc"]);
    assert_eq!(t.drop_row_range(None).unwrap().rows, 2);
    assert!(keys(t).is_empty());
}

#[test]
fn writers_of_other_rows_go_on_during_a_drop() {
    let fx = open(schema(), 0);
    let t = &fx.tablet;
    for i in 0..300u32 {
        t.mutate_row(format!("drop/{i:03}").as_bytes(), &[set("cf", b"a", 1000, b"x")]).unwrap();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u32;
            // Keep writing rows outside the prefix until the drop ends (at least 20).
            while !done.load(Ordering::Acquire) || i < 20 {
                t.mutate_row(format!("keep/{i:04}").as_bytes(), &[set("cf", b"a", 1000, b"k")]).unwrap();
                i += 1;
            }
        });
        t.drop_row_range_with(Some(b"drop/"), DropLimits { rows: 16, cells: 16 }).unwrap();
        done.store(true, Ordering::Release);
    });
    let rows = keys(t);
    assert!(rows.iter().all(|k| k.starts_with(b"keep/")), "every drop/ row is gone");
    assert!(rows.len() >= 20);
}
