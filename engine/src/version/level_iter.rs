//! An iterator over one sorted level (level 1 and up): the concatenation of its files,
//! opening each table through the table cache only when the cursor enters it.

use std::cmp::Ordering;
use std::sync::Arc;

use super::table_cache::Tables;
use super::FileMeta;
use crate::error::{Error, Result};
use crate::iterator::{not_positioned, InternalIterator};
use crate::keys::compare_internal;
use crate::sstable::{TableIterator, TableReadOptions};

/// Iterates the files of a level in order. See [`InternalIterator`] for the contract.
pub struct LevelIterator {
    tables: Arc<Tables>,
    files: Vec<Arc<FileMeta>>,
    ro: TableReadOptions,
    /// Index of the file `cur` reads; `files.len()` when unpositioned.
    idx: usize,
    cur: Option<TableIterator>,
    err: Option<Error>,
}

impl LevelIterator {
    /// An iterator over `files`, which must be sorted and disjoint.
    pub fn new(tables: Arc<Tables>, files: Vec<Arc<FileMeta>>, ro: TableReadOptions) -> Self {
        let idx = files.len();
        LevelIterator { tables, files, ro, idx, cur: None, err: None }
    }

    fn fail(&mut self, e: Error) -> Result<()> {
        self.cur = None;
        self.err = Some(e.clone());
        Err(e)
    }

    fn open(&mut self, idx: usize) -> Result<()> {
        self.idx = idx;
        self.cur = None;
        if let Some(f) = self.files.get(idx) {
            match self.tables.get(f.number, f.size) {
                Ok(t) => self.cur = Some(t.iter(self.ro)),
                Err(e) => return self.fail(e),
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn cur_valid(&self) -> bool {
        self.cur.as_ref().is_some_and(|c| c.valid())
    }

    /// Moves forward over exhausted files until positioned or past the end.
    fn skip_forward(&mut self) -> Result<()> {
        while !self.cur_valid() {
            if let Some(c) = &self.cur {
                if let Err(e) = c.status() {
                    return self.fail(e);
                }
            }
            if self.idx + 1 >= self.files.len() {
                self.cur = None;
                self.idx = self.files.len();
                return Ok(());
            }
            self.open(self.idx + 1)?;
            if let Some(c) = self.cur.as_mut() {
                let r = c.seek_to_first();
                if let Err(e) = r {
                    return self.fail(e);
                }
            }
        }
        Ok(())
    }

    /// Moves backward over exhausted files until positioned or before the start.
    fn skip_backward(&mut self) -> Result<()> {
        while !self.cur_valid() {
            if let Some(c) = &self.cur {
                if let Err(e) = c.status() {
                    return self.fail(e);
                }
            }
            if self.idx == 0 || self.idx > self.files.len() {
                self.cur = None;
                self.idx = self.files.len();
                return Ok(());
            }
            self.open(self.idx - 1)?;
            if let Some(c) = self.cur.as_mut() {
                let r = c.seek_to_last();
                if let Err(e) = r {
                    return self.fail(e);
                }
            }
        }
        Ok(())
    }
}

impl InternalIterator for LevelIterator {
    fn valid(&self) -> bool {
        self.err.is_none() && self.cur_valid()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.check()?;
        if self.files.is_empty() {
            return Ok(());
        }
        self.open(0)?;
        if let Some(c) = self.cur.as_mut() {
            if let Err(e) = c.seek_to_first() {
                return self.fail(e);
            }
        }
        self.skip_forward()
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.check()?;
        if self.files.is_empty() {
            return Ok(());
        }
        self.open(self.files.len() - 1)?;
        if let Some(c) = self.cur.as_mut() {
            if let Err(e) = c.seek_to_last() {
                return self.fail(e);
            }
        }
        self.skip_backward()
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.check()?;
        let i = self.files.partition_point(|f| compare_internal(&f.largest, target) == Ordering::Less);
        if i >= self.files.len() {
            self.cur = None;
            self.idx = self.files.len();
            return Ok(());
        }
        if self.idx != i || self.cur.is_none() {
            self.open(i)?;
        }
        if let Some(c) = self.cur.as_mut() {
            if let Err(e) = c.seek(target) {
                return self.fail(e);
            }
        }
        self.skip_forward()
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.check()?;
        // Last file whose smallest key is <= target.
        let i = self.files.partition_point(|f| compare_internal(&f.smallest, target) != Ordering::Greater);
        if i == 0 {
            self.cur = None;
            self.idx = self.files.len();
            return Ok(());
        }
        if self.idx != i - 1 || self.cur.is_none() {
            self.open(i - 1)?;
        }
        if let Some(c) = self.cur.as_mut() {
            if let Err(e) = c.seek_for_prev(target) {
                return self.fail(e);
            }
        }
        self.skip_backward()
    }

    fn next(&mut self) -> Result<()> {
        self.check()?;
        match self.cur.as_mut() {
            Some(c) if c.valid() => {
                if let Err(e) = c.next() {
                    return self.fail(e);
                }
            }
            _ => return Err(not_positioned()),
        }
        self.skip_forward()
    }

    fn prev(&mut self) -> Result<()> {
        self.check()?;
        match self.cur.as_mut() {
            Some(c) if c.valid() => {
                if let Err(e) = c.prev() {
                    return self.fail(e);
                }
            }
            _ => return Err(not_positioned()),
        }
        self.skip_backward()
    }

    fn key(&self) -> &[u8] {
        match &self.cur {
            Some(c) if c.valid() => c.key(),
            _ => &[],
        }
    }

    fn value(&self) -> &[u8] {
        match &self.cur {
            Some(c) if c.valid() => c.value(),
            _ => &[],
        }
    }

    fn status(&self) -> Result<()> {
        self.check()?;
        match &self.cur {
            Some(c) => c.status(),
            None => Ok(()),
        }
    }
}
