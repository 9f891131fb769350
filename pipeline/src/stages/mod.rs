//! The stages of the stream, each a plain struct with a step method: the
//! runners ([`crate::run`]) call them in order on one thread or give each its
//! own thread, and tests and benches can call them directly.
//!
//! ```text
//! source -> FrontEndStage -> BackEndStage -> MapperStage -> PlannerStage
//!           FrameTracks      Estimate         int8 map       goal, yaw, path
//!                            (+ keyframe with its decoded pair)
//! ```

pub mod backend;
pub mod frontend;
pub mod mapper;
pub mod planner;

pub use backend::BackEndStage;
pub use frontend::FrontEndStage;
pub use mapper::{KeyframeMapper, MAP_FILES, MapConfig, MapSummary, MapperStage};
pub use planner::PlannerStage;

/// Wall time since `start`, ns (saturating).
pub(crate) fn elapsed_ns(start: std::time::Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
