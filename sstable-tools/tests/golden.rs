//! Golden outputs of every command, on inputs the test builds with fixed content.
//! `UPDATE_GOLDEN=1 cargo test -p sstable-tools --test golden` rewrites `tests/golden/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{flip_byte, golden, make_db, make_table, make_tablet_table, make_wal, truncate};

#[test]
fn sst_summary_scan_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    make_table(&dir.path().join("000007.sst"), 60);
    let p = dir.path();
    assert_eq!(golden("sst_summary", p, &["000007.sst"]).code, 0);
    assert_eq!(golden("sst_scan", p, &["sst", "000007.sst", "--scan"]).code, 0);
    assert_eq!(golden("sst_scan_range", p, &["000007.sst", "--from", "key0010", "--to", "key0015"]).code, 0);
    assert_eq!(
        golden("sst_scan_hex_limit", p, &["000007.sst", "--hex", "--from", "6b6579303032", "--limit", "3"]).code,
        0
    );
    assert_eq!(golden("sst_verify", p, &["000007.sst", "--verify"]).code, 0);
}

#[test]
fn sst_flipped_byte_in_a_data_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000007.sst");
    make_table(&path, 60);
    flip_byte(&path, 300);
    assert_eq!(golden("sst_corrupt_data_block", dir.path(), &["000007.sst"]).code, 1);
    assert_eq!(golden("sst_corrupt_verify", dir.path(), &["000007.sst", "--verify"]).code, 1);
}

#[test]
fn wal_records_and_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000003.log");
    make_wal(&path);
    assert_eq!(golden("wal", dir.path(), &["wal", "000003.log"]).code, 0);
    assert_eq!(golden("wal_hex", dir.path(), &["wal", "--hex", "000003.log"]).code, 0);
    let len = std::fs::metadata(&path).unwrap().len();
    truncate(&path, len - 3);
    assert_eq!(golden("wal_torn_tail", dir.path(), &["wal", "000003.log"]).code, 0);
}

#[test]
fn manifest_and_db_directory() {
    let dir = tempfile::tempdir().unwrap();
    make_db(&dir.path().join("db"));
    let manifest = format!("db/{}", common::current_manifest(&dir.path().join("db")));
    assert_eq!(golden("manifest", dir.path(), &["manifest", &manifest]).code, 0);
    assert_eq!(golden("db", dir.path(), &["db", "db"]).code, 0);
    assert_eq!(golden("db_verify", dir.path(), &["db", "db", "--verify"]).code, 0);
}

#[test]
fn sst_scan_decoded_as_tablet_cell_keys() {
    let dir = tempfile::tempdir().unwrap();
    make_tablet_table(&dir.path().join("000009.sst"));
    let p = dir.path();
    assert_eq!(golden("sst_scan_tablet", p, &["000009.sst", "--scan", "--decode", "tablet"]).code, 0);
}
