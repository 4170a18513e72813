//! The in-memory image of the master's state: tables by name and by id, each table's
//! tablets in row order. Rebuilt from the state `Db` at start ([`super::Store::open`]);
//! changed only by applying the same [`Change`]s that were just written to disk.

use std::collections::{BTreeMap, HashMap};

use super::format::{TableRecord, TabletRecord};

/// `(table id, tablet id)`: names one tablet.
pub type TabletKey = (String, String);

/// One change of the state; a list of them is written as one atomic batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Creates or replaces a table (by name).
    PutTable(TableRecord),
    /// Removes a table (by name); its tablets are removed by their own changes.
    DeleteTable(String),
    /// Creates or replaces a tablet (by table id and tablet id).
    PutTablet(TabletRecord),
    /// Removes a tablet.
    DeleteTablet(TabletKey),
    /// Sets the sequence number the next table id is made from.
    NextTableSeq(u64),
}

/// Tables and tablets, indexed for the master's questions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MasterMap {
    /// Tables by full name.
    tables: BTreeMap<String, TableRecord>,
    /// Table id -> full name.
    names: HashMap<String, String>,
    /// Table id -> (start key -> tablet).
    tablets: BTreeMap<String, BTreeMap<Vec<u8>, TabletRecord>>,
    /// Tablet key -> its start key (to find it in `tablets`).
    starts: HashMap<TabletKey, Vec<u8>>,
    /// Sequence number of the next table id.
    next_table_seq: u64,
}

impl MasterMap {
    /// An empty map (first table id: sequence 1).
    pub fn new() -> Self {
        MasterMap { next_table_seq: 1, ..Default::default() }
    }

    /// Applies one change.
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::PutTable(t) => {
                self.names.insert(t.table_id.clone(), t.name.clone());
                self.tables.insert(t.name.clone(), t);
            }
            Change::DeleteTable(name) => {
                if let Some(t) = self.tables.remove(&name) {
                    self.names.remove(&t.table_id);
                }
            }
            Change::PutTablet(t) => {
                let key = (t.table_id.clone(), t.tablet_id.clone());
                let by_start = self.tablets.entry(t.table_id.clone()).or_default();
                if let Some(old_start) = self.starts.get(&key) {
                    by_start.remove(old_start);
                }
                self.starts.insert(key, t.start_key.clone());
                by_start.insert(t.start_key.clone(), t);
            }
            Change::DeleteTablet(key) => {
                if let Some(start) = self.starts.remove(&key) {
                    if let Some(by_start) = self.tablets.get_mut(&key.0) {
                        by_start.remove(&start);
                        if by_start.is_empty() {
                            self.tablets.remove(&key.0);
                        }
                    }
                }
            }
            Change::NextTableSeq(n) => self.next_table_seq = n,
        }
    }

    /// The sequence number the next table id is made from.
    pub fn next_table_seq(&self) -> u64 {
        self.next_table_seq
    }

    /// Table `name`.
    pub fn table(&self, name: &str) -> Option<&TableRecord> {
        self.tables.get(name)
    }

    /// The table whose id is `table_id`.
    pub fn table_by_id(&self, table_id: &str) -> Option<&TableRecord> {
        self.names.get(table_id).and_then(|n| self.tables.get(n))
    }

    /// All tables in name order.
    pub fn tables(&self) -> impl Iterator<Item = &TableRecord> {
        self.tables.values()
    }

    /// Tablet `key`.
    pub fn tablet(&self, key: &TabletKey) -> Option<&TabletRecord> {
        let start = self.starts.get(key)?;
        self.tablets.get(&key.0)?.get(start)
    }

    /// The tablets of table `table_id` in row order.
    pub fn tablets_of(&self, table_id: &str) -> impl Iterator<Item = &TabletRecord> {
        self.tablets.get(table_id).into_iter().flat_map(|m| m.values())
    }

    /// Every tablet, by table id then row order.
    pub fn all_tablets(&self) -> impl Iterator<Item = &TabletRecord> {
        self.tablets.values().flat_map(|m| m.values())
    }

    /// The tablets of table `table_id` that overlap rows `[start, end)` (empty `end`: to the
    /// end of the table), in row order.
    pub fn tablets_in_range<'a>(
        &'a self,
        table_id: &str,
        start: &'a [u8],
        end: &'a [u8],
    ) -> impl Iterator<Item = &'a TabletRecord> + 'a {
        // The first tablet is the one containing `start`: the last one starting at or
        // before it. Then every tablet starting before `end`.
        let by_start = self.tablets.get(table_id);
        let first =
            by_start.and_then(|m| m.range(..=start.to_vec()).next_back().map(|(k, _)| k.clone())).unwrap_or_default();
        by_start
            .into_iter()
            .flat_map(move |m| m.range(first.clone()..))
            .map(|(_, t)| t)
            .take_while(move |t| end.is_empty() || t.start_key.as_slice() < end)
            .filter(move |t| t.end_key.is_empty() || t.end_key.as_slice() > start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tablet(id: &str, start: &[u8], end: &[u8]) -> TabletRecord {
        TabletRecord {
            table_id: "t1".into(),
            tablet_id: id.into(),
            start_key: start.to_vec(),
            end_key: end.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn range_lookup() {
        let mut m = MasterMap::new();
        m.apply(Change::PutTablet(tablet("a", b"", b"g")));
        m.apply(Change::PutTablet(tablet("b", b"g", b"p")));
        m.apply(Change::PutTablet(tablet("c", b"p", b"")));
        let ids = |s: &[u8], e: &[u8]| m.tablets_in_range("t1", s, e).map(|t| t.tablet_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(b"", b""), ["a", "b", "c"]);
        assert_eq!(ids(b"h", b"i"), ["b"]);
        assert_eq!(ids(b"g", b"p"), ["b"]);
        assert_eq!(ids(b"f", b"g\x00"), ["a", "b"]);
        assert_eq!(ids(b"z", b""), ["c"]);
        assert_eq!(ids(b"", b"g"), ["a"]);
        assert!(m.tablets_in_range("t2", b"", b"").next().is_none());
    }

    #[test]
    fn moving_a_tablet_start_reindexes_it() {
        let mut m = MasterMap::new();
        m.apply(Change::PutTablet(tablet("a", b"", b"")));
        m.apply(Change::PutTablet(tablet("a", b"k", b"")));
        assert_eq!(m.tablets_of("t1").count(), 1);
        assert_eq!(m.tablet(&("t1".into(), "a".into())).unwrap().start_key, b"k");
        m.apply(Change::DeleteTablet(("t1".into(), "a".into())));
        assert!(m.tablet(&("t1".into(), "a".into())).is_none());
        assert_eq!(m.all_tablets().count(), 0);
    }
}
