//! `google.bigtable.admin.v2.BigtableTableAdmin`, as the master serves it: CreateTable,
//! GetTable, ListTables, DeleteTable, ModifyColumnFamilies and DropRowRange. Every other
//! method of Google's service answers UNIMPLEMENTED (it is not declared).

use std::collections::BTreeMap;

use tablet::proto::admin::bigtable_table_admin_server::BigtableTableAdmin;
use tablet::proto::admin::drop_row_range_request::Target as AdminTarget;
use tablet::proto::admin::table::{TimestampGranularity, View};
use tablet::proto::admin::{
    CreateTableRequest, DeleteTableRequest, DropRowRangeRequest, GetTableRequest, ListTablesRequest,
    ListTablesResponse, ModifyColumnFamiliesRequest, Table,
};
use tablet::proto::bt::internal::v1::tablet_drop_row_range_request::Target;
use tablet::proto::bt::internal::v1::{TabletDropRowRangeRequest, UnloadTabletRequest, UpdateSchemaRequest};
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::master::Master;
use crate::names;
use crate::rpc;
use crate::schema;
use crate::state::{Assignment, TableRecord};

/// The admin service over a [`Master`].
#[derive(Debug, Clone)]
pub struct AdminService {
    master: Master,
}

impl AdminService {
    /// The service of `master`.
    pub fn new(master: Master) -> Self {
        AdminService { master }
    }
}

/// The admin form of table `t` under `view` (`default` when unspecified).
fn table_view(t: &TableRecord, view: i32, default: View) -> Table {
    let view = match View::try_from(view).unwrap_or(View::Unspecified) {
        View::Unspecified => default,
        v => v,
    };
    let mut out = Table { name: t.name.clone(), ..Default::default() };
    if matches!(view, View::SchemaView | View::Full) {
        out.column_families = schema::families_to_admin(&t.families);
        out.granularity = t.granularity;
        out.deletion_protection = t.deletion_protection;
    }
    out
}

impl AdminService {
    fn create_table(&self, req: CreateTableRequest) -> Result<Table> {
        let instance = names::parse_instance(&req.parent)?;
        names::validate_table_id(&req.table_id)?;
        let name = names::TableName { instance, table: req.table_id.clone() };
        let table = req.table.unwrap_or_default();
        let families =
            table.column_families.iter().map(|(n, cf)| schema::family_from_admin(n, cf)).collect::<Result<Vec<_>>>()?;
        let granularity = match TimestampGranularity::try_from(table.granularity) {
            Ok(TimestampGranularity::Unspecified) => TimestampGranularity::Millis as i32,
            Ok(g) => g as i32,
            Err(_) => return Err(Error::invalid(format!("table.granularity: unknown value {}", table.granularity))),
        };
        let splits = req.initial_splits.into_iter().map(|s| s.key).collect();
        let rec =
            self.master.core().state.create_table(&name, families, granularity, table.deletion_protection, splits)?;
        info!(table = %rec.name, id = %rec.table_id, "table created");
        self.master.wake();
        Ok(table_view(&rec, View::Full as i32, View::Full))
    }

    fn get_table(&self, req: &GetTableRequest) -> Result<Table> {
        names::parse_table_name(&req.name)?;
        let core = self.master.core();
        let t = core.state.map().table(&req.name).ok_or_else(|| Error::NotFound(format!("table {}", req.name)))?;
        Ok(table_view(t, req.view, View::SchemaView))
    }

    fn list_tables(&self, req: &ListTablesRequest) -> Result<ListTablesResponse> {
        let instance = names::parse_instance(&req.parent)?;
        if req.page_size < 0 {
            return Err(Error::invalid(format!("page_size must not be negative, got {}", req.page_size)));
        }
        let prefix = format!("{instance}/tables/");
        let core = self.master.core();
        let limit = if req.page_size == 0 { usize::MAX } else { req.page_size as usize };
        let mut tables: Vec<Table> = core
            .state
            .map()
            .tables()
            .filter(|t| t.name.starts_with(&prefix) && (req.page_token.is_empty() || t.name > req.page_token))
            .take(limit.saturating_add(1))
            .map(|t| table_view(t, req.view, View::NameOnly))
            .collect();
        let mut next_page_token = String::new();
        if tables.len() > limit {
            tables.truncate(limit);
            next_page_token = tables.last().map(|t| t.name.clone()).unwrap_or_default();
        }
        Ok(ListTablesResponse { tables, next_page_token })
    }

    async fn delete_table(&self, req: &DeleteTableRequest) -> Result<()> {
        names::parse_table_name(&req.name)?;
        let (table, tablets) = {
            let mut core = self.master.core();
            let (table, tablets) = core.state.delete_table(&req.name)?;
            core.forget(tablets.iter().map(|t| (t.table_id.clone(), t.tablet_id.clone())));
            (table, tablets)
        };
        info!(table = %table.name, id = %table.table_id, tablets = tablets.len(), "table deleted");
        // Best effort: a server that misses this reports the tablet later, and the
        // assignment loop unloads tablets of tables that no longer exist.
        let timeout = self.master.config().rpc_timeout;
        let mut tasks = Vec::new();
        for t in tablets.into_iter().filter(|t| t.holder().is_some()) {
            let Ok(mut client) = self.master.clients().tablet_control(&t.address) else { continue };
            let req = UnloadTabletRequest { table_id: t.table_id, tablet_id: t.tablet_id, epoch: t.epoch };
            tasks.push(tokio::spawn(async move { client.unload_tablet(rpc::request(req, timeout)).await }));
        }
        for task in tasks {
            if let Ok(Err(s)) = task.await {
                warn!(code = ?s.code(), message = s.message(), "unload of a deleted table's tablet failed");
            }
        }
        Ok(())
    }

    async fn modify_column_families(&self, req: &ModifyColumnFamiliesRequest) -> Result<Table> {
        names::parse_table_name(&req.name)?;
        let (table, holders) = {
            let mut core = self.master.core();
            let Some(old) = core.state.map().table(&req.name) else {
                return Err(Error::NotFound(format!("table {}", req.name)));
            };
            let dropping = req.modifications.iter().any(|m| {
                matches!(
                    m.r#mod,
                    Some(tablet::proto::admin::modify_column_families_request::modification::Mod::Drop(_))
                )
            });
            if dropping && old.deletion_protection {
                return Err(Error::FailedPrecondition(format!(
                    "table {} is protected against deletion: its column families cannot be dropped",
                    req.name
                )));
            }
            let families = schema::apply_modifications(&old.families, &req.modifications)?;
            let table = core.state.set_families(&req.name, families)?;
            let now = self.master.now_ms();
            let timing = core.timing;
            let holders: BTreeMap<String, String> = core
                .state
                .map()
                .tablets_of(&table.table_id)
                .filter_map(|t| t.holder().map(|h| (h.to_string(), t.address.clone())))
                .filter(|(h, _)| core.servers.get(h).is_some_and(|s| s.is_live(now, &timing)))
                .collect();
            (table, holders)
        };
        info!(table = %table.name, families = table.families.len(), servers = holders.len(), "column families changed");
        let timeout = self.master.config().rpc_timeout;
        let mut tasks = Vec::new();
        for (server_id, address) in holders {
            let req = UpdateSchemaRequest { table_name: table.name.clone(), families: table.families.clone() };
            let client = self.master.clients().tablet_control(&address);
            tasks.push((
                server_id,
                tokio::spawn(async move {
                    match client {
                        Ok(mut c) => c.update_schema(rpc::request(req, timeout)).await.map(|_| ()),
                        Err(e) => Err(Status::invalid_argument(e.to_string())),
                    }
                }),
            ));
        }
        for (server_id, task) in tasks {
            let failed = !matches!(task.await, Ok(Ok(())));
            if failed {
                // The change is recorded; the assignment loop pushes it again.
                warn!(server = %server_id, table = %table.name, "schema push failed; will retry");
                self.master.core().schema_pending.insert((server_id, table.name.clone()));
            }
        }
        Ok(table_view(&table, View::Full as i32, View::Full))
    }

    async fn drop_row_range(&self, req: DropRowRangeRequest) -> Result<()> {
        names::parse_table_name(&req.name)?;
        let (prefix, target) = match req.target {
            Some(AdminTarget::RowKeyPrefix(p)) if !p.is_empty() => (p.clone(), Target::RowKeyPrefix(p)),
            Some(AdminTarget::RowKeyPrefix(_)) => return Err(Error::invalid("row_key_prefix must not be empty")),
            Some(AdminTarget::DeleteAllDataFromTable(true)) => (Vec::new(), Target::DeleteAllDataFromTable(true)),
            Some(AdminTarget::DeleteAllDataFromTable(false)) => return Ok(()),
            None => return Err(Error::invalid("one of row_key_prefix or delete_all_data_from_table is required")),
        };
        let end = prefix_end(&prefix);
        let calls = {
            let core = self.master.core();
            let map = core.state.map();
            let table = map.table(&req.name).ok_or_else(|| Error::NotFound(format!("table {}", req.name)))?;
            let mut calls = Vec::new();
            for t in map.tablets_in_range(&table.table_id, &prefix, &end) {
                if t.assignment() != Assignment::Serving {
                    return Err(Error::Unavailable(format!(
                        "tablet {}/{} of table {} is not served right now; retry",
                        t.table_id, t.tablet_id, req.name
                    )));
                }
                let r = TabletDropRowRangeRequest {
                    table_id: t.table_id.clone(),
                    tablet_id: t.tablet_id.clone(),
                    epoch: t.epoch,
                    target: Some(target.clone()),
                };
                calls.push((t.address.clone(), r));
            }
            calls
        };
        let timeout = self.master.config().rpc_timeout;
        let mut tasks = Vec::new();
        for (address, r) in calls {
            let client = self.master.clients().tablet_control(&address);
            tasks.push((
                address,
                tokio::spawn(async move {
                    match client {
                        Ok(mut c) => c.drop_row_range(rpc::request(r, timeout)).await.map(|_| ()),
                        Err(e) => Err(Status::invalid_argument(e.to_string())),
                    }
                }),
            ));
        }
        for (address, task) in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(s)) => return Err(Error::rpc(&address, &s)),
                Err(e) => return Err(Error::Unavailable(format!("drop row range at {address}: {e}"))),
            }
        }
        info!(table = %req.name, prefix = %tablet::keys::escape_for_display(&prefix), "rows dropped");
        Ok(())
    }
}

/// The first key after every key starting with `prefix` (empty: no end).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    Vec::new()
}

#[tonic::async_trait]
impl BigtableTableAdmin for AdminService {
    async fn create_table(&self, request: Request<CreateTableRequest>) -> Result<Response<Table>, Status> {
        Ok(Response::new(AdminService::create_table(self, request.into_inner())?))
    }

    async fn list_tables(&self, request: Request<ListTablesRequest>) -> Result<Response<ListTablesResponse>, Status> {
        Ok(Response::new(AdminService::list_tables(self, request.get_ref())?))
    }

    async fn get_table(&self, request: Request<GetTableRequest>) -> Result<Response<Table>, Status> {
        Ok(Response::new(AdminService::get_table(self, request.get_ref())?))
    }

    async fn delete_table(&self, request: Request<DeleteTableRequest>) -> Result<Response<()>, Status> {
        AdminService::delete_table(self, request.get_ref()).await?;
        Ok(Response::new(()))
    }

    async fn modify_column_families(
        &self,
        request: Request<ModifyColumnFamiliesRequest>,
    ) -> Result<Response<Table>, Status> {
        Ok(Response::new(AdminService::modify_column_families(self, request.get_ref()).await?))
    }

    async fn drop_row_range(&self, request: Request<DropRowRangeRequest>) -> Result<Response<()>, Status> {
        AdminService::drop_row_range(self, request.into_inner()).await?;
        Ok(Response::new(()))
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"abc"), b"abd");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"");
        assert_eq!(prefix_end(b""), b"");
    }
}
