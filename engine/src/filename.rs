//! Names of the files in a database directory.
//!
//! ```text
//! CURRENT           name of the live MANIFEST (one line, newline-terminated)
//! LOCK              held with an exclusive lock while a Db has the directory open
//! MANIFEST-NNNNNN   log of version edits
//! NNNNNN.log        write-ahead log
//! NNNNNN.sst        sorted table
//! *.dbtmp           temporary file of an atomic replace (removed on open)
//! ```
//! File numbers come from one counter per database and are never reused.

use std::path::{Path, PathBuf};

/// What a file in a database directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    /// `NNNNNN.log`
    Log(u64),
    /// `NNNNNN.sst`
    Table(u64),
    /// `MANIFEST-NNNNNN`
    Manifest(u64),
    /// `CURRENT`
    Current,
    /// `LOCK`
    Lock,
    /// `*.dbtmp`
    Temp,
}

/// `dir/NNNNNN.log`
pub fn log_file(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:06}.log"))
}

/// `dir/NNNNNN.sst`
pub fn table_file(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:06}.sst"))
}

/// `dir/MANIFEST-NNNNNN`
pub fn manifest_file(dir: &Path, number: u64) -> PathBuf {
    dir.join(manifest_name(number))
}

/// `MANIFEST-NNNNNN`
pub fn manifest_name(number: u64) -> String {
    format!("MANIFEST-{number:06}")
}

/// `dir/CURRENT`
pub fn current_file(dir: &Path) -> PathBuf {
    dir.join("CURRENT")
}

/// `dir/LOCK`
pub fn lock_file(dir: &Path) -> PathBuf {
    dir.join("LOCK")
}

/// Classifies a file name (not a path); `None` for names the engine does not own.
pub fn parse_file_name(name: &str) -> Option<FileKind> {
    match name {
        "CURRENT" => return Some(FileKind::Current),
        "LOCK" => return Some(FileKind::Lock),
        _ => {}
    }
    if name.ends_with(".dbtmp") {
        return Some(FileKind::Temp);
    }
    if let Some(n) = name.strip_prefix("MANIFEST-") {
        return parse_number(n).map(FileKind::Manifest);
    }
    if let Some(n) = name.strip_suffix(".log") {
        return parse_number(n).map(FileKind::Log);
    }
    if let Some(n) = name.strip_suffix(".sst") {
        return parse_number(n).map(FileKind::Table);
    }
    None
}

fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        let d = Path::new("/db");
        for (path, kind) in [
            (log_file(d, 7), FileKind::Log(7)),
            (table_file(d, 1234567), FileKind::Table(1234567)),
            (manifest_file(d, 2), FileKind::Manifest(2)),
            (current_file(d), FileKind::Current),
            (lock_file(d), FileKind::Lock),
        ] {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(parse_file_name(name), Some(kind), "{name}");
        }
        assert_eq!(parse_file_name("CURRENT.dbtmp"), Some(FileKind::Temp));
        for bad in ["", "x.sst", "-1.log", "MANIFEST-", "12.txt", "LOG", "1 .sst"] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }
}
