//! Check-and-mutate: one of two mutation lists, chosen by a predicate on the row, applied
//! atomically ([`Tablet::check_and_mutate_row`]).
//!
//! Bigtable's `CheckAndMutateRow` semantics:
//!
//! - With a `predicate_filter`, the predicate *matches* when the filter, applied to the
//!   row's visible cells, outputs at least one cell. Without one, it matches when the row
//!   has any visible cell.
//! - When it matches, `true_mutations` are applied, else `false_mutations`; the chosen
//!   list may be empty (nothing is written), but not both lists. The answer is whether the
//!   predicate matched.
//! - The check and the write happen under the row's lock: no other writer of the row can
//!   slip in between, and readers see the row before or after the chosen list, never half
//!   of it. Both lists are validated (and the predicate compiled) before the lock is taken:
//!   an invalid mutation in either list fails the request and writes nothing, whichever
//!   branch would have been taken.

use crate::error::{Error, Result};
use crate::filter::compile_with_seed;
use crate::mutation::{build_batch, validate, validate_row_key};
use crate::proto::bigtable::{Mutation, RowFilter};
use crate::tablet::Tablet;

/// `e` with `list` (the request field holding the bad mutation) named in its message.
pub(crate) fn naming_list(e: Error, list: &str) -> Error {
    match e {
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("{list}: {m}")),
        Error::NotFound(m) => Error::NotFound(format!("{list}: {m}")),
        other => other,
    }
}

impl Tablet {
    /// Applies `true_mutations` to `row` when `predicate` matches it (no predicate: when
    /// the row has any cell), else `false_mutations`, atomically under the row's lock;
    /// returns whether the predicate matched. See the module docs.
    ///
    /// Errors (nothing written): `RowOutOfRange`; `InvalidArgument` for a bad row key,
    /// both lists empty, an invalid mutation in either list (the message names the list
    /// and the mutation's index) or an invalid predicate; `NotFound` for an unknown family.
    pub fn check_and_mutate_row(
        &self,
        row: &[u8],
        predicate: Option<&RowFilter>,
        true_mutations: &[Mutation],
        false_mutations: &[Mutation],
    ) -> Result<bool> {
        self.check_row(row)?;
        validate_row_key(row)?;
        if true_mutations.is_empty() && false_mutations.is_empty() {
            return Err(Error::invalid(
                "check_and_mutate_row needs true_mutations or false_mutations (both are empty)",
            ));
        }
        let schema = self.schema.get();
        for (list, mutations) in [("true_mutations", true_mutations), ("false_mutations", false_mutations)] {
            if !mutations.is_empty() {
                validate(mutations, &schema).map_err(|e| naming_list(e, list))?;
            }
        }
        let predicate = predicate
            .map(|p| compile_with_seed(p, self.clock.now_micros().unsigned_abs()))
            .transpose()
            .map_err(|e| naming_list(e, "predicate_filter"))?;

        let guard = self.locks.lock(row);
        let current = self.read_row(row)?;
        let matched = match (&predicate, current) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(p), Some(r)) => p.apply(&r).is_some(),
        };
        let chosen = if matched { true_mutations } else { false_mutations };
        if !chosen.is_empty() {
            let now = self.clock.now_micros();
            let batch = build_batch(&self.db, &self.locks, &guard, row, chosen, &schema, now)?;
            if !batch.is_empty() {
                self.db.write(&self.write, batch)?;
            }
        }
        drop(guard);
        Ok(matched)
    }
}
