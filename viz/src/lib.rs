//! Visualization for scout.
//!
//! - [`plot`]: static PNG charts drawn on a small RGB raster with a built-in 8x8
//!   bitmap font: stacked bars (e.g. energy per pipeline stage, split by memory
//!   level), roofline plots (performance against arithmetic intensity) and line
//!   charts (trajectory top views at equal scale, quantities over time). No
//!   viewer needed.
//! - `recording` (feature `rerun`): Rerun recordings of the VIO, the map,
//!   exploration and the stages' costs, to an `.rrd` file or a live viewer.
//!   The feature is off for this crate alone (the Rerun SDK is slow to build)
//!   and on in the `scout` binary.
//!
//! This crate is the only one that knows Rerun; stage crates never depend on
//! it.

pub mod plot;
#[cfg(feature = "rerun")]
pub mod recording;
