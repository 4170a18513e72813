//! Snapshots: reads at a fixed sequence number, registered so that compactions keep what
//! they can see, released on drop.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::keys::SequenceNumber;

/// The sequence numbers of live snapshots, with a count for each.
#[derive(Debug, Default)]
pub(crate) struct SnapshotList {
    live: Mutex<BTreeMap<SequenceNumber, usize>>,
}

impl SnapshotList {
    /// The oldest live snapshot's sequence, if any.
    pub(crate) fn oldest(&self) -> Option<SequenceNumber> {
        self.live.lock().keys().next().copied()
    }

    /// How many snapshots are live.
    pub(crate) fn count(&self) -> usize {
        self.live.lock().values().sum()
    }
}

struct Registered {
    seq: SequenceNumber,
    list: Arc<SnapshotList>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut live = self.list.live.lock();
        if let Some(n) = live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.seq);
            }
        }
    }
}

/// A consistent view of the database as of one moment. Reads through
/// [`crate::ReadOptions::snapshot`] see exactly the writes made before it was taken.
/// Cloning is cheap; the snapshot is released when the last clone drops.
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<Registered>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("sequence", &self.inner.seq).finish()
    }
}

impl Snapshot {
    pub(crate) fn new(list: &Arc<SnapshotList>, seq: SequenceNumber) -> Snapshot {
        *list.live.lock().entry(seq).or_insert(0) += 1;
        Snapshot { inner: Arc::new(Registered { seq, list: list.clone() }) }
    }

    /// The sequence number this snapshot reads at.
    pub fn sequence(&self) -> SequenceNumber {
        self.inner.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_and_release() {
        let list = Arc::new(SnapshotList::default());
        let a = Snapshot::new(&list, 5);
        let b = Snapshot::new(&list, 3);
        let b2 = b.clone();
        let c = Snapshot::new(&list, 3);
        assert_eq!(list.oldest(), Some(3));
        assert_eq!(list.count(), 3);
        drop(b);
        drop(b2);
        assert_eq!(list.oldest(), Some(3));
        drop(c);
        assert_eq!(list.oldest(), Some(5));
        assert_eq!(a.sequence(), 5);
        drop(a);
        assert_eq!(list.oldest(), None);
    }
}
