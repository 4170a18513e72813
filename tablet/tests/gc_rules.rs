//! GC rules with a fixed clock: hidden from reads at once, removed from disk by the
//! compactions that rewrite them.
//!
//! The engine's `compact_range` (like LevelDB's) rewrites every level above the deepest one
//! holding the range into the level below, but does not rewrite the deepest level in
//! place: cells already there are filtered when newer data overlapping them is compacted
//! down. The tests below write such data before compacting again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{del_column, open, read, set};
use tablet::{GcRule, Schema, Tablet};

const S: i64 = 1_000_000;
const NOW: i64 = 1_000 * S;

fn age10() -> GcRule {
    GcRule::MaxAge(Duration::from_secs(10))
}

fn schema() -> Schema {
    Schema::new()
        .with_family("v2", Some(GcRule::MaxNumVersions(2)))
        .unwrap()
        .with_family("age", Some(age10()))
        .unwrap()
        .with_family("union", Some(GcRule::Union(vec![GcRule::MaxNumVersions(1), age10()])))
        .unwrap()
        .with_family("inter", Some(GcRule::Intersection(vec![GcRule::MaxNumVersions(1), age10()])))
        .unwrap()
        .with_family("none", None)
        .unwrap()
}

const FAMILIES: [&str; 5] = ["age", "inter", "none", "union", "v2"];

/// Column `q` gets versions 1, 2, 5, 20 and 30 seconds old; column `z` only old ones.
fn fill(t: &Tablet) {
    for fam in FAMILIES {
        let mut ms = Vec::new();
        for age in [1, 2, 5, 20, 30] {
            ms.push(set(fam, b"q", NOW - age * S, format!("{age}s").as_bytes()));
        }
        for age in [20, 30] {
            ms.push(set(fam, b"z", NOW - age * S, format!("{age}s").as_bytes()));
        }
        t.mutate_row(b"row", &ms).unwrap();
    }
}

/// Values (ages) of `family:qualifier` as a read returns them.
fn ages(t: &Tablet, family: &str, qualifier: &str) -> Vec<String> {
    let prefix = format!("{family}:{qualifier}@");
    read(t, b"row")
        .into_iter()
        .filter(|c| c.starts_with(&prefix))
        .map(|c| c.rsplit('=').next().unwrap().to_string())
        .collect()
}

/// Every entry physically in the engine, whatever the rules say.
fn stored_entries(t: &Tablet) -> usize {
    let mut it = t.db().iter(&engine::ReadOptions::default()).unwrap();
    it.seek_to_first();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next();
    }
    it.status().unwrap();
    n
}

fn expected_at_now(t: &Tablet) {
    assert_eq!(ages(t, "v2", "q"), ["1s", "2s"]);
    assert_eq!(ages(t, "v2", "z"), ["20s", "30s"]);
    assert_eq!(ages(t, "age", "q"), ["1s", "2s", "5s"]);
    assert_eq!(ages(t, "age", "z"), Vec::<String>::new());
    assert_eq!(ages(t, "union", "q"), ["1s"]);
    assert_eq!(ages(t, "union", "z"), Vec::<String>::new());
    assert_eq!(ages(t, "inter", "q"), ["1s", "2s", "5s"]);
    assert_eq!(ages(t, "inter", "z"), ["20s"]);
    assert_eq!(ages(t, "none", "q"), ["1s", "2s", "5s", "20s", "30s"]);
    assert_eq!(ages(t, "none", "z"), ["20s", "30s"]);
}

#[test]
fn rules_hide_at_once_and_compaction_removes_exactly_the_hidden() {
    let f = open(schema(), NOW);
    let t = &f.tablet;
    fill(t);
    // Before any flush or compaction: hidden from reads, still stored.
    expected_at_now(t);
    assert_eq!(stored_entries(t), 5 * 7);
    assert_eq!(read(t, b"row").len(), 2 + 2 + 3 + 1 + 3 + 1 + 5 + 2);

    t.db().compact_range(None, None).unwrap();
    expected_at_now(t);
    assert_eq!(stored_entries(t), read(t, b"row").len(), "compaction removed exactly what reads hide");

    // Ten seconds later the 1 s, 2 s and 5 s old cells of the max-age families are too old.
    f.clock.advance(10 * S);
    assert_eq!(ages(t, "age", "q"), Vec::<String>::new());
    assert_eq!(ages(t, "union", "q"), Vec::<String>::new());
    assert_eq!(ages(t, "inter", "q"), ["1s"]);
    assert_eq!(ages(t, "v2", "q"), ["1s", "2s"]);
    let visible = read(t, b"row").len();
    assert!(stored_entries(t) > visible, "hidden before compaction, still stored");
    // A new cell inside the stored key range, so the next compaction merges with the old table.
    t.mutate_row(b"row", &[set("none", b"new", NOW, b"new")]).unwrap();
    t.db().compact_range(None, None).unwrap();
    assert_eq!(stored_entries(t), visible + 1);
    assert_eq!(ages(t, "none", "q"), ["1s", "2s", "5s", "20s", "30s"]);
}

#[test]
fn flush_alone_applies_the_rules_to_what_it_sees() {
    let f = open(schema(), NOW);
    let t = &f.tablet;
    fill(t);
    t.db().flush().unwrap();
    expected_at_now(t);
    assert_eq!(stored_entries(t), read(t, b"row").len());
}

#[test]
fn deleted_versions_do_not_count_against_max_versions() {
    let f = open(schema(), NOW);
    let t = &f.tablet;
    let ms: Vec<_> = [3, 2, 1].iter().map(|v| set("v2", b"q", v * 1000, format!("v{v}").as_bytes())).collect();
    t.mutate_row(b"row", &ms).unwrap();
    assert_eq!(ages(t, "v2", "q"), ["v3", "v2"]);
    t.mutate_row(b"row", &[del_column("v2", b"q", Some((3000, 4000)))]).unwrap();
    assert_eq!(ages(t, "v2", "q"), ["v2", "v1"]);
    t.db().compact_range(None, None).unwrap();
    assert_eq!(ages(t, "v2", "q"), ["v2", "v1"]);
}

#[test]
fn versions_written_later_push_older_ones_out() {
    let f = open(schema(), NOW);
    let t = &f.tablet;
    t.mutate_row(b"row", &[set("v2", b"q", 1000, b"a"), set("v2", b"q", 2000, b"b")]).unwrap();
    t.db().compact_range(None, None).unwrap();
    // Newer versions land in the memtable; the old ones sit in a table the flush never sees.
    // (Column z sorts after q, so the flushed table overlaps the old one.)
    t.mutate_row(b"row", &[set("v2", b"q", 3000, b"c"), set("v2", b"q", 4000, b"d"), set("v2", b"z", 0, b"z")])
        .unwrap();
    assert_eq!(ages(t, "v2", "q"), ["d", "c"]);
    t.db().flush().unwrap();
    assert_eq!(stored_entries(t), 5, "a flush sees only its own versions: nothing removed yet");
    t.db().compact_range(None, None).unwrap();
    assert_eq!(stored_entries(t), 3, "the compaction merging both tables removed the two oldest");
    assert_eq!(ages(t, "v2", "q"), ["d", "c"]);
}

#[test]
fn schema_changes_apply_to_reads_and_later_compactions() {
    let f = open(schema(), NOW);
    let t = &f.tablet;
    fill(t);
    assert_eq!(ages(t, "none", "q").len(), 5);
    t.set_schema(schema().with_family("none", Some(GcRule::MaxNumVersions(1))).unwrap());
    assert_eq!(ages(t, "none", "q"), ["1s"]);
    t.db().compact_range(None, None).unwrap();
    assert_eq!(stored_entries(t), read(t, b"row").len());
    // Back to no rule: what compaction removed stays gone.
    t.set_schema(schema());
    assert_eq!(ages(t, "none", "q"), ["1s"]);
}
