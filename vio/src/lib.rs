//! Stereo visual-inertial odometry.
//!
//! - [`camera`]: the calibrated camera models (pinhole with radial-tangential or
//!   equidistant distortion) with projection Jacobians.
//! - [`frontend`]: image pyramids, Shi-Tomasi corners with grid bucketing,
//!   inverse-compositional pyramidal KLT for temporal and stereo tracking,
//!   epipolar and RANSAC outlier rejection; output [`frontend::FrameTracks`].
//!
//! - [`imu`]: the gyro rotation between two frames (the front end's prior).
//! - [`preintegration`]: on-manifold IMU preintegration with covariance and bias
//!   Jacobians, and the IMU factor's residual and Jacobians (Forster et al.,
//!   "On-Manifold Preintegration", TRO 2017).
//! - [`so3`]: SO(3) exponential, logarithm and right Jacobians.
//!
//! To come (issue 4): the sliding-window back end and initialization.
//! Inputs are `datasets::SensorEvent`s; outputs are `world_from_body` estimates in
//! the EuRoC body (IMU) frame.

pub mod backend;
pub mod camera;
pub mod error;
pub mod frontend;
pub mod imu;
pub mod preintegration;
pub mod so3;

pub use error::{Result, VioError};
