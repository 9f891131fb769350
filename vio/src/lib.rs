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
//! - [`backend`]: initialization (still or in motion), the sliding-window
//!   estimator over keyframes with inverse-depth landmarks, IMU and bias
//!   factors, Levenberg-Marquardt with the Schur complement, marginalization
//!   into a prior, keyframe selection and recovery from tracking loss; output
//!   [`backend::Estimate`] per frame (`world_from_body` in a gravity-aligned
//!   world, body = IMU frame) and IMU-rate propagation.
//! - [`predict`]: poses at the IMU's rate between estimates, the newest
//!   estimate propagated through each sample as it arrives.
//! - [`health`]: the sensors' streams checked before the estimator sees
//!   them: IMU gaps, IMU samples beyond the sensor's range (dropped), camera
//!   gaps, each a [`health::SensorFault`] with its time.
//!
//! Data flow: `FrontEnd::process(&StereoFrame, gyro prior) -> &FrameTracks`, then
//! `BackEnd::push_imu(..)` for the samples up to the frame and
//! `BackEnd::process(&FrameTracks) -> &Estimate`.

pub mod backend;
pub mod camera;
pub mod error;
pub mod frontend;
pub mod health;
pub mod imu;
pub mod predict;
pub mod preintegration;
pub mod so3;
pub mod time_offset;

pub use error::{Result, VioError};
