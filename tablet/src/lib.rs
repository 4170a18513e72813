//! The Bigtable data model over the engine (first step of the tablet server).
pub mod proto;
