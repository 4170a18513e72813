//! Names the master accepts, and the ids it gives out.
//!
//! - An **instance** is `projects/{project}/instances/{instance}`; each segment is 1 to
//!   [`MAX_SEGMENT_LEN`] characters of `[-_.a-zA-Z0-9]`, and neither `.` nor `..`.
//! - A **table name** is `{instance}/tables/{table}`; the table's short name follows
//!   Bigtable's rule, `[_a-zA-Z0-9][-_.a-zA-Z0-9]*`, at most [`MAX_TABLE_ID_LEN`]
//!   characters.
//! - A **table id** (the directory name under `<root>/tables/`) is `t` and 16 lower-case
//!   hex digits; a **tablet id** is `[0-9a-z-]{1,64}` (docs/cluster.md).
//!
//! None of these can contain `/` or be `..`, so none can escape the data root when it
//! names a directory.

use crate::error::{Error, Result};

/// Longest project or instance segment accepted.
pub const MAX_SEGMENT_LEN: usize = 128;
/// Longest short table name (Bigtable's limit).
pub const MAX_TABLE_ID_LEN: usize = 50;
/// Longest tablet id.
pub const MAX_TABLET_ID_LEN: usize = tablet::layout::MAX_TABLET_ID_LEN;

/// A table's full name, split into its instance and short name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// `projects/{project}/instances/{instance}`.
    pub instance: String,
    /// The short name (`{table}`).
    pub table: String,
}

impl TableName {
    /// `projects/{project}/instances/{instance}/tables/{table}`.
    pub fn full(&self) -> String {
        format!("{}/tables/{}", self.instance, self.table)
    }
}

fn check_segment(what: &str, s: &str, full: &str) -> Result<()> {
    if s.is_empty() || s.len() > MAX_SEGMENT_LEN {
        return Err(Error::invalid(format!("{what} in {full:?} must be 1 to {MAX_SEGMENT_LEN} characters long")));
    }
    if s == "." || s == ".." {
        return Err(Error::invalid(format!("{what} in {full:?} must not be {s:?}")));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(Error::invalid(format!("{what} in {full:?} contains {c:?}; allowed: [-_.a-zA-Z0-9]")));
    }
    Ok(())
}

/// Checks `projects/{project}/instances/{instance}` and returns it.
pub fn parse_instance(parent: &str) -> Result<String> {
    let parts: Vec<&str> = parent.split('/').collect();
    match parts.as_slice() {
        ["projects", project, "instances", instance] => {
            check_segment("project", project, parent)?;
            check_segment("instance", instance, parent)?;
            Ok(parent.to_string())
        }
        _ => Err(Error::invalid(format!(
            "instance name {parent:?} is not of the form projects/{{project}}/instances/{{instance}}"
        ))),
    }
}

/// Checks a short table name against `[_a-zA-Z0-9][-_.a-zA-Z0-9]*`, 1 to 50 characters.
pub fn validate_table_id(table: &str) -> Result<()> {
    if table.is_empty() || table.len() > MAX_TABLE_ID_LEN {
        return Err(Error::invalid(format!("table id {table:?} must be 1 to {MAX_TABLE_ID_LEN} characters long")));
    }
    if table.starts_with(['-', '.']) {
        return Err(Error::invalid(format!("table id {table:?} must start with [_a-zA-Z0-9]")));
    }
    if let Some(c) = table.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(Error::invalid(format!("table id {table:?} contains {c:?}; allowed: [-_.a-zA-Z0-9]")));
    }
    Ok(())
}

/// Parses and checks `projects/{project}/instances/{instance}/tables/{table}`.
pub fn parse_table_name(name: &str) -> Result<TableName> {
    let Some((instance, table)) = name.rsplit_once("/tables/") else {
        return Err(Error::invalid(format!(
            "table name {name:?} is not of the form projects/{{project}}/instances/{{instance}}/tables/{{table}}"
        )));
    };
    let instance = parse_instance(instance)?;
    validate_table_id(table)?;
    Ok(TableName { instance, table: table.to_string() })
}

/// The table id (directory name) of the `seq`-th table ever created.
pub fn table_dir_id(seq: u64) -> String {
    format!("t{seq:016x}")
}

/// Checks a table id: `t` and 16 lower-case hex digits (the layout's rule: the id names a
/// directory under the data root).
pub fn validate_table_dir_id(id: &str) -> Result<()> {
    tablet::layout::validate_table_id(id).map_err(|e| Error::invalid(layout_message(e)))
}

/// Checks a tablet id: `[0-9a-z-]{1,64}` (the layout's rule).
pub fn validate_tablet_id(id: &str) -> Result<()> {
    tablet::layout::validate_tablet_id(id).map_err(|e| Error::invalid(layout_message(e)))
}

/// The message of a layout validation error, without its "invalid argument" prefix.
fn layout_message(e: tablet::Error) -> String {
    match e {
        tablet::Error::InvalidArgument(m) => m,
        other => other.to_string(),
    }
}

/// The id of the `index`-th tablet a table is created with (`0000`, `0001`, ...). Split
/// children append a `-` suffix to their parent's id, so they never collide with these.
pub fn initial_tablet_id(index: usize) -> String {
    format!("{index:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_parse() {
        let t = parse_table_name("projects/p-1/instances/i_2/tables/my.table-3").unwrap();
        assert_eq!(t.instance, "projects/p-1/instances/i_2");
        assert_eq!(t.table, "my.table-3");
        assert_eq!(t.full(), "projects/p-1/instances/i_2/tables/my.table-3");
    }

    #[test]
    fn bad_table_names_are_refused_with_the_reason() {
        for (name, why) in [
            ("", "not of the form"),
            ("tables/t", "not of the form"),
            ("projects/p/instances/i/tables/", "1 to 50"),
            ("projects/p/instances/i/tables/..", "must start with"),
            ("projects/p/instances/i/tables/.hidden", "must start with"),
            ("projects/p/instances/i/tables/a/b", "contains '/'"),
            ("projects/p/instances/i/tables/a b", "contains ' '"),
            ("projects/../instances/i/tables/t", "must not be \"..\""),
            ("projects//instances/i/tables/t", "project"),
            ("projects/p/instances/i/x/tables/t", "not of the form"),
        ] {
            let e = parse_table_name(name).unwrap_err().to_string();
            assert!(e.contains(why), "{name:?}: {e}");
        }
        let long = format!("projects/p/instances/i/tables/{}", "a".repeat(51));
        assert!(parse_table_name(&long).unwrap_err().to_string().contains("1 to 50"));
        let long = format!("projects/{}/instances/i/tables/t", "p".repeat(129));
        assert!(parse_table_name(&long).is_err());
    }

    #[test]
    fn ids() {
        assert_eq!(table_dir_id(1), "t0000000000000001");
        assert_eq!(table_dir_id(u64::MAX), "tffffffffffffffff");
        validate_table_dir_id(&table_dir_id(0xabc)).unwrap();
        for bad in ["", "t", "t000000000000000G", "x0000000000000001", "t00000000000000001"] {
            assert!(validate_table_dir_id(bad).is_err(), "{bad}");
        }
        validate_tablet_id(&initial_tablet_id(3)).unwrap();
        validate_tablet_id("0003-l7").unwrap();
        for bad in ["", "A", "a/b", "..", &"a".repeat(65)] {
            assert!(validate_tablet_id(bad).is_err(), "{bad}");
        }
    }
}
