//! Lease bookkeeping: the tablet servers the master has heard from, when, and what they
//! said they hold (docs/cluster.md, "Leases").
//!
//! Times are readings of the master's monotonic [`crate::clock::Clock`] taken when a
//! renewal is *received*. A server is
//!
//! - **eligible** for new tablets while `now <= last_heard + lease`;
//! - **live** (its tablets stay with it) while `now <= last_heard + lease + margin`;
//! - **dead** once declared so (by the assignment plan, after that): its renewals are
//!   refused from then on and its tablets go elsewhere at a higher epoch.
//!
//! The server's own lease ends at `t_send + lease` on its clock, before the master could
//! think it dead, so by the time the master reassigns a tablet its old server has stopped
//! serving (decision 5).

use std::collections::{BTreeMap, HashMap};

use tablet::proto::bt::internal::v1::{TabletState, TabletStatus};

use crate::error::{Error, Result};
use crate::state::TabletKey;

/// Lease length and the master's safety margin, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a granted lease lasts, from the server's send time.
    pub lease_ms: u64,
    /// How much longer the master waits before it declares a silent server dead.
    pub margin_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { lease_ms: 4_000, margin_ms: 2_000 }
    }
}

/// One tablet a server reported holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The epoch it holds the tablet at.
    pub epoch: u64,
    /// Its state there (a `TabletState` value).
    pub state: i32,
    /// Approximate bytes on disk, as the server reported them (0: not reported).
    pub size_bytes: u64,
}

impl Held {
    /// True when the server holds the tablet in a way that counts as holding it: loading,
    /// serving or splitting (not while unloading).
    pub fn holds(&self) -> bool {
        self.state != TabletState::Unloading as i32
    }
}

/// What a server last reported holding, and when that report was received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// When the report was received (master clock, ms).
    pub at_ms: u64,
    /// The tablets, by key.
    pub tablets: HashMap<TabletKey, Held>,
}

impl Report {
    /// A report received at `at_ms` listing `tablets` (entries without a descriptor are
    /// skipped).
    pub fn new(at_ms: u64, tablets: &[TabletStatus]) -> Report {
        let tablets = tablets
            .iter()
            .filter_map(|s| {
                let d = s.tablet.as_ref()?;
                Some((
                    (d.table_id.clone(), d.tablet_id.clone()),
                    Held { epoch: d.epoch, state: s.state, size_bytes: s.approximate_size_bytes },
                ))
            })
            .collect();
        Report { at_ms, tablets }
    }
}

/// One server as the master knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `host:port` of its data and control RPCs.
    pub address: String,
    /// When its last granted renewal (or fail-over presumption) was received.
    pub last_heard_ms: u64,
    /// Declared dead: its renewals are refused.
    pub dead: bool,
    /// Its latest report of what it holds.
    pub report: Option<Report>,
}

impl ServerInfo {
    /// Not dead, and heard within `lease + margin`: its tablets stay with it.
    pub fn is_live(&self, now_ms: u64, t: &Timing) -> bool {
        !self.dead && now_ms <= self.last_heard_ms.saturating_add(t.lease_ms).saturating_add(t.margin_ms)
    }

    /// Not dead, and heard within `lease`: it may be given new tablets.
    pub fn is_eligible(&self, now_ms: u64, t: &Timing) -> bool {
        !self.dead && now_ms <= self.last_heard_ms.saturating_add(t.lease_ms)
    }

    /// What it holds of tablet `key`, by its latest report.
    pub fn held(&self, key: &TabletKey) -> Option<Held> {
        self.report.as_ref().and_then(|r| r.tablets.get(key).copied())
    }
}

/// Every server the master has heard of since it started, by server id. Entries are
/// never removed: a dead server stays, so that its renewals keep being refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTable {
    servers: BTreeMap<String, ServerInfo>,
}

impl ServerTable {
    /// An empty table.
    pub fn new() -> Self {
        ServerTable::default()
    }

    /// A renewal from `id` at `address`, received at `now_ms`, reporting `report` (if
    /// given). Returns true when the server is new (or comes back). A server declared
    /// dead is refused with [`Error::FailedPrecondition`] while it reports holding
    /// tablets: it must drop them; once it reports none it registers again as an empty
    /// server.
    pub fn renew(&mut self, id: &str, address: &str, report: Option<Report>, now_ms: u64) -> Result<bool> {
        if id.is_empty() {
            return Err(Error::invalid("renew lease: server_id is empty"));
        }
        if address.is_empty() {
            return Err(Error::invalid(format!("renew lease: server {id:?} gave no address")));
        }
        let holds_nothing = report.as_ref().is_none_or(|r| r.tablets.values().all(|h| !h.holds()));
        match self.servers.get_mut(id) {
            Some(s) if s.dead && !holds_nothing => Err(Error::FailedPrecondition(format!(
                "server {id} was declared dead (its lease ran out); drop all tablets and register again"
            ))),
            Some(s) if s.dead => {
                // It dropped everything: it comes back as an empty server.
                *s = ServerInfo { address: address.to_string(), last_heard_ms: now_ms, dead: false, report };
                Ok(true)
            }
            Some(s) => {
                s.address = address.to_string();
                s.last_heard_ms = s.last_heard_ms.max(now_ms);
                if report.is_some() {
                    s.report = report;
                }
                Ok(false)
            }
            None => {
                let info = ServerInfo { address: address.to_string(), last_heard_ms: now_ms, dead: false, report };
                self.servers.insert(id.to_string(), info);
                Ok(true)
            }
        }
    }

    /// Fail-over: server `id` holds tablets by the state on disk, and may hold a lease the
    /// previous master granted. It is taken as heard at `now_ms`, so it is declared dead
    /// only after a whole `lease + margin` of silence towards this master.
    pub fn presume(&mut self, id: &str, address: &str, now_ms: u64) {
        self.servers.entry(id.to_string()).or_insert_with(|| ServerInfo {
            address: address.to_string(),
            last_heard_ms: now_ms,
            dead: false,
            report: None,
        });
    }

    /// Fail-over: server `id` answered `Status` with `report`. Recorded like a renewal's
    /// report (ignored for a dead server).
    pub fn record_status(&mut self, id: &str, address: &str, report: Report) {
        let now = report.at_ms;
        let s = self.servers.entry(id.to_string()).or_insert_with(|| ServerInfo {
            address: address.to_string(),
            last_heard_ms: now,
            dead: false,
            report: None,
        });
        if !s.dead {
            s.last_heard_ms = s.last_heard_ms.max(now);
            s.report = Some(report);
        }
    }

    /// Declares server `id` dead.
    pub fn mark_dead(&mut self, id: &str) {
        if let Some(s) = self.servers.get_mut(id) {
            s.dead = true;
            s.report = None;
        }
    }

    /// Server `id`.
    pub fn get(&self, id: &str) -> Option<&ServerInfo> {
        self.servers.get(id)
    }

    /// Every server, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ServerInfo)> {
        self.servers.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_eligible_dead() {
        let t = Timing { lease_ms: 100, margin_ms: 50 };
        let mut s = ServerTable::new();
        assert!(s.renew("a", "h:1", None, 1000).unwrap());
        assert!(!s.renew("a", "h:1", None, 1010).unwrap());
        let a = s.get("a").unwrap();
        assert!(a.is_eligible(1110, &t) && !a.is_eligible(1111, &t));
        assert!(a.is_live(1160, &t) && !a.is_live(1161, &t));
        s.mark_dead("a");
        assert!(!s.get("a").unwrap().is_live(1000, &t));
        let holding = Report {
            at_ms: 1200,
            tablets: [(("t".into(), "x".into()), Held { epoch: 1, state: TabletState::Serving as i32, size_bytes: 0 })]
                .into(),
        };
        let e = s.renew("a", "h:1", Some(holding), 1200).unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition(_)), "{e}");
        assert!(s.get("a").unwrap().dead);
        // Having dropped its tablets, it registers again as an empty server.
        assert!(s.renew("a", "h:1", Some(Report { at_ms: 1300, tablets: HashMap::new() }), 1300).unwrap());
        assert!(s.get("a").unwrap().is_eligible(1300, &t));
        assert!(s.renew("", "h:1", None, 1).is_err() && s.renew("b", "", None, 1).is_err());
    }

    #[test]
    fn presumed_servers_keep_their_first_time() {
        let mut s = ServerTable::new();
        s.renew("a", "h:1", None, 500).unwrap();
        s.presume("a", "h:1", 900);
        s.presume("b", "h:2", 900);
        assert_eq!(s.get("a").unwrap().last_heard_ms, 500);
        assert_eq!(s.get("b").unwrap().last_heard_ms, 900);
    }
}
