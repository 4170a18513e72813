//! `MasterControl.ClusterStatus`: the servers with their leases and the tablets each
//! holds with their sizes, as a pure function of the tablet map, the lease table and the
//! time (what `bt status` prints).
//!
//! The tablet map is the authority on who holds what; sizes (and a state such as
//! `SPLITTING`) come from the holder's latest report, and only when it reported the
//! tablet at the epoch the map records.

use tablet::proto::bt::internal::v1::{ClusterStatusResponse, ServerStatus, TabletState, TabletStatus};

use crate::leases::{ServerTable, Timing};
use crate::state::{descriptor, Assignment, MasterMap, TabletRecord};

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The cluster as the master sees it at `now_ms` (its monotonic clock).
pub fn cluster_status(map: &MasterMap, servers: &ServerTable, timing: &Timing, now_ms: u64) -> ClusterStatusResponse {
    let status_of = |t: &TabletRecord| -> TabletStatus {
        let name = map.table_by_id(&t.table_id).map(|tb| tb.name.as_str()).unwrap_or_default();
        let key = (t.table_id.clone(), t.tablet_id.clone());
        let held = t.holder().and_then(|h| servers.get(h)).and_then(|s| s.held(&key)).filter(|h| h.epoch == t.epoch);
        let state = match (t.assignment(), held) {
            (Assignment::Unassigned, _) => TabletState::Unspecified as i32,
            (_, Some(h)) => h.state,
            (Assignment::Loading, None) => TabletState::Loading as i32,
            (Assignment::Serving, None) => TabletState::Serving as i32,
        };
        TabletStatus {
            tablet: Some(descriptor(t, name)),
            state,
            approximate_size_bytes: held.map_or(0, |h| h.size_bytes),
        }
    };
    let order = |s: &TabletStatus| s.tablet.as_ref().map(|d| (d.table_name.clone(), d.start_key.clone()));
    let mut out =
        ClusterStatusResponse { lease_ms: timing.lease_ms, margin_ms: timing.margin_ms, ..Default::default() };
    for (id, info) in servers.iter() {
        let mut tablets: Vec<TabletStatus> =
            map.all_tablets().filter(|t| t.holder() == Some(id)).map(status_of).collect();
        tablets.sort_by_key(order);
        out.servers.push(ServerStatus {
            server_id: id.to_string(),
            address: info.address.clone(),
            heard_ms_ago: now_ms.saturating_sub(info.last_heard_ms),
            lease_remaining_ms: signed(info.last_heard_ms.saturating_add(timing.lease_ms)) - signed(now_ms),
            live: info.is_live(now_ms, timing),
            dead: info.dead,
            tablets,
        });
    }
    out.unassigned =
        map.all_tablets().filter(|t| t.holder().is_none_or(|h| servers.get(h).is_none())).map(status_of).collect();
    out.unassigned.sort_by_key(order);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leases::{Held, Report};
    use crate::state::{Change, TableRecord};

    fn tablet(id: &str, start: &[u8], end: &[u8], holder: Option<&str>, state: Assignment) -> TabletRecord {
        let mut t = TabletRecord {
            table_id: "t0000000000000001".into(),
            tablet_id: id.into(),
            start_key: start.to_vec(),
            end_key: end.to_vec(),
            epoch: 3,
            ..Default::default()
        };
        t.set_holder(holder.map(|h| (h, "h:1")), state);
        t
    }

    #[test]
    fn servers_leases_tablets_and_sizes() {
        let mut map = MasterMap::new();
        map.apply(Change::PutTable(TableRecord {
            name: "projects/p/instances/i/tables/t".into(),
            table_id: "t0000000000000001".into(),
            ..Default::default()
        }));
        map.apply(Change::PutTablet(tablet("0001", b"m", b"", Some("a"), Assignment::Serving)));
        map.apply(Change::PutTablet(tablet("0000", b"", b"g", Some("a"), Assignment::Loading)));
        map.apply(Change::PutTablet(tablet("0002", b"g", b"m", None, Assignment::Unassigned)));
        let timing = Timing { lease_ms: 1000, margin_ms: 500 };
        let mut servers = ServerTable::new();
        let mut report = Report { at_ms: 100, tablets: Default::default() };
        let held = Held { epoch: 3, state: TabletState::Serving as i32, size_bytes: 4096 };
        report.tablets.insert(("t0000000000000001".into(), "0001".into()), held);
        // An older epoch's size is not this tablet's.
        let old = Held { epoch: 2, state: TabletState::Serving as i32, size_bytes: 7 };
        report.tablets.insert(("t0000000000000001".into(), "0000".into()), old);
        servers.renew("a", "h:1", Some(report), 100).unwrap();
        servers.renew("b", "h:2", None, 0).unwrap();
        servers.mark_dead("b");

        let s = cluster_status(&map, &servers, &timing, 1300);
        assert_eq!((s.lease_ms, s.margin_ms), (1000, 500));
        let a = &s.servers[0];
        assert_eq!(
            (a.server_id.as_str(), a.heard_ms_ago, a.lease_remaining_ms, a.live, a.dead),
            ("a", 1200, -200, true, false)
        );
        let got: Vec<(&str, i32, u64)> = a
            .tablets
            .iter()
            .map(|t| (t.tablet.as_ref().unwrap().tablet_id.as_str(), t.state, t.approximate_size_bytes))
            .collect();
        assert_eq!(got, [("0000", TabletState::Loading as i32, 0), ("0001", TabletState::Serving as i32, 4096)]);
        assert_eq!(a.tablets[0].tablet.as_ref().unwrap().table_name, "projects/p/instances/i/tables/t");
        let b = &s.servers[1];
        assert!(b.dead && !b.live && b.tablets.is_empty());
        assert_eq!(s.unassigned.len(), 1);
        assert_eq!(s.unassigned[0].tablet.as_ref().unwrap().tablet_id, "0002");
    }
}
