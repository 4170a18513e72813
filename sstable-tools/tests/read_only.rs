//! The tool never changes what it reads, and works beside a live database (it never takes
//! the LOCK).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use common::{files_ending, make_db, run};
use engine::{Db, Options, WriteOptions};

/// Every file in `dir`: name -> (contents, modification time).
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            (e.file_name().into_string().unwrap(), (std::fs::read(e.path()).unwrap(), meta.modified().unwrap()))
        })
        .collect()
}

#[test]
fn every_command_leaves_the_files_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    make_db(&db);
    let before = snapshot(&db);
    let manifest = format!("db/{}", common::current_manifest(&db));
    let mut commands: Vec<Vec<String>> = vec![
        vec!["db".into(), "db".into(), "--verify".into()],
        vec!["db".into(), "db".into(), "--json".into()],
        vec!["manifest".into(), manifest],
    ];
    for wal in files_ending(&db, ".log") {
        commands.push(vec!["wal".into(), format!("db/{wal}")]);
    }
    for t in files_ending(&db, ".sst") {
        commands.push(vec![format!("db/{t}"), "--scan".into(), "--verify".into()]);
        commands.push(vec!["sst".into(), format!("db/{t}"), "--json".into()]);
    }
    for c in &commands {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        let r = run(dir.path(), &args);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
    }
    assert_eq!(snapshot(&db), before, "sst-dump changed the database directory");
}

#[test]
fn works_on_a_live_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live");
    let db = Db::open(&path, Options::default()).unwrap();
    for i in 0..100 {
        db.put(&WriteOptions::default(), format!("k{i:03}").as_bytes(), b"v").unwrap();
    }
    db.flush().unwrap();
    for i in 0..5 {
        db.put(&WriteOptions { sync: true }, format!("w{i}").as_bytes(), b"in the wal").unwrap();
    }
    // The Db holds the LOCK; the tool reads anyway.
    let r = run(dir.path(), &["db", "live", "--verify"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("verify: 2 files checked, 0 damaged"), "{r:?}");
    let wal = files_ending(&path, ".log").pop().unwrap();
    let r = run(dir.path(), &["wal", &format!("live/{wal}")]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("5 records, 5 ops"), "{r:?}");
    assert!(r.stdout.contains("@105 put \"w4\" \"in the wal\""), "{r:?}");
    // The database goes on working, and reopens cleanly.
    db.put(&WriteOptions::default(), b"after", b"x").unwrap();
    db.close().unwrap();
    drop(db);
    let db = Db::open(&path, Options::default()).unwrap();
    assert_eq!(db.get(&Default::default(), b"w4").unwrap(), Some(b"in the wal".to_vec()));
    db.close().unwrap();
}
