//! The tablet's write gate: every write to the tablet's engine passes through it, so a
//! split can hold new writes for the moment of its checkpoint and then refuse them for good.
//!
//! [`GatedDb`] wraps the tablet's [`Db`]. Its own `write`, `put` and `delete` take the gate
//! shared for the duration of the engine write; everything else (reads, iterators,
//! snapshots, flushes, statistics) goes straight to the `Db` through `Deref`, so readers
//! never wait on the gate. A split takes the gate exclusively
//! ([`GatedDb::hold_writes`]): it waits for writes in flight to finish, and new writes wait
//! until it either reopens the gate (the split failed) or closes it (the split happened),
//! after which they fail with [`Error::NotServing`].
//!
//! A write that returns `Ok` therefore reached the engine before the split's checkpoint
//! (and is in the children), and one that began after the split returns the error and
//! wrote nothing.

use std::ops::Deref;

use engine::{Db, WriteBatch, WriteOptions};
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{Error, Result};

/// Whether writes may pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateState {
    /// Writes pass.
    Open,
    /// Writes fail with [`Error::NotServing`] carrying this reason.
    Closed(String),
}

/// A [`Db`] whose writes pass the tablet's gate; see the module docs.
#[derive(Debug)]
pub struct GatedDb {
    db: Db,
    /// `parking_lot`'s lock is fair between readers and a waiting writer: a split waiting
    /// for the gate is not starved by a stream of writes, and no poisoning to handle.
    gate: RwLock<GateState>,
}

impl GatedDb {
    /// An open gate in front of `db`.
    pub fn new(db: Db) -> Self {
        GatedDb { db, gate: RwLock::new(GateState::Open) }
    }

    /// Applies `batch` if the gate is open; holds the gate (shared) until the engine has it.
    pub fn write(&self, wo: &WriteOptions, batch: WriteBatch) -> Result<()> {
        let gate = self.gate.read();
        if let GateState::Closed(reason) = &*gate {
            return Err(Error::NotServing { reason: reason.clone() });
        }
        self.db.write(wo, batch)?;
        drop(gate);
        Ok(())
    }

    /// The gate held open without waiting: `None` when it is closed, held by a split, or
    /// a split waits for it. Writes through the returned [`OpenGate`] pass without taking
    /// the gate again; a split waits until it is dropped.
    pub fn try_open(&self) -> Option<OpenGate<'_>> {
        let gate = self.gate.try_read()?;
        (*gate == GateState::Open).then_some(OpenGate { db: &self.db, _gate: gate })
    }

    /// [`GatedDb::write`] of one put.
    pub fn put(&self, wo: &WriteOptions, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(wo, b)
    }

    /// [`GatedDb::write`] of one delete.
    pub fn delete(&self, wo: &WriteOptions, key: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(wo, b)
    }

    /// Waits for writes in flight, then holds new ones until the guard is dropped; set the
    /// guarded state to [`GateState::Closed`] to refuse them from then on.
    pub fn hold_writes(&self) -> RwLockWriteGuard<'_, GateState> {
        self.gate.write()
    }

    /// The gate's state now.
    pub fn gate_state(&self) -> GateState {
        self.gate.read().clone()
    }
}

/// The write gate held open (shared) by [`GatedDb::try_open`].
#[derive(Debug)]
pub struct OpenGate<'a> {
    db: &'a Db,
    _gate: RwLockReadGuard<'a, GateState>,
}

impl OpenGate<'_> {
    /// Applies `batch`; the gate is already held open.
    pub fn write(&self, wo: &WriteOptions, batch: WriteBatch) -> Result<()> {
        Ok(self.db.write(wo, batch)?)
    }

    /// [`OpenGate::write`] through [`engine::Db::write_async`]: the future of the write;
    /// keep the gate held until it resolves.
    pub fn write_async(&self, wo: &WriteOptions, batch: WriteBatch) -> engine::WriteFuture {
        self.db.write_async(wo, batch)
    }
}

impl Deref for GatedDb {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}
