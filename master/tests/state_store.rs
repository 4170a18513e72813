//! The master's state store: a reopen gives back exactly what was committed, a split is
//! recorded all at once or not at all (even across a machine crash), and damaged records
//! stop the open with an error naming the record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use engine::{FaultOp, MemFs};
use master::names::TableName;
use master::state::{Assignment, MasterState, SplitOutcome, SplitSource, TabletKey};
use master::Error;
use tablet::proto::bt::internal::v1::{gc_rule, FamilySchema, GcRule, ReportSplitRequest, TabletDescriptor};

fn name(t: &str) -> TableName {
    TableName { instance: "projects/p/instances/i".into(), table: t.into() }
}

fn family(n: &str, versions: Option<i32>) -> FamilySchema {
    FamilySchema { name: n.into(), gc_rule: versions.map(|v| GcRule { rule: Some(gc_rule::Rule::MaxNumVersions(v)) }) }
}

fn desc(table_id: &str, id: &str, start: &[u8], end: &[u8], epoch: u64) -> TabletDescriptor {
    TabletDescriptor {
        table_id: table_id.into(),
        tablet_id: id.into(),
        start_key: start.to_vec(),
        end_key: end.to_vec(),
        epoch,
        table_name: String::new(),
    }
}

/// Serves tablet `id` of `table_id` from `server` at `epoch`.
fn serve_at(s: &mut MasterState, table_id: &str, id: &str, server: &str, epoch: u64) {
    let mut t = s.map().tablet(&(table_id.to_string(), id.to_string())).unwrap().clone();
    t.epoch = epoch;
    t.set_holder(Some((server, "127.0.0.1:1")), Assignment::Serving);
    s.put_tablets(vec![t]).unwrap();
}

#[test]
fn reopen_gives_back_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (before, deleted_id) = {
        let mut s = MasterState::open(dir.path()).unwrap();
        let a =
            s.create_table(&name("a"), vec![family("cf2", None), family("cf1", Some(3))], 1, false, vec![]).unwrap();
        assert_eq!(a.table_id, "t0000000000000001");
        assert_eq!(a.families.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["cf1", "cf2"]);
        let b = s
            .create_table(
                &name("b"),
                vec![family("f", None)],
                1,
                true,
                vec![b"m".to_vec(), b"g".to_vec(), b"m".to_vec()],
            )
            .unwrap();
        let tablets: Vec<_> =
            s.map().tablets_of(&b.table_id).map(|t| (t.start_key.clone(), t.end_key.clone())).collect();
        assert_eq!(tablets, [(b"".to_vec(), b"g".to_vec()), (b"g".to_vec(), b"m".to_vec()), (b"m".to_vec(), vec![])]);
        let c = s.create_table(&name("c"), vec![], 1, false, vec![]).unwrap();
        s.set_families(&b.name, vec![family("f", Some(1)), family("g", None)]).unwrap();
        serve_at(&mut s, &b.table_id, "0001", "srv-1", 4);
        let split = ReportSplitRequest {
            server_id: "srv-1".into(),
            parent: Some(desc(&b.table_id, "0001", b"g", b"m", 4)),
            left: Some(desc(&b.table_id, "0001-l4", b"g", b"j", 4)),
            right: Some(desc(&b.table_id, "0001-r4", b"j", b"m", 4)),
        };
        let holder = Some(("srv-1", "127.0.0.1:1"));
        assert_eq!(s.record_split(&split, SplitSource::Reported, holder).unwrap(), SplitOutcome::Recorded);
        s.delete_table(&c.name).unwrap();
        assert!(matches!(s.delete_table(&b.name), Err(Error::FailedPrecondition(_))), "b is protected");
        (s.map().clone(), c.table_id)
    };
    let mut s = MasterState::open(dir.path()).unwrap();
    assert_eq!(s.map(), &before);
    let b = s.map().table("projects/p/instances/i/tables/b").unwrap().clone();
    assert_eq!(b.schema_version, 2);
    let ids: Vec<_> = s.map().tablets_of(&b.table_id).map(|t| t.tablet_id.clone()).collect();
    assert_eq!(ids, ["0000", "0001-l4", "0001-r4", "0002"]);
    // A table created again after a delete never gets the old id.
    let c = s.create_table(&name("c"), vec![], 1, false, vec![]).unwrap();
    assert_ne!(c.table_id, deleted_id);
    assert_eq!(c.table_id, "t0000000000000004");
}

#[test]
fn a_table_id_in_use_on_disk_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tables/t0000000000000001")).unwrap();
    let mut s = MasterState::open(dir.path()).unwrap();
    assert_eq!(s.create_table(&name("a"), vec![], 1, false, vec![]).unwrap().table_id, "t0000000000000002");
    assert!(matches!(s.create_table(&name("a"), vec![], 1, false, vec![]), Err(Error::AlreadyExists(_))));
    let e = s.create_table(&name("x"), vec![], 1, false, vec![b"".to_vec()]).unwrap_err();
    assert!(e.to_string().contains("initial_splits[0]"), "{e}");
}

fn split_report(table_id: &str, parent_epoch: u64) -> ReportSplitRequest {
    ReportSplitRequest {
        server_id: "srv-1".into(),
        parent: Some(desc(table_id, "0000", b"", b"", parent_epoch)),
        left: Some(desc(table_id, "0000-l3", b"", b"k", 3)),
        right: Some(desc(table_id, "0000-r3", b"k", b"", 3)),
    }
}

fn ids(s: &MasterState, table_id: &str) -> Vec<String> {
    s.map().tablets_of(table_id).map(|t| t.tablet_id.clone()).collect()
}

#[test]
fn a_split_is_recorded_whole_or_not_at_all() {
    let root = Path::new("/root");
    let fs = MemFs::new();
    let table_id = {
        let mut s = MasterState::open_with_fs(root, Arc::new(fs.clone())).unwrap();
        let t = s.create_table(&name("t"), vec![family("cf", None)], 1, false, vec![]).unwrap();
        serve_at(&mut s, &t.table_id, "0000", "srv-1", 3);

        // Stale and malformed reports change nothing.
        let outcome = s.record_split(&split_report(&t.table_id, 2), SplitSource::Reported, None).unwrap();
        assert!(matches!(outcome, SplitOutcome::Refused(ref why) if why.contains("stale epoch")), "{outcome:?}");
        let mut bad = split_report(&t.table_id, 3);
        bad.right.as_mut().unwrap().start_key = b"l".to_vec();
        let e = s.record_split(&bad, SplitSource::Reported, None).unwrap_err();
        assert!(e.to_string().contains("do not split tablet"), "{e}");
        assert_eq!(ids(&s, &t.table_id), ["0000"]);

        // The write of the split's batch fails: memory and disk keep the parent.
        fs.inject(FaultOp::Write, Some(".log"), 0);
        assert!(s.record_split(&split_report(&t.table_id, 3), SplitSource::Reported, None).is_err());
        assert_eq!(ids(&s, &t.table_id), ["0000"]);
        fs.clear_faults();
        t.table_id
    };
    let fs = fs.crash();
    {
        let mut s = MasterState::open_with_fs(root, Arc::new(fs.clone())).unwrap();
        assert_eq!(ids(&s, &table_id), ["0000"]);
        let parent = s.map().tablet(&(table_id.clone(), "0000".into())).unwrap();
        assert_eq!((parent.epoch, parent.assignment()), (3, Assignment::Serving));

        // Recorded: acknowledged means durable, through a machine crash.
        let holder = Some(("srv-1", "127.0.0.1:1"));
        assert_eq!(
            s.record_split(&split_report(&table_id, 3), SplitSource::Reported, holder).unwrap(),
            SplitOutcome::Recorded
        );
    }
    let fs = fs.crash();
    let mut s = MasterState::open_with_fs(root, Arc::new(fs)).unwrap();
    assert_eq!(ids(&s, &table_id), ["0000-l3", "0000-r3"]);
    let left: TabletKey = (table_id.clone(), "0000-l3".into());
    let l = s.map().tablet(&left).unwrap();
    assert_eq!((l.epoch, l.holder(), l.end_key.as_slice()), (3, Some("srv-1"), &b"k"[..]));
    // The same report again is accepted without change; a report found on a later load of
    // the parent (at a newer epoch) too.
    assert_eq!(
        s.record_split(&split_report(&table_id, 3), SplitSource::Reported, None).unwrap(),
        SplitOutcome::AlreadyRecorded
    );
    assert_eq!(ids(&s, &table_id), ["0000-l3", "0000-r3"]);
}

#[test]
fn a_split_found_on_load_may_name_an_older_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = MasterState::open(dir.path()).unwrap();
    let t = s.create_table(&name("t"), vec![], 1, false, vec![]).unwrap();
    // The parent was split at epoch 3, then (report lost, server dead) assigned at 4.
    serve_at(&mut s, &t.table_id, "0000", "srv-2", 4);
    let strict = s.record_split(&split_report(&t.table_id, 3), SplitSource::Reported, None).unwrap();
    assert!(matches!(strict, SplitOutcome::Refused(_)));
    let found = s.record_split(&split_report(&t.table_id, 3), SplitSource::FoundOnLoad, None).unwrap();
    assert_eq!(found, SplitOutcome::Recorded);
    for id in ["0000-l3", "0000-r3"] {
        let c = s.map().tablet(&(t.table_id.clone(), id.into())).unwrap();
        assert_eq!((c.epoch, c.assignment()), (3, Assignment::Unassigned));
    }
}

#[test]
fn a_damaged_record_stops_the_open_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = MasterState::open(dir.path()).unwrap();
        s.create_table(&name("t"), vec![], 1, false, vec![]).unwrap();
    }
    {
        let db = engine::Db::open(dir.path().join("master"), engine::Options::default()).unwrap();
        let key = [&[0x02u8][..], b"projects/p/instances/i/tables/t"].concat();
        db.put(&engine::WriteOptions { sync: true }, &key, b"\xff\xff\xff").unwrap();
    }
    let e = MasterState::open(dir.path()).unwrap_err();
    assert!(matches!(e, Error::Corruption { .. }), "{e}");
    assert!(e.to_string().contains("tables/t") && e.to_string().contains("does not decode"), "{e}");
}
