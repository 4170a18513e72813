//! The master's side of `TabletControl`: one lazily connected channel per tablet server
//! address, and a deadline on every call.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tablet::proto::bt::internal::v1::tablet_control_client::TabletControlClient;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Error, Result};

/// Channels to tablet servers, by address. `Send + Sync`.
#[derive(Debug)]
pub struct Clients {
    /// Guards only the map (never held across an await); a channel is cheap to clone.
    channels: Mutex<HashMap<String, Channel>>,
    connect_timeout: Duration,
}

impl Clients {
    /// No channels yet; each connects within `connect_timeout` when first used.
    pub fn new(connect_timeout: Duration) -> Self {
        Clients { channels: Mutex::new(HashMap::new()), connect_timeout }
    }

    /// A `TabletControl` client for the server at `address` (`host:port`).
    pub fn tablet_control(&self, address: &str) -> Result<TabletControlClient<Channel>> {
        let mut channels = self.channels.lock();
        if let Some(c) = channels.get(address) {
            return Ok(TabletControlClient::new(c.clone()));
        }
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| Error::invalid(format!("tablet server address {address:?}: {e}")))?
            .connect_timeout(self.connect_timeout);
        let channel = endpoint.connect_lazy();
        channels.insert(address.to_string(), channel.clone());
        Ok(TabletControlClient::new(channel))
    }
}

/// `msg` as a request with deadline `timeout`.
pub fn request<T>(msg: T, timeout: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(timeout);
    r
}

/// True when a failed call may have failed for reasons that pass (the server is busy,
/// unreachable, or the deadline ran out), so the same call may be tried again; false when
/// the server refused it.
pub fn is_transient(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unknown
            | tonic::Code::Cancelled
            | tonic::Code::Aborted
            | tonic::Code::ResourceExhausted
    )
}
