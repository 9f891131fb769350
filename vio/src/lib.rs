//! Stereo visual-inertial odometry (not built yet).
//!
//! This crate will hold the camera models' use in tracking, the front end (image
//! pyramids, corner detection, pyramidal KLT tracking, stereo matching), IMU
//! preintegration (Forster et al., "On-Manifold Preintegration", TRO 2017), the
//! sliding-window Gauss-Newton back end on SE(3) with marginalization, and
//! initialization. Inputs are `datasets::SensorEvent`s; outputs are
//! `world_from_body` estimates in the EuRoC body (IMU) frame.
