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
//! Tablets with a load in flight are left alone, and so are tablets the balancer is
//! moving off a live server (rule 3 would undo the move; [`crate::balance`] drives it).

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
            // A tablet the balancer is moving away from its live server is left to the
            // move ([`crate::balance::progress`]): its server may have unloaded it already.
            Some(_) if t.moving_to().is_some() => {}
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
                    actions.push(Action::Assign {
                        tablet: key,
                        server_id: id.to_string(),
                        epoch: t.epoch.saturating_add(1),
                    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leases::{Held, Report};
    use crate::state::{Change, TableRecord, TabletRecord};
    use tablet::proto::bt::internal::v1::TabletState;

    const T: Timing = Timing { lease_ms: 1000, margin_ms: 500 };

    fn key(tablet: &str) -> TabletKey {
        ("t1".to_string(), tablet.to_string())
    }

    /// A table `t1` with tablets `a` [, m) and `b` [m, ), as given.
    fn map(tablets: &[(&str, u64, Option<&str>, Assignment)]) -> MasterMap {
        let mut m = MasterMap::new();
        m.apply(Change::PutTable(TableRecord {
            name: "projects/p/instances/i/tables/x".into(),
            table_id: "t1".into(),
            ..Default::default()
        }));
        for (i, (id, epoch, holder, state)) in tablets.iter().enumerate() {
            let (start, end): (&[u8], &[u8]) = if i == 0 { (b"", b"m") } else { (b"m", b"") };
            let mut t = TabletRecord {
                table_id: "t1".into(),
                tablet_id: id.to_string(),
                start_key: start.to_vec(),
                end_key: end.to_vec(),
                epoch: *epoch,
                ..Default::default()
            };
            t.set_holder(holder.map(|h| (h, "addr")), *state);
            m.apply(Change::PutTablet(t));
        }
        m
    }

    fn report(at_ms: u64, held: &[(&str, u64)]) -> Report {
        Report {
            at_ms,
            tablets: held
                .iter()
                .map(|(t, e)| (key(t), Held { epoch: *e, state: TabletState::Serving as i32, size_bytes: 0 }))
                .collect(),
        }
    }

    fn run(map: &MasterMap, servers: &ServerTable, now_ms: u64) -> Vec<Action> {
        plan(&PlanInput { map, servers, in_flight: &HashSet::new(), confirmed_at: &HashMap::new(), now_ms, timing: T })
    }

    #[test]
    fn unassigned_tablets_go_to_the_least_loaded_server_at_the_next_epoch() {
        let m = map(&[("a", 0, None, Assignment::Unassigned), ("b", 4, None, Assignment::Unassigned)]);
        let mut s = ServerTable::new();
        s.renew("s2", "h:2", None, 0).unwrap();
        s.renew("s1", "h:1", None, 0).unwrap();
        assert_eq!(
            run(&m, &s, 10),
            [
                Action::Assign { tablet: key("a"), server_id: "s1".into(), epoch: 1 },
                Action::Assign { tablet: key("b"), server_id: "s2".into(), epoch: 5 },
            ]
        );
        // No server: nothing to do.
        assert!(run(&m, &ServerTable::new(), 10).is_empty());
        // A tablet with a load in flight is left alone.
        let in_flight: HashSet<TabletKey> = [key("a")].into();
        let actions = plan(&PlanInput {
            map: &m,
            servers: &s,
            in_flight: &in_flight,
            confirmed_at: &HashMap::new(),
            now_ms: 10,
            timing: T,
        });
        assert_eq!(actions, [Action::Assign { tablet: key("b"), server_id: "s1".into(), epoch: 5 }]);
    }

    #[test]
    fn a_dead_servers_tablets_move_only_after_lease_plus_margin() {
        let m = map(&[("a", 3, Some("s1"), Assignment::Serving), ("b", 7, Some("s2"), Assignment::Serving)]);
        let mut s = ServerTable::new();
        s.renew("s1", "h:1", Some(report(0, &[("a", 3)])), 0).unwrap();
        s.renew("s2", "h:2", Some(report(0, &[("b", 7)])), 0).unwrap();
        // s2 keeps renewing; s1 falls silent at 0.
        s.renew("s2", "h:2", Some(report(1400, &[("b", 7)])), 1400).unwrap();
        // Past its lease but within the margin: s1 keeps its tablet, and gets no new one.
        assert!(run(&m, &s, 1500).is_empty());
        // Past lease + margin: declared dead, its tablet goes to s2 at epoch + 1.
        assert_eq!(
            run(&m, &s, 1501),
            [
                Action::DeclareDead { server_id: "s1".into() },
                Action::Assign { tablet: key("a"), server_id: "s2".into(), epoch: 4 },
            ]
        );
        // Once declared, it is not declared again.
        s.mark_dead("s1");
        assert_eq!(run(&m, &s, 1600), [Action::Assign { tablet: key("a"), server_id: "s2".into(), epoch: 4 }]);
        // If every server is silent, nothing is assigned to anyone.
        assert_eq!(run(&m, &s, 5000), [Action::DeclareDead { server_id: "s2".into() }]);
    }

    #[test]
    fn a_stale_epoch_is_neither_adopted_nor_left_serving() {
        // The map says `a` is at epoch 5 on s2; s1 still reports it at epoch 4.
        let m = map(&[("a", 5, Some("s2"), Assignment::Serving), ("b", 1, Some("s2"), Assignment::Serving)]);
        let mut s = ServerTable::new();
        s.renew("s1", "h:1", Some(report(10, &[("a", 4)])), 10).unwrap();
        s.renew("s2", "h:2", Some(report(10, &[("a", 5), ("b", 1)])), 10).unwrap();
        let confirmed: HashMap<TabletKey, u64> = [(key("a"), 20), (key("b"), 20)].into();
        let actions = plan(&PlanInput {
            map: &m,
            servers: &s,
            in_flight: &HashSet::new(),
            confirmed_at: &confirmed,
            now_ms: 30,
            timing: T,
        });
        assert_eq!(actions, [Action::Unload { server_id: "s1".into(), tablet: key("a"), epoch: 4 }]);
        // A tablet of a deleted table is unloaded; an unknown tablet of a live table (a split
        // child whose report is on its way) is not.
        let mut s = ServerTable::new();
        let mut r = report(10, &[("a", 5), ("b", 1), ("a-l5", 5)]);
        r.tablets
            .insert(("t9".into(), "x".into()), Held { epoch: 2, state: TabletState::Serving as i32, size_bytes: 0 });
        s.renew("s2", "h:2", Some(r), 10).unwrap();
        let actions = plan(&PlanInput {
            map: &m,
            servers: &s,
            in_flight: &HashSet::new(),
            confirmed_at: &confirmed,
            now_ms: 30,
            timing: T,
        });
        assert_eq!(actions, [Action::Unload { server_id: "s2".into(), tablet: ("t9".into(), "x".into()), epoch: 2 }]);
    }

    #[test]
    fn split_children_stay_with_a_live_splitter_and_unassigned_ones_are_assigned() {
        // After a split recorded from a live server, the children are Serving there.
        let m = map(&[("a-l3", 3, Some("s1"), Assignment::Serving), ("a-r3", 3, Some("s1"), Assignment::Serving)]);
        let mut s = ServerTable::new();
        s.renew("s1", "h:1", Some(report(10, &[("a-l3", 3), ("a-r3", 3)])), 10).unwrap();
        assert!(run(&m, &s, 20).is_empty());
        // Found on a later load after the splitter died: unassigned at the split's epoch,
        // then assigned at the next one, spread over the servers.
        let m = map(&[("a-l3", 3, None, Assignment::Unassigned), ("a-r3", 3, None, Assignment::Unassigned)]);
        let mut s = ServerTable::new();
        s.renew("s1", "h:1", Some(report(10, &[])), 10).unwrap();
        s.renew("s2", "h:2", None, 10).unwrap();
        assert_eq!(
            run(&m, &s, 20),
            [
                Action::Assign { tablet: key("a-l3"), server_id: "s1".into(), epoch: 4 },
                Action::Assign { tablet: key("a-r3"), server_id: "s2".into(), epoch: 4 },
            ]
        );
    }

    #[test]
    fn after_fail_over_what_live_servers_hold_is_adopted_not_reassigned() {
        // The new master's map: `a` was loading on s1 at epoch 2 (the old master died before
        // the answer), `b` serving on s9 which is gone.
        let m = map(&[("a", 2, Some("s1"), Assignment::Loading), ("b", 6, Some("s9"), Assignment::Serving)]);
        let mut s = ServerTable::new();
        // Recovery presumed both recorded servers heard at 100; s1 answered Status holding
        // `a` at epoch 2; a new server s3 registered.
        s.presume("s1", "h:1", 100);
        s.presume("s9", "h:9", 100);
        s.record_status("s1", "h:1", report(100, &[("a", 2)]));
        s.renew("s3", "h:3", Some(report(100, &[])), 100).unwrap();
        assert_eq!(run(&m, &s, 120), [Action::Adopt { tablet: key("a"), server_id: "s1".into(), epoch: 2 }]);
        // s9 may still hold a lease from the old master: `b` moves only after a whole
        // lease + margin of silence.
        s.renew("s1", "h:1", Some(report(1600, &[("a", 2)])), 1600).unwrap();
        s.renew("s3", "h:3", Some(report(1600, &[])), 1600).unwrap();
        // (The map still says "loading" because this test does not apply the adoption.)
        assert_eq!(
            run(&m, &s, 1601),
            [
                Action::DeclareDead { server_id: "s9".into() },
                Action::Adopt { tablet: key("a"), server_id: "s1".into(), epoch: 2 },
                Action::Assign { tablet: key("b"), server_id: "s3".into(), epoch: 7 },
            ]
        );
    }

    #[test]
    fn a_tablet_missing_from_a_later_report_is_reloaded_at_the_same_epoch() {
        let m = map(&[("a", 2, Some("s1"), Assignment::Serving), ("b", 2, Some("s1"), Assignment::Loading)]);
        let mut s = ServerTable::new();
        s.renew("s1", "h:1", Some(report(50, &[])), 50).unwrap();
        // `a` confirmed at 40, report at 50 lacks it: reload; `b` loading, no RPC in
        // flight: reload.
        let confirmed: HashMap<TabletKey, u64> = [(key("a"), 40)].into();
        let actions = plan(&PlanInput {
            map: &m,
            servers: &s,
            in_flight: &HashSet::new(),
            confirmed_at: &confirmed,
            now_ms: 60,
            timing: T,
        });
        assert_eq!(
            actions,
            [
                Action::Reload { tablet: key("a"), server_id: "s1".into(), epoch: 2 },
                Action::Reload { tablet: key("b"), server_id: "s1".into(), epoch: 2 },
            ]
        );
        // A report older than the confirmation says nothing about `a`.
        let confirmed: HashMap<TabletKey, u64> = [(key("a"), 55)].into();
        let actions = plan(&PlanInput {
            map: &m,
            servers: &s,
            in_flight: &HashSet::new(),
            confirmed_at: &confirmed,
            now_ms: 60,
            timing: T,
        });
        assert_eq!(actions, [Action::Reload { tablet: key("b"), server_id: "s1".into(), epoch: 2 }]);
    }
}
