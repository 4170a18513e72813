//! `bt`'s command line, parsed without touching the network, the file system or the
//! environment: `parse(args, BT_MASTER's value)` gives an [`Invocation`] or a
//! [`UsageError`] (exit status 2).
//!
//! ```text
//! bt [--master ADDR] [--project P] [--instance I] [--timeout SECS] VERB ARGS...
//! ```
//!
//! Each verb takes its positional arguments first, then cbt-style `key=value` options
//! (a few bare words, such as `reversed`). Row keys, qualifiers, values and prefixes accept
//! the escapes of [`super::escape`].

use std::path::PathBuf;
use std::time::Duration;

use super::escape::unescape;
use super::gc::{self, Policy};

/// Where the master listens when neither `--master` nor `BT_MASTER` says (the local
/// cluster the launcher starts).
pub const DEFAULT_MASTER: &str = "127.0.0.1:7000";
/// Rows per `MutateRows` call of `import` unless `batch=` says.
pub const DEFAULT_IMPORT_BATCH: usize = 500;

/// A command line that cannot be run: the message says what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// The flags before the verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Globals {
    /// The master's `host:port`.
    pub master: String,
    /// Project of the table names.
    pub project: String,
    /// Instance of the table names.
    pub instance: String,
    /// How long data calls keep retrying an unavailable tablet (and connects wait).
    pub timeout: Duration,
}

impl Globals {
    /// `projects/{p}/instances/{i}`.
    pub fn instance_name(&self) -> String {
        format!("projects/{}/instances/{}", self.project, self.instance)
    }

    /// `projects/{p}/instances/{i}/tables/{table}`.
    pub fn table_name(&self, table: &str) -> String {
        format!("{}/tables/{table}", self.instance_name())
    }
}

/// One cell to write with `set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellSpec {
    /// Column family.
    pub family: String,
    /// Column qualifier.
    pub qualifier: Vec<u8>,
    /// Timestamp in microseconds; `None`: the server's time.
    pub timestamp: Option<i64>,
    /// The value.
    pub value: Vec<u8>,
}

/// A column (or a whole family) to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Column family.
    pub family: String,
    /// One qualifier; `None`: the whole family.
    pub qualifier: Option<Vec<u8>>,
}

/// Which rows `read` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowRange {
    /// First row (inclusive); empty: the first row.
    pub start: Vec<u8>,
    /// End (exclusive); empty: to the end.
    pub end: Vec<u8>,
    /// Only rows with this prefix (exclusive with start/end).
    pub prefix: Option<Vec<u8>>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Print the usage text.
    Help,
    /// List tables, or one table's families with their GC policies.
    Ls { table: Option<String> },
    /// Create a table.
    CreateTable { table: String, families: Vec<(String, Policy)>, splits: Vec<Vec<u8>> },
    /// Delete a table.
    DeleteTable { table: String },
    /// Add a family.
    CreateFamily { table: String, family: String, policy: Policy },
    /// Drop a family.
    DeleteFamily { table: String, family: String },
    /// Change a family's GC policy.
    SetGcPolicy { table: String, family: String, policy: Policy },
    /// Write cells of one row.
    Set { table: String, row: Vec<u8>, cells: Vec<CellSpec> },
    /// Read one row.
    Lookup { table: String, row: Vec<u8>, columns: Vec<ColumnSpec>, versions: Option<i32> },
    /// Read rows.
    Read {
        table: String,
        range: RowRange,
        count: Option<u64>,
        columns: Vec<ColumnSpec>,
        versions: Option<i32>,
        reversed: bool,
    },
    /// Count rows.
    Count { table: String, prefix: Option<Vec<u8>> },
    /// Delete one row.
    DeleteRow { table: String, row: Vec<u8> },
    /// Delete every row of a table.
    DeleteAllRows { table: String },
    /// Delete the rows with a prefix.
    DropRowRange { table: String, prefix: Vec<u8> },
    /// Load a CSV file.
    Import { table: String, file: PathBuf, family: Option<String>, batch: usize },
    /// Write a table to a CSV file.
    Export { table: String, file: PathBuf },
    /// Servers, leases, tablets and sizes.
    Status,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The global flags.
    pub globals: Globals,
    /// The verb and its arguments.
    pub command: Command,
}

/// The usage text (`bt help`).
pub const USAGE: &str = "\
usage: bt [--master ADDR] [--project P] [--instance I] [--timeout SECS] VERB ARGS...

  --master ADDR    the master (default: $BT_MASTER, else 127.0.0.1:7000)
  --project P      project of the table names (default p)
  --instance I     instance of the table names (default i)
  --timeout SECS   how long to retry an unavailable tablet (default 10)

verbs:
  ls [TABLE]                                 tables, or a table's families and GC policies
  createtable TABLE [families=cf1:maxversions=3,cf2] [splits=a,m]
  deletetable TABLE
  createfamily TABLE FAMILY[:POLICY]
  deletefamily TABLE FAMILY
  setgcpolicy TABLE FAMILY POLICY            POLICY: never | maxversions=N | maxage=1d
                                             | \"maxage=1d or maxversions=2\" | ... and ...
  set TABLE ROW fam:col=VALUE [fam:col@TS=VALUE ...]   TS in microseconds
  lookup TABLE ROW [columns=fam:col,fam2] [versions=N]
  read TABLE [start=R] [end=R] [prefix=P] [count=N] [columns=...] [versions=N] [reversed]
  count TABLE [prefix=P]
  deleterow TABLE ROW
  deleteallrows TABLE
  droprowrange TABLE prefix=P
  import TABLE FILE.csv [family=cf] [batch=500]      header row,fam:col,... (FILE - : stdin)
  export TABLE FILE.csv                              (FILE - : stdout)
  status                                     servers, leases, tablets per server, sizes

Keys, qualifiers and values accept escapes: \\\\ \\n \\t \\xNN (output uses the same).
";

/// Parses `args` (without the program name); `env_master` is `BT_MASTER`'s value.
pub fn parse(args: &[String], env_master: Option<&str>) -> Result<Invocation, UsageError> {
    let mut globals = Globals {
        master: env_master.filter(|m| !m.is_empty()).unwrap_or(DEFAULT_MASTER).to_string(),
        project: "p".into(),
        instance: "i".into(),
        timeout: Duration::from_secs(10),
    };
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        let flag = arg.trim_start_matches('-');
        if flag == "h" || flag == "help" {
            return Ok(Invocation { globals, command: Command::Help });
        }
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i).cloned().ok_or_else(|| usage(format!("flag --{name} needs a value")))?
            }
        };
        match name {
            "master" => globals.master = value,
            "project" => globals.project = value,
            "instance" => globals.instance = value,
            "timeout" => {
                let secs: u64 =
                    value.parse().map_err(|_| usage(format!("--timeout: expected whole seconds, got {value:?}")))?;
                globals.timeout = Duration::from_secs(secs.max(1));
            }
            other => return Err(usage(format!("unknown flag --{other}"))),
        }
        if globals.master.is_empty() {
            return Err(usage("--master: empty address"));
        }
        i += 1;
    }
    for (what, v) in [("--project", &globals.project), ("--instance", &globals.instance)] {
        check_segment(what, v)?;
    }
    let Some(verb) = args.get(i) else { return Err(usage("no verb given (try `bt help`)")) };
    let rest = args.get(i + 1..).unwrap_or_default();
    let command = parse_command(verb, rest)?;
    Ok(Invocation { globals, command })
}

fn check_segment(what: &str, s: &str) -> Result<(), UsageError> {
    if s.is_empty() || s == "." || s == ".." || !s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(usage(format!("{what}: {s:?} is not a valid name ([-_.a-zA-Z0-9], not . or ..)")));
    }
    Ok(())
}

/// The positional arguments and `key=value` options of one verb.
struct VerbArgs<'a> {
    verb: &'a str,
    positional: Vec<&'a str>,
    options: Vec<(&'a str, &'a str)>,
    flags: Vec<&'a str>,
}

impl<'a> VerbArgs<'a> {
    /// Splits `rest`: the first `n` are positional; the others must be `key=value` with a
    /// key in `keys`, or a bare word in `bare`.
    fn split(
        verb: &'a str,
        rest: &'a [String],
        names: &[&str],
        keys: &[&str],
        bare: &[&str],
    ) -> Result<VerbArgs<'a>, UsageError> {
        if rest.len() < names.len() {
            let missing: Vec<&str> = names.get(rest.len()..).unwrap_or_default().to_vec();
            return Err(usage(format!("{verb}: missing {} (usage: {})", missing.join(" "), verb_usage(verb))));
        }
        let (pos, opts) = rest.split_at(names.len());
        let mut out =
            VerbArgs { verb, positional: pos.iter().map(String::as_str).collect(), options: vec![], flags: vec![] };
        for o in opts {
            match o.split_once('=') {
                Some((k, v)) if keys.contains(&k) => {
                    if out.options.iter().any(|(seen, _)| *seen == k) {
                        return Err(usage(format!("{verb}: option {k}= given twice")));
                    }
                    out.options.push((k, v));
                }
                Some(("reversed", v)) if bare.contains(&"reversed") => match v {
                    "true" | "1" => out.flags.push("reversed"),
                    "false" | "0" => {}
                    _ => return Err(usage(format!("{verb}: reversed= takes true or false, got {v:?}"))),
                },
                None if bare.contains(&o.as_str()) => out.flags.push(o),
                _ => {
                    let allowed: Vec<String> =
                        keys.iter().map(|k| format!("{k}=")).chain(bare.iter().map(|b| b.to_string())).collect();
                    let allowed = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
                    return Err(usage(format!("{verb}: unexpected argument {o:?} (options: {allowed})")));
                }
            }
        }
        Ok(out)
    }

    fn pos(&self, i: usize) -> &'a str {
        self.positional.get(i).copied().unwrap_or_default()
    }

    fn opt(&self, key: &str) -> Option<&'a str> {
        self.options.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    fn table(&self) -> Result<String, UsageError> {
        table_id(self.verb, self.pos(0))
    }

    fn bytes(&self, what: &str, text: &str) -> Result<Vec<u8>, UsageError> {
        unescape(text).map_err(|e| usage(format!("{}: {what}: {e}", self.verb)))
    }

    fn number<T>(&self, key: &str, min: T) -> Result<Option<T>, UsageError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(v) = self.opt(key) else { return Ok(None) };
        match v.parse::<T>() {
            Ok(n) if n >= min => Ok(Some(n)),
            _ => Err(usage(format!("{}: {key}= must be a whole number of at least {min}, got {v:?}", self.verb))),
        }
    }

    fn columns(&self) -> Result<Vec<ColumnSpec>, UsageError> {
        let Some(list) = self.opt("columns") else { return Ok(vec![]) };
        list.split(',')
            .map(|c| {
                let (family, qualifier) = match c.split_once(':') {
                    Some((f, q)) => (f, Some(self.bytes("columns=", q)?)),
                    None => (c, None),
                };
                Ok(ColumnSpec { family: family_name(self.verb, family)?, qualifier })
            })
            .collect()
    }
}

fn verb_usage(verb: &str) -> &'static str {
    match verb {
        "ls" => "ls [TABLE]",
        "createtable" => "createtable TABLE [families=cf1:maxversions=3,cf2] [splits=a,m]",
        "deletetable" => "deletetable TABLE",
        "createfamily" => "createfamily TABLE FAMILY[:POLICY]",
        "deletefamily" => "deletefamily TABLE FAMILY",
        "setgcpolicy" => "setgcpolicy TABLE FAMILY (never | maxversions=N | maxage=DURATION | ... or/and ...)",
        "set" => "set TABLE ROW fam:col=VALUE [fam:col@TS=VALUE ...]",
        "lookup" => "lookup TABLE ROW [columns=fam:col,...] [versions=N]",
        "read" => "read TABLE [start=R] [end=R] [prefix=P] [count=N] [columns=...] [versions=N] [reversed]",
        "count" => "count TABLE [prefix=P]",
        "deleterow" => "deleterow TABLE ROW",
        "deleteallrows" => "deleteallrows TABLE",
        "droprowrange" => "droprowrange TABLE prefix=P",
        "import" => "import TABLE FILE.csv [family=cf] [batch=N]",
        "export" => "export TABLE FILE.csv",
        _ => "bt help",
    }
}

/// Checks a short table name (Bigtable's rule, as the master applies it).
fn table_id(verb: &str, t: &str) -> Result<String, UsageError> {
    crate::names::validate_table_id(t).map_err(|e| usage(format!("{verb}: table {t:?}: {}", strip_kind(&e))))?;
    Ok(t.to_string())
}

/// Checks a column family name (the tablet's rule).
fn family_name(verb: &str, f: &str) -> Result<String, UsageError> {
    tablet::schema::validate_family_name(f).map_err(|e| usage(format!("{verb}: family {f:?}: {}", strip_kind(&e))))?;
    Ok(f.to_string())
}

fn strip_kind(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    s.strip_prefix("invalid argument: ").map(str::to_string).unwrap_or(s)
}

/// `family[:policy]`.
fn family_with_policy(verb: &str, spec: &str) -> Result<(String, Policy), UsageError> {
    let (name, policy) = match spec.split_once(':') {
        Some((n, p)) => (n, gc::parse(p).map_err(|e| usage(format!("{verb}: family {n:?}: {e}")))?),
        None => (spec, Policy::Never),
    };
    Ok((family_name(verb, name)?, policy))
}

/// `family:qualifier[@ts]=value`.
fn cell_spec(spec: &str) -> Result<CellSpec, UsageError> {
    let bad =
        |why: String| usage(format!("set: {spec:?}: {why} (expected family:column=value or family:column@ts=value)"));
    let (column, value) = spec.split_once('=').ok_or_else(|| bad("no \"=\"".into()))?;
    let (family, qualifier) = column.split_once(':').ok_or_else(|| bad("no \":\" between family and column".into()))?;
    let (qualifier, timestamp) = match qualifier.rsplit_once('@') {
        Some((q, ts)) => {
            let ts: i64 = ts.parse().map_err(|_| {
                bad(format!("timestamp {ts:?} is not a whole number of microseconds (write @ in a column as \\x40)"))
            })?;
            if ts < 0 {
                return Err(bad(format!("timestamp {ts} is negative")));
            }
            (q, Some(ts))
        }
        None => (qualifier, None),
    };
    Ok(CellSpec {
        family: family_name("set", family)?,
        qualifier: unescape(qualifier).map_err(&bad)?,
        timestamp,
        value: unescape(value).map_err(bad)?,
    })
}

fn parse_command(verb: &str, rest: &[String]) -> Result<Command, UsageError> {
    let split = |names: &[&str], keys: &[&str], bare: &[&str]| VerbArgs::split(verb, rest, names, keys, bare);
    Ok(match verb {
        "help" => Command::Help,
        "ls" => {
            if rest.len() > 1 {
                return Err(usage(format!("ls: too many arguments (usage: {})", verb_usage("ls"))));
            }
            Command::Ls { table: rest.first().map(|t| table_id(verb, t)).transpose()? }
        }
        "createtable" => {
            let a = split(&["TABLE"], &["families", "splits"], &[])?;
            let families = match a.opt("families") {
                Some(list) => list.split(',').map(|f| family_with_policy(verb, f)).collect::<Result<Vec<_>, _>>()?,
                None => vec![],
            };
            let splits = match a.opt("splits") {
                Some(list) => list.split(',').map(|s| a.bytes("splits=", s)).collect::<Result<Vec<_>, _>>()?,
                None => vec![],
            };
            if splits.iter().any(Vec::is_empty) {
                return Err(usage("createtable: splits=: empty split key"));
            }
            Command::CreateTable { table: a.table()?, families, splits }
        }
        "deletetable" => Command::DeleteTable { table: split(&["TABLE"], &[], &[])?.table()? },
        "createfamily" => {
            let a = split(&["TABLE", "FAMILY"], &[], &[])?;
            let (family, policy) = family_with_policy(verb, a.pos(1))?;
            Command::CreateFamily { table: a.table()?, family, policy }
        }
        "deletefamily" => {
            let a = split(&["TABLE", "FAMILY"], &[], &[])?;
            Command::DeleteFamily { table: a.table()?, family: family_name(verb, a.pos(1))? }
        }
        "setgcpolicy" => {
            if rest.len() < 3 {
                return Err(usage(format!("setgcpolicy: missing arguments (usage: {})", verb_usage(verb))));
            }
            let policy_text = rest.get(2..).unwrap_or_default().join(" ");
            let policy = gc::parse(&policy_text).map_err(|e| usage(format!("setgcpolicy: {e}")))?;
            Command::SetGcPolicy { table: table_id(verb, &rest[0])?, family: family_name(verb, &rest[1])?, policy }
        }
        "set" => {
            if rest.len() < 3 {
                return Err(usage(format!("set: missing arguments (usage: {})", verb_usage(verb))));
            }
            let row = unescape(&rest[1]).map_err(|e| usage(format!("set: row: {e}")))?;
            let cells =
                rest.get(2..).unwrap_or_default().iter().map(|c| cell_spec(c)).collect::<Result<Vec<_>, _>>()?;
            Command::Set { table: table_id(verb, &rest[0])?, row, cells }
        }
        "lookup" => {
            let a = split(&["TABLE", "ROW"], &["columns", "versions"], &[])?;
            Command::Lookup {
                table: a.table()?,
                row: a.bytes("row", a.pos(1))?,
                columns: a.columns()?,
                versions: a.number("versions", 1)?,
            }
        }
        "read" => {
            let a = split(&["TABLE"], &["start", "end", "prefix", "count", "columns", "versions"], &["reversed"])?;
            let range = RowRange {
                start: a.opt("start").map(|s| a.bytes("start=", s)).transpose()?.unwrap_or_default(),
                end: a.opt("end").map(|s| a.bytes("end=", s)).transpose()?.unwrap_or_default(),
                prefix: a.opt("prefix").map(|s| a.bytes("prefix=", s)).transpose()?,
            };
            if range.prefix.is_some() && (a.opt("start").is_some() || a.opt("end").is_some()) {
                return Err(usage("read: prefix= cannot be combined with start= or end="));
            }
            if !range.end.is_empty() && range.end <= range.start {
                return Err(usage("read: end= must come after start="));
            }
            Command::Read {
                table: a.table()?,
                range,
                count: a.number("count", 1)?,
                columns: a.columns()?,
                versions: a.number("versions", 1)?,
                reversed: a.flag("reversed"),
            }
        }
        "count" => {
            let a = split(&["TABLE"], &["prefix"], &[])?;
            Command::Count { table: a.table()?, prefix: a.opt("prefix").map(|p| a.bytes("prefix=", p)).transpose()? }
        }
        "deleterow" => {
            let a = split(&["TABLE", "ROW"], &[], &[])?;
            Command::DeleteRow { table: a.table()?, row: a.bytes("row", a.pos(1))? }
        }
        "deleteallrows" => Command::DeleteAllRows { table: split(&["TABLE"], &[], &[])?.table()? },
        "droprowrange" => {
            let a = split(&["TABLE"], &["prefix"], &[])?;
            let prefix = a
                .opt("prefix")
                .ok_or_else(|| usage("droprowrange: prefix=P is required (deleteallrows drops every row)"))?;
            let prefix = a.bytes("prefix=", prefix)?;
            if prefix.is_empty() {
                return Err(usage("droprowrange: prefix= must not be empty (deleteallrows drops every row)"));
            }
            Command::DropRowRange { table: a.table()?, prefix }
        }
        "import" => {
            let a = split(&["TABLE", "FILE"], &["family", "batch"], &[])?;
            Command::Import {
                table: a.table()?,
                file: PathBuf::from(a.pos(1)),
                family: a.opt("family").map(|f| family_name(verb, f)).transpose()?,
                batch: a.number("batch", 1usize)?.unwrap_or(DEFAULT_IMPORT_BATCH),
            }
        }
        "export" => {
            let a = split(&["TABLE", "FILE"], &[], &[])?;
            Command::Export { table: a.table()?, file: PathBuf::from(a.pos(1)) }
        }
        "status" => {
            split(&[], &[], &[])?;
            Command::Status
        }
        other => return Err(usage(format!("unknown verb {other:?} (try `bt help`)"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn cmd(line: &str) -> Command {
        parse(&args(line), None).unwrap().command
    }

    fn err(line: &str) -> String {
        parse(&args(line), None).unwrap_err().0
    }

    #[test]
    fn globals_flags_env_and_defaults() {
        let inv = parse(&args("ls"), None).unwrap();
        assert_eq!(inv.globals.master, DEFAULT_MASTER);
        assert_eq!(inv.globals.table_name("t"), "projects/p/instances/i/tables/t");
        assert_eq!(parse(&args("ls"), Some("h:1")).unwrap().globals.master, "h:1");
        let inv = parse(&args("--master h:2 -project=x --instance y --timeout=3 ls"), Some("h:1")).unwrap();
        assert_eq!(inv.globals.master, "h:2");
        assert_eq!(inv.globals.table_name("t"), "projects/x/instances/y/tables/t");
        assert_eq!(inv.globals.timeout, Duration::from_secs(3));
        assert_eq!(cmd("--help"), Command::Help);
        assert_eq!(cmd("help"), Command::Help);
        assert_eq!(err(""), "no verb given (try `bt help`)");
        assert_eq!(err("--master"), "flag --master needs a value");
        assert_eq!(err("--bogus 1 ls"), "unknown flag --bogus");
        assert!(err("--project a/b ls").contains("--project: \"a/b\" is not a valid name"));
        assert!(err("--timeout soon ls").contains("--timeout: expected whole seconds"));
        assert_eq!(err("frob"), "unknown verb \"frob\" (try `bt help`)");
    }

    #[test]
    fn admin_verbs() {
        assert_eq!(cmd("ls"), Command::Ls { table: None });
        assert_eq!(cmd("ls t"), Command::Ls { table: Some("t".into()) });
        assert_eq!(
            cmd("createtable t families=cf1:maxversions=3,cf2 splits=a,m\\x00"),
            Command::CreateTable {
                table: "t".into(),
                families: vec![("cf1".into(), Policy::MaxVersions(3)), ("cf2".into(), Policy::Never)],
                splits: vec![b"a".to_vec(), b"m\x00".to_vec()],
            }
        );
        assert_eq!(
            parse(&["createtable".into(), "t".into(), "families=cf:maxage=1d or maxversions=2".into()], None)
                .unwrap()
                .command,
            Command::CreateTable {
                table: "t".into(),
                families: vec![(
                    "cf".into(),
                    Policy::Union(vec![Policy::MaxAge(Duration::from_secs(86_400)), Policy::MaxVersions(2)])
                )],
                splits: vec![],
            }
        );
        assert_eq!(cmd("deletetable t"), Command::DeleteTable { table: "t".into() });
        assert_eq!(
            cmd("createfamily t cf:maxversions=1"),
            Command::CreateFamily { table: "t".into(), family: "cf".into(), policy: Policy::MaxVersions(1) }
        );
        assert_eq!(cmd("deletefamily t cf"), Command::DeleteFamily { table: "t".into(), family: "cf".into() });
        // The policy may come as one quoted argument or as several words.
        let want = Command::SetGcPolicy {
            table: "t".into(),
            family: "cf".into(),
            policy: Policy::Intersection(vec![Policy::MaxAge(Duration::from_secs(3_600)), Policy::MaxVersions(2)]),
        };
        assert_eq!(cmd("setgcpolicy t cf maxage=1h and maxversions=2"), want);
        assert_eq!(
            parse(&["setgcpolicy".into(), "t".into(), "cf".into(), "maxage=1h and maxversions=2".into()], None)
                .unwrap()
                .command,
            want
        );
        assert_eq!(
            cmd("setgcpolicy t cf never"),
            Command::SetGcPolicy { table: "t".into(), family: "cf".into(), policy: Policy::Never }
        );
        assert_eq!(cmd("deleteallrows t"), Command::DeleteAllRows { table: "t".into() });
        assert_eq!(
            cmd("droprowrange t prefix=user#"),
            Command::DropRowRange { table: "t".into(), prefix: b"user#".to_vec() }
        );
        assert_eq!(cmd("status"), Command::Status);
    }

    #[test]
    fn data_verbs() {
        assert_eq!(
            cmd("set t row\\x01 cf:a=1 cf:b\\x00@2000=x=y cf:=\\xff"),
            Command::Set {
                table: "t".into(),
                row: b"row\x01".to_vec(),
                cells: vec![
                    CellSpec { family: "cf".into(), qualifier: b"a".to_vec(), timestamp: None, value: b"1".to_vec() },
                    CellSpec {
                        family: "cf".into(),
                        qualifier: b"b\x00".to_vec(),
                        timestamp: Some(2000),
                        value: b"x=y".to_vec()
                    },
                    CellSpec { family: "cf".into(), qualifier: vec![], timestamp: None, value: vec![0xff] },
                ],
            }
        );
        assert_eq!(
            cmd("lookup t r columns=cf:a,meta versions=2"),
            Command::Lookup {
                table: "t".into(),
                row: b"r".to_vec(),
                columns: vec![
                    ColumnSpec { family: "cf".into(), qualifier: Some(b"a".to_vec()) },
                    ColumnSpec { family: "meta".into(), qualifier: None },
                ],
                versions: Some(2),
            }
        );
        // Positional arguments are taken by position: a row key may hold "=".
        assert_eq!(
            cmd("lookup t a=b"),
            Command::Lookup { table: "t".into(), row: b"a=b".to_vec(), columns: vec![], versions: None }
        );
        assert_eq!(
            cmd("read t start=a end=m count=5 reversed"),
            Command::Read {
                table: "t".into(),
                range: RowRange { start: b"a".to_vec(), end: b"m".to_vec(), prefix: None },
                count: Some(5),
                columns: vec![],
                versions: None,
                reversed: true,
            }
        );
        assert_eq!(
            cmd("read t prefix=u reversed=false"),
            Command::Read {
                table: "t".into(),
                range: RowRange { prefix: Some(b"u".to_vec()), ..Default::default() },
                count: None,
                columns: vec![],
                versions: None,
                reversed: false,
            }
        );
        assert_eq!(cmd("count t prefix=u"), Command::Count { table: "t".into(), prefix: Some(b"u".to_vec()) });
        assert_eq!(cmd("deleterow t r"), Command::DeleteRow { table: "t".into(), row: b"r".to_vec() });
        assert_eq!(
            cmd("import t in.csv family=cf batch=10"),
            Command::Import { table: "t".into(), file: "in.csv".into(), family: Some("cf".into()), batch: 10 }
        );
        assert_eq!(
            cmd("import t -"),
            Command::Import { table: "t".into(), file: "-".into(), family: None, batch: DEFAULT_IMPORT_BATCH }
        );
        assert_eq!(cmd("export t out.csv"), Command::Export { table: "t".into(), file: "out.csv".into() });
    }

    #[test]
    fn bad_arguments_say_what_and_where() {
        let cases = [
            ("ls a b", "ls: too many arguments"),
            ("ls bad/name", "ls: table \"bad/name\""),
            ("createtable", "createtable: missing TABLE (usage: createtable TABLE"),
            ("createtable t families=cf:maxversions=0", "createtable: family \"cf\": maxversions must be"),
            ("createtable t families=bad!name", "createtable: family \"bad!name\""),
            ("createtable t splits=a,,b", "createtable: splits=: empty split key"),
            ("createtable t splits=a\\q", "createtable: splits=: bad escape \\q"),
            (
                "createtable t colour=red",
                "createtable: unexpected argument \"colour=red\" (options: families=, splits=)",
            ),
            ("createtable t splits=a splits=b", "option splits= given twice"),
            ("deletetable", "deletetable: missing TABLE"),
            ("deletetable t extra", "deletetable: unexpected argument \"extra\" (options: none)"),
            ("createfamily t", "createfamily: missing FAMILY"),
            ("setgcpolicy t cf", "setgcpolicy: missing arguments"),
            ("setgcpolicy t cf maxversions=-1", "maxversions must be"),
            ("setgcpolicy t cf maxage=1y", "unknown unit \"y\""),
            ("setgcpolicy t cf never and maxversions=1", "cannot be combined"),
            ("set t r", "set: missing arguments"),
            ("set t r cf-a=1", "no \":\" between family and column"),
            ("set t r cf:a", "no \"=\""),
            ("set t r cf:a@-5=1", "timestamp -5 is negative"),
            ("set t r cf:a@x=1", "timestamp \"x\" is not a whole number"),
            ("set t r cf:a=\\", "lone backslash"),
            ("lookup t", "lookup: missing ROW"),
            ("lookup t r versions=0", "lookup: versions= must be a whole number of at least 1, got \"0\""),
            ("lookup t r columns=bad!:q", "lookup: family \"bad!\""),
            ("read t prefix=a start=b", "prefix= cannot be combined"),
            ("read t start=m end=a", "end= must come after start="),
            ("read t count=lots", "read: count= must be a whole number of at least 1"),
            ("read t reversed=maybe", "reversed= takes true or false"),
            ("read t backwards", "read: unexpected argument \"backwards\""),
            ("droprowrange t", "prefix=P is required"),
            ("droprowrange t prefix=", "prefix= must not be empty"),
            ("import t", "import: missing FILE"),
            ("import t f.csv batch=0", "batch= must be a whole number of at least 1"),
            ("status now", "status: unexpected argument \"now\""),
        ];
        for (line, want) in cases {
            let e = err(line);
            assert!(e.contains(want), "{line:?}: got {e:?}, want {want:?}");
        }
    }
}
