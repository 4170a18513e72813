use super::*;
use crate::leases::{Held, Report};
use crate::state::{Change, TableRecord, TabletRecord};

const T: Timing = Timing { lease_ms: 1000, margin_ms: 500 };

fn cfg() -> BalanceConfig {
    BalanceConfig {
        enabled: true,
        max_moves_in_flight: 10,
        min_interval_ms: 0,
        cooldown_ms: 1000,
        byte_slack_percent: 25,
        min_byte_gap: 100,
    }
}

fn key(i: usize) -> TabletKey {
    ("t1".to_string(), format!("{i:04}"))
}

/// Table `t1` with one tablet per entry: (holder, assignment).
fn map(tablets: &[(&str, Assignment)]) -> MasterMap {
    let mut m = MasterMap::new();
    m.apply(Change::PutTable(TableRecord {
        name: "projects/p/instances/i/tables/x".into(),
        table_id: "t1".into(),
        ..Default::default()
    }));
    let n = tablets.len();
    for (i, (holder, state)) in tablets.iter().enumerate() {
        let start = if i == 0 { vec![] } else { vec![b'a' + i as u8] };
        let end = if i + 1 == n { vec![] } else { vec![b'a' + i as u8 + 1] };
        let mut t = TabletRecord {
            table_id: "t1".into(),
            tablet_id: key(i).1,
            start_key: start,
            end_key: end,
            epoch: 3,
            ..Default::default()
        };
        t.set_holder(Some((*holder, "addr")).filter(|_| !holder.is_empty()), *state);
        m.apply(Change::PutTablet(t));
    }
    m
}

/// Every server in `ids` renews at 0, reporting the tablets `map` gives it at their epochs,
/// with `sizes[i]` bytes for tablet `i` (0 when absent).
fn servers(map: &MasterMap, ids: &[&str], sizes: &[u64]) -> ServerTable {
    let mut s = ServerTable::new();
    for id in ids {
        let tablets = map
            .all_tablets()
            .enumerate()
            .filter(|(_, t)| t.holder() == Some(*id))
            .map(|(i, t)| {
                let size_bytes = sizes.get(i).copied().unwrap_or(0);
                (
                    (t.table_id.clone(), t.tablet_id.clone()),
                    Held { epoch: t.epoch, state: TabletState::Serving as i32, size_bytes },
                )
            })
            .collect();
        s.renew(id, &format!("{id}:1"), Some(Report { at_ms: 0, tablets }), 0).unwrap();
    }
    s
}

struct Run<'a> {
    map: &'a MasterMap,
    servers: &'a ServerTable,
    in_flight: HashSet<TabletKey>,
    moves_in_flight: usize,
    last_moved: HashMap<TabletKey, u64>,
    last_round_ms: Option<u64>,
    now_ms: u64,
    config: BalanceConfig,
}

impl<'a> Run<'a> {
    fn new(map: &'a MasterMap, servers: &'a ServerTable) -> Self {
        Run {
            map,
            servers,
            in_flight: HashSet::new(),
            moves_in_flight: 0,
            last_moved: HashMap::new(),
            last_round_ms: None,
            now_ms: 10,
            config: cfg(),
        }
    }

    fn plan(&self) -> Vec<Move> {
        plan_moves(&BalanceInput {
            map: self.map,
            servers: self.servers,
            in_flight: &self.in_flight,
            moves_in_flight: self.moves_in_flight,
            last_moved: &self.last_moved,
            last_round_ms: self.last_round_ms,
            now_ms: self.now_ms,
            timing: T,
            config: &self.config,
        })
    }
}

fn mv(i: usize, from: &str, to: &str) -> Move {
    Move { tablet: key(i), from: from.into(), to: to.into(), epoch: 3 }
}

/// Applies `moves` to the map as finished moves (holder changed), for convergence tests.
fn apply(map: &mut MasterMap, moves: &[Move]) {
    for m in moves {
        let mut t = map.tablet(&m.tablet).unwrap().clone();
        t.set_holder(Some((&m.to, "addr")), Assignment::Serving);
        map.apply(Change::PutTablet(t));
    }
}

#[test]
fn tablets_move_from_the_most_to_the_least_loaded_server_by_count() {
    use Assignment::Serving;
    let mut m = map(&[("a", Serving), ("a", Serving), ("a", Serving), ("a", Serving), ("a", Serving), ("a", Serving)]);
    let s = servers(&m, &["a", "b", "c"], &[]);
    // Six on a, none on b and c: four move, two each to b and c, alternating (the least
    // loaded first, ties by id).
    let moves = Run::new(&m, &s).plan();
    assert_eq!(moves, [mv(0, "a", "b"), mv(1, "a", "c"), mv(2, "a", "b"), mv(3, "a", "c")]);
    apply(&mut m, &moves);
    let s = servers(&m, &["a", "b", "c"], &[]);
    assert!(Run::new(&m, &s).plan().is_empty(), "2/2/2 is balanced");

    // 3 and 2 is within one of the share: nothing moves; 4 and 1 is not.
    let m = map(&[("a", Serving), ("a", Serving), ("a", Serving), ("b", Serving), ("b", Serving)]);
    let s = servers(&m, &["a", "b"], &[]);
    assert!(Run::new(&m, &s).plan().is_empty());
    let m = map(&[("a", Serving), ("a", Serving), ("a", Serving), ("a", Serving), ("b", Serving)]);
    let s = servers(&m, &["a", "b"], &[]);
    assert_eq!(Run::new(&m, &s).plan(), [mv(0, "a", "b")]);
}

#[test]
fn bytes_are_balanced_without_upsetting_counts() {
    use Assignment::Serving;
    // Equal counts, but a holds 3 x 1000 bytes and b 3 x 10.
    let mut m = map(&[("a", Serving), ("a", Serving), ("a", Serving), ("b", Serving), ("b", Serving), ("b", Serving)]);
    let sizes = [1000, 1000, 1000, 10, 10, 10];
    let s = servers(&m, &["a", "b"], &sizes);
    let moves = Run::new(&m, &s).plan();
    // One big tablet goes to b, then one small one comes back to a (counts stay 3/3).
    assert_eq!(moves, [mv(0, "a", "b"), mv(3, "b", "a")]);
    apply(&mut m, &moves);
    let s = servers(&m, &["a", "b"], &sizes);
    assert!(Run::new(&m, &s).plan().is_empty(), "2010 / 1020 bytes: no move makes it better");

    // Under min_byte_gap in the whole cluster, sizes do not count.
    let m = map(&[("a", Serving), ("b", Serving)]);
    let s = servers(&m, &["a", "b"], &[90, 1]);
    assert!(Run::new(&m, &s).plan().is_empty());
    // A server within the slack is not over its share: 1100 vs 900 (share 1000 + 25 %).
    let m = map(&[("a", Serving), ("a", Serving), ("b", Serving), ("b", Serving)]);
    let s = servers(&m, &["a", "b"], &[600, 500, 450, 450]);
    assert!(Run::new(&m, &s).plan().is_empty());
    // One huge tablet alone on a server stays: moving it only moves the problem.
    let m = map(&[("a", Serving), ("b", Serving), ("b", Serving)]);
    let s = servers(&m, &["a", "b"], &[10_000, 10, 10]);
    assert!(Run::new(&m, &s).plan().is_empty());
}

#[test]
fn moves_are_throttled() {
    use Assignment::Serving;
    let m = map(&[("a", Serving), ("a", Serving), ("a", Serving), ("a", Serving), ("a", Serving), ("a", Serving)]);
    let s = servers(&m, &["a", "b"], &[]);
    let mut r = Run::new(&m, &s);
    r.config.max_moves_in_flight = 2;
    assert_eq!(r.plan(), [mv(0, "a", "b"), mv(1, "a", "b")]);
    // Two in flight already: none; one: one more.
    r.moves_in_flight = 2;
    assert!(r.plan().is_empty());
    r.moves_in_flight = 1;
    assert_eq!(r.plan().len(), 1);
    // Rounds at least min_interval apart.
    r.moves_in_flight = 0;
    r.config.min_interval_ms = 500;
    r.last_round_ms = Some(0);
    r.now_ms = 499;
    assert!(r.plan().is_empty());
    r.now_ms = 500;
    assert_eq!(r.plan().len(), 2);
    // Disabled: nothing.
    r.config.enabled = false;
    assert!(r.plan().is_empty());
}

#[test]
fn busy_tablets_and_unsettled_clusters_are_left_alone() {
    use Assignment::{Loading, Serving, Unassigned};
    let m = map(&[("a", Serving), ("a", Serving), ("a", Serving), ("a", Serving)]);
    let mut s = servers(&m, &["a", "b"], &[]);
    // a reports tablet 0 splitting and tablet 1 loading; 2 has a load in flight, 3 was
    // moved recently: nothing can move.
    let mut report = s.get("a").unwrap().report.clone().unwrap();
    report.tablets.get_mut(&key(0)).unwrap().state = TabletState::Splitting as i32;
    report.tablets.get_mut(&key(1)).unwrap().state = TabletState::Loading as i32;
    s.renew("a", "a:1", Some(report), 0).unwrap();
    let mut r = Run::new(&m, &s);
    r.in_flight.insert(key(2));
    r.last_moved.insert(key(3), 0);
    assert!(r.plan().is_empty());
    // Once the cooldown has passed, tablet 3 moves.
    r.now_ms = 1000;
    assert_eq!(r.plan(), [mv(3, "a", "b")]);
    // A tablet a reports at an older epoch than the record (it is being reloaded) stays.
    let mut report = s.get("a").unwrap().report.clone().unwrap();
    report.tablets.get_mut(&key(3)).unwrap().epoch = 2;
    s.renew("a", "a:1", Some(report), 0).unwrap();
    let mut r = Run::new(&m, &s);
    r.in_flight.insert(key(2));
    assert!(r.plan().is_empty());

    // An unassigned tablet, or one on a server past its lease: the assignment plan goes
    // first, no balancing.
    let m = map(&[("a", Serving), ("a", Serving), ("a", Serving), ("", Unassigned)]);
    let s = servers(&m, &["a", "b"], &[]);
    assert!(Run::new(&m, &s).plan().is_empty());
    let m = map(&[("a", Serving), ("a", Serving), ("a", Serving), ("c", Serving)]);
    let mut s = servers(&m, &["a", "b", "c"], &[]);
    s.renew("a", "a:1", None, 1000).unwrap();
    s.renew("b", "b:1", None, 1000).unwrap();
    let mut r = Run::new(&m, &s);
    r.now_ms = 1001; // c last heard at 0: past its lease
    assert!(r.plan().is_empty());
    // A tablet loading on its server counts there, and is not moved itself.
    let m = map(&[("a", Loading), ("a", Serving), ("a", Serving)]);
    let s = servers(&m, &["a", "b"], &[]);
    assert_eq!(Run::new(&m, &s).plan(), [mv(1, "a", "b")]);
    // One server: nothing to balance.
    let m = map(&[("a", Serving), ("a", Serving), ("a", Serving)]);
    let s = servers(&m, &["a"], &[]);
    assert!(Run::new(&m, &s).plan().is_empty());
}

#[test]
fn a_tablet_being_moved_counts_at_its_destination() {
    use Assignment::Serving;
    let mut m = map(&[("a", Serving), ("a", Serving), ("a", Serving), ("a", Serving)]);
    let s = servers(&m, &["a", "b"], &[]);
    let mut t = m.tablet(&key(0)).unwrap().clone();
    t.moving_to = "b".into();
    m.apply(Change::PutTablet(t));
    let mut r = Run::new(&m, &s);
    r.moves_in_flight = 1;
    // 3 at a, 1 (arriving) at b: one more move, not two.
    assert_eq!(r.plan(), [mv(1, "a", "b")]);
}

fn progress_of(
    map: &MasterMap,
    servers: &ServerTable,
    moves: &HashMap<TabletKey, MoveProgress>,
    now_ms: u64,
) -> Vec<MoveStep> {
    progress(&ProgressInput { map, servers, moves, now_ms, timing: T, retry_ms: 200 })
}

#[test]
fn a_move_unloads_then_assigns_at_the_next_epoch() {
    use Assignment::Serving;
    let mut m = map(&[("a", Serving), ("a", Serving)]);
    let mut s = servers(&m, &["a", "b"], &[]);
    let mut t = m.tablet(&key(0)).unwrap().clone();
    t.moving_to = "b".into();
    m.apply(Change::PutTablet(t));
    let unload = MoveStep::Unload { tablet: key(0), server_id: "a".into(), epoch: 3 };
    let finish = MoveStep::Finish { tablet: key(0), to: Some("b".into()), epoch: 4 };

    // Found after a fail-over (no progress known): unload it.
    let mut moves = HashMap::new();
    assert_eq!(progress_of(&m, &s, &moves, 10), std::slice::from_ref(&unload));
    // The unload in flight: wait; answered: finish.
    moves.insert(key(0), MoveProgress { started_ms: Some(10), unload: UnloadState::InFlight });
    assert!(progress_of(&m, &s, &moves, 20).is_empty());
    moves.insert(key(0), MoveProgress { started_ms: Some(10), unload: UnloadState::Done });
    assert_eq!(progress_of(&m, &s, &moves, 20), std::slice::from_ref(&finish));
    // Failed: sent again after retry_ms, unless a report since shows it gone.
    moves.insert(key(0), MoveProgress { started_ms: Some(10), unload: UnloadState::Failed { at_ms: 30 } });
    assert!(progress_of(&m, &s, &moves, 229).is_empty());
    assert_eq!(progress_of(&m, &s, &moves, 230), std::slice::from_ref(&unload));
    // A report sent before the move began still lists it; a later one without it ends the
    // unload phase.
    let mut report = s.get("a").unwrap().report.clone().unwrap();
    report.tablets.remove(&key(0));
    report.at_ms = 10;
    s.renew("a", "a:1", Some(report.clone()), 10).unwrap();
    assert_eq!(progress_of(&m, &s, &moves, 230), [unload]);
    report.at_ms = 40;
    s.renew("a", "a:1", Some(report), 40).unwrap();
    assert_eq!(progress_of(&m, &s, &moves, 230), [finish]);

    // The target gone past its lease by then: the tablet is left to the assignment plan.
    s.renew("a", "a:1", None, 1100).unwrap();
    assert_eq!(progress_of(&m, &s, &moves, 1100), [MoveStep::Finish { tablet: key(0), to: None, epoch: 4 }]);
}

#[test]
fn a_move_whose_target_left_before_the_unload_is_cancelled() {
    use Assignment::Serving;
    let mut m = map(&[("a", Serving), ("a", Serving)]);
    let mut s = servers(&m, &["a", "b"], &[]);
    let mut t = m.tablet(&key(1)).unwrap().clone();
    t.moving_to = "b".into();
    m.apply(Change::PutTablet(t));
    s.renew("a", "a:1", None, 1500).unwrap();
    assert_eq!(progress_of(&m, &s, &HashMap::new(), 1500), [MoveStep::Cancel { tablet: key(1) }]);
    // The old server silent too: nothing here (the assignment plan declares it dead).
    assert!(progress_of(&m, &s, &HashMap::new(), 5000).is_empty());
}
