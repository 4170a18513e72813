//! The `bt` binary against a real cluster in this process (`MiniCluster` on loopback
//! ports): table admin, writes and reads across tablets, GC policies, row deletion, CSV
//! import/export round trips, status, and the error paths with their exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use master::{MiniCluster, MiniClusterOptions};

struct Cluster {
    rt: tokio::runtime::Runtime,
    cluster: Option<MiniCluster>,
    master: String,
    _root: tempfile::TempDir,
}

impl Cluster {
    fn start(servers: usize) -> Cluster {
        let root = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let options = MiniClusterOptions { servers, ..Default::default() };
        let cluster = rt.block_on(MiniCluster::start(root.path(), options)).unwrap();
        let master = cluster.master_addr.to_string();
        Cluster { rt, cluster: Some(cluster), master, _root: root }
    }

    fn wait_assigned(&self, table: &str) {
        let c = self.cluster.as_ref().unwrap();
        self.rt.block_on(c.wait_assigned(&format!("projects/p/instances/i/tables/{table}"))).unwrap();
    }

    /// Runs `bt --master <cluster> args...`: (exit code, stdout, stderr).
    fn bt(&self, args: &[&str]) -> (i32, String, String) {
        bt_at(&self.master, args)
    }

    /// `bt args...`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.bt(args);
        assert_eq!(code, 0, "bt {args:?} failed: {err}");
        out
    }

    /// `bt args...`, which must fail with `code`; its stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let (got, out, err) = self.bt(args);
        assert_eq!(got, code, "bt {args:?}: exit {got}, stdout {out:?}, stderr {err:?}");
        assert!(err.starts_with("bt: "), "{err}");
        err
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(c) = self.cluster.take() {
            self.rt.block_on(c.stop());
        }
    }
}

fn bt_at(master: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bt"))
        .arg("--master")
        .arg(master)
        .args(args)
        .env_remove("BT_MASTER")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(!stderr.contains("panicked"), "bt {args:?} panicked: {stderr}");
    (out.status.code().expect("bt exited by a signal"), stdout, stderr)
}

/// The row keys of `read`/`lookup` output (the line after each rule).
fn keys(out: &str) -> Vec<String> {
    let lines: Vec<&str> = out.lines().collect();
    lines.windows(2).filter(|w| w[0] == "-".repeat(40)).map(|w| w[1].to_string()).collect()
}

#[test]
fn admin_and_data_verbs() {
    let c = Cluster::start(2);
    c.ok(&["createtable", "t", "families=cf:maxversions=2,meta", "splits=g,p"]);
    c.ok(&["createtable", "other"]);
    assert_eq!(c.ok(&["ls"]), "other\nt\n");
    assert_eq!(
        c.ok(&["ls", "t"]),
        "Family Name  GC Policy\n-----------  ---------\ncf           maxversions=2\nmeta         never\n"
    );
    c.wait_assigned("t");

    // Three versions written, two kept by the policy; rows in all three tablets.
    c.ok(&["set", "t", "a", "cf:c1@1000=v1", "cf:c1@2000=v2", "cf:c1@3000=say \"hi\"", "meta:m@1000=x"]);
    for row in ["h", "k\\x00", "q", "z"] {
        c.ok(&["set", "t", row, &format!("cf:c1@5000={row}-value")]);
    }
    let want_a = concat!(
        "----------------------------------------\n",
        "a\n",
        "  cf:c1                                    @ 1970/01/01-00:00:00.003000\n",
        "    \"say \\\"hi\\\"\"\n",
        "  cf:c1                                    @ 1970/01/01-00:00:00.002000\n",
        "    \"v2\"\n",
        "  meta:m                                   @ 1970/01/01-00:00:00.001000\n",
        "    \"x\"\n",
    );
    assert_eq!(c.ok(&["lookup", "t", "a"]), want_a);
    let latest = c.ok(&["lookup", "t", "a", "versions=1", "columns=cf:c1"]);
    assert_eq!(latest.matches(" @ ").count(), 1, "{latest}");
    assert!(latest.contains("\"say \\\"hi\\\"\""), "{latest}");
    let (code, out, err) = c.bt(&["lookup", "t", "nosuchrow"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(err.contains("row \"nosuchrow\" not found"), "{err}");

    assert_eq!(keys(&c.ok(&["read", "t"])), ["a", "h", "k\\x00", "q", "z"], "key order across three tablets");
    assert!(c.ok(&["read", "t", "prefix=k"]).contains("\n  cf:c1 "), "binary row key read by prefix");
    assert_eq!(keys(&c.ok(&["read", "t", "start=h", "end=q"])), ["h", "k\\x00"]);
    assert_eq!(keys(&c.ok(&["read", "t", "prefix=k\\x00"])), ["k\\x00"]);
    assert_eq!(keys(&c.ok(&["read", "t", "reversed", "count=2"])), ["z", "q"]);
    assert_eq!(keys(&c.ok(&["read", "t", "count=3"])), ["a", "h", "k\\x00"]);
    assert_eq!(keys(&c.ok(&["read", "t", "columns=meta"])), ["a"]);
    assert_eq!(c.ok(&["count", "t"]), "5\n");
    assert_eq!(c.ok(&["count", "t", "prefix=a"]), "1\n");

    c.ok(&["deleterow", "t", "h"]);
    assert_eq!(keys(&c.ok(&["read", "t"])), ["a", "k\\x00", "q", "z"]);
    c.ok(&["droprowrange", "t", "prefix=z"]);
    assert_eq!(keys(&c.ok(&["read", "t"])), ["a", "k\\x00", "q"]);

    // A new policy applies at once: every cf cell (written in 1970) is older than a day.
    c.ok(&["setgcpolicy", "t", "cf", "maxage=1d or maxversions=1"]);
    assert!(c.ok(&["ls", "t"]).contains("\ncf           maxage=1d or maxversions=1\n"));
    assert_eq!(keys(&c.ok(&["read", "t"])), ["a"], "only the meta cell is left");
    c.ok(&["setgcpolicy", "t", "cf", "never"]);
    assert!(c.ok(&["ls", "t"]).contains("\ncf           never\n"));

    c.ok(&["createfamily", "t", "extra:maxversions=5"]);
    assert!(c.ok(&["ls", "t"]).contains("\nextra        maxversions=5\n"));
    c.ok(&["deletefamily", "t", "meta"]);
    assert_eq!(
        c.ok(&["ls", "t"]),
        "Family Name  GC Policy\n-----------  ---------\ncf           never\nextra        maxversions=5\n"
    );
    c.ok(&["set", "t", "r1", "cf:x@1000=1"]);
    c.ok(&["set", "t", "r2", "cf:x@1000=2"]);
    assert_eq!(c.ok(&["count", "t", "prefix=r"]), "2\n");
    // Cells the stricter policy hid but no compaction removed yet are back (GC is lazy).
    assert_eq!(c.ok(&["count", "t"]), "5\n");
    c.ok(&["deleteallrows", "t"]);
    assert_eq!(c.ok(&["count", "t"]), "0\n");

    // Status: both servers with their leases, the tablets of each, nothing unassigned.
    let status = c.ok(&["status"]);
    assert!(status.contains("2 servers (2 live)"), "{status}");
    assert!(status.contains("(0 unassigned)"), "{status}");
    assert_eq!(status.matches("\ntablets of ").count(), 2, "{status}");
    let serving = status.lines().filter(|l| l.starts_with("  t ") && l.contains(" serving ")).count();
    assert_eq!(serving, 3, "the three tablets of t: {status}");
    assert!(status.contains("  other  0000 "), "{status}");
    assert_eq!(status.lines().filter(|l| l.contains(" live ")).count(), 2, "{status}");

    c.ok(&["deletetable", "t"]);
    assert_eq!(c.ok(&["ls"]), "other\n");
    let err = c.fails(1, &["ls", "t"]);
    assert!(err.contains("NOT_FOUND"), "{err}");
}

#[test]
fn csv_import_export_round_trip() {
    let c = Cluster::start(1);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    c.ok(&["createtable", "src", "families=cf,dd", "splits=m"]);
    c.ok(&["createtable", "dst", "families=cf,dd"]);
    c.wait_assigned("src");
    c.wait_assigned("dst");

    // Quoting, an empty value (""), a missing cell (empty field), escaped bytes in keys,
    // qualifiers and values, a multi-line quoted field, CRLF line ends.
    let input = "row,cf:name,cf:bin\\x00q,dd:x\r\n\
user#1,\"Hopper, Grace\",,\"\"\r\n\
user#2,plain,\\xff\\x00\\\\,\"say \"\"hi\"\"\"\n\
z\\x01key,\"two\nlines\",é,\n\
rowonly,,,\n";
    std::fs::write(path("in.csv"), input).unwrap();
    let out = c.ok(&["import", "src", &path("in.csv"), "batch=2"]);
    assert_eq!(out, "imported 3 rows (7 cells) into src\n");

    let lookup = c.ok(&["lookup", "src", "user#2", "columns=cf:bin\\x00q"]);
    assert!(lookup.contains("  cf:bin\\x00q ") && lookup.contains("    \"\\xff\\x00\\\\\"\n"), "{lookup}");
    let empty = c.ok(&["lookup", "src", "user#1", "columns=dd:x"]);
    assert!(empty.contains("    \"\"\n"), "a quoted empty field is an empty value: {empty}");

    let expected = "row,cf:bin\\x00q,cf:name,dd:x\n\
user#1,,\"Hopper, Grace\",\"\"\n\
user#2,\\xff\\x00\\\\,plain,\"say \"\"hi\"\"\"\n\
z\\x01key,é,two\\nlines,\n";
    c.ok(&["export", "src", &path("out.csv")]);
    assert_eq!(std::fs::read_to_string(path("out.csv")).unwrap(), expected);

    // What export wrote, import reads back to the same table contents.
    assert_eq!(c.ok(&["import", "dst", &path("out.csv")]), "imported 3 rows (7 cells) into dst\n");
    c.ok(&["export", "dst", &path("again.csv")]);
    assert_eq!(std::fs::read_to_string(path("again.csv")).unwrap(), expected);

    // A header of bare qualifiers with family=.
    std::fs::write(path("fam.csv"), "row,a,b\nk1,1,2\n").unwrap();
    c.ok(&["import", "dst", &path("fam.csv"), "family=dd"]);
    let row = c.ok(&["lookup", "dst", "k1"]);
    assert!(row.contains("  dd:a ") && row.contains("  dd:b "), "{row}");

    // Bad files: exit 1, naming the file and the line.
    std::fs::write(path("short.csv"), "row,cf:a\nk1,1,2\n").unwrap();
    let err = c.fails(1, &["import", "dst", &path("short.csv")]);
    assert!(err.contains("short.csv: line 2: 3 fields, but the header has 2"), "{err}");
    std::fs::write(path("nofam.csv"), "row,a\nk1,1\n").unwrap();
    let err = c.fails(1, &["import", "dst", &path("nofam.csv")]);
    assert!(err.contains("header column 2: \"a\": no family"), "{err}");
    std::fs::write(path("quote.csv"), "row,cf:a\nk1,\"open\n").unwrap();
    let err = c.fails(1, &["import", "dst", &path("quote.csv")]);
    assert!(err.contains("line 2: a quoted field is not closed"), "{err}");
    let err = c.fails(1, &["import", "dst", &path("missing.csv")]);
    assert!(err.contains("missing.csv"), "{err}");
    std::fs::write(path("unknownfam.csv"), "row,zz:a\nk1,1\n").unwrap();
    let err = c.fails(1, &["import", "dst", &path("unknownfam.csv")]);
    assert!(err.contains("import: row \"k1\": NOT_FOUND"), "{err}");
}

#[test]
fn errors_give_codes_and_exit_statuses() {
    // Bad command lines: exit 2, before any connection.
    let nowhere = "127.0.0.1:1";
    for args in [
        &[][..],
        &["frob"],
        &["ls", "a", "b"],
        &["createtable", "bad/name"],
        &["setgcpolicy", "t", "cf", "maxage=1y"],
        &["read", "t", "count=-1"],
        &["set", "t", "r", "cf-no-colon=1"],
        &["--timeout", "x", "ls"],
    ] {
        let (code, _, err) = bt_at(nowhere, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.starts_with("bt: "), "{err}");
    }
    let (code, _, err) = bt_at("not an address", &["ls"]);
    assert_eq!(code, 2, "{err}");
    // No master there: exit 1 with the code.
    let (code, _, err) = bt_at(nowhere, &["ls"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("UNAVAILABLE") && err.contains("is the master running at 127.0.0.1:1?"), "{err}");

    let c = Cluster::start(1);
    c.ok(&["createtable", "t", "families=cf"]);
    c.wait_assigned("t");
    for (args, want) in [
        (&["createtable", "t"][..], "createtable t: ALREADY_EXISTS"),
        (&["ls", "nosuch"], "ls nosuch: NOT_FOUND"),
        (&["deletetable", "nosuch"], "deletetable nosuch: NOT_FOUND"),
        (&["deletefamily", "t", "nosuch"], "deletefamily t nosuch: NOT_FOUND"),
        (&["createfamily", "t", "cf"], "createfamily t cf: ALREADY_EXISTS"),
        (&["setgcpolicy", "t", "nosuch", "maxversions=1"], "setgcpolicy t nosuch: NOT_FOUND"),
        (&["set", "nosuch", "r", "cf:a=1"], "set nosuch: NOT_FOUND"),
        (&["set", "t", "r", "nofam:a=1"], "set t: NOT_FOUND"),
        (&["set", "t", "r", "cf:a@1001=1"], "set t: INVALID_ARGUMENT"),
        (&["read", "nosuch"], "read nosuch: NOT_FOUND"),
        (&["droprowrange", "nosuch", "prefix=a"], "droprowrange nosuch: NOT_FOUND"),
    ] {
        let err = c.fails(1, args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // The environment variable names the master when --master is absent.
    let out = Command::new(env!("CARGO_BIN_EXE_bt")).arg("ls").env("BT_MASTER", &c.master).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "t\n");
    assert!(Path::new(env!("CARGO_BIN_EXE_bt")).exists());
}
