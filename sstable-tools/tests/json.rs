//! `--json` output parsed back with serde_json and checked against what the fixtures wrote.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{flip_byte, make_db, make_table, make_wal, run, table_entries, truncate};
use serde_json::Value;

fn json(cwd: &std::path::Path, args: &[&str], code: i32) -> Value {
    let r = run(cwd, args);
    assert_eq!(r.code, code, "{r:?}");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
}

#[test]
fn sst_json_has_properties_blocks_entries_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    make_table(&dir.path().join("t.sst"), 60);
    let v = json(dir.path(), &["t.sst", "--json", "--scan", "--verify"], 0);
    assert_eq!(v["file"], "t.sst");
    assert_eq!(v["file_size"], std::fs::metadata(dir.path().join("t.sst")).unwrap().len());
    let p = &v["properties"];
    assert_eq!(p["entries"], 61);
    assert_eq!(p["deletions"], 9);
    assert_eq!(p["compression"], "lz4");
    assert_eq!(p["creation_time"], common::CREATION_TIME);
    assert_eq!(p["creation_time_utc"], "2023-11-14 22:13:20 UTC");
    assert_eq!(p["smallest_key"], serde_json::json!({"user_key": "key\\x00bin", "seq": 99, "kind": "put"}));
    assert_eq!(p["largest_key"]["user_key"], "key0059");
    assert_eq!((p["smallest_seq"].as_u64(), p["largest_seq"].as_u64()), (Some(99), Some(159)));

    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks.iter().filter(|b| b["kind"] == "data").count() as u64, p["data_blocks"].as_u64().unwrap());
    assert!(blocks.iter().all(|b| b["checksum_ok"] == true && b["stored_checksum"] == b["actual_checksum"]));
    // Blocks tile the file up to the footer: each starts where the previous one's trailer ends.
    let mut at = 0;
    for b in blocks {
        assert_eq!(b["offset"].as_u64().unwrap(), at);
        at += b["size"].as_u64().unwrap() + 5;
    }
    assert_eq!(at + 56, v["file_size"].as_u64().unwrap());

    let want = table_entries(60);
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), want.len());
    for (e, (key, seq, kind, value)) in entries.iter().zip(&want) {
        let shown = sstable_tools::show::bytes(key, sstable_tools::show::ByteStyle::Readable);
        assert_eq!(e["key"], shown);
        assert_eq!(e["seq"], *seq);
        assert_eq!(e["kind"], if *kind == engine::keys::ValueKind::Value { "put" } else { "del" });
        let back = sstable_tools::show::parse_bytes(e["value"].as_str().unwrap(), Default::default()).unwrap();
        assert_eq!(&back, value);
    }
    assert_eq!(v["shown"], 61);
    assert_eq!(v["verify"]["ok"], true);
    assert_eq!(v["verify"]["entries"], 61);
    assert!(v["error"].is_null());

    let v = json(dir.path(), &["sst", "t.sst", "--json", "--hex", "--from", "6b657930303130", "--limit", "2"], 0);
    let keys: Vec<&str> = v["entries"].as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["6b657930303130", "6b657930303131"]);
    assert_eq!(v["scan"], serde_json::json!({"from": "6b657930303130", "to": null, "limit": 2}));
}

#[test]
fn sst_json_failures_are_still_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    make_table(&path, 60);
    flip_byte(&path, 300);
    let v = json(dir.path(), &["t.sst", "--json", "--verify", "--scan"], 1);
    let bad: Vec<&Value> = v["blocks"].as_array().unwrap().iter().filter(|b| b["checksum_ok"] == false).collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["offset"], 166);
    assert!(v["error"].as_str().unwrap().contains("t.sst at offset 166"), "{v}");

    std::fs::write(&path, b"").unwrap();
    let v = json(dir.path(), &["t.sst", "--json"], 1);
    assert_eq!(v["file"], "t.sst");
    assert!(v["error"].as_str().unwrap().contains("t.sst at offset 0"), "{v}");
}

#[test]
fn wal_json_records_and_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000003.log");
    make_wal(&path);
    let v = json(dir.path(), &["wal", "000003.log", "--json"], 0);
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(records[0]["offset"], 0);
    assert_eq!(records[0]["sequence"], 1);
    assert_eq!(records[0]["count"], 3);
    assert_eq!(records[0]["ops"][2], serde_json::json!({"op": "del", "seq": 3, "key": "cherry"}));
    assert_eq!(
        records[1]["ops"][0],
        serde_json::json!({"op": "put", "seq": 4, "key": "bin\\x00key", "value": "\\xff\\xfe"})
    );
    assert_eq!(v["summary"]["ops"], 7);
    assert_eq!(v["summary"]["last_sequence"], 7);
    assert!(v["torn_tail"].is_null());
    assert!(v["error"].is_null());

    truncate(&path, 130);
    let v = json(dir.path(), &["wal", "000003.log", "--json"], 0);
    assert_eq!(v["records"].as_array().unwrap().len(), 3);
    assert_eq!(v["torn_tail"]["offset"], 122);
    assert_eq!(v["torn_tail"]["truncated"], true);
    assert_eq!(v["summary"]["valid_len"], 122);

    flip_byte(&path, 10);
    let v = json(dir.path(), &["wal", "000003.log", "--json"], 1);
    assert!(v["error"].as_str().unwrap().contains("000003.log at offset 0"), "{v}");
}

#[test]
fn manifest_and_db_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    make_db(&db);
    let name = format!("db/{}", common::current_manifest(&db));
    let v = json(dir.path(), &["manifest", &name, "--json"], 0);
    let edits = v["edits"].as_array().unwrap();
    assert!(edits.len() >= 2);
    assert_eq!(edits[0]["offset"], 0);
    let added: Vec<u64> =
        edits.iter().flat_map(|e| e["new_files"].as_array().unwrap()).map(|f| f["number"].as_u64().unwrap()).collect();
    let removed: Vec<u64> = edits
        .iter()
        .flat_map(|e| e["deleted_files"].as_array().unwrap())
        .map(|f| f["number"].as_u64().unwrap())
        .collect();
    let mut live: Vec<u64> = added.iter().copied().filter(|n| !removed.contains(n)).collect();
    live.sort();
    let mut on_disk: Vec<u64> =
        common::files_ending(&db, ".sst").iter().map(|n| n.trim_end_matches(".sst").parse().unwrap()).collect();
    on_disk.sort();
    assert_eq!(live, on_disk);
    assert_eq!(v["final"]["last_sequence"], 71);

    let v = json(dir.path(), &["db", "db", "--json", "--verify"], 0);
    assert_eq!(v["dir"], "db");
    assert_eq!(v["manifest"]["last_sequence"], 71);
    let tables = v["tables"].as_array().unwrap();
    let mut numbers: Vec<u64> = tables.iter().map(|t| t["number"].as_u64().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, on_disk);
    let level_tables: u64 = v["levels"].as_array().unwrap().iter().map(|l| l["tables"].as_u64().unwrap()).sum();
    assert_eq!(level_tables, tables.len() as u64);
    assert_eq!(v["totals"]["tables"], tables.len());
    assert_eq!(v["wals"].as_array().unwrap().len(), 1);
    let checks = v["verify"].as_array().unwrap();
    assert_eq!(checks.len(), tables.len() + 1);
    assert!(checks.iter().all(|c| c["ok"] == true), "{v}");
    assert_eq!(v["verify_summary"]["damaged"], 0);
    assert!(v["error"].is_null());
}

#[test]
fn decode_tablet_in_json_wal_and_db() {
    let dir = tempfile::tempdir().unwrap();
    common::make_tablet_table(&dir.path().join("t.sst"));
    let v = json(dir.path(), &["t.sst", "--json", "--scan", "--decode", "tablet"], 0);
    let want = common::tablet_table_entries();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), want.len());
    // The raw key stays in "key"; "cell" holds the decoded coordinates, or why not.
    for (e, (key, seq, _, _)) in entries.iter().zip(&want) {
        assert_eq!(e["key"], sstable_tools::show::bytes(key, Default::default()));
        assert_eq!(e["seq"], *seq);
        match tablet::keys::decode_cell_key(key) {
            Ok(c) => {
                let row = sstable_tools::show::parse_bytes(e["cell"]["row"].as_str().unwrap(), Default::default());
                let q = sstable_tools::show::parse_bytes(e["cell"]["qualifier"].as_str().unwrap(), Default::default());
                assert_eq!(row.unwrap(), c.row);
                assert_eq!(q.unwrap(), c.qualifier);
                assert_eq!(e["cell"]["family"], c.family);
                assert_eq!(e["cell"]["timestamp_micros"], c.timestamp_micros);
            }
            Err(_) => assert!(e["cell"]["not_a_tablet_key"].as_str().unwrap().contains("bad escape 00 00"), "{e}"),
        }
    }
    assert_eq!(
        entries[3]["cell"],
        serde_json::json!({"row": "com.example/a", "family": "cf", "qualifier": "q\\x00bin", "timestamp_micros": 2_000_000})
    );
    let p = &v["properties"];
    assert!(p["smallest_key"]["cell"]["not_a_tablet_key"].is_string(), "{p}");
    assert_eq!(p["largest_key"]["cell"]["row"], "row\\x00zero");
    // Without --decode there is no "cell" member at all.
    let v = json(dir.path(), &["t.sst", "--json", "--scan"], 0);
    assert!(v["entries"][1].get("cell").is_none() && v["properties"]["largest_key"].get("cell").is_none(), "{v}");
    // --hex applies to row and qualifier.
    let v = json(dir.path(), &["t.sst", "--json", "--scan", "--hex", "--decode", "tablet", "--limit", "2"], 0);
    assert_eq!(v["entries"][1]["cell"]["row"], "636f6d2e6578616d706c652f61");

    // A WAL and a database written through the engine with cell keys.
    let db = dir.path().join("db");
    let d = engine::Db::open(&db, engine::Options::default()).unwrap();
    let wo = engine::WriteOptions::default();
    let k1 = tablet::keys::encode_cell_key(b"r1", b"cf", b"a\x00", 7);
    let k2 = tablet::keys::encode_cell_key(b"r2", b"cf", b"b", 9);
    d.put(&wo, &k1, b"v1").unwrap();
    d.put(&wo, &k2, b"v2").unwrap();
    d.flush().unwrap();
    d.put(&wo, b"raw", b"v3").unwrap();
    d.close().unwrap();

    let v = json(dir.path(), &["db", "db", "--json", "--decode", "tablet"], 0);
    let t = &v["tables"][0];
    assert_eq!(
        t["smallest"]["cell"],
        serde_json::json!({"row": "r1", "family": "cf", "qualifier": "a\\x00", "timestamp_micros": 7})
    );
    assert_eq!(t["largest"]["cell"]["row"], "r2");
    let r = common::run(dir.path(), &["db", "db", "--decode", "tablet"]);
    assert!(r.stdout.contains(r#""r1" / cf:"a\x00" @ 7 @1 put .. "r2" / cf:"b" @ 9 @2 put"#), "{r:?}");

    let logs = common::files_ending(&db, ".log");
    let log = format!("db/{}", logs.last().unwrap());
    let r = common::run(dir.path(), &["wal", &log, "--decode", "tablet"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(r#"@3 put "raw" (not a tablet key) "v3""#), "{r:?}");
    let v = json(dir.path(), &["wal", &log, "--json", "--decode", "tablet"], 0);
    assert_eq!(v["records"][0]["ops"][0]["key"], "raw");
    assert!(v["records"][0]["ops"][0]["cell"]["not_a_tablet_key"].is_string(), "{v}");

    let manifest = format!("db/{}", common::current_manifest(&db));
    let r = common::run(dir.path(), &["manifest", &manifest, "--decode", "tablet"]);
    assert!(r.stdout.contains(r#""r1" / cf:"a\x00" @ 7 @1 put .. "r2" / cf:"b" @ 9 @2 put"#), "{r:?}");
}
