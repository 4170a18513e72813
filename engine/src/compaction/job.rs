//! Running a flush or a compaction: merge the inputs, drop what no reader can see, apply the
//! compaction filter, and write sorted output tables.
//!
//! Dropping rules for entries of one user key, newest first (`S` = oldest live snapshot):
//! 1. An entry is *shadowed* when a newer entry of the same key with sequence `<= S` was
//!    already seen: no reader can see it, so it is dropped.
//! 2. A tombstone with sequence `<= S` is dropped when no deeper level can hold the key
//!    (`is_base_level`); flushes never drop tombstones.
//! 3. The newest value with sequence `<= S` goes through the compaction filter; a removed
//!    entry is dropped at the base level and turned into a tombstone elsewhere.
//!
//! Outputs are cut at `target_file_size`, and earlier when they would overlap more than ten
//! target files' worth of the grandparent level; a user key is never split across outputs,
//! which keeps levels 1 and up disjoint by user key.
//!
//! Durability: every output is fsync'd by its builder before the job returns; the caller
//! syncs the directory and records the outputs in the MANIFEST.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::filter::{CompactionFilter, Decision};
use crate::error::{Error, Result};
use crate::fs::WritableFile;
use crate::iterator::InternalIterator;
use crate::keys::{compare_internal, make_internal_key, parse_internal_key, user_key, SequenceNumber, ValueKind};
use crate::sstable::{TableBuilder, TableBuilderOptions};
use crate::version::FileMeta;

/// Makes output files: returns (file number, path, open file).
pub type OutputFactory<'a> = dyn FnMut() -> Result<(u64, PathBuf, Box<dyn WritableFile>)> + 'a;

/// What a job needs besides its input.
pub struct JobParams<'a> {
    /// Oldest sequence any live snapshot (or the latest state) reads at.
    pub smallest_snapshot: SequenceNumber,
    /// True if no level deeper than the output can hold `user_key`. Flushes pass `|_| false`.
    pub is_base_level: &'a dyn Fn(&[u8]) -> bool,
    /// The compaction filter, if any.
    pub filter: Option<Box<dyn CompactionFilter>>,
    /// Table format options.
    pub table_options: TableBuilderOptions,
    /// Cut outputs at this size.
    pub target_file_size: u64,
    /// Files of the level below the output (empty for flushes).
    pub grandparents: &'a [Arc<FileMeta>],
    /// Set when the database shuts down: the job stops with [`Error::Closed`].
    pub shutting_down: &'a AtomicBool,
}

/// What a job did.
#[derive(Debug, Default, Clone)]
pub struct JobOutput {
    /// The tables written, in key order.
    pub files: Vec<FileMeta>,
    /// Bytes of keys and values read from the input.
    pub bytes_read: u64,
    /// Bytes of output files written.
    pub bytes_written: u64,
    /// Entries read.
    pub entries_in: u64,
    /// Entries dropped (shadowed, obsolete tombstones, filtered).
    pub entries_dropped: u64,
}

struct Output {
    number: u64,
    builder: TableBuilder,
    smallest: Vec<u8>,
    largest: Vec<u8>,
    smallest_seq: SequenceNumber,
    largest_seq: SequenceNumber,
}

/// Runs the job over `input` (positioned by this function), writing outputs through
/// `new_output`. On error the outputs written so far are abandoned (their files are left
/// for the obsolete-file sweep); nothing is recorded in the MANIFEST by this function.
pub fn run(
    input: &mut dyn InternalIterator,
    mut p: JobParams<'_>,
    new_output: &mut OutputFactory<'_>,
) -> Result<JobOutput> {
    let mut out = JobOutput::default();
    let mut current: Option<Output> = None;
    let mut current_user_key: Vec<u8> = Vec::new();
    let mut have_key = false;
    let mut last_seq_for_key = SequenceNumber::MAX;
    let mut gp_index = 0usize;
    let mut gp_overlap = 0u64;
    let max_gp_overlap = p.target_file_size.saturating_mul(10);

    input.seek_to_first()?;
    let mut n = 0u64;
    while input.valid() {
        n += 1;
        if n % 1024 == 0 && p.shutting_down.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let ikey = input.key();
        let value = input.value();
        out.entries_in += 1;
        out.bytes_read += (ikey.len() + value.len()) as u64;
        let parsed = parse_internal_key(ikey)
            .ok_or_else(|| Error::corruption("", None, "malformed internal key in compaction input"))?;
        let first_of_key = !have_key || parsed.user_key != current_user_key.as_slice();
        if first_of_key {
            // Cut the output before a new user key if it is full or overlaps too much of
            // the grandparent level.
            if let Some(o) = &current {
                let full = o.builder.estimated_file_size() >= p.target_file_size;
                while let Some(g) = p.grandparents.get(gp_index) {
                    if compare_internal(ikey, &g.largest) == std::cmp::Ordering::Greater {
                        gp_overlap += g.size;
                        gp_index += 1;
                    } else {
                        break;
                    }
                }
                if full || gp_overlap > max_gp_overlap {
                    finish_output(current.take(), &mut out)?;
                    gp_overlap = 0;
                }
            }
            current_user_key.clear();
            current_user_key.extend_from_slice(parsed.user_key);
            have_key = true;
            last_seq_for_key = SequenceNumber::MAX;
        }

        let mut drop = false;
        let mut as_tombstone = false;
        if last_seq_for_key <= p.smallest_snapshot {
            drop = true; // rule 1: shadowed by a newer entry every reader sees
        } else if parsed.seq <= p.smallest_snapshot {
            match parsed.kind {
                ValueKind::Deletion => drop = (p.is_base_level)(parsed.user_key),
                ValueKind::Value => {
                    if let Some(f) = p.filter.as_mut() {
                        if f.filter(parsed.user_key, value) == Decision::Remove {
                            if (p.is_base_level)(parsed.user_key) {
                                drop = true;
                            } else {
                                as_tombstone = true;
                            }
                        }
                    }
                }
            }
        }
        last_seq_for_key = parsed.seq;

        if drop {
            out.entries_dropped += 1;
        } else {
            let tombstone;
            let (k, v): (&[u8], &[u8]) = if as_tombstone {
                out.entries_dropped += 1;
                tombstone = make_internal_key(parsed.user_key, parsed.seq, ValueKind::Deletion);
                (&tombstone, &[])
            } else {
                (ikey, value)
            };
            if current.is_none() {
                let (number, path, file) = new_output()?;
                current = Some(Output {
                    number,
                    builder: TableBuilder::new(file, path, p.table_options.clone()),
                    smallest: k.to_vec(),
                    largest: Vec::new(),
                    smallest_seq: SequenceNumber::MAX,
                    largest_seq: 0,
                });
            }
            if let Some(o) = current.as_mut() {
                o.builder.add(k, v)?;
                o.largest.clear();
                o.largest.extend_from_slice(k);
                o.smallest_seq = o.smallest_seq.min(parsed.seq);
                o.largest_seq = o.largest_seq.max(parsed.seq);
            }
        }
        input.next()?;
    }
    input.status()?;
    finish_output(current.take(), &mut out)?;
    debug_assert!(out.files.windows(2).all(|w| user_key(&w[0].largest) < user_key(&w[1].smallest)));
    Ok(out)
}

fn finish_output(o: Option<Output>, out: &mut JobOutput) -> Result<()> {
    let Some(o) = o else { return Ok(()) };
    let summary = o.builder.finish()?;
    out.bytes_written += summary.file_size;
    out.files.push(FileMeta {
        number: o.number,
        size: summary.file_size,
        smallest: o.smallest,
        largest: o.largest,
        smallest_seq: o.smallest_seq,
        largest_seq: o.largest_seq,
    });
    Ok(())
}
