//! The table cache: open table readers, bounded in count, shareable between databases.
//!
//! Opening a table reads its footer, index and filter; the cache keeps recently used
//! readers open so a point lookup costs no open. Keys are (database id, file number); a
//! database takes its id from [`TableCache::new_id`] so many databases can share one cache.

use std::path::Path;
use std::sync::Arc;

use crate::cache::Cache;
use crate::error::Result;
use crate::filename::table_file;
use crate::fs::Fs;
use crate::options::BlockCache;
use crate::sstable::Table;

/// A cache of open [`Table`] readers, bounded in count.
#[derive(Debug)]
pub struct TableCache {
    cache: Cache<Arc<Table>>,
}

impl TableCache {
    /// A cache keeping at most `capacity` readers open.
    pub fn new(capacity: usize) -> Self {
        TableCache { cache: Cache::new(capacity) }
    }

    /// A fresh database id for keys in this cache.
    pub fn new_id(&self) -> u64 {
        self.cache.new_id()
    }

    /// Readers open now.
    pub fn len(&self) -> usize {
        self.cache.usage()
    }

    /// True when no reader is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One database's view of its tables: where they are and which caches serve them.
pub struct Tables {
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) db_id: u64,
    pub(crate) table_cache: Arc<TableCache>,
    pub(crate) block_cache: BlockCache,
    pub(crate) paranoid: bool,
}

impl Tables {
    /// The reader of table `number` (of `size` bytes), opening it on a miss.
    pub fn get(&self, number: u64, size: u64) -> Result<Arc<Table>> {
        let key = (self.db_id, number);
        if let Some(t) = self.table_cache.cache.get(&key) {
            return Ok(t);
        }
        let path = table_file(&self.dir, number);
        let file = self.fs.open_random(&path)?;
        let table = Table::open(file, path, size, Some(self.block_cache.0.clone()), self.paranoid)?;
        self.table_cache.cache.insert(key, table.clone(), 1);
        Ok(table)
    }

    /// Drops the cached reader of a deleted table.
    pub fn evict(&self, number: u64) {
        self.table_cache.cache.erase(&(self.db_id, number));
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
