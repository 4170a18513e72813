//! The admin half of the gateway: every `BigtableTableAdmin` call is sent to the master
//! as it came and its answer returned as it went, status codes included. A failure to
//! reach the master at all (connection refused, reset, timed out) is `UNAVAILABLE`, which
//! official clients retry.

use std::error::Error as _;

use tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient;
use tablet::proto::admin::bigtable_table_admin_server::BigtableTableAdmin;
use tablet::proto::admin::{
    CreateTableRequest, DeleteTableRequest, DropRowRangeRequest, GetTableRequest, ListTablesRequest,
    ListTablesResponse, ModifyColumnFamiliesRequest, Table,
};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use tracing::debug;

/// Forwards the admin API to the master; see the module docs.
#[derive(Debug, Clone)]
pub struct AdminProxy {
    /// One lazily connected channel to the master, shared by every call (cloning it is
    /// cheap; HTTP/2 multiplexes the calls).
    master: BigtableTableAdminClient<Channel>,
}

impl AdminProxy {
    /// A proxy to the master behind `master`.
    pub fn new(master: BigtableTableAdminClient<Channel>) -> Self {
        AdminProxy { master }
    }
}

/// The status to give the caller for the master's answer `s`. A status the master sent
/// carries no error source; one made on this side (the call never got an answer) does,
/// and becomes `UNAVAILABLE`.
pub fn upstream_status(s: Status) -> Status {
    if s.source().is_some() {
        return Status::unavailable(format!("the master cannot be reached: {}", s.message()));
    }
    s
}

/// Logs a forwarded call and turns its answer into the caller's.
fn answer<T>(method: &str, result: Result<Response<T>, Status>) -> Result<Response<T>, Status> {
    debug!(method, ok = result.is_ok(), "admin call forwarded to the master");
    result.map(|r| Response::new(r.into_inner())).map_err(upstream_status)
}

// Each method sends the request's message on as it is (a fresh request: the caller's
// transport metadata stays here) and returns the master's message or status.
#[tonic::async_trait]
impl BigtableTableAdmin for AdminProxy {
    async fn create_table(&self, request: Request<CreateTableRequest>) -> Result<Response<Table>, Status> {
        answer("CreateTable", self.master.clone().create_table(request.into_inner()).await)
    }

    async fn list_tables(&self, request: Request<ListTablesRequest>) -> Result<Response<ListTablesResponse>, Status> {
        answer("ListTables", self.master.clone().list_tables(request.into_inner()).await)
    }

    async fn get_table(&self, request: Request<GetTableRequest>) -> Result<Response<Table>, Status> {
        answer("GetTable", self.master.clone().get_table(request.into_inner()).await)
    }

    async fn delete_table(&self, request: Request<DeleteTableRequest>) -> Result<Response<()>, Status> {
        answer("DeleteTable", self.master.clone().delete_table(request.into_inner()).await)
    }

    async fn modify_column_families(
        &self,
        request: Request<ModifyColumnFamiliesRequest>,
    ) -> Result<Response<Table>, Status> {
        answer("ModifyColumnFamilies", self.master.clone().modify_column_families(request.into_inner()).await)
    }

    async fn drop_row_range(&self, request: Request<DropRowRangeRequest>) -> Result<Response<()>, Status> {
        answer("DropRowRange", self.master.clone().drop_row_range(request.into_inner()).await)
    }
}
