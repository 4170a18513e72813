//! Tablet assignment decisions: a pure function from a snapshot of the master's state and
//! the servers' leases to a list of [`Action`]s, as the engine's compaction picker is a
//! pure function of a version. The RPC side ([`crate::master`]) applies the actions and
//! sends the RPCs; nothing here does I/O or reads a clock.
//!
//! The rules, in the order [`plan`] applies them:
//!
//! 1. **Dead servers.** A server not heard from for `lease + margin` is declared dead
//!    ([`Action::DeclareDead`]); its tablets count as unassigned from then on.
//! 2. **Adopt.** A tablet that a live server reports holding at the tablet's current
//!    epoch belongs to that server ([`Action::Adopt`]), whatever the record said: after a
//!    fail-over, or when a load's answer was lost. Nothing held at the current epoch is
//!    ever loaded elsewhere.
//! 3. **Reload.** A tablet recorded at a live server, but loading with no RPC in flight,
//!    or missing from a report the server sent after the tablet was confirmed, gets
//!    `LoadTablet` again at the *same* epoch ([`Action::Reload`]; a load is idempotent
//!    for one epoch, and a server that split the tablet answers `completed_split`).
//! 4. **Assign.** An unassigned tablet (or one whose server is dead or unknown) goes to
//!    the eligible server holding the fewest tablets (ties: smallest server id) at
//!    `epoch + 1` ([`Action::Assign`]).
//! 5. **Unload.** A live server reporting a tablet of a table that no longer exists, or
//!    at an epoch older than the tablet's current one (and not recorded there), is told
//!    to unload it ([`Action::Unload`]).
//!
//! Tablets with a load in flight are left alone.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::leases::{ServerTable, Timing};
use crate::state::{Assignment, MasterMap, TabletKey};

/// Everything [`plan`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// Tables and tablets.
    pub map: &'a MasterMap,
    /// Servers, their leases and reports.
    pub servers: &'a ServerTable,
    /// Tablets with a `LoadTablet` in flight.
    pub in_flight: &'a HashSet<TabletKey>,
    /// When each tablet was last confirmed held by its recorded server (a load answered,
    /// an adoption, a split recorded); master clock, ms.
    pub confirmed_at: &'a HashMap<TabletKey, u64>,
    /// Now, on the master's monotonic clock (ms).
    pub now_ms: u64,
    /// Lease and margin.
    pub timing: Timing,
}

/// One decision. The RPC side checks each against the state again before acting on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Declare the server dead: refuse its renewals, unassign its tablets.
    DeclareDead {
        /// The server.
        server_id: String,
    },
    /// Record that `server_id` serves `tablet` at `epoch` (its current epoch).
    Adopt {
        /// The tablet.
        tablet: TabletKey,
        /// The server that reported holding it.
        server_id: String,
        /// The tablet's current epoch.
        epoch: u64,
    },
    /// Send `LoadTablet` again to the recorded server at the current epoch.
    Reload {
        /// The tablet.
        tablet: TabletKey,
        /// Its recorded server.
        server_id: String,
        /// Its current epoch.
        epoch: u64,
    },
    /// Assign `tablet` to `server_id` at `epoch` (current epoch + 1) and load it there.
    Assign {
        /// The tablet.
        tablet: TabletKey,
        /// The chosen server.
        server_id: String,
        /// The new epoch.
        epoch: u64,
    },
    /// Tell `server_id` to unload its copy of `tablet` at `epoch`.
    Unload {
        /// The server.
        server_id: String,
        /// The tablet.
        tablet: TabletKey,
        /// The epoch the server holds it at.
        epoch: u64,
    },
}

/// The actions the state calls for now; see the module documentation for the rules.
pub fn plan(input: &PlanInput<'_>) -> Vec<Action> {
    let PlanInput { map, servers, in_flight, confirmed_at, now_ms, timing } = *input;
    let mut actions = Vec::new();

    // 1. Dead servers; the rest are live or eligible.
    let mut live: BTreeMap<&str, &crate::leases::ServerInfo> = BTreeMap::new();
    for (id, s) in servers.iter() {
        if s.is_live(now_ms, &timing) {
            live.insert(id, s);
        } else if !s.dead {
            actions.push(Action::DeclareDead { server_id: id.to_string() });
        }
    }
    // Tablets per eligible server, for "fewest first".
    let mut load: BTreeMap<&str, usize> =
        live.iter().filter(|(_, s)| s.is_eligible(now_ms, &timing)).map(|(id, _)| (*id, 0)).collect();
    for t in map.all_tablets() {
        if let Some(n) = t.holder().and_then(|h| load.get_mut(h)) {
            *n += 1;
        }
    }

    for t in map.all_tablets() {
        let key: TabletKey = (t.table_id.clone(), t.tablet_id.clone());
        if in_flight.contains(&key) {
            continue;
        }
        // 2. Adopt.
        let holder_now =
            live.iter().find(|(_, s)| s.held(&key).is_some_and(|h| h.holds() && h.epoch == t.epoch && t.epoch > 0));
        if let Some((id, _)) = holder_now {
            if t.holder() != Some(*id) || t.assignment() != Assignment::Serving {
                actions.push(Action::Adopt { tablet: key, server_id: id.to_string(), epoch: t.epoch });
            }
            continue;
        }
        let recorded = t.holder().and_then(|h| live.get_key_value(h));
        match recorded {
            // 3. Reload.
            Some((id, s)) => {
                let lost = t.assignment() == Assignment::Serving
                    && s.report.as_ref().is_some_and(|r| r.at_ms > confirmed_at.get(&key).copied().unwrap_or(0));
                if (t.assignment() == Assignment::Loading || lost) && s.is_eligible(now_ms, &timing) {
                    actions.push(Action::Reload { tablet: key, server_id: id.to_string(), epoch: t.epoch });
                }
            }
            // 4. Assign (unassigned, or its server is dead or unknown).
            None => {
                let target = load.iter().min_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0))).map(|(id, _)| *id);
                if let Some(id) = target {
                    if let Some(n) = load.get_mut(id) {
                        *n += 1;
                    }
                    actions.push(Action::Assign { tablet: key, server_id: id.to_string(), epoch: t.epoch + 1 });
                }
            }
        }
    }

    // 5. Unload stale copies.
    let mut unloads = Vec::new();
    for (id, s) in &live {
        let Some(report) = &s.report else { continue };
        for (key, held) in &report.tablets {
            if !held.holds() {
                continue;
            }
            let stale = match map.tablet(key) {
                Some(t) => t.epoch > held.epoch && t.holder() != Some(*id),
                // A tablet unknown to a table that exists may be a split child whose
                // report is on its way: leave it. One of a deleted table is garbage.
                None => map.table_by_id(&key.0).is_none(),
            };
            if stale {
                unloads.push(Action::Unload { server_id: id.to_string(), tablet: key.clone(), epoch: held.epoch });
            }
        }
    }
    unloads.sort();
    actions.extend(unloads);
    actions
}
