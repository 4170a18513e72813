//! What a tablet server is started with: the data root, the master (or the static tables it
//! serves alone), cache sizes and request limits.

use std::path::PathBuf;
use std::time::Duration;

use crate::chunks::ChunkLimits;
use crate::error::{Error, Result};
use crate::gc::GcRule;
use crate::mutation::{MAX_MUTATIONS, MAX_ROW_KEY_LEN};
use crate::schema::Schema;

/// Request and response size limits (docs/rpc.md, "Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest gRPC message either way; gRPC itself answers `RESOURCE_EXHAUSTED` above it.
    pub max_message_bytes: usize,
    /// Longest row key in any request.
    pub max_row_key_bytes: usize,
    /// Most SetCell value bytes in one MutateRow / MutateRows request.
    pub max_request_value_bytes: usize,
    /// Most mutations in one request (all entries of a MutateRows together).
    pub max_mutations: usize,
    /// ReadRows chunk and message sizes.
    pub chunks: ChunkLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 256 << 20,
            max_row_key_bytes: MAX_ROW_KEY_LEN,
            max_request_value_bytes: 100 << 20,
            max_mutations: MAX_MUTATIONS,
            chunks: ChunkLimits::default(),
        }
    }
}

/// One table served alone, as `--table NAME=FAMILIES[;split_kb=N]` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticTable {
    /// `projects/{p}/instances/{i}/tables/{t}`.
    pub name: String,
    /// Its column families.
    pub schema: Schema,
    /// This table's split threshold in bytes, instead of the server's
    /// [`ServerConfig::split_bytes`] (0: never split).
    pub split_bytes: Option<u64>,
}

impl StaticTable {
    /// Parses `projects/p/instances/i/tables/t=cf1,cf2:maxversions=3:maxage=86400`: the table
    /// name, `=`, and a comma-separated list of families, each optionally followed by
    /// `:maxversions=N` and/or `:maxage=SECS` (both: a cell goes when either rule says so);
    /// then optionally `;split_kb=N`, the table's own split threshold in KiB (0: never).
    pub fn parse(spec: &str) -> Result<StaticTable> {
        let bad = |why: String| Error::invalid(format!("--table {spec:?}: {why}"));
        let (name, rest) = spec.split_once('=').ok_or_else(|| bad("expected NAME=FAMILY[,FAMILY...]".to_string()))?;
        parse_table_name(name).map_err(|e| bad(e.to_string()))?;
        let mut options = rest.split(';');
        let families = options.next().unwrap_or_default();
        let mut split_bytes = None;
        for opt in options {
            match opt.split_once('=') {
                Some(("split_kb", kb)) => {
                    let kb: u64 = kb.parse().map_err(|_| bad(format!("split_kb={kb:?} is not a whole number")))?;
                    split_bytes = Some(kb.saturating_mul(1024));
                }
                _ => return Err(bad(format!("unknown table option {opt:?} (split_kb=N)"))),
            }
        }
        let mut schema = Schema::new();
        for fam in families.split(',') {
            let mut parts = fam.split(':');
            let fname = parts.next().unwrap_or_default();
            let mut rules = Vec::new();
            for opt in parts {
                let (key, value) = opt
                    .split_once('=')
                    .ok_or_else(|| bad(format!("family {fname:?}: option {opt:?} is not KEY=VALUE")))?;
                let number: u64 = value
                    .parse()
                    .map_err(|_| bad(format!("family {fname:?}: {key}={value:?} is not a whole number")))?;
                rules.push(match key {
                    "maxversions" => {
                        let n = u32::try_from(number)
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| bad(format!("family {fname:?}: maxversions must be 1 to {}", u32::MAX)))?;
                        GcRule::MaxNumVersions(n)
                    }
                    "maxage" => GcRule::MaxAge(Duration::from_secs(number)),
                    _ => return Err(bad(format!("family {fname:?}: unknown option {key:?} (maxversions, maxage)"))),
                });
            }
            let rule = match rules.len() {
                0 => None,
                1 => rules.pop(),
                _ => Some(GcRule::Union(rules)),
            };
            if schema.has_family(fname) {
                return Err(bad(format!("family {fname:?} is given twice")));
            }
            schema = schema.with_family(fname, rule).map_err(|e| bad(e.to_string()))?;
        }
        Ok(StaticTable { name: name.to_string(), schema, split_bytes })
    }

    /// The table id a static table's directory is named by: `t` and 16 hex digits of a
    /// 64-bit FNV-1a hash of the name, so the same name finds the same directory at every
    /// start.
    pub fn table_id(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("t{h:016x}")
    }
}

/// Checks `projects/{p}/instances/{i}/tables/{t}` (each part non-empty, no `/`).
pub fn parse_table_name(name: &str) -> Result<()> {
    let parts: Vec<&str> = name.split('/').collect();
    let ok = parts.len() == 6
        && parts.first() == Some(&"projects")
        && parts.get(2) == Some(&"instances")
        && parts.get(4) == Some(&"tables")
        && parts.iter().all(|p| !p.is_empty());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!("table name {name:?} is not of the form projects/P/instances/I/tables/T")))
    }
}

/// Everything a [`crate::server::TabletServer`] is started with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The data root (docs/cluster.md's layout: `<root>/tables/<table_id>/<tablet_id>/e<epoch>`).
    pub root: PathBuf,
    /// The master's `host:port`; `None` for static mode. Several, comma-separated (an
    /// active master and its standbys): renewals go to whichever answers.
    pub master: Option<String>,
    /// The address registered with the master; default: the address the server is bound to.
    pub advertise: Option<String>,
    /// Tables served alone (static mode only).
    pub static_tables: Vec<StaticTable>,
    /// Block cache shared by every tablet, in bytes.
    pub cache_bytes: usize,
    /// Open table readers shared by every tablet.
    pub max_open_files: usize,
    /// Flush and compaction threads shared by every tablet.
    pub background_threads: usize,
    /// Memtable size of each tablet.
    pub write_buffer_bytes: usize,
    /// The memtables of all tablets together are kept near this size (a shared
    /// `engine::WriteBufferManager`); 0: no shared limit.
    pub memtable_budget_bytes: usize,
    /// A tablet past this size is split (0: never); a static table may set its own.
    pub split_bytes: u64,
    /// fsync every write before acknowledging it.
    pub sync_writes: bool,
    /// Apply writes (`MutateRow`, `MutateRows`) on the async worker thread that received them when
    /// nothing makes them wait (no conflicting row lock, no split, no engine stall), instead
    /// of on a blocking thread; the rest still go to a blocking thread. Only without
    /// `sync_writes` (an fsync must not hold a worker thread). Handing every request to a
    /// blocking thread cost a quarter of the server's CPU under 100-row random writes
    /// (`BENCHMARKS.md`, run 12). Default true.
    pub inline_writes: bool,
    /// Request limits.
    pub limits: Limits,
    /// How long one lease renewal may take before it counts as failed.
    pub renew_timeout: Duration,
}

impl ServerConfig {
    /// Whether writes that need no wait are applied on the async worker threads:
    /// `inline_writes` and not `sync_writes`.
    pub fn applies_writes_inline(&self) -> bool {
        self.inline_writes && !self.sync_writes
    }

    /// The split threshold of the tablets of `table`: its static table's own, or
    /// [`ServerConfig::split_bytes`].
    pub fn split_threshold(&self, table: &str) -> u64 {
        self.static_tables.iter().find(|t| t.name == table).and_then(|t| t.split_bytes).unwrap_or(self.split_bytes)
    }

    /// The defaults for a server over `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ServerConfig {
            root: root.into(),
            master: None,
            advertise: None,
            static_tables: Vec::new(),
            cache_bytes: 256 << 20,
            max_open_files: 5000,
            background_threads: 2,
            write_buffer_bytes: 64 << 20,
            memtable_budget_bytes: 512 << 20,
            split_bytes: 512 << 20,
            sync_writes: false,
            inline_writes: true,
            limits: Limits::default(),
            renew_timeout: Duration::from_secs(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_table_specs() {
        let t = StaticTable::parse("projects/p/instances/i/tables/t=cf1,cf2:maxversions=3,cf3:maxage=60:maxversions=1")
            .unwrap();
        assert_eq!(t.name, "projects/p/instances/i/tables/t");
        assert_eq!(t.schema.gc_rule("cf1"), None);
        assert!(t.schema.has_family("cf1"));
        assert_eq!(t.schema.gc_rule("cf2"), Some(&GcRule::MaxNumVersions(3)));
        assert_eq!(
            t.schema.gc_rule("cf3"),
            Some(&GcRule::Union(vec![GcRule::MaxAge(Duration::from_secs(60)), GcRule::MaxNumVersions(1)]))
        );
        assert_eq!(t.table_id(), StaticTable::parse("projects/p/instances/i/tables/t=x").unwrap().table_id());
        assert_eq!(t.table_id().len(), 17);
        assert_ne!(t.table_id(), StaticTable::parse("projects/p/instances/i/tables/u=x").unwrap().table_id());
        assert_eq!(t.split_bytes, None);
        let small = StaticTable::parse("projects/p/instances/i/tables/s=cf;split_kb=64").unwrap();
        assert_eq!((small.split_bytes, small.schema.has_family("cf")), (Some(64 << 10), true));
        let mut c = ServerConfig::new("/r");
        c.static_tables = vec![t, small];
        assert_eq!(c.split_threshold("projects/p/instances/i/tables/s"), 64 << 10);
        assert_eq!(c.split_threshold("projects/p/instances/i/tables/t"), c.split_bytes);
        assert_eq!(c.split_threshold("projects/p/instances/i/tables/other"), c.split_bytes);
    }

    #[test]
    fn bad_table_specs_say_what_is_wrong() {
        for (spec, want) in [
            ("projects/p/instances/i/tables/t", "NAME=FAMILY"),
            ("tables/t=cf", "not of the form"),
            ("projects/p/instances/i/tables/t=cf:maxversions=0", "maxversions must be"),
            ("projects/p/instances/i/tables/t=cf:maxversions=x", "not a whole number"),
            ("projects/p/instances/i/tables/t=cf:ttl=5", "unknown option"),
            ("projects/p/instances/i/tables/t=cf:maxage", "not KEY=VALUE"),
            ("projects/p/instances/i/tables/t=a b", "family name"),
            ("projects/p/instances/i/tables/t=cf,cf", "given twice"),
            ("projects/p/instances/i/tables/t=", "family name"),
            ("projects/p/instances/i/tables/t=cf;split_kb=x", "not a whole number"),
            ("projects/p/instances/i/tables/t=cf;split=5", "unknown table option"),
        ] {
            let err = StaticTable::parse(spec).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("--table"), "{spec}: {err}");
        }
    }

    #[test]
    fn table_names() {
        parse_table_name("projects/p/instances/i/tables/t").unwrap();
        for bad in ["", "projects/p/instances/i/tables/", "projects/p/instances/i/tables/t/x", "p/p/i/i/t/t"] {
            assert!(parse_table_name(bad).is_err(), "{bad}");
        }
    }
}
