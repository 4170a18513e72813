//! `bt.internal.v1.TabletControl`: what the master asks of a tablet server.
//!
//! - LoadTablet: checks the descriptor (`INVALID_ARGUMENT`), needs a valid lease
//!   (`UNAVAILABLE`), answers `completed_split` when the tablet's SPLIT marker exists,
//!   refuses an epoch older than the one held or found on disk (`FAILED_PRECONDITION`), is a
//!   no-op for the epoch already served, replaces an older held epoch, and refuses a range
//!   overlapping another held tablet (`FAILED_PRECONDITION`).
//! - UnloadTablet: stops accepting requests on the tablet, waits for the ones in flight,
//!   flushes and closes it. `NOT_FOUND` when not held, `FAILED_PRECONDITION` for an older
//!   epoch than the held one.
//! - Status: the server id and every tablet with its state and approximate size.
//! - UpdateSchema: replaces the families of every held tablet of the table (none held:
//!   nothing to do, OK).
//! - DropRowRange: deletes the tablet's rows with a key prefix, or all of them
//!   (`Tablet::drop_row_range`); checks the tablet and epoch as unload does, needs a lease.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::info;

use super::config::parse_table_name;
use super::status::{from_tablet_error, not_serving};
use super::Shared;
use crate::keys::escape_for_display;
use crate::layout;
use crate::proto::bt::internal::v1::tablet_control_server::TabletControl;
use crate::proto::bt::internal::v1::tablet_drop_row_range_request::Target;
use crate::proto::bt::internal::v1::{
    LoadTabletRequest, LoadTabletResponse, StatusRequest, StatusResponse, TabletDescriptor, TabletDropRowRangeRequest,
    TabletDropRowRangeResponse, UnloadTabletRequest, UnloadTabletResponse, UpdateSchemaRequest, UpdateSchemaResponse,
};
use crate::schema::Schema;

/// The control service; see the module docs.
#[derive(Debug)]
pub(crate) struct ControlService {
    shared: Arc<Shared>,
}

impl ControlService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        ControlService { shared }
    }
}

/// Checks a descriptor's fields.
fn check_descriptor(d: &TabletDescriptor) -> Result<(), Status> {
    layout::validate_table_id(&d.table_id)
        .and_then(|()| layout::validate_tablet_id(&d.tablet_id))
        .map_err(|e| from_tablet_error(&e))?;
    parse_table_name(&d.table_name).map_err(|e| Status::invalid_argument(e.to_string()))?;
    if d.epoch == 0 {
        return Err(Status::invalid_argument("tablet epoch must be greater than 0"));
    }
    if !d.end_key.is_empty() && d.end_key <= d.start_key {
        return Err(Status::invalid_argument(format!(
            "tablet range [{}, {}) is empty",
            escape_for_display(&d.start_key),
            escape_for_display(&d.end_key)
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl TabletControl for ControlService {
    async fn load_tablet(&self, request: Request<LoadTabletRequest>) -> Result<Response<LoadTabletResponse>, Status> {
        let req = request.into_inner();
        let desc = req.tablet.ok_or_else(|| Status::invalid_argument("load tablet: no tablet given"))?;
        check_descriptor(&desc)?;
        let schema = Schema::from_proto(&req.families).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if !self.shared.lease.is_valid() {
            return Err(Status::unavailable("this server holds no valid lease; it loads no tablet"));
        }
        let root = self.shared.config.root.clone();
        let fs = self.shared.tablet_options.engine.fs.clone();
        let (table_id, tablet_id) = (desc.table_id.clone(), desc.tablet_id.clone());
        let split =
            tokio::task::spawn_blocking(move || layout::read_split_marker(fs.as_ref(), &root, &table_id, &tablet_id))
                .await
                .map_err(|e| Status::internal(format!("load task failed: {e}")))?
                .map_err(|e| from_tablet_error(&e))?;
        if let Some(split) = split {
            info!(table = %desc.table_name, tablet = %desc.tablet_id, "tablet was already split; not loading it");
            return Ok(Response::new(LoadTabletResponse { completed_split: Some(split) }));
        }
        self.shared.load(desc, schema).await?;
        Ok(Response::new(LoadTabletResponse { completed_split: None }))
    }

    async fn unload_tablet(
        &self,
        request: Request<UnloadTabletRequest>,
    ) -> Result<Response<UnloadTabletResponse>, Status> {
        let req = request.into_inner();
        let held = self.shared.tablets.begin_unload(&req.table_id, &req.tablet_id, req.epoch)?;
        let name = held.name();
        self.shared
            .tablets
            .finish_unload(held)
            .await
            .map_err(|e| Status::internal(format!("tablet {name} was unloaded, but closing it failed: {e}")))?;
        info!(tablet = %name, "tablet unloaded");
        Ok(Response::new(UnloadTabletResponse {}))
    }

    async fn status(&self, _request: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let shared = self.shared.clone();
        let tablets = tokio::task::spawn_blocking(move || shared.tablets.statuses())
            .await
            .map_err(|e| Status::internal(format!("status task failed: {e}")))?;
        Ok(Response::new(StatusResponse { server_id: self.shared.server_id.lock().clone(), tablets }))
    }

    async fn update_schema(
        &self,
        request: Request<UpdateSchemaRequest>,
    ) -> Result<Response<UpdateSchemaResponse>, Status> {
        let req = request.into_inner();
        parse_table_name(&req.table_name).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let schema = Schema::from_proto(&req.families).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let n = self.shared.tablets.set_schema(&req.table_name, &schema);
        info!(table = %req.table_name, tablets = n, "schema updated");
        Ok(Response::new(UpdateSchemaResponse {}))
    }

    async fn drop_row_range(
        &self,
        request: Request<TabletDropRowRangeRequest>,
    ) -> Result<Response<TabletDropRowRangeResponse>, Status> {
        let req = request.into_inner();
        let held = self.shared.tablets.find(&req.table_id, &req.tablet_id).ok_or_else(|| {
            Status::not_found(format!("tablet {}/{} is not held by this server", req.table_id, req.tablet_id))
        })?;
        if req.epoch < held.desc.epoch {
            return Err(Status::failed_precondition(format!(
                "tablet {} is held at epoch {}; the request names the older epoch {}",
                held.name(),
                held.desc.epoch,
                req.epoch
            )));
        }
        let prefix = match req.target {
            Some(Target::RowKeyPrefix(p)) => Some(p),
            Some(Target::DeleteAllDataFromTable(true)) => None,
            Some(Target::DeleteAllDataFromTable(false)) | None => {
                return Err(Status::invalid_argument(
                    "drop row range: no target (row_key_prefix or delete_all_data_from_table = true)",
                ))
            }
        };
        if !self.shared.lease.is_valid() {
            return Err(Status::unavailable("this server holds no valid lease; it drops no rows"));
        }
        let guard = held.enter().ok_or_else(|| not_serving(format!("tablet {} is not serving", held.name())))?;
        let stats = tokio::task::spawn_blocking(move || guard.tablet.drop_row_range(prefix.as_deref()))
            .await
            .map_err(|e| Status::internal(format!("drop task failed: {e}")))?
            .map_err(|e| from_tablet_error(&e))?;
        info!(tablet = %held.name(), rows = stats.rows, cells = stats.cells, "rows dropped");
        Ok(Response::new(TabletDropRowRangeResponse {}))
    }
}
