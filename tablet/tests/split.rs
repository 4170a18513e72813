//! Splitting a tablet: the children hold exactly the parent's data (rows, versions, filters)
//! before and after compaction, refuse rows outside their ranges and shrink to their own
//! rows; concurrent writers never lose an acknowledged write; samples and split points.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{del_column, del_row, set};
use engine::ReadOptions;
use tablet::keys::decode_row;
use tablet::proto::bigtable::read_modify_write_rule::Rule;
use tablet::proto::bigtable::row_filter::Filter;
use tablet::proto::bigtable::{ReadModifyWriteRule, Row, RowFilter, RowSet};
use tablet::{Error, GcRule, ManualClock, Schema, Tablet, TabletOptions};

const NOW: i64 = 1_000_000_000_000;

fn schema() -> Schema {
    Schema::new()
        .with_family("cf", Some(GcRule::MaxNumVersions(2)))
        .unwrap()
        .with_family("old", Some(GcRule::MaxAge(Duration::from_secs(3600))))
        .unwrap()
        .with_family("raw", None)
        .unwrap()
}

fn options() -> TabletOptions {
    TabletOptions {
        engine: engine::Options {
            write_buffer_size: 32 << 10,
            block_size: 512,
            target_file_size: 64 << 10,
            ..engine::Options::default()
        },
        clock: Arc::new(ManualClock::new(NOW)),
        ..TabletOptions::default()
    }
}

fn row_name(i: usize) -> Vec<u8> {
    format!("row{i:04}").into_bytes()
}

/// 300 rows with several columns, versions (some past the GC rules), deletions; part of it
/// flushed and compacted, part in the memtable.
fn fill(t: &Tablet) {
    for i in 0..300 {
        let r = row_name(i);
        for v in 0..3 {
            t.mutate_row(&r, &[set("cf", b"a", 1000 * (1 + v), format!("a{i}-{v}").as_bytes())]).unwrap();
        }
        t.mutate_row(
            &r,
            &[
                set("cf", b"b\x00bin", 5000, &vec![b'x'; 40 + i % 30]),
                set("old", b"o", NOW - 7200 * 1_000_000, b"expired"),
                set("old", b"n", NOW - 1000, b"fresh"),
                set("raw", b"r", 7000, format!("raw{i}").as_bytes()),
            ],
        )
        .unwrap();
        if i % 17 == 0 {
            t.mutate_row(&r, &[del_column("cf", b"a", None)]).unwrap();
        }
        if i % 41 == 0 {
            t.mutate_row(&r, &[del_row()]).unwrap();
        }
        if i == 150 {
            t.db().compact_range(None, None).unwrap();
        }
    }
}

fn all(t: &Tablet) -> Vec<Row> {
    t.read_rows(&RowSet::default()).unwrap()
}

fn filtered(t: &Tablet) -> Vec<Row> {
    let f = RowFilter { filter: Some(Filter::CellsPerColumnLimitFilter(1)) };
    t.read_rows_filtered(&RowSet::default(), Some(&f)).unwrap()
}

fn concat(a: Vec<Row>, b: Vec<Row>) -> Vec<Row> {
    a.into_iter().chain(b).collect()
}

/// Every raw engine key of `t`'s database, as rows.
fn raw_rows(t: &Tablet) -> Vec<Vec<u8>> {
    let mut it = t.db().iter(&ReadOptions::default()).unwrap();
    it.seek_to_first();
    let mut rows = Vec::new();
    while it.valid() {
        rows.push(decode_row(it.key()).unwrap());
        it.next();
    }
    it.status().unwrap();
    rows
}

fn split_dirs(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    (root.join("left"), root.join("right"))
}

#[test]
fn children_hold_exactly_the_parents_data_and_shrink_to_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let parent = Tablet::open(dir.path().join("parent"), b"", b"", schema(), options()).unwrap();
    fill(&parent);
    let want_all = all(&parent);
    let want_filtered = filtered(&parent);
    assert!(want_all.len() > 250);
    let parent_size = parent.approximate_size().unwrap();

    parent.db().flush().unwrap();
    let m = parent.split_point().unwrap().expect("a split point");
    assert!(
        m > row_name(60) && m < row_name(240),
        "split row {:?} is far from the middle",
        String::from_utf8_lossy(&m)
    );
    let (l_dir, r_dir) = split_dirs(dir.path());
    let (left, right) = parent.split(&m, &l_dir, &r_dir).unwrap();
    assert_eq!(left.range(), (&b""[..], m.as_slice()));
    assert_eq!(right.range(), (m.as_slice(), &b""[..]));

    // Together, exactly the parent's data, plain and filtered.
    assert_eq!(concat(all(&left), all(&right)), want_all);
    assert_eq!(concat(filtered(&left), filtered(&right)), want_filtered);
    assert!(all(&left).iter().all(|r| r.key < m) && all(&right).iter().all(|r| r.key >= m));
    assert!(!all(&left).is_empty() && !all(&right).is_empty());
    // Sizes count only each child's rows, though both hold all the parent's files now.
    let (ls, rs) = (left.approximate_size().unwrap(), right.approximate_size().unwrap());
    assert!(ls > 0 && rs > 0 && ls + rs <= parent_size + parent_size / 10, "{ls} + {rs} vs {parent_size}");

    // The split's background compactions leave each child only its own rows.
    left.db().wait_for_compactions().unwrap();
    right.db().wait_for_compactions().unwrap();
    assert!(raw_rows(&left).iter().all(|r| *r < m), "left child still holds rows of the right");
    assert!(raw_rows(&right).iter().all(|r| *r >= m), "right child still holds rows of the left");
    let disk = |t: &Tablet| t.db().stats().levels.iter().map(|l| l.bytes).sum::<u64>();
    let parent_disk = disk(&parent);
    assert!(disk(&left) < parent_disk && disk(&right) < parent_disk);

    // And after full compactions, still the same data.
    left.db().compact_range(None, None).unwrap();
    right.db().compact_range(None, None).unwrap();
    assert_eq!(concat(all(&left), all(&right)), want_all);
    assert_eq!(concat(filtered(&left), filtered(&right)), want_filtered);

    // The children survive a reopen with their ranges.
    drop((left, right));
    let left = Tablet::open(&l_dir, b"", &m, schema(), options()).unwrap();
    let right = Tablet::open(&r_dir, &m, b"", schema(), options()).unwrap();
    assert_eq!(concat(all(&left), all(&right)), want_all);
}

#[test]
fn children_refuse_rows_outside_their_range_and_the_parent_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let parent = Tablet::open(dir.path().join("parent"), b"b", b"y", schema(), options()).unwrap();
    for r in [&b"c"[..], b"m", b"x"] {
        parent.mutate_row(r, &[set("raw", b"q", 1000, r)]).unwrap();
    }
    // Split rows must be strictly inside [b, y).
    for bad in [&b"b"[..], b"a", b"y", b"z", b""] {
        let e = parent.split(bad, dir.path().join("l"), dir.path().join("r")).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    }
    let (l_dir, r_dir) = split_dirs(dir.path());
    let (left, right) = parent.split(b"m", &l_dir, &r_dir).unwrap();
    let w = |t: &Tablet, r: &[u8]| t.mutate_row(r, &[set("raw", b"q", 2000, b"new")]);
    assert!(matches!(w(&left, b"m"), Err(Error::RowOutOfRange { .. })));
    assert!(matches!(w(&left, b"y"), Err(Error::RowOutOfRange { .. })));
    assert!(matches!(w(&right, b"l"), Err(Error::RowOutOfRange { .. })));
    assert!(matches!(w(&right, b"a"), Err(Error::RowOutOfRange { .. })));
    w(&left, b"b").unwrap();
    w(&right, b"m").unwrap();
    w(&right, b"xz").unwrap();

    let e = w(&parent, b"c").unwrap_err();
    assert!(matches!(e, Error::NotServing { .. }) && e.to_string().starts_with("not serving"), "{e}");
    assert!(!parent.is_serving() && left.is_serving());
    // Every kind of write passes the same gate.
    let not_serving = |r: Result<(), Error>| matches!(r, Err(Error::NotServing { .. }));
    let set_raw = [set("raw", b"q", 3000, b"v")];
    assert!(not_serving(parent.check_and_mutate_row(b"c", None, &set_raw, &set_raw).map(drop)));
    let incr = ReadModifyWriteRule {
        family_name: "raw".into(),
        column_qualifier: b"n".to_vec(),
        rule: Some(Rule::IncrementAmount(1)),
    };
    assert!(not_serving(parent.read_modify_write_row(b"c", &[incr]).map(drop)));
    assert!(not_serving(parent.drop_row_range(Some(b"c")).map(drop)));
    // Reads of the parent go on.
    assert_eq!(parent.read_rows(&RowSet::default()).unwrap().len(), 3);
    // A second split of the parent is refused the same way.
    let e = parent.split(b"d", dir.path().join("l2"), dir.path().join("r2")).unwrap_err();
    assert!(matches!(e, Error::NotServing { .. }), "{e}");
}

/// Writers hammer the tablet while it splits: every acknowledged write is in a child, and
/// every refused one is in neither.
#[test]
fn concurrent_writers_never_lose_an_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let parent = Arc::new(Tablet::open(dir.path().join("parent"), b"", b"", schema(), options()).unwrap());
    for i in 0..200 {
        parent.mutate_row(&row_name(i), &[set("raw", b"seed", 1000, b"x")]).unwrap();
    }
    parent.db().flush().unwrap();
    let acked = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let refused = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let started = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (parent, acked, refused, started) = (parent.clone(), acked.clone(), refused.clone(), started.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    // Rows on both sides of the split row.
                    let row = format!("row{:04}-w{t}-{i}", (i * 37 + t * 11) % 200).into_bytes();
                    match parent.mutate_row(&row, &[set("raw", b"w", 2000, b"v")]) {
                        Ok(()) => acked.lock().unwrap().push(row),
                        Err(Error::NotServing { .. }) => {
                            refused.lock().unwrap().push(row);
                            return;
                        }
                        Err(e) => panic!("unexpected error {e}"),
                    }
                    if i == 20 {
                        started.store(true, Ordering::Release);
                    }
                }
            })
        })
        .collect();
    while !started.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let (l_dir, r_dir) = split_dirs(dir.path());
    let (left, right) = parent.split(&row_name(100), &l_dir, &r_dir).unwrap();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let refused = refused.lock().unwrap().clone();
    assert!(acked.len() > 20 && refused.len() == 4, "{} acked, {} refused", acked.len(), refused.len());
    let holds = |row: &[u8]| {
        let t = if row < row_name(100).as_slice() { &left } else { &right };
        t.read_row(row).unwrap().is_some()
    };
    for row in &acked {
        assert!(holds(row), "acknowledged write to {} lost", String::from_utf8_lossy(row));
    }
    for row in &refused {
        assert!(!holds(row), "refused write to {} landed", String::from_utf8_lossy(row));
    }
    assert_eq!(all(&left).len() + all(&right).len(), 200 + acked.len());
}

#[test]
fn sample_row_keys_are_increasing_and_end_with_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tablet::open(dir.path().join("t"), b"", b"", schema(), options()).unwrap();
    // Empty: just the total.
    let s = t.sample_row_keys().unwrap();
    assert!(s.len() == 1 && s[0].0.is_empty(), "{s:?}");
    fill(&t);
    t.db().flush().unwrap();
    t.mutate_row(b"zzz", &[set("raw", b"q", 1000, b"in the memtable")]).unwrap();
    let check = |t: &Tablet| {
        let s = t.sample_row_keys().unwrap();
        let (last, body) = s.split_last().unwrap();
        assert!(last.0.is_empty());
        assert!(body.len() > 5, "{} samples", body.len());
        assert!(body.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        assert!(body.iter().all(|(row, _)| !row.is_empty() && t.contains_row(row) && row.as_slice() > t.range().0));
        assert!(body.last().unwrap().1 <= last.1);
        assert_eq!(last.1, t.approximate_size().unwrap());
        s
    };
    let whole = check(&t);
    let (l_dir, r_dir) = split_dirs(dir.path());
    let (left, right) = t.split(&row_name(120), &l_dir, &r_dir).unwrap();
    check(&left);
    check(&right);
    // The children's totals add up to about the parent's files.
    let total = whole.last().unwrap().1;
    let sum = left.sample_row_keys().unwrap().last().unwrap().1 + right.sample_row_keys().unwrap().last().unwrap().1;
    assert!(sum <= total + total / 10, "{sum} vs {total}");
}

#[test]
fn no_split_point_for_tiny_or_single_row_tablets() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tablet::open(dir.path().join("t"), b"", b"", schema(), options()).unwrap();
    assert_eq!(t.split_point().unwrap(), None);
    t.mutate_row(b"a", &[set("raw", b"q", 1000, b"v")]).unwrap();
    t.mutate_row(b"b", &[set("raw", b"q", 1000, b"v")]).unwrap();
    t.db().flush().unwrap();
    assert_eq!(t.split_point().unwrap(), None, "one data block is too small to split");

    // One big row over many blocks: nowhere to split.
    let t = Tablet::open(dir.path().join("one"), b"", b"", schema(), options()).unwrap();
    for q in 0..400 {
        t.mutate_row(b"only", &[set("raw", format!("q{q:04}").as_bytes(), 1000, &[b'v'; 100])]).unwrap();
    }
    t.db().flush().unwrap();
    let s = t.sample_row_keys().unwrap();
    // "only" with nothing before it; past it, at most the separator after the last block.
    assert!(s.len() <= 3 && s[0] == (b"only".to_vec(), 0), "{s:?}");
    assert_eq!(t.split_point().unwrap(), None);
    // A second row after it: the split falls between them.
    t.mutate_row(b"other", &[set("raw", b"q", 1000, b"v")]).unwrap();
    t.db().flush().unwrap();
    let m = t.split_point().unwrap().expect("a split point");
    assert_eq!(m, b"other");
}
