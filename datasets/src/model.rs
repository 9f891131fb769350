//! The sensor data model: what a source (EuRoC replay, synthetic sequence, live
//! sensors) produces, and the ground truth it may come with.
//!
//! Conventions (see DESIGN.md):
//! - Timestamps are `t_ns: i64`, nanoseconds on the dataset's clock (EuRoC's).
//! - The body frame is the IMU frame. Transforms are named `a_from_b`, so
//!   `p_a = a_from_b * p_b`. Quaternions are Hamilton (nalgebra's convention).
//! - IMU measurements are in the IMU (body) frame, in SI units. The accelerometer
//!   measures specific force: `accel = body_from_world * (a_world - g_world) + b_a + n_a`
//!   with `g_world = (0, 0, -9.81)` in a z-up world.

use nalgebra::{Isometry3, Vector3};

use crate::image::GrayImage;

/// Standard gravity, m/s^2 (the magnitude used by the simulator and by EuRoC tools).
pub const GRAVITY: f64 = 9.81;

/// One IMU sample, in the IMU (body) frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImuSample {
    /// Time, ns.
    pub t_ns: i64,
    /// Angular velocity of the body w.r.t. the world, in body axes, rad/s.
    pub gyro: Vector3<f64>,
    /// Specific force (acceleration minus gravity), in body axes, m/s^2.
    pub accel: Vector3<f64>,
}

/// A synchronized stereo pair of 8-bit grayscale images.
#[derive(Debug, Clone, PartialEq)]
pub struct StereoFrame {
    /// Exposure time stamp, ns.
    pub t_ns: i64,
    /// Left camera (cam0) image.
    pub left: GrayImage,
    /// Right camera (cam1) image.
    pub right: GrayImage,
}

/// One time-ordered event of a sensor stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SensorEvent {
    /// An IMU sample.
    Imu(ImuSample),
    /// A stereo pair.
    Stereo(StereoFrame),
}

impl SensorEvent {
    /// The event's time stamp, ns.
    #[must_use]
    pub fn t_ns(&self) -> i64 {
        match self {
            Self::Imu(s) => s.t_ns,
            Self::Stereo(f) => f.t_ns,
        }
    }
}

/// IMU biases, in the IMU frame.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ImuBias {
    /// Gyroscope bias, rad/s.
    pub gyro: Vector3<f64>,
    /// Accelerometer bias, m/s^2.
    pub accel: Vector3<f64>,
}

/// The true state of the body at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundTruthState {
    /// Time, ns.
    pub t_ns: i64,
    /// Pose of the body (IMU) frame in the world frame.
    pub world_from_body: Isometry3<f64>,
    /// Velocity of the body origin in world axes, m/s, when the source has it
    /// (EuRoC's `state_groundtruth_estimate0` does, a motion-capture-only source
    /// such as TUM-VI's `mocap0` does not).
    pub v_world: Option<Vector3<f64>>,
    /// IMU biases, when the source has them.
    pub bias: Option<ImuBias>,
}

/// Lens distortion models, applied to normalized image coordinates `(x, y) = (X/Z, Y/Z)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum Distortion {
    /// No distortion.
    None,
    /// Radial-tangential (Brown-Conrady, OpenCV's `k1 k2 p1 p2`), EuRoC's model.
    RadialTangential {
        /// Radial coefficient of r^2.
        k1: f64,
        /// Radial coefficient of r^4.
        k2: f64,
        /// Tangential coefficient.
        p1: f64,
        /// Tangential coefficient.
        p2: f64,
    },
    /// Equidistant fisheye (Kannala-Brandt, OpenCV's `cv::fisheye`), TUM-VI's model:
    /// `theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)`.
    Equidistant {
        /// Coefficient of theta^3.
        k1: f64,
        /// Coefficient of theta^5.
        k2: f64,
        /// Coefficient of theta^7.
        k3: f64,
        /// Coefficient of theta^9.
        k4: f64,
    },
}

/// Pinhole intrinsics, pixels. Pixel `(u, v)` has its origin at the centre of the
/// top-left pixel, as in OpenCV and EuRoC's calibration.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PinholeIntrinsics {
    /// Focal length along x, px.
    pub fx: f64,
    /// Focal length along y, px.
    pub fy: f64,
    /// Principal point x, px.
    pub cx: f64,
    /// Principal point y, px.
    pub cy: f64,
}

/// Calibration of one camera.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraCalibration {
    /// Free-form name (`cam0`).
    pub name: String,
    /// Image width, px.
    pub width: usize,
    /// Image height, px.
    pub height: usize,
    /// Pinhole intrinsics.
    pub intrinsics: PinholeIntrinsics,
    /// Lens distortion.
    pub distortion: Distortion,
    /// Pose of the camera (x right, y down, z forward) in the body (IMU) frame;
    /// EuRoC's `T_BS`.
    pub body_from_cam: Isometry3<f64>,
    /// Frame rate, Hz.
    pub rate_hz: f64,
}

/// Calibration of the IMU: the continuous-time noise model of Kalibr and EuRoC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImuCalibration {
    /// Gyroscope white-noise density, rad/s/sqrt(Hz).
    pub gyro_noise_density: f64,
    /// Gyroscope bias random walk, rad/s^2/sqrt(Hz).
    pub gyro_random_walk: f64,
    /// Accelerometer white-noise density, m/s^2/sqrt(Hz).
    pub accel_noise_density: f64,
    /// Accelerometer bias random walk, m/s^3/sqrt(Hz).
    pub accel_random_walk: f64,
    /// Sample rate, Hz.
    pub rate_hz: f64,
    /// Pose of the IMU in the body frame (identity when the body is the IMU, as in EuRoC).
    pub body_from_imu: Isometry3<f64>,
}

impl ImuCalibration {
    /// The ADIS16448 calibration shipped with EuRoC (`mav0/imu0/sensor.yaml`).
    #[must_use]
    pub fn euroc_adis16448() -> Self {
        Self {
            gyro_noise_density: 1.6968e-4,
            gyro_random_walk: 1.9393e-5,
            accel_noise_density: 2.0e-3,
            accel_random_walk: 3.0e-3,
            rate_hz: 200.0,
            body_from_imu: Isometry3::identity(),
        }
    }
}

/// The calibration of a stereo visual-inertial rig.
#[derive(Debug, Clone, PartialEq)]
pub struct RigCalibration {
    /// Left camera.
    pub cam0: CameraCalibration,
    /// Right camera.
    pub cam1: CameraCalibration,
    /// IMU.
    pub imu: ImuCalibration,
}
