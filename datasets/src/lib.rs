//! Sensor data for scout: the data model, the EuRoC/ASL reader and writer, and
//! synthetic worlds with ground truth.
//!
//! - [`model`]: IMU samples, stereo frames, ground truth and calibration types, with
//!   frames and units stated on each field.
//! - [`camera`]: pinhole projection with radial-tangential (EuRoC) and equidistant
//!   (TUM-VI) distortion.
//! - [`image`]: 8-bit grayscale images; [`png_io`]: reading and writing them.
//! - [`euroc`]: the EuRoC/ASL layout (also TUM-VI exports): a streaming reader
//!   that checks everything it reads, and a writer.
//! - [`rosbag`]: ROS 2 bags (MCAP, CDR): read as a sequence through
//!   [`euroc::EurocDataset::open_mcap`], written by [`rosbag::BagWriter`].
//! - [`synth`]: synthetic rooms, trajectories, rendered stereo, IMU and range
//!   sensors with exact ground truth.

pub mod camera;
pub mod error;
pub mod euroc;
pub mod image;
pub mod model;
pub mod png_io;
pub mod rosbag;
pub mod synth;

pub use error::{DatasetError, Location, Result};
pub use image::GrayImage;
pub use model::{
    CameraCalibration, Distortion, GroundTruthState, ImuBias, ImuCalibration, ImuSample,
    PinholeIntrinsics, RigCalibration, SensorEvent, StereoFrame,
};
