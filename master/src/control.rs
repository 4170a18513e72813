//! `bt.internal.v1.MasterControl`, served to tablet servers and clients: lease renewal,
//! split reports, tablet locations, the cluster's status.

use prost_types::Duration as PbDuration;
use tablet::proto::bt::internal::v1::master_control_server::MasterControl;
use tablet::proto::bt::internal::v1::{
    ClusterStatusRequest, ClusterStatusResponse, LocateTabletsRequest, LocateTabletsResponse, RenewLeaseRequest,
    RenewLeaseResponse, ReportSplitRequest, ReportSplitResponse, TabletLocation,
};
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::leases::Report;
use crate::master::Master;
use crate::names;
use crate::state::{descriptor, Assignment, SplitOutcome, SplitSource};

/// The control service over a [`Master`].
#[derive(Debug, Clone)]
pub struct ControlService {
    master: Master,
}

impl ControlService {
    /// The service of `master`.
    pub fn new(master: Master) -> Self {
        ControlService { master }
    }

    fn renew(&self, req: &RenewLeaseRequest) -> Result<RenewLeaseResponse> {
        let now = self.master.now_ms();
        let (new, lease_ms) = {
            let mut core = self.master.core();
            let new = core.servers.renew(&req.server_id, &req.address, Some(Report::new(now, &req.tablets)), now)?;
            (new, core.timing.lease_ms)
        };
        if new {
            info!(server = %req.server_id, address = %req.address, tablets = req.tablets.len(), "tablet server registered");
            self.master.wake();
        }
        let lease = PbDuration {
            seconds: i64::try_from(lease_ms / 1000).unwrap_or(i64::MAX),
            nanos: i32::try_from((lease_ms % 1000) * 1_000_000).unwrap_or(0),
        };
        Ok(RenewLeaseResponse { lease: Some(lease) })
    }

    fn report_split(&self, req: &ReportSplitRequest) -> Result<ReportSplitResponse> {
        let now = self.master.now_ms();
        let outcome = self.master.core().record_split(req, SplitSource::Reported, now)?;
        let parent = req.parent.as_ref().map(|p| format!("{}/{}", p.table_id, p.tablet_id)).unwrap_or_default();
        match &outcome {
            SplitOutcome::Recorded => {
                info!(%parent, server = %req.server_id, "split recorded");
                self.master.wake();
            }
            SplitOutcome::AlreadyRecorded => info!(%parent, "split reported again"),
            SplitOutcome::Refused(why) => warn!(%parent, server = %req.server_id, reason = %why, "split refused"),
        }
        Ok(ReportSplitResponse { accepted: !matches!(outcome, SplitOutcome::Refused(_)) })
    }

    fn locate(&self, req: &LocateTabletsRequest) -> Result<LocateTabletsResponse> {
        names::parse_table_name(&req.table_name)?;
        if !req.end_key.is_empty() && req.end_key <= req.start_key {
            return Err(Error::invalid("end_key must be empty or after start_key"));
        }
        let core = self.master.core();
        let map = core.state.map();
        let table = map.table(&req.table_name).ok_or_else(|| Error::NotFound(format!("table {}", req.table_name)))?;
        let tablets = map
            .tablets_in_range(&table.table_id, &req.start_key, &req.end_key)
            .map(|t| TabletLocation {
                tablet: Some(descriptor(t, &table.name)),
                address: if t.assignment() == Assignment::Serving { t.address.clone() } else { String::new() },
            })
            .collect();
        Ok(LocateTabletsResponse { tablets, families: table.families.clone() })
    }
}

#[tonic::async_trait]
impl MasterControl for ControlService {
    async fn renew_lease(&self, request: Request<RenewLeaseRequest>) -> Result<Response<RenewLeaseResponse>, Status> {
        Ok(Response::new(self.renew(request.get_ref())?))
    }

    async fn report_split(
        &self,
        request: Request<ReportSplitRequest>,
    ) -> Result<Response<ReportSplitResponse>, Status> {
        Ok(Response::new(ControlService::report_split(self, request.get_ref())?))
    }

    async fn locate_tablets(
        &self,
        request: Request<LocateTabletsRequest>,
    ) -> Result<Response<LocateTabletsResponse>, Status> {
        Ok(Response::new(self.locate(request.get_ref())?))
    }

    async fn cluster_status(
        &self,
        _request: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        let now = self.master.now_ms();
        let core = self.master.core();
        Ok(Response::new(crate::cluster_status::cluster_status(core.state.map(), &core.servers, &core.timing, now)))
    }
}
