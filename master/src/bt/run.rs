//! Running a parsed [`Invocation`]: admin verbs go to the master's `BigtableTableAdmin`,
//! `status` to its `MasterControl.ClusterStatus`, data verbs through `tablet::client`
//! (located by the master, straight to the tablet servers).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tablet::client::build::{filter, mutation, rows};
use tablet::client::{Client, ClientError, ClientOptions, Table};
use tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient;
use tablet::proto::admin::create_table_request::Split;
use tablet::proto::admin::drop_row_range_request::Target;
use tablet::proto::admin::modify_column_families_request::{modification::Mod, Modification};
use tablet::proto::admin::table::View;
use tablet::proto::admin::{
    self, ColumnFamily, CreateTableRequest, DeleteTableRequest, DropRowRangeRequest, GetTableRequest,
    ListTablesRequest, ModifyColumnFamiliesRequest,
};
use tablet::proto::bigtable::{Mutation, RowFilter, RowSet};
use tablet::proto::bt::internal::v1::master_control_client::MasterControlClient;
use tablet::proto::bt::internal::v1::ClusterStatusRequest;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use super::args::{CellSpec, ColumnSpec, Command, Globals, Invocation, RowRange, UsageError};
use super::csv;
use super::escape::{escape, unescape};
use super::output;

/// Why a command failed; [`CliError::exit_code`] is the process's exit status.
#[derive(Debug)]
pub enum CliError {
    /// The command line is wrong (exit 2).
    Usage(UsageError),
    /// A server answered with an error status (exit 1).
    Rpc {
        /// What was being done.
        context: String,
        /// The gRPC code.
        code: Code,
        /// The server's message.
        message: String,
    },
    /// Anything else: a file that cannot be read or written, a malformed CSV (exit 1).
    Failed(String),
}

impl CliError {
    /// 2 for a usage error, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    fn rpc(context: impl Into<String>, status: &tonic::Status) -> CliError {
        CliError::Rpc { context: context.into(), code: status.code(), message: status.message().to_string() }
    }

    /// An error of a call to the master at `master`: an unreachable master says so.
    fn master(context: impl Into<String>, master: &str, status: &tonic::Status) -> CliError {
        let mut e = CliError::rpc(context, status);
        if let CliError::Rpc { code: Code::Unavailable, message, .. } = &mut e {
            if message.contains("connect") {
                message.push_str(&format!(" (is the master running at {master}? set --master or BT_MASTER)"));
            }
        }
        e
    }

    fn client(context: impl Into<String>, e: ClientError) -> CliError {
        let message = match &e {
            ClientError::Status(s) => s.message().to_string(),
            ClientError::RetriesExhausted { waited, last } => match last.as_ref() {
                ClientError::Status(s) => format!("{} (gave up after retrying for {waited:.1?})", s.message()),
                other => format!("{other} (gave up after retrying for {waited:.1?})"),
            },
            other => other.to_string(),
        };
        CliError::Rpc { context: context.into(), code: e.code(), message }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(e) => write!(f, "{e}"),
            CliError::Rpc { context, code, message } => write!(f, "{context}: {}: {message}", code_name(*code)),
            CliError::Failed(s) => f.write_str(s),
        }
    }
}

impl From<UsageError> for CliError {
    fn from(e: UsageError) -> Self {
        CliError::Usage(e)
    }
}

type Result<T> = std::result::Result<T, CliError>;

/// The canonical name of a gRPC code (`NOT_FOUND`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A lazily connected channel to the master.
fn master_channel(g: &Globals) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(format!("http://{}", g.master))
        .map_err(|e| UsageError(format!("--master {:?}: not a host:port address ({e})", g.master)))?;
    // No deadline on the calls themselves: dropping the rows of a big table takes a while.
    Ok(endpoint.connect_timeout(g.timeout.min(Duration::from_secs(5))).connect_lazy())
}

fn data_client(g: &Globals) -> Result<Client> {
    let opts = ClientOptions {
        retry_deadline: g.timeout,
        connect_timeout: g.timeout.min(Duration::from_secs(5)),
        ..ClientOptions::default()
    };
    Client::connect_master_with(&g.master, opts)
        .map_err(|e| CliError::Usage(UsageError(format!("--master {:?}: {e}", g.master))))
}

/// Standard output, buffered; a closed pipe (`bt read t | head`) ends the output quietly.
struct Out(BufWriter<std::io::Stdout>);

impl Out {
    fn new() -> Out {
        Out(BufWriter::new(std::io::stdout()))
    }

    /// Writes `s`; false once the reader has gone away.
    fn put(&mut self, s: &str) -> Result<bool> {
        match self.0.write_all(s.as_bytes()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(CliError::Failed(format!("writing to standard output: {e}"))),
        }
    }

    fn finish(mut self) -> Result<()> {
        match self.0.flush() {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(CliError::Failed(format!("writing to standard output: {e}")))
            }
            _ => Ok(()),
        }
    }
}

/// Runs `inv`, printing its results on standard output.
pub async fn run(inv: &Invocation) -> Result<()> {
    let g = &inv.globals;
    let mut out = Out::new();
    match &inv.command {
        Command::Help => {
            out.put(super::args::USAGE)?;
        }
        Command::Ls { table: None } => {
            let mut admin = BigtableTableAdminClient::new(master_channel(g)?);
            let mut names = Vec::new();
            let mut page_token = String::new();
            loop {
                let req = ListTablesRequest {
                    parent: g.instance_name(),
                    view: View::NameOnly as i32,
                    page_token: page_token.clone(),
                    page_size: 0,
                };
                let resp =
                    admin.list_tables(req).await.map_err(|s| CliError::master("ls", &g.master, &s))?.into_inner();
                names.extend(resp.tables.into_iter().map(|t| t.name));
                if resp.next_page_token.is_empty() {
                    break;
                }
                page_token = resp.next_page_token;
            }
            names.sort();
            for n in names {
                out.put(&format!("{}\n", n.rsplit_once("/tables/").map_or(n.as_str(), |(_, t)| t)))?;
            }
        }
        Command::Ls { table: Some(t) } => {
            let mut admin = BigtableTableAdminClient::new(master_channel(g)?);
            let req = GetTableRequest { name: g.table_name(t), view: View::SchemaView as i32 };
            let table = admin
                .get_table(req)
                .await
                .map_err(|s| CliError::master(format!("ls {t}"), &g.master, &s))?
                .into_inner();
            out.put(&output::families(&table.column_families))?;
        }
        Command::CreateTable { table, families, splits } => {
            let mut admin = BigtableTableAdminClient::new(master_channel(g)?);
            let column_families =
                families.iter().map(|(n, p)| (n.clone(), ColumnFamily { gc_rule: p.to_admin() })).collect();
            let req = CreateTableRequest {
                parent: g.instance_name(),
                table_id: table.clone(),
                table: Some(admin::Table { column_families, ..Default::default() }),
                initial_splits: splits.iter().map(|k| Split { key: k.clone() }).collect(),
            };
            admin
                .create_table(req)
                .await
                .map_err(|s| CliError::master(format!("createtable {table}"), &g.master, &s))?;
        }
        Command::DeleteTable { table } => {
            let mut admin = BigtableTableAdminClient::new(master_channel(g)?);
            let req = DeleteTableRequest { name: g.table_name(table) };
            admin
                .delete_table(req)
                .await
                .map_err(|s| CliError::master(format!("deletetable {table}"), &g.master, &s))?;
        }
        Command::CreateFamily { table, family, policy } => {
            let m = Mod::Create(ColumnFamily { gc_rule: policy.to_admin() });
            modify_family(g, "createfamily", table, family, m, false).await?;
        }
        Command::DeleteFamily { table, family } => {
            modify_family(g, "deletefamily", table, family, Mod::Drop(true), false).await?;
        }
        Command::SetGcPolicy { table, family, policy } => {
            let m = Mod::Update(ColumnFamily { gc_rule: policy.to_admin() });
            modify_family(g, "setgcpolicy", table, family, m, true).await?;
        }
        Command::Set { table, row, cells } => {
            let t = data_client(g)?.table(&g.table_name(table));
            let muts: Vec<Mutation> = cells.iter().map(set_cell).collect();
            t.mutate_row(row, muts).await.map_err(|e| CliError::client(format!("set {table}"), e))?;
        }
        Command::Lookup { table, row, columns, versions } => {
            let t = data_client(g)?.table(&g.table_name(table));
            let found = t
                .read_row(row, read_filter(columns, *versions))
                .await
                .map_err(|e| CliError::client(format!("lookup {table}"), e))?;
            match found {
                Some(r) => {
                    out.put(&output::row(&r))?;
                }
                None => eprintln!("row \"{}\" not found", escape(row, true)),
            }
        }
        Command::Read { table, range, count, columns, versions, reversed } => {
            let t = data_client(g)?.table(&g.table_name(table));
            let set = row_set(range);
            let f = read_filter(columns, *versions);
            let mut reader = if *reversed { t.read_rows_reversed(set, f, *count) } else { t.read_rows(set, f, *count) };
            while let Some(r) = reader.next_row().await.map_err(|e| CliError::client(format!("read {table}"), e))? {
                if !out.put(&output::row(&r))? {
                    break;
                }
            }
        }
        Command::Count { table, prefix } => {
            let t = data_client(g)?.table(&g.table_name(table));
            let set = prefix.as_deref().map_or_else(rows::all, rows::prefix);
            let f = filter::chain([filter::cells_per_row_limit(1), filter::strip_value()]);
            let mut reader = t.read_rows(set, Some(f), None);
            let mut n: u64 = 0;
            while reader.next_row().await.map_err(|e| CliError::client(format!("count {table}"), e))?.is_some() {
                n += 1;
            }
            out.put(&format!("{n}\n"))?;
        }
        Command::DeleteRow { table, row } => {
            let t = data_client(g)?.table(&g.table_name(table));
            t.mutate_row(row, vec![mutation::delete_row()])
                .await
                .map_err(|e| CliError::client(format!("deleterow {table}"), e))?;
        }
        Command::DeleteAllRows { table } => {
            drop_rows(g, "deleteallrows", table, Target::DeleteAllDataFromTable(true)).await?;
        }
        Command::DropRowRange { table, prefix } => {
            drop_rows(g, "droprowrange", table, Target::RowKeyPrefix(prefix.clone())).await?;
        }
        Command::Import { table, file, family, batch } => {
            let t = data_client(g)?.table(&g.table_name(table));
            let (rows, cells) = import(&t, file, family.as_deref(), *batch).await?;
            let msg = format!("imported {rows} rows ({cells} cells) into {table}\n");
            if file == Path::new("-") {
                eprint!("{msg}");
            } else {
                out.put(&msg)?;
            }
        }
        Command::Export { table, file } => {
            let t = data_client(g)?.table(&g.table_name(table));
            let (rows, columns) = export(&t, file).await?;
            let msg = format!("exported {rows} rows, {columns} columns of {table} to {}\n", file.display());
            if file == Path::new("-") {
                eprint!("{msg}");
            } else {
                out.put(&msg)?;
            }
        }
        Command::Status => {
            let mut control = MasterControlClient::new(master_channel(g)?);
            let s = control
                .cluster_status(ClusterStatusRequest {})
                .await
                .map_err(|s| CliError::master("status", &g.master, &s))?
                .into_inner();
            out.put(&output::status(&g.master, &s))?;
        }
    }
    out.finish()
}

async fn modify_family(g: &Globals, verb: &str, table: &str, family: &str, m: Mod, gc_only: bool) -> Result<()> {
    let mut admin = BigtableTableAdminClient::new(master_channel(g)?);
    let req = ModifyColumnFamiliesRequest {
        name: g.table_name(table),
        modifications: vec![Modification {
            id: family.to_string(),
            r#mod: Some(m),
            update_mask: gc_only.then(|| prost_types::FieldMask { paths: vec!["gc_rule".into()] }),
        }],
        ignore_warnings: false,
    };
    admin
        .modify_column_families(req)
        .await
        .map_err(|s| CliError::master(format!("{verb} {table} {family}"), &g.master, &s))?;
    Ok(())
}

async fn drop_rows(g: &Globals, verb: &str, table: &str, target: Target) -> Result<()> {
    let mut admin = BigtableTableAdminClient::new(master_channel(g)?);
    let req = DropRowRangeRequest { name: g.table_name(table), target: Some(target) };
    admin.drop_row_range(req).await.map_err(|s| CliError::master(format!("{verb} {table}"), &g.master, &s))?;
    Ok(())
}

fn set_cell(c: &CellSpec) -> Mutation {
    mutation::set_cell(&c.family, &c.qualifier, c.timestamp.unwrap_or(-1), &c.value)
}

fn row_set(r: &RowRange) -> RowSet {
    match &r.prefix {
        Some(p) => rows::prefix(p),
        None if r.start.is_empty() && r.end.is_empty() => rows::all(),
        None => rows::range_closed_open(&r.start, &r.end),
    }
}

/// The filter of `columns=` and `versions=`, if any.
pub fn read_filter(columns: &[ColumnSpec], versions: Option<i32>) -> Option<RowFilter> {
    let column = |c: &ColumnSpec| match &c.qualifier {
        None => filter::family(&c.family),
        Some(q) => {
            // [q, q\0) holds exactly q.
            let mut end = q.clone();
            end.push(0);
            filter::column_range(&c.family, q, &end)
        }
    };
    let mut parts: Vec<RowFilter> = Vec::new();
    match columns {
        [] => {}
        [one] => parts.push(column(one)),
        many => parts.push(filter::interleave(many.iter().map(column))),
    }
    if let Some(n) = versions {
        parts.push(filter::latest(n));
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(filter::chain(parts)),
    }
}

/// A progress bar on standard error when it is a terminal (hidden otherwise): over
/// `total` bytes, or counting rows.
fn progress(total: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match total {
        Some(n) => {
            let style = ProgressStyle::with_template("{spinner} [{bar:40}] {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            ProgressBar::new(n).with_style(style.progress_chars("=> ")).with_message(what.to_string())
        }
        None => {
            let style = ProgressStyle::with_template("{spinner} {pos} rows {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            ProgressBar::new_spinner().with_style(style).with_message(what.to_string())
        }
    }
}

/// The column of header field `text`: `family:qualifier`, or a qualifier of `family`.
fn header_column(file: &str, index: usize, text: &str, family: Option<&str>) -> Result<(String, Vec<u8>)> {
    let bad = |why: String| CliError::Failed(format!("{file}: header column {}: {text:?}: {why}", index + 1));
    let (fam, qual) = match (text.split_once(':'), family) {
        (Some((f, q)), _) => (f.to_string(), q),
        (None, Some(f)) => (f.to_string(), text),
        (None, None) => return Err(bad("no family; write family:column, or give family=NAME".into())),
    };
    tablet::schema::validate_family_name(&fam).map_err(|e| bad(e.to_string()))?;
    Ok((fam, unescape(qual).map_err(bad)?))
}

async fn flush_batch(t: &Table, batch: &mut Vec<(Vec<u8>, Vec<Mutation>)>) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let entries = std::mem::take(batch);
    let keys: Vec<Vec<u8>> = entries.iter().map(|(k, _)| k.clone()).collect();
    let results = t.mutate_rows(entries).await.map_err(|e| CliError::client("import", e))?;
    for (key, r) in keys.iter().zip(results) {
        if let Err(s) = r {
            return Err(CliError::rpc(format!("import: row \"{}\"", escape(key, true)), &s));
        }
    }
    Ok(())
}

/// Imports `file` into `t`; returns the rows and cells written.
async fn import(t: &Table, file: &Path, family: Option<&str>, batch_rows: usize) -> Result<(u64, u64)> {
    let name = file.display().to_string();
    let (input, total): (Box<dyn BufRead>, Option<u64>) = if file == Path::new("-") {
        (Box::new(BufReader::new(std::io::stdin())), None)
    } else {
        let f = File::open(file).map_err(|e| CliError::Failed(format!("{name}: {e}")))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(BufReader::new(f)), len)
    };
    let mut reader = csv::Reader::new(input);
    let header = reader
        .next_record()
        .map_err(|e| CliError::Failed(format!("{name}: {e}")))?
        .ok_or_else(|| CliError::Failed(format!("{name}: empty; expected a header row,family:column,...")))?;
    let columns = header
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, f)| header_column(&name, i, &f.text, family))
        .collect::<Result<Vec<_>>>()?;
    if columns.is_empty() {
        return Err(CliError::Failed(format!("{name}: the header names no column after the row key")));
    }
    let bar = progress(total, &format!("importing {name}"));
    let (mut rows, mut cells) = (0u64, 0u64);
    let mut batch = Vec::new();
    while let Some(rec) = reader.next_record().map_err(|e| CliError::Failed(format!("{name}: {e}")))? {
        let line = reader.record_line();
        let bad = |why: String| CliError::Failed(format!("{name}: line {line}: {why}"));
        if rec.len() != header.len() {
            return Err(bad(format!("{} fields, but the header has {}", rec.len(), header.len())));
        }
        let mut fields = rec.into_iter();
        let key = fields.next().map(|f| f.text).unwrap_or_default();
        let key = unescape(&key).map_err(|e| bad(format!("row key: {e}")))?;
        if key.is_empty() {
            return Err(bad("empty row key".into()));
        }
        let mut muts = Vec::new();
        for (f, (fam, qual)) in fields.zip(&columns) {
            if f.text.is_empty() && !f.quoted {
                continue;
            }
            let value = unescape(&f.text).map_err(|e| bad(format!("column {fam}:{}: {e}", escape(qual, false))))?;
            muts.push(mutation::set_cell(fam, qual, -1, &value));
        }
        if muts.is_empty() {
            continue;
        }
        rows += 1;
        cells += muts.len() as u64;
        batch.push((key, muts));
        if batch.len() >= batch_rows {
            flush_batch(t, &mut batch).await?;
        }
        match total {
            Some(_) => bar.set_position(reader.bytes()),
            None => bar.inc(1),
        }
    }
    flush_batch(t, &mut batch).await?;
    bar.finish_and_clear();
    Ok((rows, cells))
}

/// Exports `t` to `file`; returns the rows and columns written.
async fn export(t: &Table, file: &Path) -> Result<(u64, usize)> {
    let name = file.display().to_string();
    let table = t.name().to_string();
    let bar = progress(None, &format!("exporting to {name}"));
    // Pass 1: the columns (names only). Pass 2: the newest value of each.
    let mut columns: BTreeSet<(String, Vec<u8>)> = BTreeSet::new();
    let f = filter::chain([filter::latest(1), filter::strip_value()]);
    let mut reader = t.read_rows(rows::all(), Some(f), None);
    while let Some(r) = reader.next_row().await.map_err(|e| CliError::client(format!("export {table}"), e))? {
        for fam in &r.families {
            for c in &fam.columns {
                columns.insert((fam.name.clone(), c.qualifier.clone()));
            }
        }
    }
    let index: BTreeMap<&(String, Vec<u8>), usize> = columns.iter().enumerate().map(|(i, c)| (c, i)).collect();
    let sink: Box<dyn Write> = if file == Path::new("-") {
        Box::new(std::io::stdout())
    } else {
        Box::new(File::create(file).map_err(|e| CliError::Failed(format!("{name}: {e}")))?)
    };
    let mut w = BufWriter::new(sink);
    let io = |e: std::io::Error| CliError::Failed(format!("{name}: {e}"));
    let mut header = vec![csv::field(Some("row"))];
    header.extend(columns.iter().map(|(f, q)| csv::field(Some(&format!("{f}:{}", escape(q, false))))));
    csv::write_record(&mut w, &header).map_err(io)?;
    let mut reader = t.read_rows(rows::all(), Some(filter::latest(1)), None);
    let (mut n, mut skipped) = (0u64, 0u64);
    while let Some(r) = reader.next_row().await.map_err(|e| CliError::client(format!("export {table}"), e))? {
        let mut values: Vec<Option<String>> = vec![None; columns.len()];
        for fam in &r.families {
            for c in &fam.columns {
                let (Some(cell), Some(&i)) = (c.cells.first(), index.get(&(fam.name.clone(), c.qualifier.clone())))
                else {
                    skipped += 1;
                    continue;
                };
                if let Some(v) = values.get_mut(i) {
                    *v = Some(escape(&cell.value, false));
                }
            }
        }
        let mut fields = vec![csv::field(Some(&escape(&r.key, false)))];
        fields.extend(values.iter().map(|v| csv::field(v.as_deref())));
        csv::write_record(&mut w, &fields).map_err(io)?;
        n += 1;
        bar.inc(1);
    }
    w.flush().map_err(io)?;
    bar.finish_and_clear();
    if skipped > 0 {
        eprintln!("note: {skipped} cells of columns created during the export were left out");
    }
    Ok((n, columns.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tablet::proto::bigtable::row_filter::Filter;

    #[test]
    fn filters_of_columns_and_versions() {
        assert_eq!(read_filter(&[], None), None);
        let one = ColumnSpec { family: "cf".into(), qualifier: Some(b"q".to_vec()) };
        assert_eq!(read_filter(std::slice::from_ref(&one), None), Some(filter::column_range("cf", b"q", b"q\x00")));
        let fam = ColumnSpec { family: "meta".into(), qualifier: None };
        let both = read_filter(&[one, fam], Some(2)).unwrap();
        let Some(Filter::Chain(chain)) = both.filter else { panic!("a chain: {both:?}") };
        assert!(matches!(chain.filters[0].filter, Some(Filter::Interleave(ref i)) if i.filters.len() == 2));
        assert_eq!(chain.filters[1], filter::latest(2));
    }

    #[test]
    fn errors_print_the_code_name() {
        let e = CliError::rpc("ls t", &tonic::Status::not_found("table t"));
        assert_eq!(e.to_string(), "ls t: NOT_FOUND: table t");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(CliError::Usage(UsageError("x".into())).exit_code(), 2);
    }

    #[test]
    fn header_columns() {
        assert_eq!(header_column("f", 1, "cf:a\\x00", None).unwrap(), ("cf".to_string(), b"a\x00".to_vec()));
        assert_eq!(header_column("f", 1, "a:b", Some("x")).unwrap(), ("a".to_string(), b"b".to_vec()));
        assert_eq!(header_column("f", 1, "col", Some("x")).unwrap(), ("x".to_string(), b"col".to_vec()));
        let e = header_column("f.csv", 2, "col", None).unwrap_err().to_string();
        assert_eq!(e, "f.csv: header column 3: \"col\": no family; write family:column, or give family=NAME");
        assert!(header_column("f", 1, "b@d:x", None).is_err());
    }
}
