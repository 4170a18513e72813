//! The gateway: Google's `google.bigtable.v2.Bigtable` and
//! `google.bigtable.admin.v2.BigtableTableAdmin` on one port, so that an unmodified
//! official client (`BIGTABLE_EMULATOR_HOST=host:port`) can use the cluster
//! (docs/gateway.md).
//!
//! ```text
//!  official client ──Bigtable──> gateway ──(tablet::client: locate, route, retry)──> tablet servers
//!                  ──Admin────>          ──(forwarded as is)──────────────────────> master
//! ```
//!
//! - [`data`]: the data RPCs, each routed by a [`tablet::client::Client`] that locates
//!   tablets through the master and caches them. A read spanning tablets is the tablet
//!   servers' own whole-row messages passed on tablet after tablet ([`ReadPath::Forward`]),
//!   or rows decoded and encoded again ([`ReadPath::Reencode`], kept for comparison).
//! - [`coalesce`]: concurrent single-row writes of a table combined into bulk calls to the
//!   tablet servers (each caller still gets its own answer).
//! - [`admin`]: every admin RPC forwarded to the master unchanged; failures to reach it are
//!   `UNAVAILABLE`.
//!
//! Stateless: the only state is the location cache (soft: a "not serving" answer refreshes
//! it), so any number of gateways may serve one cluster. [`serve`] runs one on a listener
//! until its shutdown future completes (tests bind port 0).

pub mod admin;
pub mod coalesce;
pub mod data;

use std::future::Future;
use std::time::Duration;

use tablet::client::{Client, ClientOptions};
use tablet::proto::admin::bigtable_table_admin_client::BigtableTableAdminClient;
use tablet::proto::admin::bigtable_table_admin_server::BigtableTableAdminServer;
use tablet::proto::bigtable::bigtable_server::BigtableServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Endpoint;
use tracing::info;

use crate::error::{Error, Result};

/// How ReadRows answers travel through the gateway.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadPath {
    /// The tablet servers' messages are passed on as they are (each holds whole rows);
    /// the gateway only counts rows for `rows_limit` and resumption. The default.
    #[default]
    Forward,
    /// Rows are decoded (`ChunkMerger`) and encoded again (`ChunkEncoder`).
    Reencode,
}

impl std::str::FromStr for ReadPath {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<ReadPath, String> {
        match s {
            "forward" => Ok(ReadPath::Forward),
            "reencode" => Ok(ReadPath::Reencode),
            other => Err(format!("unknown read path {other:?}: use forward or reencode")),
        }
    }
}

/// What a gateway needs to run.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The master's `host:port` (admin API and tablet locations).
    pub master: String,
    /// Routing and retry settings of the data path (`retry_deadline` bounds how long a
    /// request follows moving tablets before it fails with the last error).
    pub client: ClientOptions,
    /// How ReadRows answers are passed on.
    pub read_path: ReadPath,
    /// Concurrent `MutateRow`s of a table are combined into `MutateRows`, with at most
    /// this many bulk calls per table under way ([`coalesce`]); 0 sends every call on
    /// alone.
    pub coalesce_flights: usize,
    /// Largest gRPC message accepted or sent, either direction.
    pub max_message_bytes: usize,
    /// After the shutdown signal, how long calls in flight may go on before the
    /// connections are closed (official clients keep idle connections open, so waiting for
    /// them to go away could take for ever).
    pub shutdown_grace: Duration,
}

impl GatewayConfig {
    /// Defaults for a gateway in front of the master at `master`.
    pub fn new(master: impl Into<String>) -> GatewayConfig {
        GatewayConfig {
            master: master.into(),
            client: ClientOptions::default(),
            read_path: ReadPath::Forward,
            coalesce_flights: 1,
            max_message_bytes: 256 << 20,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// Serves the gateway on `listener` until `shutdown` completes; then stops accepting,
/// gives the calls in flight `config.shutdown_grace`, and returns.
pub async fn serve(config: GatewayConfig, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<()> {
    let addr = listener.local_addr().map_err(|e| Error::Unavailable(format!("listener: {e}")))?;
    let client = Client::connect_master_with(&config.master, config.client.clone())
        .map_err(|e| Error::invalid(format!("--master {}: {e}", config.master)))?;
    // Admin calls go to the first master listed (a standby answers UNAVAILABLE until it
    // takes over; data calls locate tablets through whichever master answers).
    let admin_master = config.master.split(',').next().unwrap_or_default().trim().to_string();
    let uri = if admin_master.contains("://") { admin_master } else { format!("http://{admin_master}") };
    let channel = Endpoint::from_shared(uri)
        .map_err(|e| Error::invalid(format!("--master {}: {e}", config.master)))?
        .connect_timeout(config.client.connect_timeout)
        .tcp_nodelay(true)
        .connect_lazy();
    let max = config.max_message_bytes;
    let master_admin =
        BigtableTableAdminClient::new(channel).max_decoding_message_size(max).max_encoding_message_size(max);
    let data =
        BigtableServer::new(data::DataService::new(client, config.read_path).with_coalescing(config.coalesce_flights))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
    let admin = BigtableTableAdminServer::new(admin::AdminProxy::new(master_admin))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    info!(%addr, master = %config.master, read_path = ?config.read_path, coalesce_flights = config.coalesce_flights, "gateway serving");
    let (drain_tx, drain_rx) = oneshot::channel::<()>();
    let mut server = tokio::spawn(
        tonic::transport::Server::builder().add_service(data).add_service(admin).serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async {
                let _ = drain_rx.await;
            },
        ),
    );
    let result = tokio::select! {
        r = &mut server => r,
        _ = shutdown => {
            info!("shutting down");
            let _ = drain_tx.send(());
            match tokio::time::timeout(config.shutdown_grace, &mut server).await {
                Ok(r) => r,
                Err(_) => {
                    info!("connections still open after the grace period; closing them");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    info!("gateway stopped");
    match result {
        Ok(r) => r.map_err(|e| Error::Unavailable(format!("gRPC server: {e}"))),
        Err(e) => Err(Error::Unavailable(format!("gRPC server task: {e}"))),
    }
}
