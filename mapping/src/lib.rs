//! Fixed-point occupancy mapping (not built yet).
//!
//! This crate will hold an int8 log-odds occupancy map stored in cache-sized 3D
//! bricks (and a 2D slice for planning), ray casting of depth measurements into it,
//! and depth from stereo. Coordinates are in the world frame, in metres.
