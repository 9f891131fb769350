//! A robot's configuration (`scout run --config robot.toml`): the pipeline's
//! sections ([`PipelineConfig`]) and `[live]`, its devices and calibration,
//! and the opening of those devices as a [`LiveSource`].
//!
//! ```toml
//! [live]
//! calibration = "/home/pi/rig/mav0"   # an ASL folder: cam0/, cam1/, imu0/sensor.yaml
//! # or Kalibr's files (its timeshift_cam_imu shifts the camera's stamps):
//! # kalibr_camchain = "/home/pi/rig/camchain-imucam.yaml"
//! # kalibr_imu = "/home/pi/rig/imu.yaml"
//!
//! [live.camera]
//! layout = "two_devices"              # or "side_by_side", "interleaved"
//! devices = ["/dev/video0", "/dev/video1"]
//! format = "GREY"                     # GREY (Y8), YUYV or MJPG
//! width = 752                         # the whole frame (side by side: both eyes)
//! height = 480
//! fps = 20
//! exposure_100us = 50                 # manual exposure, if set
//! gain = 16                           # if set
//!
//! [live.imu]
//! sysfs = "/sys/bus/iio/devices/iio:device0"
//! dev = "/dev/iio:device0"
//! rate_hz = 200
//! # an accelerometer and a gyroscope on two IIO devices (st_lsm6dsx,
//! # inv_icm42600): sysfs and dev above are the accelerometer's
//! # gyro_sysfs = "/sys/bus/iio/devices/iio:device1"
//! # gyro_dev = "/dev/iio:device1"
//!
//! [live.poses]                        # a pose per IMU sample (crate::imu_rate)
//! file = true                         # OUT/imu_poses.tum
//! udp = "192.168.1.20:14600"          # optional
//! horizon_s = 0.2
//! ```
//!
//! Every field has a default but the devices and the calibration; an unknown
//! field is an error naming it. The camera needs the `v4l2` feature (on in
//! the `scout` binary); without it `[live.camera]` is refused with that
//! reason.

use std::path::{Path, PathBuf};

use datasets::model::RigCalibration;
use sensors::frame::{PixelFormat, StereoLayout};
use serde::Deserialize;

use crate::PipelineError;
use crate::config::PipelineConfig;
use crate::live::{LiveSettings, LiveSource};

/// `scout run`'s configuration file.
#[derive(Debug, Clone, Default)]
pub struct RobotConfig {
    /// The pipeline's sections (as for `scout replay`).
    pub pipeline: PipelineConfig,
    /// The devices and their calibration.
    pub live: LiveConfig,
}

/// `[live]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// An ASL folder (`mav0`) whose `cam0/`, `cam1/` and `imu0/sensor.yaml`
    /// calibrate the rig.
    pub calibration: Option<PathBuf>,
    /// Or Kalibr's `camchain.yaml` (`kalibr_calibrate_imu_camera`'s
    /// `camchain-imucam.yaml`), with [`LiveConfig::kalibr_imu`]; its
    /// `timeshift_cam_imu` shifts the camera's stamps onto the IMU's clock.
    pub kalibr_camchain: Option<PathBuf>,
    /// Kalibr's `imu.yaml` (noise densities, random walks, `update_rate`).
    pub kalibr_imu: Option<PathBuf>,
    /// `[live.camera]`.
    pub camera: Option<CameraConfig>,
    /// `[live.imu]`.
    pub imu: Option<ImuConfig>,
    /// `[live.stream]`: how the source waits and what it keeps.
    pub stream: StreamSettings,
    /// `[live.poses]`: the poses at the IMU's rate.
    pub poses: PosesConfig,
}

/// `[live.poses]`: where the poses at the IMU's rate go
/// ([`crate::imu_rate`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PosesConfig {
    /// Write them to `imu_poses.tum` in the output folder (TUM lines, the
    /// file flushed as it grows).
    pub file: bool,
    /// Also send each as a UDP datagram to this `host:port` (one text
    /// line, `imu_rate::format_pose_line`).
    pub udp: Option<String>,
    /// No pose further than this past the estimate it starts from, s (the
    /// IMU alone drifts quadratically; 0.2 s is a few frame periods).
    pub horizon_s: f64,
}

impl Default for PosesConfig {
    fn default() -> Self {
        Self {
            file: true,
            udp: None,
            horizon_s: 0.2,
        }
    }
}

impl PosesConfig {
    /// Checks the horizon.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming `[live.poses] horizon_s`.
    pub fn validate(&self) -> Result<(), PipelineError> {
        if !(self.horizon_s.is_finite() && self.horizon_s > 0.0 && self.horizon_s <= 5.0) {
            return Err(PipelineError::Config(format!(
                "[live.poses] horizon_s must be in (0, 5] s, got {}",
                self.horizon_s
            )));
        }
        Ok(())
    }

    /// The UDP address, resolved (`None` without one).
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming `[live.poses] udp` when it does not
    /// resolve.
    pub fn udp_address(&self) -> Result<Option<std::net::SocketAddr>, PipelineError> {
        use std::net::ToSocketAddrs as _;
        let Some(text) = &self.udp else {
            return Ok(None);
        };
        let fail =
            |why: String| PipelineError::Config(format!("[live.poses] udp = \"{text}\": {why}"));
        text.to_socket_addrs()
            .map_err(|e| fail(format!("{e} (give host:port)")))?
            .next()
            .map(Some)
            .ok_or_else(|| fail("resolves to no address".into()))
    }

    /// Starts the IMU-rate output: the predictor (IMU noise of `rig`, gaps
    /// of `[health] imu_gap_s`), the file `file.0` (named `file.1` in
    /// messages: what it becomes) when given, and the UDP sink when set.
    ///
    /// # Errors
    /// When a setting is refused, the file cannot be created or the socket
    /// bound.
    pub fn start(
        &self,
        rig: &RigCalibration,
        health: &vio::health::HealthConfig,
        file: Option<(&Path, &str)>,
    ) -> Result<crate::imu_rate::ImuRateOutput, PipelineError> {
        use crate::imu_rate::{ImuRateOutput, PoseSink, TumPoseFile, UdpPoseSink};
        self.validate()?;
        let settings = vio::predict::PredictorSettings {
            max_horizon_ns: (self.horizon_s * 1e9).round() as i64,
            max_gap_ns: (health.imu_gap_s * 1e9).round() as i64,
            // The horizon at 4 kHz, and a margin for the estimate's lag.
            max_samples: (self.horizon_s * 4000.0).ceil() as usize + 1024,
        };
        let predictor = vio::predict::ImuPredictor::new((&rig.imu).into(), settings)
            .map_err(|e| PipelineError::Config(format!("[live.poses]: {e}")))?;
        let mut sinks: Vec<Box<dyn PoseSink>> = Vec::new();
        if let Some((path, name)) = file {
            sinks.push(Box::new(TumPoseFile::create(path)?.named(name)));
        }
        if let Some(to) = self.udp_address()? {
            sinks.push(Box::new(UdpPoseSink::connect(to)?));
        }
        ImuRateOutput::start(predictor, sinks, true)
    }
}

/// How the stereo camera presents its eyes (`[live.camera] layout`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutName {
    /// Two devices, one eye each, paired by time stamp.
    #[default]
    TwoDevices,
    /// One frame, the eyes side by side.
    SideBySide,
    /// One 16-bit frame, an eye in each byte (oCamS).
    Interleaved,
}

/// `[live.camera]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    /// How the eyes are presented.
    pub layout: LayoutName,
    /// The devices: two (left, right) for `two_devices`, one otherwise.
    pub devices: Vec<PathBuf>,
    /// `GREY` (or `Y8`), `YUYV` or `MJPG`.
    pub format: String,
    /// Frame width, pixels (the whole frame).
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Frames a second to ask for.
    pub fps: Option<u32>,
    /// Manual exposure, 100 us units.
    pub exposure_100us: Option<i64>,
    /// Gain, the driver's units.
    pub gain: Option<i64>,
    /// Driver buffers (2 to 32).
    pub buffers: u32,
    /// Side by side: the left eye is the right half.
    pub left_on_right: bool,
    /// Interleaved: the left eye is in the odd bytes (oCamS: true).
    pub left_in_odd: bool,
    /// Interleaved: each eye is a Bayer mosaic, turned into grey.
    pub bayer: bool,
    /// Two devices: frames this close are a pair, ms.
    pub pair_tolerance_ms: f64,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            layout: LayoutName::TwoDevices,
            devices: Vec::new(),
            format: "GREY".into(),
            width: 752,
            height: 480,
            fps: Some(20),
            exposure_100us: None,
            gain: None,
            buffers: 4,
            left_on_right: false,
            left_in_odd: true,
            bayer: false,
            pair_tolerance_ms: 10.0,
        }
    }
}

impl CameraConfig {
    /// The stereo layout.
    #[must_use]
    pub fn layout(&self) -> StereoLayout {
        match self.layout {
            LayoutName::TwoDevices => StereoLayout::TwoDevices,
            LayoutName::SideBySide => StereoLayout::SideBySide {
                left_on_right: self.left_on_right,
            },
            LayoutName::Interleaved => StereoLayout::Interleaved {
                left_in_odd: self.left_in_odd,
                bayer: self.bayer,
            },
        }
    }

    /// The pixel format.
    ///
    /// # Errors
    /// For a format not supported, naming it.
    pub fn pixel_format(&self) -> Result<PixelFormat, PipelineError> {
        let mut code = [b' '; 4];
        for (c, b) in code.iter_mut().zip(self.format.bytes()) {
            *c = b;
        }
        if self.format.len() > 4 {
            return Err(PipelineError::Config(format!(
                "[live.camera] format {:?} is not a four-character code",
                self.format
            )));
        }
        PixelFormat::from_fourcc(code)
            .map_err(|e| PipelineError::Config(format!("[live.camera] {e}")))
    }

    fn validate(&self) -> Result<(), PipelineError> {
        self.pixel_format()?;
        let want = if self.layout == LayoutName::TwoDevices {
            2
        } else {
            1
        };
        if self.devices.len() != want {
            return Err(PipelineError::Config(format!(
                "[live.camera] layout {:?} takes {want} device(s) in devices, {} given",
                self.layout,
                self.devices.len()
            )));
        }
        let bad = |m: String| Err(PipelineError::Config(format!("[live.camera] {m}")));
        if !(1..=MAX_FRAME_SIDE).contains(&self.width)
            || !(1..=MAX_FRAME_SIDE).contains(&self.height)
        {
            return bad(format!(
                "width and height must be 1 to {MAX_FRAME_SIDE} pixels, got {}x{}",
                self.width, self.height
            ));
        }
        if let Some(fps) = self.fps
            && !(1..=MAX_FPS).contains(&fps)
        {
            return bad(format!("fps must be 1 to {MAX_FPS}, got {fps}"));
        }
        if !(2..=32).contains(&self.buffers) {
            return bad(format!("buffers must be 2 to 32, got {}", self.buffers));
        }
        if !(self.pair_tolerance_ms.is_finite() && self.pair_tolerance_ms > 0.0) {
            return bad(format!(
                "pair_tolerance_ms must be positive, got {}",
                self.pair_tolerance_ms
            ));
        }
        // Two devices' frames within half a period are one pair; a wider
        // tolerance could pair a frame with its partner's neighbour (the
        // rate asked for; the driver's own when none is).
        if let Some(fps) = self.fps
            && self.layout == LayoutName::TwoDevices
            && self.pair_tolerance_ms >= 500.0 / f64::from(fps)
        {
            let half_period_ms = 500.0 / f64::from(fps);
            return bad(format!(
                "pair_tolerance_ms ({}) must be under half the frame period ({half_period_ms} ms)",
                self.pair_tolerance_ms
            ));
        }
        if self.layout == LayoutName::SideBySide && !self.width.is_multiple_of(2) {
            return bad(format!(
                "side_by_side needs an even width (two eyes), got {}",
                self.width
            ));
        }
        if self.layout == LayoutName::Interleaved && self.pixel_format()? != PixelFormat::Yuyv {
            return bad(format!(
                "interleaved needs the 16-bit YUYV format (an eye in each byte), got {:?}",
                self.format
            ));
        }
        if self.bayer && self.layout != LayoutName::Interleaved {
            return bad("bayer applies to the interleaved layout only".into());
        }
        if self.left_on_right && self.layout != LayoutName::SideBySide {
            return bad("left_on_right applies to the side_by_side layout only".into());
        }
        Ok(())
    }
}

/// Largest frame side accepted, pixels.
const MAX_FRAME_SIDE: u32 = 8192;
/// Largest frame rate accepted, Hz.
const MAX_FPS: u32 = 1000;

/// `[live.imu]`: a Linux IIO IMU.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImuConfig {
    /// Its sysfs folder.
    pub sysfs: PathBuf,
    /// Its character device.
    pub dev: PathBuf,
    /// Samples a second to ask for.
    pub rate_hz: Option<f64>,
    /// A trigger to attach, for drivers that need one.
    pub trigger: Option<String>,
    /// Scans the kernel buffer holds.
    pub buffer_scans: u32,
    /// For an IMU whose gyroscope is a second IIO device (`st_lsm6dsx`,
    /// `inv_icm42600`): its sysfs folder (`sysfs` and `dev` are then the
    /// accelerometer's), with [`ImuConfig::gyro_dev`].
    pub gyro_sysfs: Option<PathBuf>,
    /// The gyroscope's character device, with [`ImuConfig::gyro_sysfs`].
    pub gyro_dev: Option<PathBuf>,
}

impl ImuConfig {
    /// The gyroscope's own device (`gyro_sysfs`, `gyro_dev`), when the IMU
    /// is two devices; `None` for one.
    ///
    /// # Errors
    /// [`PipelineError::Config`] when only one of the two is given.
    pub fn gyro_device(&self) -> Result<Option<(&Path, &Path)>, PipelineError> {
        match (&self.gyro_sysfs, &self.gyro_dev) {
            (None, None) => Ok(None),
            (Some(sysfs), Some(dev)) => Ok(Some((sysfs, dev))),
            _ => Err(PipelineError::Config(
                "[live.imu] gyro_sysfs and gyro_dev go together (an accelerometer and a \
                 gyroscope on two IIO devices: sysfs and dev are then the accelerometer's)"
                    .into(),
            )),
        }
    }
}

impl Default for ImuConfig {
    fn default() -> Self {
        Self {
            sysfs: "/sys/bus/iio/devices/iio:device0".into(),
            dev: "/dev/iio:device0".into(),
            rate_hz: Some(200.0),
            trigger: None,
            buffer_scans: 256,
            gyro_sysfs: None,
            gyro_dev: None,
        }
    }
}

/// `[live.stream]`: [`LiveSettings`] in the file (the first pair's IMU lead
/// is `[pipeline] imu_lead_s`, as for a recording).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamSettings {
    /// See [`LiveSettings::camera_timeout_s`].
    pub camera_timeout_s: f64,
    /// See [`LiveSettings::imu_wait_s`].
    pub imu_wait_s: f64,
    /// See [`LiveSettings::imu_queue`].
    pub imu_queue: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        let s = LiveSettings::default();
        Self {
            camera_timeout_s: s.camera_timeout_s,
            imu_wait_s: s.imu_wait_s,
            imu_queue: s.imu_queue,
        }
    }
}

impl RobotConfig {
    /// The live source's settings: `[live.stream]`, the IMU lead of
    /// `[pipeline]`, and the camera's time shift (s, from the calibration).
    #[must_use]
    pub fn live_settings(&self, camera_time_shift_s: f64) -> LiveSettings {
        let s = self.live.stream;
        LiveSettings {
            camera_timeout_s: s.camera_timeout_s,
            imu_wait_s: s.imu_wait_s,
            imu_queue: s.imu_queue,
            imu_lead_s: self.pipeline.pipeline.imu_lead_s,
            camera_time_shift_ns: (camera_time_shift_s * 1e9).round() as i64,
        }
    }
}

impl RobotConfig {
    /// Reads a robot's TOML file: `[live]` here, every other section the
    /// pipeline's.
    ///
    /// # Errors
    /// If the file cannot be read, is not TOML, has an unknown field or a
    /// value out of range; the message names the file and the field.
    /// Relative calibration paths are taken from the file's folder.
    pub fn from_file(path: &Path) -> Result<Self, PipelineError> {
        let fail =
            |e: &dyn std::fmt::Display| PipelineError::Config(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
        let mut config = Self::from_toml(&text).map_err(|e| fail(&e))?;
        // Paths in the file are from its folder, wherever scout is started
        // (a service's working directory is not the user's).
        let base = path.parent().unwrap_or(Path::new(""));
        let live = &mut config.live;
        for p in [
            &mut live.calibration,
            &mut live.kalibr_camchain,
            &mut live.kalibr_imu,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// Parses a robot's configuration from TOML text.
    ///
    /// # Errors
    /// As [`RobotConfig::from_file`], without the file's name.
    pub fn from_toml(text: &str) -> Result<Self, PipelineError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| PipelineError::Config(e.to_string()))?;
        let live = match table.remove("live") {
            Some(v) => LiveConfig::deserialize(v)
                .map_err(|e| PipelineError::Config(format!("[live] {e}")))?,
            None => LiveConfig::default(),
        };
        let pipeline = PipelineConfig::deserialize(toml::Value::Table(table))
            .map_err(|e| PipelineError::Config(e.to_string()))?;
        pipeline.validate()?;
        if let Some(camera) = &live.camera {
            camera.validate()?;
        }
        live.poses.validate()?;
        if let Some(imu) = &live.imu {
            imu.gyro_device()?;
        }
        let config = Self { pipeline, live };
        config.live_settings(0.0).validate()?;
        Ok(config)
    }
}

/// The rig's calibration `[live]` names (an ASL folder, or Kalibr's two
/// files with the camera's frame rate `rate_hz`), and the camera-IMU time
/// shift it gives (s, Kalibr's convention `t_imu = t_cam + shift`; 0 for an
/// ASL folder).
///
/// # Errors
/// If neither or both are given, or a file is missing or malformed (naming
/// it and the line).
pub fn read_calibration(
    live: &LiveConfig,
    rate_hz: f64,
) -> Result<(RigCalibration, f64), PipelineError> {
    match (&live.calibration, &live.kalibr_camchain, &live.kalibr_imu) {
        (Some(mav0), None, None) => Ok((read_asl_calibration(mav0)?, 0.0)),
        (None, Some(camchain), Some(imu)) => {
            datasets::euroc::read_kalibr_rig(camchain, imu, rate_hz)
                .map_err(|e| PipelineError::Config(format!("[live] Kalibr calibration: {e}")))
        }
        (None, None, None) => Err(PipelineError::Config(
            "[live] calibration is not set: the ASL folder (mav0) of the rig's sensor.yaml files, \
             or kalibr_camchain and kalibr_imu"
                .into(),
        )),
        _ => Err(PipelineError::Config(
            "[live] give either calibration (an ASL folder) or both kalibr_camchain and \
             kalibr_imu"
                .into(),
        )),
    }
}

/// Reads the rig's calibration from an ASL folder (`mav0`).
///
/// # Errors
/// If a `sensor.yaml` is missing or malformed (naming it).
pub fn read_asl_calibration(mav0: &Path) -> Result<RigCalibration, PipelineError> {
    let fail =
        |e: datasets::DatasetError| PipelineError::Config(format!("[live] calibration: {e}"));
    let cam = |name: &str| {
        datasets::euroc::read_camera_sensor_yaml(&mav0.join(name).join("sensor.yaml"), name)
            .map_err(fail)
    };
    Ok(RigCalibration {
        cam0: cam("cam0")?,
        cam1: cam("cam1")?,
        imu: datasets::euroc::read_imu_yaml(&mav0.join("imu0").join("sensor.yaml"))
            .map_err(fail)?,
    })
}

/// Opens the devices `[live]` names as a [`LiveSource`].
///
/// # Errors
/// If a device or the calibration is missing, cannot be opened, or the
/// camera's frames are not the calibration's size; with this build lacking
/// the `v4l2` feature, for any camera.
pub fn open_live(robot: &RobotConfig) -> Result<LiveSource, PipelineError> {
    let live = &robot.live;
    let camera_config = live.camera.as_ref().ok_or_else(|| {
        PipelineError::Config("[live.camera] is missing: the stereo camera's devices".into())
    })?;
    let rate_hz = f64::from(camera_config.fps.unwrap_or(20));
    let (rig, shift_s) = read_calibration(live, rate_hz)?;
    let imu_config = live.imu.as_ref().ok_or_else(|| {
        PipelineError::Config("[live.imu] is missing: the IMU's IIO device".into())
    })?;
    let (eye_w, eye_h) = match camera_config.layout {
        LayoutName::SideBySide => (camera_config.width / 2, camera_config.height),
        _ => (camera_config.width, camera_config.height),
    };
    for (name, cam) in [("cam0", &rig.cam0), ("cam1", &rig.cam1)] {
        if (eye_w as usize, eye_h as usize) != (cam.width, cam.height) {
            return Err(PipelineError::Config(format!(
                "[live.camera] gives {eye_w}x{eye_h} an eye, the calibration's {name} is {}x{}",
                cam.width, cam.height
            )));
        }
    }
    let camera = open_camera(camera_config)?;
    let imu = open_imu(imu_config, &robot.pipeline.health)?;
    LiveSource::start(camera, imu, rig, robot.live_settings(shift_s))
}

/// The IIO IMU of `[live.imu]`: one device, or an accelerometer and a
/// gyroscope on two (`gyro_sysfs`, `gyro_dev`) merged at the gyroscope's
/// stamps across at most `[health] imu_gap_s` of the accelerometer.
fn open_imu(
    c: &ImuConfig,
    health: &vio::health::HealthConfig,
) -> Result<Box<dyn sensors::Imu>, PipelineError> {
    use sensors::iio::{IioChannels, IioImu, IioSettings};
    let settings = |sysfs: &Path, dev: &Path, channels| IioSettings {
        sysfs: sysfs.to_path_buf(),
        dev: dev.to_path_buf(),
        rate_hz: c.rate_hz,
        trigger: c.trigger.clone(),
        buffer_scans: c.buffer_scans,
        channels,
    };
    let fail = |e: sensors::SensorError| PipelineError::Config(format!("[live.imu] {e}"));
    match c.gyro_device()? {
        None => Ok(Box::new(
            IioImu::open(&settings(&c.sysfs, &c.dev, IioChannels::Both)).map_err(fail)?,
        )),
        Some((gyro_sysfs, gyro_dev)) => {
            let accel = IioImu::open(&settings(&c.sysfs, &c.dev, IioChannels::Accelerometer))
                .map_err(fail)?;
            let gyro = IioImu::open(&settings(gyro_sysfs, gyro_dev, IioChannels::Gyroscope))
                .map_err(fail)?;
            let max_gap_ns = (health.imu_gap_s * 1e9).round() as i64;
            Ok(Box::new(
                sensors::split::SplitImu::start(Box::new(accel), Box::new(gyro), max_gap_ns)
                    .map_err(fail)?,
            ))
        }
    }
}

#[cfg(feature = "v4l2")]
fn open_camera(c: &CameraConfig) -> Result<Box<dyn sensors::StereoCamera>, PipelineError> {
    let format = c.pixel_format()?;
    let devices: Vec<sensors::v4l2::DeviceSettings> = c
        .devices
        .iter()
        .map(|path| sensors::v4l2::DeviceSettings {
            path: path.clone(),
            format,
            width: c.width,
            height: c.height,
            fps: c.fps,
            exposure_100us: c.exposure_100us,
            gain: c.gain,
            buffers: c.buffers,
        })
        .collect();
    let tolerance = (c.pair_tolerance_ms * 1e6).round() as i64;
    let camera = sensors::v4l2::V4l2Stereo::open(c.layout(), &devices, tolerance)
        .map_err(|e| PipelineError::Config(format!("[live.camera] {e}")))?;
    Ok(Box::new(camera))
}

#[cfg(not(feature = "v4l2"))]
fn open_camera(_: &CameraConfig) -> Result<Box<dyn sensors::StereoCamera>, PipelineError> {
    Err(PipelineError::Config(
        "[live.camera]: this scout was built without V4L2 cameras (cargo feature v4l2, which \
         needs libclang to build)"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_robot_file_parses_its_live_section_and_the_pipeline_s() {
        let text = r#"
[frontend]
max_features = 150

[live]
calibration = "/rig/mav0"

[live.camera]
layout = "side_by_side"
devices = ["/dev/video2"]
format = "MJPG"
width = 1280
height = 480
left_on_right = true

[live.imu]
rate_hz = 400

[live.stream]
imu_wait_s = 0.02

[live.poses]
udp = "127.0.0.1:14600"
horizon_s = 0.1
"#;
        let c = RobotConfig::from_toml(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.pipeline.frontend.max_features, 150);
        let cam = c.live.camera.unwrap_or_default();
        assert_eq!(
            cam.layout(),
            StereoLayout::SideBySide {
                left_on_right: true
            }
        );
        assert_eq!(cam.pixel_format().ok(), Some(PixelFormat::Mjpeg));
        assert_eq!(c.live.imu.map(|i| i.rate_hz), Some(Some(400.0)));
        assert!((c.live.stream.imu_wait_s - 0.02).abs() < 1e-12);
        assert!(c.live.poses.file && (c.live.poses.horizon_s - 0.1).abs() < 1e-12);
        assert_eq!(
            c.live.poses.udp_address().ok().flatten(),
            Some(([127, 0, 0, 1], 14600).into())
        );
    }

    #[test]
    fn bad_robot_files_are_refused_naming_the_field() {
        let message = |text: &str| match RobotConfig::from_toml(text) {
            Ok(_) => panic!("accepted {text}"),
            Err(e) => e.to_string(),
        };
        assert!(message("[live]\ncamra = 1\n").contains("camra"));
        assert!(
            message("[live.camera]\nformat = \"NV12\"\ndevices = [\"a\", \"b\"]\n")
                .contains("NV12")
        );
        assert!(message("[live.camera]\ndevices = [\"a\"]\n").contains("devices"));
        assert!(message("[live.stream]\nimu_wait_s = 0\n").contains("imu_wait_s"));
        assert!(message("[live.poses]\nhorizon_s = 0\n").contains("horizon_s"));
        assert!(message("[live.imu]\ngyro_sysfs = \"/sys/x\"\n").contains("gyro_dev"));
        assert!(message("[live.poses]\nrate = 1\n").contains("rate"));
        let bad_udp = PosesConfig {
            udp: Some("no port here".into()),
            ..PosesConfig::default()
        };
        assert!(
            bad_udp
                .udp_address()
                .is_err_and(|e| e.to_string().contains("[live.poses] udp")),
            "an address without a port is refused naming the setting"
        );
        let camera = |extra: &str| format!("[live.camera]\ndevices = [\"a\", \"b\"]\n{extra}");
        assert!(message(&camera("fps = 0\n")).contains("fps"));
        assert!(message(&camera("width = 0\n")).contains("width"));
        assert!(message(&camera("buffers = 1\n")).contains("buffers"));
        assert!(message(&camera("pair_tolerance_ms = 30\n")).contains("half the frame period"));
        assert!(message(&camera("bayer = true\n")).contains("bayer"));
        assert!(message(&camera("left_on_right = true\n")).contains("left_on_right"));
        let one = |extra: &str| format!("[live.camera]\ndevices = [\"a\"]\n{extra}");
        assert!(message(&one("layout = \"side_by_side\"\nwidth = 1281\n")).contains("even width"));
        assert!(message(&one("layout = \"interleaved\"\nformat = \"GREY\"\n")).contains("YUYV"));
        // Relative calibration paths are the file's folder's.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("robot.toml");
        std::fs::write(&file, "[live]\ncalibration = \"rig/mav0\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let robot = RobotConfig::from_file(&file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(robot.live.calibration, Some(dir.path().join("rig/mav0")));
        assert!(message("[frontend]\nmax_features = 0\n").contains("frontend"));
        // Nothing to open without the camera, or the calibration.
        let mut robot = RobotConfig::default();
        match open_live(&robot) {
            Ok(_) => panic!("opened nothing"),
            Err(e) => assert!(e.to_string().contains("[live.camera]"), "{e}"),
        }
        let live = &mut robot.live;
        live.camera = Some(CameraConfig {
            devices: vec!["/dev/video90".into(), "/dev/video91".into()],
            ..CameraConfig::default()
        });
        for (asl, camchain, imu) in [
            (false, false, false),
            (true, true, true),
            (false, true, false),
        ] {
            robot.live.calibration = asl.then(|| "rig/mav0".into());
            robot.live.kalibr_camchain = camchain.then(|| "camchain.yaml".into());
            robot.live.kalibr_imu = imu.then(|| "imu.yaml".into());
            match open_live(&robot) {
                Ok(_) => panic!("opened nothing"),
                Err(e) => assert!(
                    e.to_string().contains("calibration") || e.to_string().contains("kalibr"),
                    "{e}"
                ),
            }
        }
    }
}
