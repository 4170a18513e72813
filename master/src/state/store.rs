//! The master's state database: one engine `Db` under `<root>/master/`, written only in
//! whole, synced batches, read back whole at start.

use std::path::Path;
use std::sync::Arc;

use engine::{Db, Fs, Options, PosixFs, ReadOptions, WriteBatch, WriteOptions};
use prost::Message;
use tablet::keys::escape_for_display;

use super::format::{self, decode_entry, Entry};
use super::map::{Change, MasterMap};
use crate::error::{Error, Result};

/// The state database. `Send + Sync`; writes are serialised by the caller (the master's
/// core lock), so the map in memory changes in the order the batches were written.
#[derive(Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Opens (creating if needed) the state database in `dir` and reads it into a map.
    /// A record that does not decode, a tablet of no table, or a table whose tablets do not
    /// cover its rows exactly once is [`Error::Corruption`].
    pub fn open(dir: &Path) -> Result<(Store, MasterMap)> {
        Store::open_with_fs(dir, Arc::new(PosixFs::new()))
    }

    /// [`Store::open`] on file system `fs` (tests use `MemFs` to crash it).
    pub fn open_with_fs(dir: &Path, fs: Arc<dyn Fs>) -> Result<(Store, MasterMap)> {
        let opts = Options { create_if_missing: true, paranoid_checks: true, fs, ..Options::default() };
        let db = Db::open(dir, opts)?;
        let store = Store { db };
        let map = store.load()?;
        Ok((store, map))
    }

    fn load(&self) -> Result<MasterMap> {
        let mut map = MasterMap::new();
        let mut format = None;
        let mut it = self.db.iter(&ReadOptions::default())?;
        it.seek_to_first();
        while it.valid() {
            match decode_entry(it.key(), it.value())? {
                Entry::Format(v) => format = Some(v),
                Entry::NextTableSeq(n) => map.apply(Change::NextTableSeq(n)),
                Entry::Table(t) => map.apply(Change::PutTable(t)),
                Entry::Tablet(t) => map.apply(Change::PutTablet(t)),
            }
            it.next();
        }
        it.status()?;
        match format {
            Some(format::FORMAT) => {}
            Some(v) => {
                return Err(Error::Corruption {
                    key: escape_for_display(&format::meta_key(format::META_FORMAT)),
                    reason: format!("format version {v}; this master reads version {}", format::FORMAT),
                })
            }
            None => {
                let mut b = WriteBatch::new();
                b.put(&format::meta_key(format::META_FORMAT), &format::encode_u32(format::FORMAT));
                self.db.write(&WriteOptions { sync: true }, b)?;
            }
        }
        check(&map)?;
        Ok(map)
    }

    /// Writes `changes` as one atomic, synced batch: after a crash either all of them are
    /// there or none.
    pub fn commit(&self, changes: &[Change]) -> Result<()> {
        let mut b = WriteBatch::new();
        for c in changes {
            match c {
                Change::PutTable(t) => b.put(&format::table_key(&t.name), &t.encode_to_vec()),
                Change::DeleteTable(name) => b.delete(&format::table_key(name)),
                Change::PutTablet(t) => b.put(&format::tablet_key(&t.table_id, &t.tablet_id), &t.encode_to_vec()),
                Change::DeleteTablet((table, tablet)) => b.delete(&format::tablet_key(table, tablet)),
                Change::NextTableSeq(n) => {
                    b.put(&format::meta_key(format::META_NEXT_TABLE_SEQ), &format::encode_u64(*n))
                }
            }
        }
        if b.is_empty() {
            return Ok(());
        }
        self.db.write(&WriteOptions { sync: true }, b)?;
        Ok(())
    }

    /// Closes the database (waits for background work, syncs).
    pub fn close(&self) -> Result<()> {
        Ok(self.db.close()?)
    }
}

/// The invariants every batch keeps: each tablet belongs to a table, and each table's
/// tablets tile its rows from the empty key to the end without gap or overlap.
fn check(map: &MasterMap) -> Result<()> {
    for t in map.all_tablets() {
        if map.table_by_id(&t.table_id).is_none() {
            return Err(Error::Corruption {
                key: escape_for_display(&format::tablet_key(&t.table_id, &t.tablet_id)),
                reason: format!("tablet of table id {:?}, which no table has", t.table_id),
            });
        }
    }
    for table in map.tables() {
        let mut expect: Option<&[u8]> = Some(b"");
        for t in map.tablets_of(&table.table_id) {
            let key = || escape_for_display(&format::tablet_key(&t.table_id, &t.tablet_id));
            match expect {
                Some(e) if e == t.start_key.as_slice() => {}
                _ => {
                    return Err(Error::Corruption {
                        key: key(),
                        reason: format!(
                            "table {} has a gap or overlap before row {}",
                            table.name,
                            escape_for_display(&t.start_key)
                        ),
                    })
                }
            }
            expect = if t.end_key.is_empty() { None } else { Some(t.end_key.as_slice()) };
        }
        if expect.is_some() {
            return Err(Error::Corruption {
                key: escape_for_display(&format::table_key(&table.name)),
                reason: format!("the tablets of table {} do not reach the end of the table", table.name),
            });
        }
    }
    Ok(())
}
