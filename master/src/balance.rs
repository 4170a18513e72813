//! Balancing decisions: which tablets to move between live servers, and how a move in
//! progress goes on. Pure functions of a snapshot of the master's state, like
//! [`crate::assign::plan`]; the master applies what they return, records it, and sends the
//! RPCs ([`crate::master`]).
//!
//! ## When and what to move ([`plan_moves`])
//!
//! Only a settled cluster is balanced: every tablet assigned to a server that is eligible
//! (heard within its lease) and has reported what it holds. Each server's load is its
//! tablet count and the bytes its report gives for them (a tablet being moved counts at
//! its destination). With `n` servers, the shares are `count / n` and `bytes / n`. A
//! server is **over its share** when it holds more tablets than the count share rounded
//! up, or (when the cluster holds at least `min_byte_gap` bytes) more than
//! `byte_slack_percent` above the byte share and at least `min_byte_gap` above it.
//!
//! The most loaded server over its share gives a tablet to the least loaded server (load:
//! `count / count_share + bytes / byte_share`). The tablet is the one that most lowers
//! `Σ (count_i / count_share)² + (bytes_i / byte_share)²` over the two servers, and only
//! a tablet that lowers it at all moves. Every move lowers that sum (for the sizes of
//! the moment), so moves cannot chase each other round in circles.
//!
//! Never moved: a tablet with a load in flight, one being moved, one moved, assigned or
//! made by a split within `cooldown_ms`, and one its server does not report serving at its
//! current epoch (loading, splitting or unloading there).
//!
//! Throttle: at most `max_moves_in_flight` moves at once (from the decision until the new
//! server answers the load), and rounds that start moves at least `min_interval_ms` apart.
//!
//! ## A move, step by step ([`progress`])
//!
//! 1. The master records the intent (`TabletRecord.moving_to`, one synced batch), then
//!    sends `UnloadTablet` at the current epoch `E` to the old server, which stops
//!    serving (clients get "not serving" and retry), flushes and closes the tablet.
//! 2. Once the old server has let go (the unload answered OK or "not held", or a report
//!    received after the move began no longer lists the tablet) the tablet is assigned at
//!    `E + 1` to the new server (recorded before `LoadTablet` is sent), which opens the
//!    old epoch's directory by checkpoint and replays the little the flush left.
//! 3. If the new server is no longer eligible by then, the tablet is left unassigned and
//!    the assignment plan places it at `E + 1` on the least loaded server. A move whose
//!    target went away before the unload was sent is cancelled: the tablet stays.
//!
//! A failed unload is sent again after `retry_ms`. A master that fails over in the middle
//! finds `moving_to` in the record and goes on from step 1 (an unload of a tablet that is
//! already unloaded answers "not held"), so the tablet always ends up assigned somewhere.
//! If the old server dies meanwhile, the assignment plan moves its tablets as usual.

use std::collections::{BTreeMap, HashMap, HashSet};

use tablet::proto::bt::internal::v1::TabletState;

use crate::leases::{ServerTable, Timing};
use crate::state::{Assignment, MasterMap, TabletKey};

/// How the balancer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceConfig {
    /// False: never move a tablet off a live server.
    pub enabled: bool,
    /// At most this many moves at once.
    pub max_moves_in_flight: usize,
    /// Rounds that start moves are at least this far apart (master clock, ms).
    pub min_interval_ms: u64,
    /// A tablet moved, assigned or made by a split within this long is not moved (ms).
    pub cooldown_ms: u64,
    /// A server is over its byte share when it holds more than this many percent above it.
    pub byte_slack_percent: u64,
    /// ... and at least this many bytes above it; below this many bytes in the whole
    /// cluster, only tablet counts are balanced.
    pub min_byte_gap: u64,
}

impl Default for BalanceConfig {
    /// Enabled; 2 moves at once; a round every 10 s; a tablet stays 2 minutes after a
    /// move; 25 % and 64 MiB of slack on bytes.
    fn default() -> Self {
        BalanceConfig {
            enabled: true,
            max_moves_in_flight: 2,
            min_interval_ms: 10_000,
            cooldown_ms: 120_000,
            byte_slack_percent: 25,
            min_byte_gap: 64 << 20,
        }
    }
}

/// Everything [`plan_moves`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct BalanceInput<'a> {
    /// Tables and tablets.
    pub map: &'a MasterMap,
    /// Servers, their leases and reports (with sizes).
    pub servers: &'a ServerTable,
    /// Tablets with a `LoadTablet` in flight.
    pub in_flight: &'a HashSet<TabletKey>,
    /// Moves under way (from the decision until the new server answered the load).
    pub moves_in_flight: usize,
    /// When each tablet was last moved, assigned or made by a split (master clock, ms).
    pub last_moved: &'a HashMap<TabletKey, u64>,
    /// When the last round that started moves ran.
    pub last_round_ms: Option<u64>,
    /// Now, on the master's monotonic clock (ms).
    pub now_ms: u64,
    /// Lease and margin.
    pub timing: Timing,
    /// The knobs.
    pub config: &'a BalanceConfig,
}

/// Move `tablet`, held by `from` at `epoch`, to `to` (at `epoch + 1`, once `from` let go).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Move {
    /// The tablet.
    pub tablet: TabletKey,
    /// The server holding it.
    pub from: String,
    /// The server to move it to.
    pub to: String,
    /// Its current epoch.
    pub epoch: u64,
}

/// One server's load while a round is planned.
#[derive(Debug, Clone, Copy, Default)]
struct Load {
    count: u64,
    bytes: u64,
}

/// The shares and the cost of a load against them.
#[derive(Debug, Clone, Copy)]
struct Shares {
    count: f64,
    bytes: f64,
    /// Whether bytes are balanced at all.
    by_bytes: bool,
}

impl Shares {
    fn cost(&self, l: Load) -> f64 {
        let c = l.count as f64 / self.count;
        let b = if self.by_bytes { l.bytes as f64 / self.bytes } else { 0.0 };
        c * c + b * b
    }

    fn score(&self, l: Load) -> f64 {
        let b = if self.by_bytes { l.bytes as f64 / self.bytes } else { 0.0 };
        l.count as f64 / self.count + b
    }
}

/// The moves to start now; see the module documentation for the rules.
pub fn plan_moves(input: &BalanceInput<'_>) -> Vec<Move> {
    let BalanceInput { map, servers, in_flight, moves_in_flight, last_moved, last_round_ms, now_ms, timing, config } =
        *input;
    if !config.enabled || moves_in_flight >= config.max_moves_in_flight {
        return Vec::new();
    }
    if last_round_ms.is_some_and(|l| now_ms < l.saturating_add(config.min_interval_ms)) {
        return Vec::new();
    }
    // Servers that may take tablets and have said what they hold.
    let mut loads: BTreeMap<&str, Load> = servers
        .iter()
        .filter(|(_, s)| s.is_eligible(now_ms, &timing) && s.report.is_some())
        .map(|(id, _)| (id, Load::default()))
        .collect();
    if loads.len() < 2 {
        return Vec::new();
    }
    let size_of =
        |holder: &str, key: &TabletKey| servers.get(holder).and_then(|s| s.held(key)).map_or(0, |h| h.size_bytes);
    for t in map.all_tablets() {
        // Only a settled cluster is balanced: the assignment plan goes first.
        let Some(holder) = t.holder().filter(|h| loads.contains_key(h)) else { return Vec::new() };
        let key = (t.table_id.clone(), t.tablet_id.clone());
        let size = size_of(holder, &key);
        let at = t.moving_to().filter(|to| loads.contains_key(to)).unwrap_or(holder);
        if let Some(l) = loads.get_mut(at) {
            l.count += 1;
            l.bytes = l.bytes.saturating_add(size);
        }
    }
    let total = loads
        .values()
        .fold(Load::default(), |a, l| Load { count: a.count + l.count, bytes: a.bytes.saturating_add(l.bytes) });
    if total.count == 0 {
        return Vec::new();
    }
    let n = loads.len() as f64;
    let shares = Shares {
        count: total.count as f64 / n,
        bytes: total.bytes as f64 / n,
        by_bytes: total.bytes >= config.min_byte_gap && total.bytes > 0,
    };
    let count_limit = total.count.div_ceil(loads.len() as u64);
    let over = |l: Load| {
        let by_count = l.count > count_limit;
        let excess = l.bytes as f64 - shares.bytes;
        let by_bytes = shares.by_bytes
            && l.bytes as f64 * 100.0 > shares.bytes * (100 + config.byte_slack_percent) as f64
            && excess >= config.min_byte_gap as f64;
        by_count || by_bytes
    };

    let mut moves = Vec::new();
    let mut taken: HashSet<TabletKey> = HashSet::new();
    while moves_in_flight + moves.len() < config.max_moves_in_flight {
        // The most loaded server over its share, and the least loaded other one.
        // Ties go to the smallest server id either way.
        let score = |l: &Load| shares.score(*l);
        let Some((&from, &from_load)) = loads
            .iter()
            .filter(|(_, l)| over(**l))
            .max_by(|a, b| score(a.1).total_cmp(&score(b.1)).then_with(|| b.0.cmp(a.0)))
        else {
            break;
        };
        let Some((&to, &to_load)) = loads
            .iter()
            .filter(|(id, _)| **id != from)
            .min_by(|a, b| score(a.1).total_cmp(&score(b.1)).then_with(|| a.0.cmp(b.0)))
        else {
            break;
        };
        let Some(source) = servers.get(from) else { break };
        let before = shares.cost(from_load) + shares.cost(to_load);
        let mut best: Option<(f64, TabletKey, u64, u64)> = None;
        for t in map.all_tablets() {
            if t.holder() != Some(from) || t.assignment() != Assignment::Serving || t.moving_to().is_some() {
                continue;
            }
            let key = (t.table_id.clone(), t.tablet_id.clone());
            let recently = last_moved.get(&key).is_some_and(|&at| now_ms < at.saturating_add(config.cooldown_ms));
            let serving =
                source.held(&key).is_some_and(|h| h.epoch == t.epoch && h.state == TabletState::Serving as i32);
            if in_flight.contains(&key) || taken.contains(&key) || recently || !serving {
                continue;
            }
            let size = size_of(from, &key).min(from_load.bytes);
            let after = shares.cost(Load { count: from_load.count - 1, bytes: from_load.bytes - size })
                + shares.cost(Load { count: to_load.count + 1, bytes: to_load.bytes.saturating_add(size) });
            let gain = before - after;
            if gain > 1e-9 && best.as_ref().is_none_or(|b| gain > b.0) {
                best = Some((gain, key, size, t.epoch));
            }
        }
        let Some((_, key, size, epoch)) = best else { break };
        if let Some(l) = loads.get_mut(from) {
            l.count -= 1;
            l.bytes -= size;
        }
        if let Some(l) = loads.get_mut(to) {
            l.count += 1;
            l.bytes = l.bytes.saturating_add(size);
        }
        taken.insert(key.clone());
        moves.push(Move { tablet: key, from: from.to_string(), to: to.to_string(), epoch });
    }
    moves
}

/// Where the unload of a move stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnloadState {
    /// Not sent by this master (a move found in the state after a fail-over).
    NotSent,
    /// Sent; no answer yet.
    InFlight,
    /// Answered with an error at this time (master clock, ms).
    Failed {
        /// When.
        at_ms: u64,
    },
    /// The old server answered that it no longer holds the tablet.
    Done,
}

/// A move under way, as this master knows it (the durable part is the record's
/// `moving_to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveProgress {
    /// When this master began the move (`None`: found in the state after a fail-over).
    pub started_ms: Option<u64>,
    /// Its unload.
    pub unload: UnloadState,
}

impl MoveProgress {
    /// A move found in the state, nothing sent yet.
    pub const RECOVERED: MoveProgress = MoveProgress { started_ms: None, unload: UnloadState::NotSent };
}

/// The next step of a move.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MoveStep {
    /// (Re)send `UnloadTablet` to the old server.
    Unload {
        /// The tablet.
        tablet: TabletKey,
        /// The server holding it.
        server_id: String,
        /// Its current epoch.
        epoch: u64,
    },
    /// The old server let go: assign the tablet at `epoch` (current + 1) to `to`, or
    /// leave it unassigned for the assignment plan when `to` is `None`.
    Finish {
        /// The tablet.
        tablet: TabletKey,
        /// The new server, if still eligible.
        to: Option<String>,
        /// The new epoch.
        epoch: u64,
    },
    /// Give the move up: the tablet stays where it is.
    Cancel {
        /// The tablet.
        tablet: TabletKey,
    },
}

/// Everything [`progress`] looks at.
#[derive(Debug, Clone, Copy)]
pub struct ProgressInput<'a> {
    /// Tables and tablets (moves are the records with `moving_to`).
    pub map: &'a MasterMap,
    /// Servers, their leases and reports.
    pub servers: &'a ServerTable,
    /// This master's knowledge of each move (missing: [`MoveProgress::RECOVERED`]).
    pub moves: &'a HashMap<TabletKey, MoveProgress>,
    /// Now, on the master's monotonic clock (ms).
    pub now_ms: u64,
    /// Lease and margin.
    pub timing: Timing,
    /// How long after a failed unload it is sent again (ms).
    pub retry_ms: u64,
}

/// The next step of every move under way; see the module documentation.
pub fn progress(input: &ProgressInput<'_>) -> Vec<MoveStep> {
    let ProgressInput { map, servers, moves, now_ms, timing, retry_ms } = *input;
    let mut steps = Vec::new();
    for t in map.all_tablets() {
        let (Some(to), Some(from)) = (t.moving_to(), t.holder()) else { continue };
        let key = (t.table_id.clone(), t.tablet_id.clone());
        // A dead (or silent) old server: the assignment plan moves its tablets.
        let Some(source) = servers.get(from).filter(|s| s.is_live(now_ms, &timing)) else { continue };
        let p = moves.get(&key).copied().unwrap_or(MoveProgress::RECOVERED);
        // Reports from one server arrive in order, and the move began only once a report
        // listed the tablet as served: a later report without it means it is gone.
        let gone_from_report = source.report.as_ref().is_some_and(|r| {
            p.started_ms.is_none_or(|s| r.at_ms > s) && r.tablets.get(&key).is_none_or(|h| h.epoch < t.epoch)
        });
        let target_ok = servers.get(to).is_some_and(|s| s.is_eligible(now_ms, &timing));
        if p.unload == UnloadState::Done || gone_from_report {
            steps.push(MoveStep::Finish {
                tablet: key,
                to: target_ok.then(|| to.to_string()),
                epoch: t.epoch.saturating_add(1),
            });
            continue;
        }
        let send = match p.unload {
            UnloadState::NotSent => true,
            UnloadState::Failed { at_ms } => now_ms >= at_ms.saturating_add(retry_ms),
            UnloadState::InFlight | UnloadState::Done => false,
        };
        if send && !target_ok && p.unload == UnloadState::NotSent {
            steps.push(MoveStep::Cancel { tablet: key });
        } else if send {
            steps.push(MoveStep::Unload { tablet: key, server_id: from.to_string(), epoch: t.epoch });
        }
    }
    steps
}

#[cfg(test)]
mod tests;
