//! How `bt` prints: rows as cbt prints them, tables of text, sizes and times.

use std::collections::HashMap;

use tablet::proto::admin::ColumnFamily;
use tablet::proto::bigtable::Row;
use tablet::proto::bt::internal::v1::{ClusterStatusResponse, TabletState, TabletStatus};

use super::escape::escape;
use super::gc;

/// A row as cbt prints it: a rule, the key, then per cell `  family:qualifier @ time`
/// and the quoted value on the next line. Times are UTC.
///
/// ```text
/// ----------------------------------------
/// user#1
///   cf:name                                  @ 2026/11/23-10:15:00.000000
///     "Ada"
/// ```
pub fn row(r: &Row) -> String {
    let mut out = format!("{}\n{}\n", "-".repeat(40), escape(&r.key, false));
    for f in &r.families {
        for c in &f.columns {
            let column = format!("{}:{}", f.name, escape(&c.qualifier, false));
            for cell in &c.cells {
                out.push_str(&format!("  {column:<40} @ {}\n", timestamp(cell.timestamp_micros)));
                out.push_str(&format!("    \"{}\"\n", escape(&cell.value, true)));
            }
        }
    }
    out
}

/// Microseconds since the epoch as `YYYY/MM/DD-hh:mm:ss.uuuuuu` (UTC), cbt's layout.
pub fn timestamp(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}/{m:02}/{d:02}-{:02}:{:02}:{:02}.{frac:06}", tod / 3600, tod / 60 % 60, tod % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Lines of cells in aligned columns (the last column is not padded), each line
/// prefixed with `indent`.
pub fn columns(rows: &[Vec<String>], indent: &str) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = indent.to_string();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                let w = widths.get(i).copied().unwrap_or(0);
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `n` bytes in B, KiB, MiB, GiB or TiB.
pub fn size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS.get(unit).copied().unwrap_or("TiB"))
}

/// `ls TABLE`: the families and their GC policies, by name.
pub fn families(families: &HashMap<String, ColumnFamily>) -> String {
    let mut names: Vec<&String> = families.keys().collect();
    names.sort();
    let mut rows =
        vec![vec!["Family Name".to_string(), "GC Policy".to_string()], vec!["-----------".into(), "---------".into()]];
    for n in names {
        let policy = families.get(n).and_then(|cf| cf.gc_rule.as_ref());
        rows.push(vec![n.clone(), gc::format(policy)]);
    }
    columns(&rows, "")
}

fn short_table(name: &str) -> &str {
    name.rsplit_once("/tables/").map_or(name, |(_, t)| t)
}

fn state_name(state: i32) -> &'static str {
    match TabletState::try_from(state) {
        Ok(TabletState::Loading) => "loading",
        Ok(TabletState::Serving) => "serving",
        Ok(TabletState::Unloading) => "unloading",
        Ok(TabletState::Splitting) => "splitting",
        _ => "unassigned",
    }
}

fn millis(ms: i64) -> String {
    if ms.abs() < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn tablet_rows(tablets: &[TabletStatus]) -> Vec<Vec<String>> {
    let mut rows = vec![["TABLE", "TABLET", "START", "END", "EPOCH", "STATE", "SIZE"].map(String::from).to_vec()];
    for t in tablets {
        let Some(d) = &t.tablet else { continue };
        rows.push(vec![
            short_table(&d.table_name).to_string(),
            d.tablet_id.clone(),
            format!("\"{}\"", escape(&d.start_key, true)),
            if d.end_key.is_empty() { "(end)".into() } else { format!("\"{}\"", escape(&d.end_key, true)) },
            d.epoch.to_string(),
            state_name(t.state).into(),
            size(t.approximate_size_bytes),
        ]);
    }
    rows
}

/// `status`: the servers with their leases, then each server's tablets with sizes, then
/// the tablets no server holds.
pub fn status(master: &str, s: &ClusterStatusResponse) -> String {
    let tablets: usize = s.servers.iter().map(|v| v.tablets.len()).sum::<usize>() + s.unassigned.len();
    let live = s.servers.iter().filter(|v| v.live).count();
    let mut out = format!(
        "master {master}: lease {} ms, margin {} ms; {} servers ({live} live), {tablets} tablets ({} unassigned)\n\n",
        s.lease_ms,
        s.margin_ms,
        s.servers.len(),
        s.unassigned.len()
    );
    let mut rows =
        vec![["SERVER", "ADDRESS", "STATE", "HEARD", "LEASE LEFT", "TABLETS", "SIZE"].map(String::from).to_vec()];
    for v in &s.servers {
        let state = if v.dead {
            "dead"
        } else if !v.live {
            "expired"
        } else if v.lease_remaining_ms < 0 {
            "late"
        } else {
            "live"
        };
        rows.push(vec![
            v.server_id.clone(),
            v.address.clone(),
            state.into(),
            format!("{} ago", millis(i64::try_from(v.heard_ms_ago).unwrap_or(i64::MAX))),
            if v.lease_remaining_ms < 0 { "expired".into() } else { millis(v.lease_remaining_ms) },
            v.tablets.len().to_string(),
            size(v.tablets.iter().map(|t| t.approximate_size_bytes).sum()),
        ]);
    }
    out.push_str(&columns(&rows, ""));
    for v in s.servers.iter().filter(|v| !v.tablets.is_empty()) {
        out.push_str(&format!("\ntablets of {} ({})\n", v.server_id, v.address));
        out.push_str(&columns(&tablet_rows(&v.tablets), "  "));
    }
    if !s.unassigned.is_empty() {
        out.push_str("\nunassigned tablets\n");
        out.push_str(&columns(&tablet_rows(&s.unassigned), "  "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tablet::proto::bigtable::{Cell, Column, Family};
    use tablet::proto::bt::internal::v1::{ServerStatus, TabletDescriptor};

    #[test]
    fn timestamps_in_cbt_layout() {
        assert_eq!(timestamp(0), "1970/01/01-00:00:00.000000");
        assert_eq!(timestamp(1_700_000_000_123_456), "2023/11/14-22:13:20.123456");
        assert_eq!(timestamp(951_782_400_000_000), "2000/02/29-00:00:00.000000");
        assert_eq!(timestamp(-1), "1969/12/31-23:59:59.999999");
    }

    #[test]
    fn rows_print_like_cbt() {
        let r = Row {
            key: b"user#1\x00".to_vec(),
            families: vec![Family {
                name: "cf".into(),
                columns: vec![Column {
                    qualifier: b"name".to_vec(),
                    cells: vec![
                        Cell { timestamp_micros: 2_000, value: b"say \"hi\"".to_vec(), labels: vec![] },
                        Cell { timestamp_micros: 1_000, value: b"\xff".to_vec(), labels: vec![] },
                    ],
                }],
            }],
        };
        let want = "----------------------------------------\nuser#1\\x00\n  cf:name                                  @ 1970/01/01-00:00:00.002000\n    \"say \\\"hi\\\"\"\n  cf:name                                  @ 1970/01/01-00:00:00.001000\n    \"\\xff\"\n";
        assert_eq!(row(&r), want);
    }

    #[test]
    fn sizes_and_columns() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 << 30), "5.0 GiB");
        let rows = vec![vec!["a".to_string(), "bb".into(), "c".into()], vec!["aaa".into(), "b".into(), "".into()]];
        assert_eq!(columns(&rows, "> "), "> a    bb  c\n> aaa  b\n");
    }

    #[test]
    fn status_lists_servers_then_their_tablets() {
        let t = |id: &str, size: u64| TabletStatus {
            tablet: Some(TabletDescriptor {
                table_name: "projects/p/instances/i/tables/t".into(),
                tablet_id: id.into(),
                start_key: b"m".to_vec(),
                epoch: 2,
                ..Default::default()
            }),
            state: TabletState::Serving as i32,
            approximate_size_bytes: size,
        };
        let s = ClusterStatusResponse {
            servers: vec![ServerStatus {
                server_id: "s1".into(),
                address: "h:1".into(),
                heard_ms_ago: 250,
                lease_remaining_ms: 750,
                live: true,
                dead: false,
                tablets: vec![t("0001", 2048)],
            }],
            unassigned: vec![],
            lease_ms: 1000,
            margin_ms: 500,
        };
        let out = status("h:0", &s);
        assert!(
            out.starts_with("master h:0: lease 1000 ms, margin 500 ms; 1 servers (1 live), 1 tablets (0 unassigned)\n"),
            "{out}"
        );
        assert!(out.contains("s1      h:1      live   250 ms ago  750 ms      1        2.0 KiB"), "{out}");
        assert!(out.contains("\ntablets of s1 (h:1)\n  TABLE  TABLET  START  END    EPOCH  STATE    SIZE\n  t      0001    \"m\"    (end)  2      serving  2.0 KiB\n"), "{out}");
    }
}
