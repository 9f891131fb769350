//! Synthetic visual-inertial sequences with exact ground truth (being built).
