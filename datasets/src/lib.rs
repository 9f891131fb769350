//! Sensor data for scout: the data model, the EuRoC/ASL reader and writer, and
//! synthetic worlds with ground truth.
//!
//! - [`model`]: IMU samples, stereo frames, ground truth and calibration types, with
//!   frames and units stated on each field.
//! - [`camera`]: pinhole projection with radial-tangential (EuRoC) and equidistant
//!   (TUM-VI) distortion.
//! - [`image`]: 8-bit grayscale images.

pub mod camera;
pub mod error;
pub mod image;
pub mod model;
pub mod synth;

pub use error::{DatasetError, Location, Result};
pub use image::GrayImage;
pub use model::{
    CameraCalibration, Distortion, GroundTruthState, ImuBias, ImuCalibration, ImuSample,
    PinholeIntrinsics, RigCalibration, SensorEvent, StereoFrame,
};
