//! Live sensors: what a robot's stereo camera and IMU hand the kernel, turned
//! into the stereo pairs ([`datasets::StereoFrame`]) and IMU samples
//! ([`datasets::ImuSample`]) every other part of scout reads.
//!
//! The layout follows the data: a device layer as thin as it can be (the
//! `ioctl`s and `read`s of V4L2 and IIO) hands raw buffers and kernel time
//! stamps to plain functions that tests drive from recorded or synthetic
//! buffers through the same code:
//!
//! - [`frame`]: a camera buffer (GREY/Y8, YUYV or MJPEG, with the driver's
//!   line stride) to one grey image, or to a stereo pair for the ways stereo
//!   USB cameras present themselves: one side-by-side frame, or one frame
//!   with an eye in each byte of a 16-bit pixel (oCamS style).
//! - [`pairing`]: two cameras, one eye each, paired by time stamp.
//! - [`iio`]: a Linux IIO IMU (buffered capture with the timestamp channel):
//!   the sysfs description of its channels, the layout of a scan in the
//!   character device, and the samples in SI units.
//! - [`split`]: an IMU whose accelerometer and gyroscope are two devices,
//!   merged at the gyroscope's stamps.
//! - `v4l2` (feature `v4l2`): the camera device layer, on the `v4l` crate.
//! - [`clock`]: kernel time stamps (`CLOCK_MONOTONIC`, ns) and the clock
//!   itself.
//!
//! Frames and units: images are 8-bit grey, row-major; time stamps are ns on
//! `CLOCK_MONOTONIC` (the clock V4L2 and IIO stamp buffers with, once IIO is
//! told to); IMU samples are in the IMU's axes, rad/s and m/s^2, with the
//! scale and offset the driver publishes applied. Nothing here panics or
//! allocates without bound on what a device or a file hands it: a buffer
//! that does not fit what was negotiated is an error naming what and where.

pub mod clock;
pub mod frame;
pub mod iio;
pub mod pairing;
pub mod split;
#[cfg(feature = "v4l2")]
pub mod v4l2;

use datasets::{GrayImage, ImuSample};

/// A stereo camera that runs on its own: each call blocks until it has the
/// next pair.
pub trait StereoCamera: Send {
    /// What it is (its devices), for messages.
    fn name(&self) -> String;
    /// Fills `left` and `right` with the next pair (reusing their buffers)
    /// and returns its time stamp, ns on `CLOCK_MONOTONIC`; `None` when the
    /// stream has ended (a recording; a device does not end).
    ///
    /// # Errors
    /// If the camera gives nothing in time or a frame does not decode; the
    /// message names the device.
    fn next_pair(&mut self, left: &mut GrayImage, right: &mut GrayImage) -> Result<Option<i64>>;
    /// Frames lost so far (by the driver, or unpaired).
    fn lost(&self) -> u64;
}

/// An IMU that runs on its own: each call blocks until it has samples.
pub trait Imu: Send {
    /// What it is (its device), for messages.
    fn name(&self) -> String;
    /// Appends the samples that have come (time stamps ns on
    /// `CLOCK_MONOTONIC`) to `out`; returns how many, 0 when the stream has
    /// ended.
    ///
    /// # Errors
    /// If the device fails; the message names it.
    fn read_into(&mut self, out: &mut Vec<ImuSample>) -> Result<usize>;
}

impl Imu for iio::IioImu {
    fn name(&self) -> String {
        self.device_name()
    }

    fn read_into(&mut self, out: &mut Vec<ImuSample>) -> Result<usize> {
        iio::IioImu::read_into(self, out)
    }
}

#[cfg(feature = "v4l2")]
impl StereoCamera for v4l2::V4l2Stereo {
    fn name(&self) -> String {
        v4l2::V4l2Stereo::name(self)
    }

    fn next_pair(&mut self, left: &mut GrayImage, right: &mut GrayImage) -> Result<Option<i64>> {
        v4l2::V4l2Stereo::next_pair(self, left, right).map(Some)
    }

    fn lost(&self) -> u64 {
        v4l2::V4l2Stereo::lost(self)
    }
}

/// What went wrong with a live sensor or one of its buffers.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    /// A camera buffer does not hold what was negotiated.
    #[error("camera frame: {0}")]
    Frame(String),
    /// An IIO device's description or data is not what an IMU gives.
    #[error("IIO device {device}: {what}")]
    Iio {
        /// The device (its sysfs folder or character device).
        device: String,
        /// What is wrong, naming the file or channel.
        what: String,
    },
    /// A configuration value is out of range; the message names it.
    #[error("sensor configuration: {0}")]
    Config(String),
    /// The operating system refused something; the message names the file
    /// or device.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file or device.
        what: String,
        /// The system's error.
        source: std::io::Error,
    },
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, SensorError>;
