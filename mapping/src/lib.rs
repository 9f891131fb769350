//! Fixed-point occupancy mapping.
//!
//! - [`logodds`]: OctoMap's log-odds model and its int8 fixed-point form, with
//!   unknown kept distinct from free.
//! - [`map`]: the map, cells in 8^3 bricks in a hash map keyed by brick
//!   coordinate, generic over the cell type (int8, or the f32 reference).
//! - [`insert`]: Amanatides-Woo ray traversal and per-scan insertion (each cell
//!   updated once per scan, hits over misses, brick by brick).
//!
//! Coordinates are in the world frame, in metres. To come (issue 5): depth from
//! stereo, the planner's queries (2D slice, entropy, rays), persistence, counted
//! cost and `scout map-bench`.

pub mod insert;
pub mod logodds;
pub mod map;

/// What went wrong in the map.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// A configuration value is out of range; the message names it.
    #[error("invalid map configuration: {0}")]
    Config(String),
}

pub use insert::{ScanInserter, ScanStats};
pub use logodds::{OccupancyParams, QuantizedModel};
pub use map::{CellKey, FixedMap, FloatMap, Occupancy, OccupancyMap};
