//! The two-level iterator over a table: an index-block iterator picks data blocks, a
//! data-block iterator walks them.
//!
//! Invariant: when the iterator is valid, the index iterator is on the entry whose handle is
//! the block the data iterator walks. Moving off either end of a data block moves the index
//! iterator and loads the neighbouring block, skipping empty blocks in both directions.
//! Switching blocks reuses the data iterator's key buffer; re-positioning inside the current
//! block does not re-read it.
//!
//! The iterator holds an `Arc<Table>` and `Arc<Block>`s, so it is `'static + Send`. Errors
//! name the table file and the offset of the block at fault, and stick
//! (see [`crate::iterator`]).

use std::sync::Arc;

use crate::error::Result;
use crate::iterator::{not_positioned, InternalIterator};
use crate::sstable::block::BlockIter;
use crate::sstable::format::BlockHandle;
use crate::sstable::table::{Table, TableReadOptions};

/// An [`InternalIterator`] over a whole table. Made by [`Table::iter`].
#[derive(Debug)]
pub struct TableIterator {
    table: Arc<Table>,
    ro: TableReadOptions,
    index: BlockIter,
    /// The data block being walked (`None` until the first block is loaded).
    data: Option<BlockIter>,
    /// Handle of the block in `data`.
    data_handle: BlockHandle,
    status: Result<()>,
}

impl TableIterator {
    pub(crate) fn new(table: Arc<Table>, ro: TableReadOptions) -> Self {
        let index = table.index.iter();
        TableIterator { table, ro, index, data: None, data_handle: BlockHandle::default(), status: Ok(()) }
    }

    /// The table iterated.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }

    fn data_valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn invalidate_data(&mut self) {
        if let Some(d) = &mut self.data {
            let b = Arc::clone(d.block());
            d.reset(b);
        }
    }

    /// Points the data iterator at the block of the current index entry (not positioned).
    fn load_block(&mut self) -> Result<&mut BlockIter> {
        let handle = BlockHandle::decode_exact(self.index.value()).map_err(|e| self.table.index_err(e))?;
        match &mut self.data {
            Some(d) if handle == self.data_handle => {
                let b = Arc::clone(d.block());
                d.reset(b);
            }
            slot => {
                let block = self.table.read_data_block(handle, &self.ro)?;
                match slot {
                    Some(d) => d.reset(block),
                    None => *slot = Some(BlockIter::new(block)),
                }
                self.data_handle = handle;
            }
        }
        self.data.as_mut().ok_or_else(not_positioned)
    }

    fn data_err(&self, e: crate::Error) -> crate::Error {
        e.in_file(&self.table.path).at_offset(self.data_handle.offset)
    }

    /// Moves forward over exhausted (or empty) blocks until an entry or the end.
    fn skip_forward(&mut self) -> Result<()> {
        while !self.data_valid() {
            if !self.index.valid() {
                return Ok(());
            }
            self.index.next().map_err(|e| self.table.index_err(e))?;
            if !self.index.valid() {
                self.invalidate_data();
                return Ok(());
            }
            let r = self.load_block()?.seek_to_first();
            r.map_err(|e| self.data_err(e))?;
        }
        Ok(())
    }

    /// Moves backward over exhausted (or empty) blocks until an entry or the start.
    fn skip_backward(&mut self) -> Result<()> {
        while !self.data_valid() {
            if !self.index.valid() {
                return Ok(());
            }
            self.index.prev().map_err(|e| self.table.index_err(e))?;
            if !self.index.valid() {
                self.invalidate_data();
                return Ok(());
            }
            let r = self.load_block()?.seek_to_last();
            r.map_err(|e| self.data_err(e))?;
        }
        Ok(())
    }

    /// Runs a positioning step with sticky-error handling.
    fn run(&mut self, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        if let Err(e) = &self.status {
            return Err(e.clone());
        }
        if let Err(e) = f(self) {
            self.invalidate_data();
            self.status = Err(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// Positions the index with `seek_index`, loads its block, positions in it with
    /// `seek_data`; leaves the iterator invalid if the index runs out.
    fn position(
        &mut self,
        seek_index: impl FnOnce(&mut BlockIter) -> Result<()>,
        seek_data: impl FnOnce(&mut BlockIter) -> Result<()>,
    ) -> Result<bool> {
        seek_index(&mut self.index).map_err(|e| self.table.index_err(e))?;
        if !self.index.valid() {
            self.invalidate_data();
            return Ok(false);
        }
        let r = seek_data(self.load_block()?);
        r.map_err(|e| self.data_err(e))?;
        Ok(true)
    }
}

impl InternalIterator for TableIterator {
    #[inline]
    fn valid(&self) -> bool {
        self.data_valid()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.run(|s| {
            if s.position(|i| i.seek_to_first(), |d| d.seek_to_first())? {
                s.skip_forward()?;
            }
            Ok(())
        })
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.run(|s| {
            if s.position(|i| i.seek_to_last(), |d| d.seek_to_last())? {
                s.skip_backward()?;
            }
            Ok(())
        })
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.run(|s| {
            if s.position(|i| i.seek(target), |d| d.seek(target))? {
                s.skip_forward()?;
            }
            Ok(())
        })
    }

    #[inline]
    fn next(&mut self) -> Result<()> {
        if !self.valid() {
            return self.status.clone().and(Err(not_positioned()));
        }
        self.run(|s| {
            let r = s.data.as_mut().map_or(Ok(()), |d| d.next());
            r.map_err(|e| s.data_err(e))?;
            s.skip_forward()
        })
    }

    fn prev(&mut self) -> Result<()> {
        if !self.valid() {
            return self.status.clone().and(Err(not_positioned()));
        }
        self.run(|s| {
            let r = s.data.as_mut().map_or(Ok(()), |d| d.prev());
            r.map_err(|e| s.data_err(e))?;
            s.skip_backward()
        })
    }

    #[inline]
    fn key(&self) -> &[u8] {
        match &self.data {
            Some(d) => d.key(),
            None => &[],
        }
    }

    #[inline]
    fn value(&self) -> &[u8] {
        match &self.data {
            Some(d) => d.value(),
            None => &[],
        }
    }

    fn status(&self) -> Result<()> {
        self.status.clone()
    }
}
