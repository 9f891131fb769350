//! Trajectory evaluation (being built).
