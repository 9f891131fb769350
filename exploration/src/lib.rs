//! Mutual-information exploration: where a robot with a planar range sensor
//! (a 360-degree lidar, or the horizontal fan of a forward-looking camera)
//! should go next, and for a camera which way to face there, to learn the
//! most about its map for the least travel.
//!
//! - [`grid`]: the planner's 2D view, one layer or one height band of the
//!   int8 occupancy map.
//! - [`mi`]: FSMI (Zhang et al., ICRA 2019 / IJRR 2020), the mutual
//!   information of a beam and of a pose (a position, and a heading for a
//!   fan narrower than a full turn), table-driven from the int8 cells (or, to
//!   measure what the tables save, with the terms computed at every visit).
//! - [`naive`]: Shannon MI by numerical integration (Julian et al., IJRR
//!   2014), the reference FSMI is tested against.
//! - [`frontier`]: frontier cells and clusters (Yamauchi 1997).
//! - [`paths`]: obstacle inflation, Dijkstra's distance field, A*.
//! - [`planner`]: the [`planner::Planner`] trait, the MI planner (FSMI-scored
//!   candidates, a kd-tree to keep those in sensor range of a frontier, a
//!   path-length discount, the best of several headings for a camera) and
//!   the nearest-frontier baseline (optionally facing its frontier).
//! - [`sim`]: the closed loop in a synthetic world: lidar, map, planner,
//!   motion, coverage.
//! - [`workload`]: seeded planning grids for tests and benchmarks.
//!
//! Frames and units: world frame, metres, radians from +x; information in bits.

pub mod frontier;
pub mod grid;
pub mod mi;
pub mod naive;
pub mod paths;
pub mod planner;
pub mod sim;
pub mod workload;

/// What went wrong while exploring.
#[derive(Debug, thiserror::Error)]
pub enum ExplorationError {
    /// A configuration value is out of range; the message names it.
    #[error("exploration configuration: {0}")]
    Config(String),
    /// The map refused something.
    #[error(transparent)]
    Mapping(#[from] mapping::MappingError),
    /// The simulated world refused something.
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, ExplorationError>;
