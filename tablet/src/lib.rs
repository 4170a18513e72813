//! The Bigtable data model over the engine — the first step of the tablet server.
//!
//! - [`proto`]: the wire protocol, compiled from our own `.proto` files: Google's
//!   `google.bigtable.v2` data API (its messages are our data model) and the cluster's
//!   internal control services (`bt.internal.v1`).
//! - [`keys`]: the order-preserving encoding of (row, family, qualifier, timestamp) into
//!   one engine key (`docs/tablet_key_encoding.md`).
//! - [`mutation`] and [`locks`]: a row's mutation list as one atomic engine batch, under
//!   striped row locks.
//! - [`cells`] and [`rowset`]: reading rows back, in Bigtable's nesting and order.
//! - [`filter`]: `RowFilter` evaluation, compiled once per request, applied per row.
//! - [`gc`] and [`schema`]: per-family GC rules, hidden at read time and removed by the
//!   engine's compaction filter.
//! - [`tablet`]: a row range `[start, end)` served from one engine `Db`, with its row
//!   operations: [`scan`] (streaming, forward or reversed reads), [`conditional`]
//!   (check-and-mutate), [`read_modify_write`] (append / increment), [`drop_range`]
//!   (dropping rows by prefix or all).
//! - [`reassemble`]: the client side of `ReadRows`, turning response chunks back into rows
//!   under every rule official clients enforce.
//! - [`gate`], [`range_filter`], [`split`]: splitting a tablet in two (a write gate, a
//!   compaction filter that drops rows outside the range, samples, split points).
//! - [`layout`]: where tablets live under the data root, epoch directories and fencing,
//!   the `SPLIT` marker (`docs/cluster.md`).
//! - [`chunks`]: rows as a ReadRows response stream (the chunk rules clients enforce).
//! - [`client`]: the Rust client library (routes by tablet location, retries on "not serving").
//! - [`server`]: the tablet server (gRPC data and control services, lease client).
//!
//! ```
//! use tablet::proto::bigtable::{mutation, Mutation};
//! use tablet::{GcRule, Schema, Tablet, TabletOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let schema = Schema::new().with_family("cf", Some(GcRule::MaxNumVersions(3)))?;
//! let t = Tablet::open(dir.path(), b"", b"", schema, TabletOptions::default())?;
//! let set = Mutation {
//!     mutation: Some(mutation::Mutation::SetCell(mutation::SetCell {
//!         family_name: "cf".into(),
//!         column_qualifier: b"greeting".to_vec(),
//!         timestamp_micros: -1, // server time
//!         value: b"hello".to_vec().into(), // bytes::Bytes: shared, not copied
//!     })),
//! };
//! t.mutate_row(b"row-1", &[set])?;
//! let row = t.read_row(b"row-1")?.expect("the row exists");
//! assert_eq!(row.families[0].columns[0].cells[0].value, b"hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod allocator;
pub mod cells;
pub mod chunks;
pub mod client;
pub mod clock;
pub mod conditional;
pub mod drop_range;
pub mod error;
pub mod filter;
pub mod gate;
pub mod gc;
pub mod keys;
pub mod layout;
pub mod locks;
pub mod mutation;
pub mod proto;
pub mod range_filter;
pub mod read_modify_write;
pub mod reassemble;
pub mod rowset;
pub mod scan;
pub mod schema;
pub mod server;
pub mod split;
pub mod tablet;

pub use clock::{Clock, ManualClock, SystemClock};
pub use drop_range::{DropLimits, DropStats};
pub use error::{Error, Result};
pub use filter::CompiledFilter;
pub use gc::{GcFilterFactory, GcRule};
pub use keys::CellKey;
pub use locks::{RowGuard, RowLocks};
pub use reassemble::{ChunkMerger, ChunkRule};
pub use scan::RowScan;
pub use schema::{Schema, SharedSchema};
pub use tablet::{Tablet, TabletOptions};
