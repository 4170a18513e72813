//! Serving the master over gRPC: both services on one listener, the assignment loop beside
//! them, graceful shutdown (mini-redis style: `serve(listener, shutdown)`, so tests bind
//! port 0).

use std::future::Future;

use tablet::proto::admin::bigtable_table_admin_server::BigtableTableAdminServer;
use tablet::proto::bt::internal::v1::master_control_server::MasterControlServer;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio_stream::wrappers::TcpListenerStream;
use tracing::info;

use crate::admin::AdminService;
use crate::control::ControlService;
use crate::error::{Error, Result};
use crate::master::Master;

/// Serves `master` on `listener` until `shutdown` completes: the admin and control
/// services, and (when configured) recovery followed by the assignment loop. On shutdown,
/// in-flight calls finish, the loop stops, and the state database is closed.
pub async fn serve(master: Master, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<()> {
    let addr = listener.local_addr().map_err(|e| Error::Unavailable(format!("listener: {e}")))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let assigner = tokio::spawn(master.clone().run_loop(stop_rx));
    info!(%addr, "master serving");
    // Graceful shutdown waits for connections to drain, but tablet servers and clients
    // keep idle channels open: after the signal, calls in flight get `shutdown_grace`,
    // then the server is dropped.
    let (drain_tx, drain_rx) = oneshot::channel::<()>();
    let mut server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(BigtableTableAdminServer::new(AdminService::new(master.clone())))
            .add_service(MasterControlServer::new(ControlService::new(master.clone())))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = drain_rx.await;
            }),
    );
    let grace = master.config().shutdown_grace;
    let result = tokio::select! {
        r = &mut server => r,
        _ = shutdown => {
            info!("shutting down");
            let _ = drain_tx.send(());
            match tokio::time::timeout(grace, &mut server).await {
                Ok(r) => r,
                Err(_) => {
                    info!(grace_ms = grace.as_millis() as u64, "connections still open after the grace period; closing them");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    let _ = stop_tx.send(true);
    let _ = assigner.await;
    info!("master stopped serving");
    let closed = master.close();
    info!("master state closed");
    match result {
        Ok(r) => r.map_err(|e| Error::Unavailable(format!("gRPC server: {e}")))?,
        Err(e) => return Err(Error::Unavailable(format!("gRPC server task: {e}"))),
    }
    closed
}
