//! Work and traffic accounting and the cost model (not built yet).
//!
//! This crate will hold the analytic per-kernel counters (operations by kind,
//! bytes moved by memory level), hardware descriptions (Raspberry Pi 4 and 5,
//! an Eyeriss/Navion-style accelerator hierarchy) and the model that turns counts
//! into energy (compute vs data movement, after Horowitz, ISSCC 2014) and a
//! roofline latency bound per stage.
