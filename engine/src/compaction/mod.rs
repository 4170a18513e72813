//! Compaction: choosing what to compact ([`picker`], pure), running it ([`job`]), and the
//! user hook that may drop entries ([`filter`]).

pub mod filter;
pub mod job;
pub mod picker;
