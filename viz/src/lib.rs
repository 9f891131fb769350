//! Visualization for scout.
//!
//! What it holds now:
//!
//! - [`plot`]: static PNG charts drawn on a small RGB raster with a built-in 8x8
//!   bitmap font: stacked bars (e.g. energy per pipeline stage, split by memory
//!   level), roofline plots (performance against arithmetic intensity) and line
//!   charts (trajectory top views at equal scale, quantities over time).
//!
//! Rerun logging (trajectories, tracks, maps and costs written to a Rerun
//! recording) will come later behind a cargo feature, because the Rerun SDK is
//! slow to build. This crate stays the only one that knows Rerun; stage crates
//! never depend on it.

pub mod plot;
