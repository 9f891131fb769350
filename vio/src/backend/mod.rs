//! The sliding-window visual-inertial back end.
//!
//! Input: IMU samples in time order ([`BackEnd::push_imu`]) and the front end's
//! [`FrameTracks`] for each stereo frame ([`BackEnd::process`]), after the IMU
//! samples up to (at least) the frame's time. Output: one [`Estimate`] per frame,
//! `world_from_body` in a gravity-aligned world frame (z up, gravity
//! `(0, 0, -9.81)` m/s^2, origin and yaw of the body at initialization), body =
//! IMU frame, and IMU-rate propagation between frames ([`BackEnd::propagate`]).
//!
//! How a frame is processed:
//! 1. **Initialization** ([`init`]): the first frames are watched until the
//!    camera has been still for `init_still_s` (features stay within
//!    `still_max_flow_px` of where they were): gravity is the mean specific force, the
//!    gyro bias the mean rate, the velocity zero. When the sequence starts in
//!    motion, after `init_timeout_s` the mean specific force still gives roll and
//!    pitch (with a loose prior) and the velocity starts at zero with a loose
//!    prior; stereo depth gives the metric scale in both cases.
//! 2. The frame becomes the newest state of the [`window`], predicted from the
//!    last keyframe with the IMU preintegrated since ([`crate::preintegration`],
//!    Forster et al., T-RO 2017). Its cam0 and cam1 bearings of known landmarks
//!    become reprojection factors.
//! 3. The frame is tracked alone (Levenberg-Marquardt on its 15-dim state,
//!    keyframes and landmarks fixed); observations far from their prediction
//!    are dropped and the solve repeated once. While the window is young (fewer
//!    than `window_keyframes` keyframes since a start) the whole window is
//!    solved instead, since its keyframes' velocities and biases are still
//!    settling.
//! 4. **Keyframe selection**: the frame is kept as a keyframe when the
//!    rotation-compensated parallax since the last keyframe exceeds
//!    `keyframe_parallax_px`, when the share of features with a landmark falls
//!    under `keyframe_min_tracked_ratio`, or when `keyframe_max_interval_s`
//!    passed. A keyframe triggers Levenberg-Marquardt over the whole window
//!    with the landmarks eliminated by the Schur complement ([`window`]) and
//!    the gauge (position and yaw, which nothing observes) held at the oldest
//!    keyframe, starts landmarks for its stereo features that have none
//!    (inverse depth from the stereo rays, hosted in it); when the window holds
//!    more than `window_keyframes`, the oldest keyframe and the landmarks it
//!    hosts are marginalized into a prior. A frame that is not a keyframe is
//!    dropped with its observations (the IMU since the last keyframe keeps
//!    accumulating).
//! 5. **One sensor missing** ([`Estimate::mode`]): across an interval the IMU
//!    does not cover without a gap, the frame is tied to the last keyframe by
//!    a constant-velocity motion prior instead of the IMU factor
//!    ([`TrackingMode::Visual`]: stereo vision carries it); a frame vision
//!    cannot fix while the IMU is whole is the IMU's prediction
//!    ([`TrackingMode::Inertial`]) for at most `max_dead_reckoning_s` after
//!    vision last fixed one.
//! 6. **Failure detection**: a non-finite or implausible state (speed, biases),
//!    or too few landmarks seen when neither sensor can carry the frame, marks
//!    it `Lost`; the window restarts from the last estimate vision fixed,
//!    propagated by the IMU, with a loose prior, when that estimate is at most
//!    `max_dead_reckoning_s` old and the IMU has no gap since; otherwise the
//!    back end initializes afresh in a new world frame ([`Estimate::session`]).
//!
//! Landmarks are inverse depths in their host keyframe ([`reprojection`]): one
//! parameter each, so the Schur complement is a scalar division per landmark;
//! well-conditioned for distant points; and stereo gives each a depth at birth.
//!
//! # Measured
//! With the front end on rendered synthetic flights of 60 s (`scout synth --seed
//! N --duration 60`, then `scout replay DIR --out OUT`): ATE RMSE after SE(3)
//! alignment 6.5, 9.4, 7.4, 5.1, 4.9 mm on medium seeds 1-5, 7.6 and 7.0 mm on
//! hard seeds 1-2, 11.5 mm over 120 s; 1.1 mm on the real EuRoC
//! `V1_01_easy_micro` (drift from the start 2.8 mm). Time per frame on one core
//! (`cargo run --release -p vio --example run_vio -- DIR`): 0.9-1.2 ms mean
//! (0.3 ms for a tracked frame, 3-4 ms for a keyframe). On synthetic feature
//! tracks with 0.3 px noise (`cargo test -p vio --test backend_synthetic --
//! --nocapture`): 1.9-2.6 mm over 30 s, and 1.4e-6 m with noise-free input.

pub mod init;
pub mod reprojection;
mod window;
mod work;

use std::time::Instant;

use datasets::model::GRAVITY;
use datasets::{ImuBias, ImuSample, RigCalibration};
use nalgebra::{Isometry3, Matrix3, Translation3, Vector3};
use serde::{Deserialize, Serialize};

use crate::frontend::FrameTracks;
use crate::preintegration::{ImuNoise, NavState, Preintegrated};
use crate::{Result, VioError};
use init::{InitDecision, Initializer};
use reprojection::{Extrinsics, bearing_rate, stereo_inverse_depth};
use window::{CostWeights, FrameState, Landmark, Link, Observation, Prior, Window};

/// Configuration of the back end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackEndConfig {
    /// Keyframes kept in the sliding window.
    pub window_keyframes: usize,
    /// Levenberg-Marquardt iterations per solve, at most.
    pub max_iterations: usize,
    /// Optimize the whole window at every frame; otherwise (the default) a
    /// frame is first tracked alone against the fixed keyframes and landmarks,
    /// and the window is optimized only when it becomes a keyframe.
    pub optimize_window_every_frame: bool,
    /// Standard deviation of a feature position, px.
    pub pixel_sigma_px: f64,
    /// Huber threshold of the reprojection error, px.
    pub huber_px: f64,
    /// Observations further than this from their prediction after a solve are
    /// dropped, px.
    pub outlier_px: f64,
    /// Rotation-compensated parallax since the last keyframe that makes a
    /// keyframe, px.
    pub keyframe_parallax_px: f64,
    /// A frame is a keyframe when the landmarks it sees in cam0 are fewer than
    /// this share of its stereo features.
    pub keyframe_min_tracked_ratio: f64,
    /// Longest time between keyframes, s.
    pub keyframe_max_interval_s: f64,
    /// Nearest and farthest depth accepted for a new landmark, m.
    pub landmark_depth_range_m: (f64, f64),
    /// Stillness needed before a static initialization, s.
    pub init_still_s: f64,
    /// Largest median feature motion from the start of a still run that still
    /// counts as still, px.
    pub still_max_flow_px: f64,
    /// Time after which the back end initializes in motion, s.
    pub init_timeout_s: f64,
    /// Fewest landmarks seen in a frame before tracking is declared lost.
    pub min_tracked_landmarks: usize,
    /// Largest plausible speed, m/s.
    pub max_speed_m_s: f64,
    /// Longest time after the last good estimate that a restart may bridge by
    /// IMU propagation, s; after a longer loss the back end initializes afresh
    /// in a new world frame (a new [`Estimate::session`]). Also the longest
    /// the IMU alone may carry the estimate while vision sees too few
    /// landmarks ([`TrackingMode::Inertial`]).
    pub max_dead_reckoning_s: f64,
    /// Acceleration noise of the constant-velocity motion prior that ties
    /// frames across an IMU gap ([`TrackingMode::Visual`]), m/s^2/sqrt(Hz):
    /// the spread of the platform's accelerations over a second.
    pub motion_accel_sigma: f64,
    /// Estimate the camera-IMU time offset online, as a state of the window
    /// (VINS-Mono's `td`): observations are moved along their image
    /// velocity by the offset's change. Otherwise it stays at
    /// `time_offset_s`.
    pub estimate_time_offset: bool,
    /// The camera-IMU time offset the stream starts from, s (Kalibr's
    /// convention: `t_imu = t_cam + offset`; positive when the IMU's stamps
    /// lag), on top of what the source already took off the stamps.
    pub time_offset_s: f64,
    /// Standard deviation of the prior on `time_offset_s`, s.
    pub time_offset_sigma_s: f64,
    /// Random walk of the offset, s/sqrt(s): added to its uncertainty at
    /// each marginalization for the time between the two oldest states, so
    /// its information stays bounded and it follows an offset that drifts
    /// (a USB camera's clock under load). 0 holds it constant.
    pub time_offset_random_walk: f64,
}

/// Largest camera-IMU time offset accepted, s: beyond it the streams are
/// not of one rig (or one clock), which no estimator should paper over.
pub const MAX_TIME_OFFSET_S: f64 = 0.5;

impl Default for BackEndConfig {
    fn default() -> Self {
        Self {
            window_keyframes: 8,
            max_iterations: 6,
            optimize_window_every_frame: false,
            pixel_sigma_px: 1.0,
            huber_px: 2.0,
            outlier_px: 6.0,
            keyframe_parallax_px: 15.0,
            keyframe_min_tracked_ratio: 0.6,
            keyframe_max_interval_s: 0.5,
            landmark_depth_range_m: (0.2, 40.0),
            init_still_s: 0.3,
            still_max_flow_px: 1.0,
            init_timeout_s: 1.0,
            min_tracked_landmarks: 8,
            max_speed_m_s: 20.0,
            max_dead_reckoning_s: 2.0,
            motion_accel_sigma: 2.0,
            estimate_time_offset: true,
            time_offset_s: 0.0,
            time_offset_sigma_s: 0.01,
            time_offset_random_walk: 1e-4,
        }
    }
}

impl BackEndConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// Names the first field out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(VioError::Config(format!("backend: {m}")));
        if !(2..=30).contains(&self.window_keyframes) {
            return bad("window_keyframes must be in 2..=30");
        }
        if !(1..=100).contains(&self.max_iterations) {
            return bad("max_iterations must be in 1..=100");
        }
        // Ranges wide enough for any camera and platform; beyond them a value
        // is a typo (a sigma of 1e300 px silently turned every view into
        // noise).
        let within = [
            ("pixel_sigma_px", self.pixel_sigma_px, 0.01, 50.0),
            ("huber_px", self.huber_px, 0.01, 100.0),
            ("outlier_px", self.outlier_px, 0.1, 1000.0),
            (
                "keyframe_parallax_px",
                self.keyframe_parallax_px,
                0.1,
                1000.0,
            ),
            (
                "keyframe_max_interval_s",
                self.keyframe_max_interval_s,
                0.01,
                60.0,
            ),
            ("init_still_s", self.init_still_s, 0.01, 60.0),
            ("still_max_flow_px", self.still_max_flow_px, 0.01, 100.0),
            ("init_timeout_s", self.init_timeout_s, 0.01, 600.0),
            ("max_speed_m_s", self.max_speed_m_s, 0.01, 1000.0),
            (
                "max_dead_reckoning_s",
                self.max_dead_reckoning_s,
                0.01,
                60.0,
            ),
            ("motion_accel_sigma", self.motion_accel_sigma, 0.01, 1000.0),
            (
                "time_offset_s",
                self.time_offset_s,
                -MAX_TIME_OFFSET_S,
                MAX_TIME_OFFSET_S,
            ),
            (
                "time_offset_sigma_s",
                self.time_offset_sigma_s,
                1e-6,
                MAX_TIME_OFFSET_S,
            ),
            (
                "time_offset_random_walk",
                self.time_offset_random_walk,
                0.0,
                MAX_TIME_OFFSET_S,
            ),
        ];
        for (name, v, lo, hi) in within {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return bad(&format!("{name} must be in [{lo}, {hi}], got {v}"));
            }
        }
        if !(0.0..=1.0).contains(&self.keyframe_min_tracked_ratio) {
            return bad("keyframe_min_tracked_ratio must be in [0, 1]");
        }
        let (near, far) = self.landmark_depth_range_m;
        if !(near.is_finite() && far.is_finite() && near > 0.0 && far > near) {
            return bad("landmark_depth_range_m must be (near, far) with 0 < near < far");
        }
        Ok(())
    }
}

/// Where the estimator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    /// Collecting data for the initialization; no pose yet.
    Initializing,
    /// Initialized and tracking.
    Tracking,
    /// Tracking was lost in this frame; the estimator restarts from the last
    /// good state.
    Lost,
}

/// What carried a tracking estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingMode {
    /// Stereo vision and the IMU, tightly coupled.
    #[default]
    VisualInertial,
    /// The IMU had a gap over the frame's interval: stereo vision alone fixed
    /// the pose, tied to the window by a constant-velocity motion prior; the
    /// biases are held by their random walk until samples return.
    Visual,
    /// Vision saw too few landmarks (dark, blurred or textureless frames):
    /// the pose is the IMU's prediction from the window, for at most
    /// [`BackEndConfig::max_dead_reckoning_s`] after vision last fixed it.
    Inertial,
}

/// The back end's output for one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Time of the frame (its camera stamp), ns.
    pub t_ns: i64,
    /// The state's time on the IMU's clock, ns: `t_ns` plus the camera-IMU
    /// time offset estimated when the frame came (the pose is the body's at
    /// that instant, the frame's exposure).
    pub imu_t_ns: i64,
    /// The camera-IMU time offset estimated after this frame, s (Kalibr's
    /// convention: `t_imu = t_cam + offset`).
    pub time_offset_s: f64,
    /// Status after this frame.
    pub status: TrackingStatus,
    /// What carried the estimate (meaningful when tracking).
    pub mode: TrackingMode,
    /// Pose of the body (IMU) in the world (meaningful when tracking).
    pub world_from_body: Isometry3<f64>,
    /// Velocity of the body in world axes, m/s.
    pub v_world: Vector3<f64>,
    /// IMU biases.
    pub bias: ImuBias,
    /// Whether the frame became a keyframe.
    pub keyframe: bool,
    /// Landmarks observed in this frame (inliers after the solve).
    pub tracked_landmarks: usize,
    /// The world frame's number: 1 after the first initialization, one more
    /// after each re-initialization from scratch (poses of different sessions
    /// are in different world frames; a restart after a short loss keeps it).
    pub session: u32,
    /// Solver iterations run for this frame.
    pub iterations: usize,
    /// Wall time spent in the back end for this frame, ns.
    pub time_ns: u64,
}

/// Counters over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BackEndStats {
    /// Frames processed.
    pub frames: u64,
    /// Keyframes made.
    pub keyframes: u64,
    /// Frames with status `Lost`.
    pub lost: u64,
    /// Re-initializations from scratch (new world frames) after the first.
    pub reinitializations: u64,
    /// Tracking frames carried by vision alone across an IMU gap.
    pub visual_only: u64,
    /// Tracking frames carried by the IMU alone.
    pub inertial_only: u64,
    /// Landmarks created.
    pub landmarks_created: u64,
    /// Observations dropped as outliers.
    pub outliers: u64,
}

const ZERO_BIAS: ImuBias = ImuBias {
    gyro: Vector3::new(0.0, 0.0, 0.0),
    accel: Vector3::new(0.0, 0.0, 0.0),
};

/// The sliding-window estimator. See the module documentation.
#[derive(Debug)]
pub struct BackEnd {
    config: BackEndConfig,
    noise: ImuNoise,
    focal_px: f64,
    cam1_from_cam0: Isometry3<f64>,
    cam0_from_body_r: Matrix3<f64>,
    gravity: Vector3<f64>,
    imu: Vec<ImuSample>,
    initializer: Initializer,
    window: Window,
    /// IMU preintegrated from the last keyframe to the last frame.
    preint: Preintegrated,
    /// The last frame's camera stamp, ns.
    last_frame_t: Option<i64>,
    /// The last frame's time on the IMU's clock, ns.
    last_imu_t: Option<i64>,
    next_id: u64,
    last: Option<Estimate>,
    /// Last tracking estimate that vision fixed.
    last_good: Option<Estimate>,
    /// Time of the last frame vision fixed (modes other than inertial), ns.
    last_visual_t: Option<i64>,
    /// Whether the IMU had a gap since the last keyframe (`preint` is then
    /// not a measurement).
    imu_gap_since_keyframe: bool,
    /// Whether the IMU did not cover the last frame interval.
    imu_missing: bool,
    /// Longest interval between IMU samples that is not a gap, ns.
    imu_gap_ns: i64,
    /// The current world frame's number (0 before the first initialization).
    session: u32,
    stats: BackEndStats,
}

impl BackEnd {
    /// A back end for a calibrated rig.
    ///
    /// # Errors
    /// If the configuration or the calibration is unusable.
    pub fn new(config: BackEndConfig, rig: &RigCalibration) -> Result<Self> {
        config.validate()?;
        let noise = ImuNoise::from(&rig.imu);
        for (name, v) in [
            ("gyro_noise_density", noise.gyro_noise_density),
            ("accel_noise_density", noise.accel_noise_density),
            ("gyro_random_walk", noise.gyro_random_walk),
            ("accel_random_walk", noise.accel_random_walk),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(VioError::Calibration(format!(
                    "IMU {name} must be finite and > 0, got {v}"
                )));
            }
        }
        let focal_px = rig.cam0.intrinsics.fx.max(rig.cam0.intrinsics.fy);
        if !(focal_px.is_finite() && focal_px > 0.0) {
            return Err(VioError::Calibration(
                "cam0 focal length must be > 0".into(),
            ));
        }
        let ext = Extrinsics::new(&rig.cam0.body_from_cam, &rig.cam1.body_from_cam);
        let gravity = Vector3::new(0.0, 0.0, -GRAVITY);
        let weights = CostWeights {
            obs_information: (focal_px / config.pixel_sigma_px).powi(2),
            huber: config.huber_px / config.pixel_sigma_px,
            gyro_random_walk: noise.gyro_random_walk,
            accel_random_walk: noise.accel_random_walk,
            motion_q: config.motion_accel_sigma.powi(2),
        };
        Ok(Self {
            noise,
            focal_px,
            cam1_from_cam0: rig.cam1.body_from_cam.inverse() * rig.cam0.body_from_cam,
            cam0_from_body_r: ext.cam_from_body_r[0],
            gravity,
            imu: Vec::new(),
            initializer: Initializer::new(&config),
            window: {
                let mut w = Window::new(ext, weights);
                w.time_offset_s = config.time_offset_s;
                w.estimate_time_offset = config.estimate_time_offset;
                w.time_offset_random_walk = config.time_offset_random_walk;
                w
            },
            preint: Preintegrated::new(&ZERO_BIAS),
            last_frame_t: None,
            last_imu_t: None,
            next_id: 0,
            last: None,
            last_good: None,
            last_visual_t: None,
            imu_gap_since_keyframe: false,
            imu_missing: false,
            imu_gap_ns: (crate::health::HealthConfig::default().imu_gap_s * 1e9) as i64,
            session: 0,
            stats: BackEndStats::default(),
            config,
        })
    }

    /// Sets the longest interval between two IMU samples that is not a gap
    /// (the stream's [`crate::health::HealthConfig::imu_gap_s`]; its default
    /// until then). An interval with a gap is not preintegrated: vision
    /// alone carries the frames across it.
    ///
    /// # Errors
    /// If `seconds` is not finite and positive.
    pub fn set_imu_gap_s(&mut self, seconds: f64) -> Result<()> {
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= 60.0) {
            return Err(VioError::Config(format!(
                "IMU gap must be in (0, 60] s, got {seconds}"
            )));
        }
        self.imu_gap_ns = (seconds * 1e9) as i64;
        Ok(())
    }

    /// The camera-IMU time offset estimated so far, s (Kalibr's
    /// convention: `t_imu = t_cam + offset`).
    #[must_use]
    pub fn time_offset_s(&self) -> f64 {
        self.window.time_offset_s
    }

    /// [`BackEnd::time_offset_s`] in whole ns.
    fn time_offset_ns(&self) -> i64 {
        (self.window.time_offset_s * 1e9).round() as i64
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &BackEndConfig {
        &self.config
    }

    /// Counters over the run.
    #[must_use]
    pub fn stats(&self) -> BackEndStats {
        self.stats
    }

    /// Keyframes and landmarks in the window now.
    #[must_use]
    pub fn window_size(&self) -> (usize, usize) {
        (self.window.frames.len(), self.window.landmarks.len())
    }

    /// Appends the window's landmarks to `out` as points in the world frame, m
    /// (each from its host keyframe's current pose, its cam0 bearing and its
    /// inverse depth; landmarks at or behind infinity are left out), with
    /// their ids. Nothing when the window is empty.
    pub fn landmarks_world(&self, out: &mut Vec<(u64, nalgebra::Point3<f64>)>) {
        let ext = &self.window.ext;
        for (&id, lm) in &self.window.landmarks {
            if !(lm.rho.is_finite() && lm.rho > 0.0) {
                continue;
            }
            let Some(host) = self.window.frames.iter().find(|f| f.id == lm.host) else {
                continue;
            };
            let point_body = ext.body_from_cam0_r * (lm.bearing / lm.rho) + ext.body_from_cam0_t;
            let point = host.nav.rotation * point_body + host.nav.position;
            out.push((id, nalgebra::Point3::from(point)));
        }
    }

    /// Adds one IMU sample (time-ordered).
    ///
    /// # Errors
    /// If the sample is not finite or goes back in time.
    pub fn push_imu(&mut self, sample: &ImuSample) -> Result<()> {
        if !(sample
            .gyro
            .iter()
            .chain(sample.accel.iter())
            .all(|v| v.is_finite()))
        {
            return Err(VioError::Input(format!(
                "IMU sample at t = {} ns is not finite",
                sample.t_ns
            )));
        }
        if let Some(last) = self.imu.last()
            && sample.t_ns <= last.t_ns
        {
            return Err(VioError::Input(format!(
                "IMU sample at t = {} ns does not follow t = {} ns",
                sample.t_ns, last.t_ns
            )));
        }
        self.imu.push(*sample);
        Ok(())
    }

    /// Processes the tracks of one frame (after the IMU samples up to its time).
    ///
    /// # Errors
    /// If the frame goes back in time.
    pub fn process(&mut self, tracks: &FrameTracks) -> Result<&Estimate> {
        let start = Instant::now();
        if let Some(t) = self.last_frame_t
            && tracks.t_ns <= t
        {
            return Err(VioError::Input(format!(
                "frame at t = {} ns does not follow t = {t} ns",
                tracks.t_ns
            )));
        }
        self.stats.frames += 1;
        self.window.cost.clear();
        self.count_input(
            tracks.features.len(),
            tracks.t_ns.saturating_add(self.time_offset_ns()),
        );
        let id = self.next_id;
        self.next_id += 1;
        // The frame's time on the IMU's clock, kept increasing.
        let t = tracks.t_ns.saturating_add(self.time_offset_ns());
        let t = self.last_imu_t.map_or(t, |last| t.max(last + 1));
        let mut est = if self.window.frames.is_empty() {
            self.try_initialize(id, tracks, t)
        } else {
            self.track(id, tracks, t)
        };
        est.time_offset_s = self.window.time_offset_s;
        self.last_frame_t = Some(tracks.t_ns);
        self.last_imu_t = Some(t);
        self.trim_imu(t);
        est.time_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // A restart after a loss propagates the last estimate vision fixed:
        // dead reckoning is bounded from there, not from its own last step.
        if est.status == TrackingStatus::Tracking && est.mode != TrackingMode::Inertial {
            self.last_good = Some(est.clone());
        }
        Ok(self.last.insert(est))
    }

    /// The counted work of the last [`BackEnd::process`] by kernel (see the
    /// `work` module: `be_input`, `be_preintegrate`, `be_linearize`,
    /// `be_schur`, `be_solve`, `be_evaluate`, `be_track`, `be_marginalize`).
    #[must_use]
    pub fn cost(&self) -> &cost::CostLedger {
        &self.window.cost
    }

    /// Books the frame's input as main-memory reads (`be_input`: the tracks
    /// and IMU samples come from another stage). Also the
    /// preintegration of the frame's IMU samples (`be_preintegrate`: about
    /// 3500 f64 operations a sample, the 9x9 covariance propagation
    /// `F P F' + G Q G'` dominating).
    fn count_input(&mut self, features: usize, t_imu_ns: i64) {
        if !cost::counting() {
            return;
        }
        let from = self.last_imu_t.unwrap_or(i64::MIN);
        let samples = self
            .imu
            .iter()
            .filter(|s| s.t_ns > from && s.t_ns <= t_imu_ns)
            .count() as u64;
        let mut input = cost::KernelCost {
            calls: 1,
            ..cost::KernelCost::default()
        };
        input.read(
            cost::Residence::Main,
            features as u64 * std::mem::size_of::<crate::frontend::Feature>() as u64
                + samples * std::mem::size_of::<ImuSample>() as u64,
        );
        self.window.cost.record("be_input", input);
        let mut pre = cost::KernelCost {
            calls: samples,
            ..cost::KernelCost::default()
        };
        pre.add_ops(cost::OpCounts {
            f64_ops: 3500 * samples,
            ..cost::OpCounts::default()
        });
        pre.read(cost::Residence::Local, samples * 8 * 2 * 81);
        pre.write(cost::Residence::Local, samples * 8 * 81);
        self.window.cost.record("be_preintegrate", pre);
    }

    /// The state at `t_ns` predicted from the last estimate with the IMU samples
    /// pushed since (IMU-rate output for a controller); `None` before the
    /// initialization, after a loss, or when the samples do not reach `t_ns`.
    #[must_use]
    pub fn propagate(&self, t_ns: i64) -> Option<Estimate> {
        let last = self.last.as_ref()?;
        // On the IMU's clock with the offset the last state was set with.
        let t_imu = last.imu_t_ns.saturating_add(t_ns.saturating_sub(last.t_ns));
        if last.status != TrackingStatus::Tracking
            || t_ns < last.t_ns
            || !crate::imu::covers_without_gap(&self.imu, last.imu_t_ns, t_imu, self.imu_gap_ns)
        {
            return None;
        }
        // Measured samples only: no hold past the last one.
        let mut pre = Preintegrated::new(&last.bias);
        pre.integrate_samples(&self.imu, last.imu_t_ns, t_imu, &self.noise)
            .ok()?;
        let nav = pre.predict(&nav_of(last), &last.bias);
        Some(Estimate {
            t_ns,
            imu_t_ns: t_imu,
            world_from_body: isometry(&nav),
            v_world: nav.velocity,
            keyframe: false,
            iterations: 0,
            time_ns: 0,
            tracked_landmarks: 0,
            ..last.clone()
        })
    }

    /// Forgets the sequence: IMU, window, initialization and last estimates
    /// (the counters of [`BackEnd::stats`] and the session number continue).
    pub fn reset(&mut self) {
        self.imu.clear();
        self.initializer = Initializer::new(&self.config);
        self.window.clear();
        self.window.time_offset_s = self.config.time_offset_s;
        self.last_frame_t = None;
        self.last_imu_t = None;
        self.last = None;
        self.last_good = None;
        self.last_visual_t = None;
        self.imu_gap_since_keyframe = false;
        self.imu_missing = false;
    }

    fn trim_imu(&mut self, t_ns: i64) {
        // Keep the samples from the oldest state of the window on (the IMU
        // factors are re-integrated when their bias estimate moves), from the
        // last good estimate on within the dead-reckoning horizon (a restart
        // after a loss propagates it), and a second of history for the
        // initializer's averages.
        let horizon_ns = (self.config.max_dead_reckoning_s * 1e9) as i64;
        let mut oldest = t_ns.saturating_sub(1_000_000_000);
        if let Some(f) = self.window.frames.first() {
            oldest = oldest.min(f.t_ns);
        }
        if let Some(good) = &self.last_good
            && t_ns.saturating_sub(good.imu_t_ns) <= horizon_ns
        {
            oldest = oldest.min(good.imu_t_ns);
        }
        let keep_from = self
            .imu
            .partition_point(|s| s.t_ns <= oldest)
            .saturating_sub(1);
        self.imu.drain(..keep_from);
    }

    /// Re-integrates the IMU factors whose start state's bias moved further
    /// than the first-order bias correction can follow (the correction's error
    /// grows with the square of the change).
    fn relinearize_imu(&mut self) {
        let n = self.window.frames.len();
        for j in 1..n {
            let (head, tail) = self.window.frames.split_at_mut(j);
            let (fi, fj) = (&head[j - 1], &mut tail[0]);
            let Link::Imu(pre) = &mut fj.link else {
                continue;
            };
            if !bias_moved(&pre.bias, &fi.bias) {
                continue;
            }
            let mut fresh = Preintegrated::new(&fi.bias);
            if fresh
                .integrate_samples_holding(
                    &self.imu,
                    fi.t_ns,
                    fj.t_ns,
                    self.imu_gap_ns,
                    &self.noise,
                )
                .is_ok()
            {
                *pre = fresh;
                if j + 1 == n {
                    self.preint = pre.clone();
                }
            }
        }
    }

    fn placeholder(&self, t_ns: i64, status: TrackingStatus) -> Estimate {
        let base = self.last_good.as_ref();
        Estimate {
            t_ns,
            imu_t_ns: t_ns.saturating_add(self.time_offset_ns()),
            time_offset_s: self.window.time_offset_s,
            status,
            mode: TrackingMode::VisualInertial,
            world_from_body: base.map_or_else(Isometry3::identity, |e| e.world_from_body),
            v_world: base.map_or_else(Vector3::zeros, |e| e.v_world),
            bias: base.map_or(ZERO_BIAS, |e| e.bias),
            keyframe: false,
            tracked_landmarks: 0,
            session: self.session,
            iterations: 0,
            time_ns: 0,
        }
    }

    fn try_initialize(&mut self, id: u64, tracks: &FrameTracks, t: i64) -> Estimate {
        match self
            .initializer
            .observe(tracks, t, &self.imu, &self.gravity)
        {
            InitDecision::Wait => self.placeholder(tracks.t_ns, TrackingStatus::Initializing),
            InitDecision::Start(start) => {
                self.session += 1;
                if self.session > 1 {
                    self.stats.reinitializations += 1;
                }
                tracing::info!(
                    "initialized at t = {} ns ({}): gravity from {} IMU samples, gyro bias [{:.4} {:.4} {:.4}] rad/s",
                    t,
                    if start.still { "still" } else { "in motion" },
                    self.imu.len(),
                    start.bias.gyro.x,
                    start.bias.gyro.y,
                    start.bias.gyro.z
                );
                self.start_window(id, tracks, t, start.nav, start.bias, &start.sigmas);
                let mut est = self.estimate_of_newest(tracks.t_ns, 0);
                est.keyframe = true;
                est
            }
        }
    }

    /// Starts a window with one keyframe at this frame.
    fn start_window(
        &mut self,
        id: u64,
        tracks: &FrameTracks,
        t: i64,
        nav: NavState,
        bias: ImuBias,
        sigmas: &init::PriorSigmas,
    ) {
        self.window.clear();
        self.window.frames.push(FrameState {
            id,
            t_ns: t,
            time_offset_s: t.saturating_sub(tracks.t_ns) as f64 * 1e-9,
            nav,
            bias,
            link: Link::None,
        });
        self.window.prior = Some(initial_prior(
            id,
            &nav,
            &bias,
            sigmas,
            self.window.time_offset_s,
            self.config.time_offset_sigma_s,
        ));
        self.preint = Preintegrated::new(&bias);
        self.imu_gap_since_keyframe = false;
        self.last_visual_t = Some(t);
        self.add_landmarks(id, tracks);
        self.stats.keyframes += 1;
    }

    fn track(&mut self, id: u64, tracks: &FrameTracks, t: i64) -> Estimate {
        let Some(prev_t) = self.last_imu_t else {
            return self.lose(id, tracks, t);
        };
        // The IMU since the last frame: preintegrated onto the factor from the
        // last keyframe, unless the stream has a gap in it (then the factor
        // is no measurement until the next keyframe starts a fresh one).
        let imu_ok = crate::imu::covers_without_gap(&self.imu, prev_t, t, self.imu_gap_ns)
            && self
                .preint
                .integrate_samples_holding(&self.imu, prev_t, t, self.imu_gap_ns, &self.noise)
                .is_ok();
        if imu_ok == self.imu_missing {
            if imu_ok {
                tracing::info!(
                    "IMU back at t = {:.3} s: visual-inertial from the next keyframe",
                    t as f64 * 1e-9
                );
            } else {
                tracing::warn!(
                    "IMU missing between t = {:.3} s and {:.3} s: tracking on stereo vision alone",
                    prev_t as f64 * 1e-9,
                    t as f64 * 1e-9
                );
            }
        }
        self.imu_missing = !imu_ok;
        self.imu_gap_since_keyframe |= !imu_ok;
        let visual_only = self.imu_gap_since_keyframe;
        let Some(kf) = self.window.frames.last() else {
            return self.lose(id, tracks, t);
        };
        let kf_bias = kf.bias;
        let (predicted, link) = if visual_only {
            // Constant velocity from the last tracked frame (or the keyframe).
            let (nav, t0) = match self.last.as_ref() {
                Some(e) if e.status == TrackingStatus::Tracking => (nav_of(e), e.imu_t_ns),
                _ => (kf.nav, kf.t_ns),
            };
            let dt = t.saturating_sub(t0) as f64 * 1e-9;
            let nav = NavState {
                position: nav.position + nav.velocity * dt,
                ..nav
            };
            let dt_kf = t.saturating_sub(kf.t_ns) as f64 * 1e-9;
            (nav, Link::Motion { dt: dt_kf })
        } else {
            let nav = self.preint.predict(&kf.nav, &kf.bias);
            (nav, Link::Imu(self.preint.clone()))
        };
        self.window.frames.push(FrameState {
            id,
            t_ns: t,
            time_offset_s: t.saturating_sub(tracks.t_ns) as f64 * 1e-9,
            nav: predicted,
            bias: kf_bias,
            link,
        });
        let motion = self.frame_motion(t, &predicted, &kf_bias);
        for f in &tracks.features {
            let Some(p_body) = self.landmark_in_body(f.id, &predicted) else {
                continue;
            };
            let ext = &self.window.ext;
            let rate = |cam| bearing_rate(ext, &motion.0, &motion.1, &p_body, cam);
            let left = Observation {
                frame: id,
                cam: 0,
                z: f.left_bearing,
                rate: rate(0),
            };
            let right = f.right_bearing.map(|z| Observation {
                frame: id,
                cam: 1,
                z,
                rate: rate(1),
            });
            if let Some(lm) = self.window.landmarks.get_mut(&f.id) {
                lm.obs.push(left);
                lm.obs.extend(right);
            }
        }
        self.relinearize_imu();
        // A young window (fewer keyframes than it holds, i.e. the first seconds
        // after a start) is optimized at every frame: its keyframes' velocity
        // and biases are not settled yet, and tracking a frame against them held
        // fixed would carry their errors into the frame.
        let window_every_frame = self.config.optimize_window_every_frame
            || self.window.frames.len() <= self.config.window_keyframes;
        let solve = |w: &mut Window, iterations: usize| {
            if window_every_frame {
                w.optimize(iterations)
            } else {
                w.optimize_newest(iterations)
            }
        };
        let mut report = solve(&mut self.window, self.config.max_iterations);
        if self.remove_outliers(id) > 0 {
            let again = solve(&mut self.window, self.config.max_iterations.div_ceil(2));
            report.iterations += again.iterations;
        }
        let tracked = self.tracked_in(id);
        let plausible = self
            .window
            .frames
            .last()
            .is_some_and(|f| self.plausible(&f.nav, &f.bias));
        let seen = tracked >= self.config.min_tracked_landmarks;
        let mode = if plausible && seen {
            self.last_visual_t = Some(t);
            if visual_only {
                TrackingMode::Visual
            } else {
                TrackingMode::VisualInertial
            }
        } else if self.may_coast(visual_only, t, &predicted) {
            // Vision cannot fix this frame but the IMU can carry it: the
            // state is the IMU's prediction, tied to the window by the IMU
            // factor alone.
            let entering = self
                .last
                .as_ref()
                .is_none_or(|e| e.mode != TrackingMode::Inertial);
            if entering {
                tracing::warn!(
                    "vision lost at t = {:.3} s ({tracked} landmarks seen): IMU dead reckoning",
                    t as f64 * 1e-9
                );
            }
            if let Some(f) = self.window.frames.last_mut() {
                f.nav = predicted;
                f.bias = kf_bias;
            }
            self.window.drop_observations_of(id);
            TrackingMode::Inertial
        } else {
            tracing::warn!(
                "tracking lost at t = {} ns ({tracked} landmarks seen{})",
                t,
                if visual_only {
                    ", no IMU to carry it"
                } else {
                    ""
                }
            );
            return self.lose(id, tracks, t);
        };
        // A frame vision could not fix becomes a keyframe when its stereo
        // features can start the landmarks to track on from (the old ones
        // are lost); otherwise it is only a prediction.
        let keyframe = match mode {
            TrackingMode::Inertial => {
                self.landmark_candidates(tracks) >= self.config.min_tracked_landmarks
            }
            TrackingMode::VisualInertial | TrackingMode::Visual => self.is_keyframe(id, tracks),
        };
        if keyframe {
            self.stats.keyframes += 1;
            let bias = self.window.frames.last().map_or(ZERO_BIAS, |f| f.bias);
            self.preint = Preintegrated::new(&bias);
            self.imu_gap_since_keyframe = false;
            if !window_every_frame {
                let full = self.window.optimize(self.config.max_iterations);
                report.iterations += full.iterations;
            }
            self.remove_window_outliers();
            self.add_landmarks(id, tracks);
            while self.window.frames.len() > self.config.window_keyframes {
                self.window.marginalize_oldest();
            }
        }
        match mode {
            TrackingMode::Visual => self.stats.visual_only += 1,
            TrackingMode::Inertial => self.stats.inertial_only += 1,
            TrackingMode::VisualInertial => {}
        }
        let mut est = self.estimate_of_newest(tracks.t_ns, tracked);
        est.mode = mode;
        est.keyframe = keyframe;
        est.iterations = report.iterations;
        if !keyframe {
            self.window.drop_newest();
        }
        est
    }

    /// A finite state within the plausible speed and biases.
    fn plausible(&self, nav: &NavState, bias: &ImuBias) -> bool {
        nav.position.iter().all(|v| v.is_finite())
            && nav.velocity.norm() < self.config.max_speed_m_s
            && bias.gyro.norm() < 1.0
            && bias.accel.norm() < 3.0
    }

    /// Whether the IMU may carry a frame vision cannot fix: it has no gap,
    /// its prediction is plausible, and vision last fixed a frame at most
    /// `max_dead_reckoning_s` ago.
    fn may_coast(&self, visual_only: bool, t_ns: i64, predicted: &NavState) -> bool {
        let horizon_ns = (self.config.max_dead_reckoning_s * 1e9) as i64;
        !visual_only
            && self.window.frames.len() >= 2
            && self
                .window
                .frames
                .last()
                .is_some_and(|f| self.plausible(predicted, &f.bias))
            && self
                .last_visual_t
                .is_some_and(|t| t_ns.saturating_sub(t) <= horizon_ns)
    }

    /// Stereo features of this frame that could start a landmark.
    fn landmark_candidates(&self, tracks: &FrameTracks) -> usize {
        let (near, far) = self.config.landmark_depth_range_m;
        tracks
            .features
            .iter()
            .filter(|f| !self.window.landmarks.contains_key(&f.id))
            .filter_map(|f| {
                stereo_inverse_depth(&self.cam1_from_cam0, &f.left_bearing, &f.right_bearing?)
            })
            .filter(|rho| (near..=far).contains(&(1.0 / rho)))
            .count()
    }

    /// Restarts from the last good estimate propagated to this frame.
    fn lose(&mut self, id: u64, tracks: &FrameTracks, t: i64) -> Estimate {
        self.stats.lost += 1;
        let horizon_ns = (self.config.max_dead_reckoning_s * 1e9) as i64;
        let restart = self
            .last_good
            .as_ref()
            .filter(|good| {
                t.saturating_sub(good.imu_t_ns) <= horizon_ns
                    && crate::imu::covers_without_gap(&self.imu, good.imu_t_ns, t, self.imu_gap_ns)
            })
            .and_then(|good| {
                let mut pre = Preintegrated::new(&good.bias);
                pre.integrate_samples_holding(
                    &self.imu,
                    good.imu_t_ns,
                    t,
                    self.imu_gap_ns,
                    &self.noise,
                )
                .ok()?;
                Some((pre.predict(&nav_of(good), &good.bias), good.bias))
            });
        let est = self.placeholder(tracks.t_ns, TrackingStatus::Lost);
        match restart {
            Some((nav, bias)) if nav.position.iter().all(|v| v.is_finite()) => {
                self.start_window(id, tracks, t, nav, bias, &init::PriorSigmas::restart());
            }
            _ => {
                // Too long without a good state: initialize afresh, in a new
                // world frame (a new session).
                tracing::warn!(
                    "no good state within {} s: re-initializing in a new world frame",
                    self.config.max_dead_reckoning_s
                );
                self.window.clear();
                self.initializer = Initializer::new(&self.config);
                self.last_good = None;
            }
        }
        est
    }

    fn estimate_of_newest(&self, t_ns: i64, tracked: usize) -> Estimate {
        match self.window.frames.last() {
            Some(f) => Estimate {
                t_ns,
                imu_t_ns: f.t_ns,
                time_offset_s: self.window.time_offset_s,
                status: TrackingStatus::Tracking,
                mode: TrackingMode::VisualInertial,
                world_from_body: isometry(&f.nav),
                v_world: f.nav.velocity,
                bias: f.bias,
                keyframe: false,
                tracked_landmarks: tracked,
                session: self.session,
                iterations: 0,
                time_ns: 0,
            },
            None => self.placeholder(t_ns, TrackingStatus::Lost),
        }
    }

    /// Drops the newest frame's observations that are far from their
    /// prediction, and landmarks whose inverse depth is no longer positive and
    /// finite (behind the host, or beyond 10 km); returns how many.
    fn remove_outliers(&mut self, id: u64) -> usize {
        let limit =
            (self.config.outlier_px / self.focal_px).powi(2) * self.window.weights.obs_information;
        let mut bad: Vec<(u64, u8)> = Vec::new();
        let mut dead: Vec<u64> = Vec::new();
        for (&key, lm) in &self.window.landmarks {
            if !(lm.rho.is_finite() && lm.rho > 1e-4) {
                dead.push(key);
                continue;
            }
            for ob in lm.obs.iter().filter(|o| o.frame == id) {
                match self.window.observation_error(lm, ob) {
                    Some(e2) if e2 <= limit => {}
                    _ => bad.push((key, ob.cam)),
                }
            }
        }
        for key in &dead {
            self.window.landmarks.remove(key);
        }
        for (key, cam) in &bad {
            if let Some(lm) = self.window.landmarks.get_mut(key) {
                lm.obs.retain(|o| !(o.frame == id && o.cam == *cam));
            }
        }
        self.stats.outliers += bad.len() as u64;
        bad.len() + dead.len()
    }

    fn tracked_in(&self, id: u64) -> usize {
        self.window
            .landmarks
            .values()
            .filter(|lm| {
                lm.obs
                    .iter()
                    .rev()
                    .take_while(|o| o.frame == id)
                    .any(|o| o.cam == 0)
            })
            .count()
    }

    fn is_keyframe(&self, id: u64, tracks: &FrameTracks) -> bool {
        let n = self.window.frames.len();
        if n < 2 {
            return true;
        }
        let (kf, cur) = (&self.window.frames[n - 2], &self.window.frames[n - 1]);
        if cur.t_ns.saturating_sub(kf.t_ns) as f64 * 1e-9 >= self.config.keyframe_max_interval_s {
            return true;
        }
        // cam0 of the keyframe to cam0 of this frame.
        let r_body = cur.nav.rotation.inverse() * kf.nav.rotation;
        let r_cam = self.cam0_from_body_r
            * r_body.to_rotation_matrix().into_inner()
            * self.cam0_from_body_r.transpose();
        let mut parallax = 0.0;
        let mut count = 0usize;
        for lm in self.window.landmarks.values() {
            let mut at_kf = None;
            let mut at_cur = None;
            for o in lm.obs.iter().filter(|o| o.cam == 0) {
                if o.frame == kf.id {
                    at_kf = Some(o.z);
                } else if o.frame == id {
                    at_cur = Some(o.z);
                }
            }
            if lm.host == kf.id {
                at_kf = Some(lm.bearing);
            }
            if let (Some(a), Some(b)) = (at_kf, at_cur) {
                let ra = r_cam * a;
                if ra.z > 0.0 && b.z > 0.0 {
                    let d = (ra.xy() / ra.z - b.xy() / b.z).norm();
                    parallax += d * self.focal_px;
                    count += 1;
                }
            }
        }
        if count > 0 && parallax / count as f64 >= self.config.keyframe_parallax_px {
            return true;
        }
        let stereo = tracks
            .features
            .iter()
            .filter(|f| f.right_bearing.is_some())
            .count();
        let tracked = self.tracked_in(id);
        stereo > 0 && (tracked as f64) < self.config.keyframe_min_tracked_ratio * stereo as f64
    }

    /// A frame's motion for moving its observations in time: the body's
    /// angular velocity at IMU time `t` (the gyro sample nearest, less the
    /// bias; none, so zero, when the nearest is further than an IMU gap:
    /// after a gap the last sample says nothing of now) and its velocity in
    /// body axes.
    fn frame_motion(&self, t: i64, nav: &NavState, bias: &ImuBias) -> (Vector3<f64>, Vector3<f64>) {
        let k = self.imu.partition_point(|s| s.t_ns < t);
        let max_age = self.imu_gap_ns.unsigned_abs();
        let nearest = [k.checked_sub(1), Some(k)]
            .into_iter()
            .flatten()
            .filter_map(|i| self.imu.get(i))
            .filter(|s| s.t_ns.abs_diff(t) <= max_age)
            .min_by_key(|s| s.t_ns.abs_diff(t));
        let omega = nearest.map_or_else(Vector3::zeros, |s| s.gyro - bias.gyro);
        (omega, nav.rotation.inverse() * nav.velocity)
    }

    /// A window landmark's point in the body frame of a state at `nav`.
    fn landmark_in_body(&self, key: u64, nav: &NavState) -> Option<Vector3<f64>> {
        let lm = self.window.landmarks.get(&key)?;
        let host = self.window.frames.iter().find(|f| f.id == lm.host)?;
        let ext = &self.window.ext;
        let p_host = ext.body_from_cam0_r * (lm.bearing / lm.rho) + ext.body_from_cam0_t;
        let p_world = host.nav.rotation * p_host + host.nav.position;
        Some(nav.rotation.inverse() * (p_world - nav.position))
    }

    /// Starts landmarks, hosted in keyframe `id`, for the stereo features of this
    /// frame that have none.
    fn add_landmarks(&mut self, id: u64, tracks: &FrameTracks) {
        let (near, far) = self.config.landmark_depth_range_m;
        let Some(host) = self.window.frames.iter().find(|f| f.id == id) else {
            return;
        };
        let motion = self.frame_motion(host.t_ns, &host.nav, &host.bias);
        for f in &tracks.features {
            if self.window.landmarks.contains_key(&f.id) {
                continue;
            }
            let Some(z1) = f.right_bearing else { continue };
            let Some(rho) = stereo_inverse_depth(&self.cam1_from_cam0, &f.left_bearing, &z1) else {
                continue;
            };
            let depth = 1.0 / rho;
            if !(near..=far).contains(&depth) {
                continue;
            }
            let ext = &self.window.ext;
            let p_body = ext.body_from_cam0_r * (f.left_bearing * depth) + ext.body_from_cam0_t;
            let rate = |cam| bearing_rate(ext, &motion.0, &motion.1, &p_body, cam);
            let (rate0, rate1) = (rate(0), rate(1));
            self.window.landmarks.insert(
                f.id,
                Landmark {
                    host: id,
                    bearing: f.left_bearing,
                    bearing_rate: rate0,
                    rho,
                    obs: vec![Observation {
                        frame: id,
                        cam: 1,
                        z: z1,
                        rate: rate1,
                    }],
                },
            );
            self.stats.landmarks_created += 1;
        }
    }

    /// After a keyframe's window solve: drops every observation (the host's
    /// cam1 view included) far from its prediction, and the landmarks that keep
    /// fewer than half their views, so that a landmark born from a stereo
    /// mismatch is started again rather than rejecting every later view.
    fn remove_window_outliers(&mut self) {
        let limit =
            (self.config.outlier_px / self.focal_px).powi(2) * self.window.weights.obs_information;
        let mut dead: Vec<u64> = Vec::new();
        let mut bad: Vec<(u64, usize)> = Vec::new();
        let mut views: Vec<(u64, bool)> = Vec::new();
        self.window.for_each_view_error(|key, _, e2| {
            views.push((key, e2.is_some_and(|e2| e2 <= limit)));
        });
        let mut start = 0;
        while start < views.len() {
            let key = views[start].0;
            let end = start + views[start..].iter().take_while(|v| v.0 == key).count();
            let dropped = views[start..end].iter().filter(|v| !v.1).count();
            if dropped > 0 && 2 * dropped >= end - start {
                dead.push(key);
            } else {
                bad.extend(
                    views[start..end]
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| !v.1)
                        .map(|(k, _)| (key, k)),
                );
            }
            start = end;
        }
        self.stats.outliers += bad.len() as u64;
        for (key, k) in bad.iter().rev() {
            if let Some(lm) = self.window.landmarks.get_mut(key) {
                lm.obs.remove(*k);
            }
        }
        for key in &dead {
            self.window.landmarks.remove(key);
        }
    }
}

/// Gyro bias change (rad/s) and accelerometer bias change (m/s^2) beyond which
/// an IMU factor is re-integrated.
const REINTEGRATE_GYRO: f64 = 3e-3;
const REINTEGRATE_ACCEL: f64 = 5e-2;

fn bias_moved(linearized: &ImuBias, now: &ImuBias) -> bool {
    (linearized.gyro - now.gyro).norm() > REINTEGRATE_GYRO
        || (linearized.accel - now.accel).norm() > REINTEGRATE_ACCEL
}

fn nav_of(e: &Estimate) -> NavState {
    NavState {
        rotation: e.world_from_body.rotation,
        position: e.world_from_body.translation.vector,
        velocity: e.v_world,
    }
}

fn isometry(nav: &NavState) -> Isometry3<f64> {
    Isometry3::from_parts(Translation3::from(nav.position), nav.rotation)
}

/// A diagonal prior on one state, with roll/pitch and yaw separated (world
/// axes), and on the camera-IMU time offset (`time_offset_s` with standard
/// deviation `time_offset_sigma_s`).
fn initial_prior(
    id: u64,
    nav: &NavState,
    bias: &ImuBias,
    s: &init::PriorSigmas,
    time_offset_s: f64,
    time_offset_sigma_s: f64,
) -> Prior {
    let dim = window::STATE_DIM + 1;
    let mut h = nalgebra::DMatrix::zeros(dim, dim);
    h[(window::STATE_DIM, window::STATE_DIM)] = time_offset_sigma_s.powi(-2);
    // Rotation information in world axes, expressed for the body perturbation.
    let r = nav.rotation.to_rotation_matrix().into_inner();
    let world_info = Matrix3::from_diagonal(&Vector3::new(
        s.roll_pitch.powi(-2),
        s.roll_pitch.powi(-2),
        s.yaw.powi(-2),
    ));
    let body_info = r.transpose() * world_info * r;
    h.view_mut((0, 0), (3, 3)).copy_from(&body_info);
    for k in 0..3 {
        h[(3 + k, 3 + k)] = s.position.powi(-2);
        h[(6 + k, 6 + k)] = s.velocity.powi(-2);
        h[(9 + k, 9 + k)] = s.gyro_bias.powi(-2);
        h[(12 + k, 12 + k)] = s.accel_bias.powi(-2);
    }
    Prior {
        ids: vec![id],
        lin: vec![(*nav, *bias)],
        lin_time_offset_s: time_offset_s,
        h,
        b: nalgebra::DVector::zeros(dim),
    }
}
