//! Loading a tablet at an epoch (`docs/cluster.md`, fencing): stale epochs are refused, a
//! takeover keeps every write of the old owner, and the old owner's later writes never
//! reach the new one; the SPLIT marker; a split laid out under the data root.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{cells, set};
use engine::{Fs, MemFs, PosixFs};
use tablet::layout::{
    child_tablet_ids, epoch_dir, list_epochs, prepare_epoch_dir, prepare_split_dirs, read_split_marker, split_report,
    write_split_marker, Preparation,
};
use tablet::proto::bigtable::{Row, RowSet};
use tablet::proto::bt::internal::v1::TabletDescriptor;
use tablet::{Error, Schema, Tablet, TabletOptions};

const TABLE: &str = "t00000000000000ab";

fn schema() -> Schema {
    Schema::new().with_family("cf", None).unwrap()
}

fn options(fs: &Arc<dyn Fs>) -> TabletOptions {
    TabletOptions {
        engine: engine::Options { fs: fs.clone(), write_buffer_size: 16 << 10, ..engine::Options::default() },
        ..TabletOptions::default()
    }
}

fn open_at(fs: &Arc<dyn Fs>, root: &Path, tablet: &str, epoch: u64) -> (Tablet, Preparation) {
    let dir = prepare_epoch_dir(fs, root, TABLE, tablet, epoch).unwrap();
    (Tablet::open(&dir.path, b"", b"", schema(), options(fs)).unwrap(), dir.preparation)
}

fn put(t: &Tablet, row: &str, value: &str) {
    t.mutate_row(row.as_bytes(), &[set("cf", b"q", 1000, value.as_bytes())]).unwrap();
}

fn dump(t: &Tablet) -> Vec<(String, Vec<String>)> {
    let rows: Vec<Row> = t.read_rows(&RowSet::default()).unwrap();
    rows.iter().map(|r| (String::from_utf8_lossy(&r.key).into_owned(), cells(r))).collect()
}

#[test]
fn a_stale_epoch_is_refused() {
    let fs: Arc<dyn Fs> = Arc::new(MemFs::new());
    let root = Path::new("/root");
    let (t, how) = open_at(&fs, root, "a", 5);
    assert_eq!(how, Preparation::Created);
    drop(t);
    let e = prepare_epoch_dir(&fs, root, TABLE, "a", 4).unwrap_err();
    assert!(matches!(e, Error::StaleEpoch { requested: 4, newest: 5, .. }), "{e}");
    assert!(e.to_string().contains("stale epoch"), "{e}");
    // The same epoch again is a reopen; bad ids and epoch 0 are refused before any I/O.
    assert_eq!(prepare_epoch_dir(&fs, root, TABLE, "a", 5).unwrap().preparation, Preparation::Reopened);
    // Its own directory does not save a stale epoch: e4 now exists, and is still refused.
    fs.create_dir_all(&epoch_dir(root, TABLE, "a", 4).unwrap()).unwrap();
    let e = prepare_epoch_dir(&fs, root, TABLE, "a", 4).unwrap_err();
    assert!(matches!(e, Error::StaleEpoch { requested: 4, newest: 5, .. }), "{e}");
    assert!(e.to_string().contains("newer epoch 5"), "{e}");
    assert!(prepare_epoch_dir(&fs, root, TABLE, "../b", 6).is_err());
    assert!(prepare_epoch_dir(&fs, root, "t/../../x", "a", 6).is_err());
    assert!(prepare_epoch_dir(&fs, root, TABLE, "a", 0).is_err());
    assert_eq!(list_epochs(fs.as_ref(), root, TABLE, "a").unwrap(), vec![4, 5]);
}

/// The old owner is paused, not dead: its Db stays open with writes in its WAL only. The new
/// owner gets every one of them, and nothing the old owner does later.
fn takeover(fs: Arc<dyn Fs>, root: &Path) {
    let (old, _) = open_at(&fs, root, "tab", 1);
    for i in 0..400 {
        put(&old, &format!("row{i:03}"), &format!("v{i}"));
    }
    old.db().flush().unwrap();
    for i in 0..50 {
        put(&old, &format!("row{i:03}"), &format!("w{i}")); // WAL only
    }
    let want = dump(&old);

    let (new, how) = open_at(&fs, root, "tab", 2);
    assert!(matches!(how, Preparation::Checkpointed { from: 1, .. }), "{how:?}");
    assert_eq!(dump(&new), want);

    // The paused owner wakes up and writes, flushes and compacts in its own directory.
    put(&old, "late", "from the old owner");
    put(&old, "row000", "overwritten late");
    old.db().compact_range(None, None).unwrap();
    assert_eq!(dump(&new), want);
    put(&new, "new", "from the new owner");
    drop(new);
    // Reopening the same epoch keeps the new owner's state.
    let (new, how) = open_at(&fs, root, "tab", 2);
    assert_eq!(how, Preparation::Reopened);
    let got = dump(&new);
    assert_eq!(got.len(), want.len() + 1);
    assert!(got.iter().all(|(row, _)| row != "late"));
    assert_eq!(new.read_row(b"row000").unwrap().map(|r| cells(&r)), Some(vec!["cf:q@1000=w0".to_string()]));
    // The old owner may not come back at its epoch.
    drop(old);
    assert!(matches!(prepare_epoch_dir(&fs, root, TABLE, "tab", 1), Err(Error::StaleEpoch { .. })));
}

#[test]
fn takeover_keeps_every_write_and_fences_the_old_owner_on_memfs() {
    takeover(Arc::new(MemFs::new()), Path::new("/root"));
}

#[test]
fn takeover_keeps_every_write_and_fences_the_old_owner_on_posix() {
    let dir = tempfile::tempdir().unwrap();
    takeover(Arc::new(PosixFs::new()), dir.path());
}

#[test]
fn an_incomplete_epoch_dir_is_redone() {
    let mem = MemFs::new();
    let fs: Arc<dyn Fs> = Arc::new(mem.clone());
    let root = Path::new("/root");
    let (old, _) = open_at(&fs, root, "tab", 1);
    put(&old, "a", "1");
    // A crash cut a checkpoint into e2 short: files, but no CURRENT.
    let e2 = epoch_dir(root, TABLE, "tab", 2).unwrap();
    fs.create_dir_all(&e2).unwrap();
    fs.create(&e2.join("MANIFEST-000009")).unwrap();
    fs.create(&e2.join("000007.log")).unwrap();
    let (t, how) = open_at(&fs, root, "tab", 2);
    assert!(matches!(how, Preparation::Checkpointed { from: 1, .. }), "{how:?}");
    assert_eq!(dump(&t).len(), 1);
    drop(t);
    // An empty, never-opened e3: it holds no data, so e4 copies e2; and though incomplete,
    // it is newer than 2, so epoch 2 is stale from now on.
    fs.create_dir_all(&epoch_dir(root, TABLE, "tab", 3).unwrap()).unwrap();
    assert!(matches!(prepare_epoch_dir(&fs, root, TABLE, "tab", 2), Err(Error::StaleEpoch { .. })));
    let (t, how) = open_at(&fs, root, "tab", 4);
    assert!(matches!(how, Preparation::Checkpointed { from: 2, .. }), "{how:?}");
    assert_eq!(dump(&t).len(), 1);
}

#[test]
fn split_marker_roundtrip_and_damage() {
    let mem = MemFs::new();
    let fs: Arc<dyn Fs> = Arc::new(mem.clone());
    let root = Path::new("/root");
    assert_eq!(read_split_marker(fs.as_ref(), root, TABLE, "p").unwrap(), None);
    let parent = TabletDescriptor {
        table_id: TABLE.into(),
        tablet_id: "p".into(),
        start_key: b"a".to_vec(),
        end_key: b"z".to_vec(),
        epoch: 7,
        table_name: "projects/p/instances/i/tables/t".into(),
    };
    let (l, r) = child_tablet_ids("p", 7);
    let report = split_report("server-1", &parent, b"m", &l, &r);
    let left = report.left.as_ref().unwrap();
    assert_eq!((left.start_key.as_slice(), left.end_key.as_slice(), left.epoch), (&b"a"[..], &b"m"[..], 7));
    let right = report.right.as_ref().unwrap();
    assert_eq!(
        (right.start_key.as_slice(), right.end_key.as_slice(), right.tablet_id.as_str()),
        (&b"m"[..], &b"z"[..], "p-r7")
    );
    write_split_marker(fs.as_ref(), root, &report).unwrap();
    assert_eq!(read_split_marker(fs.as_ref(), root, TABLE, "p").unwrap(), Some(report.clone()));
    // Durable: it survives a machine crash.
    let mem = mem.crash();
    let fs: Arc<dyn Fs> = Arc::new(mem.clone());
    assert_eq!(read_split_marker(fs.as_ref(), root, TABLE, "p").unwrap(), Some(report));
    // Damage is a corruption error naming the file.
    let path = root.join("tables").join(TABLE).join("p").join("SPLIT");
    mem.corrupt(&path, |b| b.truncate(b.len() / 2)).unwrap();
    let e = read_split_marker(fs.as_ref(), root, TABLE, "p").unwrap_err();
    assert!(matches!(&e, Error::Engine(inner) if inner.is_corruption()) && e.to_string().contains("SPLIT"), "{e}");
}

/// The whole split of `docs/cluster.md` under a data root: children checkpointed into
/// `<child>/e<E>`, the marker written, and each child later loaded at a newer epoch.
#[test]
fn a_split_laid_out_under_the_data_root() {
    let fs: Arc<dyn Fs> = Arc::new(MemFs::new());
    let root = Path::new("/root");
    let (parent, _) = open_at(&fs, root, "p", 3);
    for i in 0..300 {
        put(&parent, &format!("row{i:03}"), &"x".repeat(50));
    }
    parent.db().flush().unwrap();
    let m = parent.split_point().unwrap().unwrap();
    let (l_id, r_id) = child_tablet_ids("p", 3);
    let l_dir = epoch_dir(root, TABLE, &l_id, 3).unwrap();
    let r_dir = epoch_dir(root, TABLE, &r_id, 3).unwrap();
    let (left, right) = parent.split(&m, &l_dir, &r_dir).unwrap();
    let desc = TabletDescriptor { table_id: TABLE.into(), tablet_id: "p".into(), epoch: 3, ..Default::default() };
    write_split_marker(fs.as_ref(), root, &split_report("s", &desc, &m, &l_id, &r_id)).unwrap();
    assert_eq!(dump(&left).len() + dump(&right).len(), 300);
    drop((left, right));
    // Reassigned at epoch 4: each child is copied from its e3.
    let dir = prepare_epoch_dir(&fs, root, TABLE, &l_id, 4).unwrap();
    assert!(matches!(dir.preparation, Preparation::Checkpointed { from: 3, .. }));
    let left = Tablet::open(&dir.path, b"", &m, schema(), options(&fs)).unwrap();
    let dir = prepare_epoch_dir(&fs, root, TABLE, &r_id, 4).unwrap();
    let right = Tablet::open(&dir.path, &m, b"", schema(), options(&fs)).unwrap();
    assert_eq!(dump(&left).len() + dump(&right).len(), 300);
    assert!(read_split_marker(fs.as_ref(), root, TABLE, "p").unwrap().is_some());
}

/// The children's directories of a split: ids from `child_tablet_ids`, leftovers of an
/// abandoned attempt cleared, refused once the parent's marker exists or a child was
/// assigned at another epoch.
#[test]
fn split_dirs_are_prepared_clean() {
    let fs: Arc<dyn Fs> = Arc::new(MemFs::new());
    let root = Path::new("/root");
    let dirs = prepare_split_dirs(fs.as_ref(), root, TABLE, "p", 3).unwrap();
    assert_eq!((dirs.left_id.as_str(), dirs.right_id.as_str()), ("p-l3", "p-r3"));
    assert_eq!(dirs.left_dir, epoch_dir(root, TABLE, "p-l3", 3).unwrap());
    assert_eq!(dirs.right_dir, epoch_dir(root, TABLE, "p-r3", 3).unwrap());
    // An earlier attempt left a complete checkpoint in one child and half of one in the
    // other; no marker was written, so they never served: both are emptied.
    fs.create_dir_all(&dirs.left_dir).unwrap();
    fs.create(&dirs.left_dir.join("CURRENT")).unwrap();
    fs.create(&dirs.left_dir.join("000004.sst")).unwrap();
    fs.create_dir_all(&dirs.right_dir).unwrap();
    fs.create(&dirs.right_dir.join("MANIFEST-000005")).unwrap();
    let again = prepare_split_dirs(fs.as_ref(), root, TABLE, "p", 3).unwrap();
    assert_eq!(again, dirs);
    assert!(fs.list_dir(&dirs.left_dir).unwrap().is_empty());
    assert!(fs.list_dir(&dirs.right_dir).unwrap().is_empty());
    // A child with a directory at another epoch was assigned on its own: refused.
    fs.create_dir_all(&epoch_dir(root, TABLE, "p-r3", 4).unwrap()).unwrap();
    let e = prepare_split_dirs(fs.as_ref(), root, TABLE, "p", 3).unwrap_err();
    assert!(e.to_string().contains("p-r3") && e.to_string().contains("epoch 4"), "{e}");
    // Once the marker exists, the tablet was split: refused, nothing touched.
    let parent = TabletDescriptor { table_id: TABLE.into(), tablet_id: "q".into(), epoch: 2, ..Default::default() };
    write_split_marker(fs.as_ref(), root, &split_report("s", &parent, b"m", "q-l2", "q-r2")).unwrap();
    let e = prepare_split_dirs(fs.as_ref(), root, TABLE, "q", 2).unwrap_err();
    assert!(e.to_string().contains("split already"), "{e}");
}
