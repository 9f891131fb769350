//! Fixed-point occupancy mapping.
//!
//! - [`logodds`]: OctoMap's log-odds model and its int8 fixed-point form, with
//!   unknown kept distinct from free.
//! - [`map`]: the map, cells in 8^3 bricks in a hash map keyed by brick
//!   coordinate, generic over the cell type (int8, or the f32 reference).
//! - [`insert`]: per-scan insertion (each cell updated once per scan, hits
//!   over misses, brick by brick), every ray or one per end cell, an optional
//!   surface margin; its work counted per scan through `cost`.
//! - [`stereo`]: dense depth from a rectified stereo pair, for keyframes.
//! - [`query`]: what the planner asks: 2D slices and height bands, entropy,
//!   beams through the map.
//! - [`io`]: a versioned, checksummed binary format; PLY and PNG export.
//! - [`scans`]: range scans in a plain binary file, and simulated depth scans.
//!
//! Coordinates are in the world frame, in metres. The design and the measured
//! figures are in `docs/architecture.md`, "Occupancy map".

pub mod insert;
pub mod io;
pub mod logodds;
pub mod map;
pub mod query;
pub mod scans;
pub mod stereo;

/// What went wrong in the map.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// A configuration value is out of range; the message names it.
    #[error("invalid map configuration: {0}")]
    Config(String),
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the system said (in the message, so not also an error source
        /// that a chain would print twice).
        error: std::io::Error,
    },
    /// A file is malformed, truncated or corrupted; the message says where.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, and at which byte offset.
        message: String,
    },
}

pub use insert::{
    CrossedFarEnd, FreeSpace, MAX_CELLS_PER_RAY, ScanInserter, ScanStats, check_ray_cells,
};
pub use logodds::{OccupancyParams, QuantizedModel};
pub use map::{BrickKey, CellKey, FixedMap, FloatMap, Occupancy, OccupancyMap};
pub use query::{MapEntropy, RayOutcome, RaySample, Slice2D};
pub use stereo::{DisparityImage, StereoConfig, StereoDepth, StereoRectification};
