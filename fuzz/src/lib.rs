//! The fuzz targets' bodies, shared with the engine's corpus replay test.
pub mod targets;
