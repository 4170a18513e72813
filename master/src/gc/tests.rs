use super::*;
use crate::state::{Assignment, Change, TableRecord, TabletRecord};

const T1: &str = "t0000000000000001";
const T2: &str = "t0000000000000002";

/// Table T1 with tablets (id, epoch) tiling its rows in the order given.
fn map(tablets: &[(&str, u64)]) -> MasterMap {
    let mut m = MasterMap::new();
    m.apply(Change::PutTable(TableRecord {
        name: "projects/p/instances/i/tables/x".into(),
        table_id: T1.into(),
        ..Default::default()
    }));
    let n = tablets.len();
    for (i, (id, epoch)) in tablets.iter().enumerate() {
        let mut t = TabletRecord {
            table_id: T1.into(),
            tablet_id: id.to_string(),
            start_key: if i == 0 { vec![] } else { vec![b'a' + i as u8] },
            end_key: if i + 1 == n { vec![] } else { vec![b'a' + i as u8 + 1] },
            epoch: *epoch,
            ..Default::default()
        };
        t.set_holder(Some(("s", "addr")), Assignment::Serving);
        m.apply(Change::PutTablet(t));
    }
    m
}

/// A tablet directory with epochs (epoch, complete).
fn dir(epochs: &[(u64, bool)]) -> TabletListing {
    TabletListing { epochs: epochs.iter().copied().collect(), split: None }
}

fn split_dir(epochs: &[(u64, bool)], l: &str, r: &str) -> TabletListing {
    TabletListing { split: Some(SplitMarker::Children(l.into(), r.into())), ..dir(epochs) }
}

fn listing(tables: &[(&str, Vec<(&str, TabletListing)>)]) -> Listing {
    Listing {
        tables: tables
            .iter()
            .map(|(id, tablets)| {
                let tablets = tablets.iter().map(|(t, d)| (t.to_string(), d.clone())).collect();
                (id.to_string(), TableListing { tablets })
            })
            .collect(),
    }
}

fn epoch(tablet: &str, epoch: u64) -> Garbage {
    Garbage::Epoch { table_id: T1.into(), tablet_id: tablet.into(), epoch }
}

fn tablet(tablet: &str, why: TabletGarbage) -> Garbage {
    Garbage::Tablet { table_id: T1.into(), tablet_id: tablet.into(), why }
}

fn none() -> HashSet<HeldCopy> {
    HashSet::new()
}

#[test]
fn old_epochs_go_once_the_current_one_is_complete() {
    let m = map(&[("0000", 3), ("0001", 5), ("0002", 2)]);
    let l = listing(&[(
        T1,
        vec![
            // Current epoch complete: 1 and 2 are garbage, whether complete or not.
            ("0000", dir(&[(1, true), (2, false), (3, true)])),
            // Current epoch still being made (no CURRENT): everything stays, e4 may be
            // the source of its checkpoint.
            ("0001", dir(&[(4, true), (5, false)])),
            // A newer directory than the record's epoch is never touched.
            ("0002", dir(&[(1, true), (2, true), (3, false)])),
        ],
    )]);
    assert_eq!(mark(&m, &none(), &l), [epoch("0000", 1), epoch("0000", 2), epoch("0002", 1)].into());
    // A live server still holding a copy at epoch 1 keeps that directory.
    let held: HashSet<HeldCopy> = [(T1.to_string(), "0000".to_string(), 1)].into();
    assert_eq!(mark(&m, &held, &l), [epoch("0000", 2), epoch("0002", 1)].into());
}

#[test]
fn deleted_tables_are_garbage_unless_still_held() {
    let m = map(&[("0000", 1)]);
    let l = listing(&[(T1, vec![("0000", dir(&[(1, true)]))]), (T2, vec![("0000", dir(&[(1, true)]))])]);
    assert_eq!(mark(&m, &none(), &l), [Garbage::Table { table_id: T2.into() }].into());
    let held: HashSet<HeldCopy> = [(T2.to_string(), "0000".to_string(), 1)].into();
    assert!(mark(&m, &held, &l).is_empty());
}

#[test]
fn split_parents_go_once_both_children_were_opened() {
    let (l, r) = child_tablet_ids("0000", 4);
    // The split is recorded: the parent left the map, the children are in it.
    let m = map(&[(&l, 4), (&r, 4)]);
    let parent = split_dir(&[(3, true), (4, true)], &l, &r);
    let opened = |done: bool| dir(&[(4, done)]);
    let both = listing(&[(T1, vec![("0000", parent.clone()), (&l, opened(true)), (&r, opened(true))])]);
    assert_eq!(mark(&m, &none(), &both), [tablet("0000", TabletGarbage::SplitParent)].into());
    // One child not opened yet (no CURRENT, or no directory at all): the parent stays.
    let one = listing(&[(T1, vec![("0000", parent.clone()), (&l, opened(true)), (&r, opened(false))])]);
    assert!(mark(&m, &none(), &one).is_empty());
    let missing = listing(&[(T1, vec![("0000", parent.clone()), (&l, opened(true))])]);
    assert!(mark(&m, &none(), &missing).is_empty());
    // Without its marker the parent is still known by its children's ids.
    let unmarked = listing(&[(T1, vec![("0000", dir(&[(4, true)])), (&l, opened(true)), (&r, opened(false))])]);
    assert!(mark(&m, &none(), &unmarked).is_empty());
    // An unreadable marker: never collected.
    let bad = TabletListing { split: Some(SplitMarker::Unreadable), ..dir(&[(4, true)]) };
    let unreadable = listing(&[(T1, vec![("0000", bad), (&l, opened(true)), (&r, opened(true))])]);
    assert!(mark(&m, &none(), &unreadable).is_empty());
}

#[test]
fn half_made_children_go_but_a_split_under_way_stays() {
    // `0000` at epoch 6 failed a split at epoch 5 (children never recorded, no marker).
    let (l5, r5) = child_tablet_ids("0000", 5);
    let (l6, r6) = child_tablet_ids("0000", 6);
    let m = map(&[("0000", 6)]);
    let l = listing(&[(
        T1,
        vec![
            ("0000", dir(&[(6, true)])),
            (&l5, dir(&[(5, true)])),
            (&r5, dir(&[(5, false)])),
            // A split at the current epoch may be under way (or retried): its children stay.
            (&l6, dir(&[(6, true)])),
            (&r6, dir(&[(6, false)])),
        ],
    )]);
    assert_eq!(mark(&m, &none(), &l), [tablet(&l5, TabletGarbage::Orphan), tablet(&r5, TabletGarbage::Orphan)].into());
}

#[test]
fn children_of_an_unrecorded_split_are_protected() {
    // `0000` split at epoch 2 (marker written), the report was lost: the children are not
    // in the map yet, and one of them split again. The parent moved on to epoch 3.
    let (l, r) = child_tablet_ids("0000", 2);
    let (ll, lr) = child_tablet_ids(&l, 2);
    let m = map(&[("0000", 3)]);
    let held: HashSet<HeldCopy> = HashSet::new();
    let tree = listing(&[(
        T1,
        vec![
            ("0000", split_dir(&[(2, true), (3, false)], &l, &r)),
            (&l, split_dir(&[(2, true)], &ll, &lr)),
            (&r, dir(&[(2, true)])),
            (&ll, dir(&[(2, true)])),
            (&lr, dir(&[(2, true)])),
            ("zz", dir(&[(1, true)])),
        ],
    )]);
    assert_eq!(mark(&m, &held, &tree), [tablet("zz", TabletGarbage::Orphan)].into());
    // A tablet a server reports holding stays, whatever the map says.
    let held: HashSet<HeldCopy> = [(T1.to_string(), "zz".to_string(), 1)].into();
    assert!(mark(&m, &held, &tree).is_empty());
}

#[test]
fn grace_counts_from_when_something_was_first_seen_as_garbage() {
    let a = epoch("0000", 1);
    let b = epoch("0000", 2);
    let mut g = GraceTracker::new();
    assert!(g.update([a.clone()].into(), 100, 50).is_empty());
    assert!(g.update([a.clone(), b.clone()].into(), 149, 50).is_empty());
    assert_eq!(g.update([a.clone(), b.clone()].into(), 150, 50), std::slice::from_ref(&a));
    g.forget(&a);
    // b stopped being garbage at 160: its clock starts again.
    assert!(g.update(BTreeSet::new(), 160, 50).is_empty());
    assert!(g.update([b.clone()].into(), 170, 50).is_empty());
    assert_eq!(g.pending(), 1);
    assert_eq!(g.update([b.clone()].into(), 220, 50), [b]);
}

#[test]
fn scan_lists_ids_epochs_and_markers_and_remove_deletes() {
    use tablet::proto::bt::internal::v1::TabletDescriptor;
    let root = tempfile::tempdir().unwrap();
    let tables = root.path().join(TABLES_DIR);
    let tablet_dir = tables.join(T1).join("0000");
    std::fs::create_dir_all(tablet_dir.join(epoch_dir_name(1))).unwrap();
    std::fs::create_dir_all(tablet_dir.join(epoch_dir_name(2))).unwrap();
    std::fs::write(tablet_dir.join(epoch_dir_name(2)).join("CURRENT"), b"MANIFEST-000001\n").unwrap();
    std::fs::create_dir_all(tablet_dir.join("junk")).unwrap();
    std::fs::create_dir_all(tables.join("not-a-table-id")).unwrap();
    std::fs::write(tables.join(T1).join("README"), b"x").unwrap();
    let d = |id: &str| TabletDescriptor { table_id: T1.into(), tablet_id: id.into(), epoch: 2, ..Default::default() };
    let report = tablet::proto::bt::internal::v1::ReportSplitRequest {
        server_id: "s".into(),
        parent: Some(d("0000")),
        left: Some(d("0000-l2")),
        right: Some(d("0000-r2")),
    };
    tablet::layout::write_split_marker(&engine::PosixFs::new(), root.path(), &report).unwrap();
    std::fs::create_dir_all(tables.join(T2).join("0001")).unwrap();
    std::fs::write(tables.join(T2).join("0001").join(tablet::layout::SPLIT_MARKER), b"\xff\xff").unwrap();

    let l = disk::scan(root.path()).unwrap();
    let expected = listing(&[
        (T1, vec![("0000", split_dir(&[(1, false), (2, true)], "0000-l2", "0000-r2"))]),
        (T2, vec![("0001", TabletListing { split: Some(SplitMarker::Unreadable), ..dir(&[]) })]),
    ]);
    assert_eq!(l, expected);

    disk::remove(root.path(), &epoch("0000", 1)).unwrap();
    assert!(!tablet_dir.join(epoch_dir_name(1)).exists());
    assert!(tablet_dir.join(epoch_dir_name(2)).join("CURRENT").exists());
    // Removing what is already gone is fine.
    disk::remove(root.path(), &epoch("0000", 1)).unwrap();
    disk::remove(root.path(), &Garbage::Table { table_id: T2.into() }).unwrap();
    assert!(!tables.join(T2).exists());
    // An empty root lists nothing.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(disk::scan(empty.path()).unwrap(), Listing::default());
}
