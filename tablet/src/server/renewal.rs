//! The lease client: registers with the master and renews every `lease / 4`
//! (docs/cluster.md, "Leases").
//!
//! Each renewal reads the monotonic clock *before* it is sent; a granted renewal extends the
//! lease to that reading plus the granted length. The task wakes at the next renewal time
//! or at the lease's end, whichever comes first. When the lease runs out, or the master
//! refuses a renewal with `FAILED_PRECONDITION` (it declared this server dead), the server
//! closes every tablet and registers again under a new server id, as an empty server.
//! Safety never rests on this task being on time: every request checks the lease itself.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tonic::transport::Endpoint;
use tonic::Code;
use tracing::{info, warn};

use super::{new_server_id, Shared};
use crate::proto::bt::internal::v1::master_control_client::MasterControlClient;
use crate::proto::bt::internal::v1::RenewLeaseRequest;

/// How often to try while the server holds no lease (first registration, after a loss).
const UNLEASED_RETRY: Duration = Duration::from_millis(200);
/// How soon to try again (the next master, when there are several) after a failed renewal.
const FAILED_RETRY: Duration = Duration::from_millis(100);

/// A protobuf duration as a std one; `None` when negative or zero.
fn lease_length(d: &prost_types::Duration) -> Option<Duration> {
    let secs = u64::try_from(d.seconds).ok()?;
    let nanos = u32::try_from(d.nanos).ok()?;
    let len = Duration::new(secs, nanos);
    (!len.is_zero()).then_some(len)
}

/// Runs until `stop` turns true. `masters` is one `host:port` or several, comma-separated
/// (an active master and its standbys): renewals go to one of them, and after a failed
/// renewal (no answer, or any error but a refusal) the next one is tried.
pub(crate) async fn run(shared: Arc<Shared>, masters: String, address: String, mut stop: watch::Receiver<bool>) {
    let mut clients = Vec::new();
    for master in masters.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let uri = if master.contains("://") { master.to_string() } else { format!("http://{master}") };
        match Endpoint::from_shared(uri) {
            Ok(e) => clients.push((
                master.to_string(),
                MasterControlClient::new(e.connect_timeout(shared.config.renew_timeout).connect_lazy()),
            )),
            Err(e) => warn!(master = %master, error = %e, "bad master address; it is never asked"),
        }
    }
    if clients.is_empty() {
        warn!(masters = %masters, "no usable master address; the server will never hold a lease");
        return;
    }
    // The master asked next; moves on after a failed renewal.
    let mut current = 0usize;
    let mut interval = UNLEASED_RETRY;
    loop {
        if *stop.borrow() {
            return;
        }
        let n = clients.len();
        let Some((master, client)) = clients.get_mut(current % n) else { return };
        let master = master.clone();
        // Sizes read index blocks: off the executor's threads.
        let s = shared.clone();
        let tablets = tokio::task::spawn_blocking(move || s.tablets.statuses()).await.unwrap_or_default();
        let sent = shared.lease.now();
        let request =
            RenewLeaseRequest { server_id: shared.server_id.lock().clone(), address: address.clone(), tablets };
        let had_lease = shared.lease.remaining().is_some();
        let mut failed = false;
        match tokio::time::timeout(shared.config.renew_timeout, client.renew_lease(request)).await {
            Ok(Ok(resp)) => match resp.into_inner().lease.as_ref().and_then(lease_length) {
                Some(length) => {
                    shared.lease.grant(sent, length);
                    interval = length / 4;
                    if !had_lease {
                        info!(%master, server_id = %shared.server_id.lock(), lease = ?length, "lease granted");
                    }
                }
                None => warn!("the master granted a lease of no length; ignored"),
            },
            Ok(Err(status)) if status.code() == Code::FailedPrecondition => {
                warn!(message = %status.message(), "the master refused the renewal");
                lose(&shared, &address, "renewal refused").await;
                interval = UNLEASED_RETRY;
            }
            Ok(Err(status)) => {
                warn!(%master, code = ?status.code(), message = %status.message(), "lease renewal failed");
                current = current.wrapping_add(1);
                failed = true;
            }
            Err(_) => {
                warn!(%master, timeout = ?shared.config.renew_timeout, "lease renewal timed out");
                current = current.wrapping_add(1);
                failed = true;
            }
        }
        let next = if failed { interval.min(FAILED_RETRY) } else { interval };
        let wait = match shared.lease.remaining() {
            Some(left) if left < next => left,
            Some(_) => next,
            None => UNLEASED_RETRY,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        if shared.lease.remaining() == Some(Duration::ZERO) {
            lose(&shared, &address, "lease expired").await;
            interval = UNLEASED_RETRY;
        }
    }
}

/// Drops the lease and every tablet, and takes a new server id for the next registration.
async fn lose(shared: &Shared, address: &str, why: &str) {
    shared.lease.revoke();
    warn!(why, "lease lost: closing every tablet");
    shared.unload_all(why).await;
    *shared.server_id.lock() = new_server_id(address);
}
