//! Mutual-information exploration (not built yet).
//!
//! This crate will hold the Fast Shannon Mutual Information planner (FSMI; Zhang et
//! al., "FSMI: Fast computation of Shannon mutual information for
//! information-theoretic mapping", ICRA 2019 / IJRR 2020), a naive reference MI, a
//! frontier-based baseline, candidate generation, path planning and the
//! closed-loop exploration simulation.
