//! Visualization (not built yet).
//!
//! This crate will be the only one that knows Rerun: it will log trajectories,
//! tracks, maps and costs to a Rerun recording behind a cargo feature (the Rerun
//! SDK is slow to build), and write static plots. Stage crates never depend on it.
