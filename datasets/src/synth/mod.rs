//! Synthetic visual-inertial sequences with exact ground truth: a textured room
//! world, a smooth MAV trajectory through it, stereo images rendered through
//! EuRoC's real (distorted) calibration, an IMU consistent with the motion, and
//! range sensors against the same world.
//!
//! - [`world`]: rooms, boxes, pillars, partition walls; ray casting and distances.
//! - [`texture`]: procedural multi-scale textures with baked lighting and mips.
//! - [`trajectory`]: quintic B-spline flight with a hover start, clearance, speed
//!   and angular-rate limits; exact derivatives and quadrotor attitude.
//! - [`imu`]: gyroscope and accelerometer with white noise and bias random walks.
//! - [`flight`]: a closed-loop flight, rendered live along a trajectory that
//!   grows as a planner appends control points.
//! - [`render`]: the ray-cast camera with anti-aliasing, exposure, vignetting, noise.
//! - [`range`]: a depth camera and a lidar with noise.
//! - [`rng`]: the simulator's own deterministic random numbers.
//! - [`correspondence`]: ground-truth pixel correspondences between frames and
//!   cameras, with occlusion ([`SyntheticSequence::transfer`]).
//!
//! [`SyntheticSequence::generate`] builds everything but the images from a
//! [`SynthConfig`]; frames are rendered one at a time on request
//! ([`SyntheticSequence::render_stereo`]) into caller-owned buffers, so a
//! sequence of any length never holds its images in memory.
//!
//! Time: camera frames at `start_time_ns + i * camera_period`, IMU samples at
//! `start_time_ns + k * imu_period`, the camera period an integer multiple of the
//! IMU period, so every frame time is also an IMU sample time, and the first
//! frame and IMU sample are at `start_time_ns`, in the hover. Ground truth holds
//! the exact pose, velocity and IMU biases at every frame time; integrating the
//! bias-corrected IMU from the first ground-truth state reproduces the trajectory
//! up to the IMU noise (exactly without noise, see the `imu` tests).
//!
//! Cost (one core of a shared ~3 GHz AMD EPYC VM, release build; reproduce with
//! `cargo test -p datasets --release --lib synth -- --ignored --nocapture timing`):
//! [`SyntheticSequence::generate`] for 30 s takes about 0.7 s (textures 0.5 s and
//! 11 MB, the 6000 IMU samples 4 ms); a 752x480 stereo pair renders in about
//! 53 ms (about 70 ns per pixel: 50 without anisotropic filtering, edge
//! supersampling and noise), so 600 pairs take about 32 s. Frames are
//! independent: [`SyntheticSequence::render_stereo`] takes `&self` and may be
//! called from several threads.
//!
//! Determinism: everything is a function of [`SynthConfig`] (see [`rng`] for the
//! platform caveat); each part draws from its own random stream, and a frame's
//! image noise depends only on the seed, the frame and the camera.

pub mod correspondence;
pub mod flight;
pub mod imu;
pub mod range;
pub mod render;
pub mod rng;
pub mod texture;
pub mod trajectory;
pub mod world;

use std::sync::Mutex;

use nalgebra::Isometry3;

use self::imu::{ImuNoiseConfig, simulate_imu};
use self::render::{CameraRenderer, RenderConfig, RenderScratch};
use self::rng::{Rng, Stream, mix_key};
use self::texture::{SceneTextures, TextureConfig};
use self::trajectory::{KinematicState, Route, Trajectory, TrajectoryConfig};
use self::world::{World, WorldConfig};
use crate::image::GrayImage;
use crate::model::{
    CameraCalibration, GroundTruthState, ImuBias, ImuCalibration, ImuSample, RigCalibration,
    StereoFrame,
};
use crate::{DatasetError, Result};

/// How demanding a sequence is for a VIO front and back end.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    /// Slow, gentle turns, high-contrast texture, little noise and exposure change.
    Easy,
    /// EuRoC "medium"-like motion and imaging.
    #[default]
    Medium,
    /// Fast, agile, cluttered, low contrast, noisy, strong exposure changes.
    Hard,
}

impl std::fmt::Display for Difficulty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Easy => "easy",
            Self::Medium => "medium",
            Self::Hard => "hard",
        })
    }
}

impl std::str::FromStr for Difficulty {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "easy" => Ok(Self::Easy),
            "medium" => Ok(Self::Medium),
            "hard" => Ok(Self::Hard),
            other => Err(DatasetError::InvalidArgument(format!(
                "difficulty '{other}': expected easy, medium or hard"
            ))),
        }
    }
}

/// Everything a difficulty level sets.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DifficultyProfile {
    /// Control-polygon speed range `[min, max]`, m/s; the path never exceeds max.
    pub speed_m_s: [f64; 2],
    /// Largest angular velocity magnitude, rad/s.
    pub max_angular_rate_rad_s: f64,
    /// B-spline knot interval, seconds (shorter is more agile).
    pub knot_interval_s: f64,
    /// Boxes on the floor, `[min, max]`.
    pub box_count: [usize; 2],
    /// Round pillars, `[min, max]`.
    pub round_pillar_count: [usize; 2],
    /// Square pillars, `[min, max]`.
    pub square_pillar_count: [usize; 2],
    /// Partition walls with doorways.
    pub partition_count: usize,
    /// Texture contrast factor, 0..1.
    pub texture_contrast: f64,
    /// Pixel noise standard deviation, grey levels.
    pub image_noise_sigma: f64,
    /// Amplitude of the slow exposure-gain drift, relative (0.1 = +-10 %).
    pub exposure_drift: f64,
    /// Gain difference between the two cameras, relative.
    pub stereo_gain_mismatch: f64,
}

impl Difficulty {
    /// The settings of this level.
    #[must_use]
    pub fn profile(self) -> DifficultyProfile {
        match self {
            Self::Easy => DifficultyProfile {
                speed_m_s: [0.3, 0.6],
                max_angular_rate_rad_s: 0.6,
                knot_interval_s: 1.2,
                box_count: [3, 5],
                round_pillar_count: [1, 1],
                square_pillar_count: [0, 1],
                partition_count: 0,
                texture_contrast: 1.0,
                image_noise_sigma: 1.0,
                exposure_drift: 0.05,
                stereo_gain_mismatch: 0.01,
            },
            Self::Medium => DifficultyProfile {
                speed_m_s: [0.4, 1.0],
                max_angular_rate_rad_s: 1.0,
                knot_interval_s: 1.0,
                box_count: [5, 9],
                round_pillar_count: [1, 2],
                square_pillar_count: [0, 1],
                partition_count: 0,
                texture_contrast: 0.8,
                image_noise_sigma: 2.0,
                exposure_drift: 0.15,
                stereo_gain_mismatch: 0.03,
            },
            Self::Hard => DifficultyProfile {
                speed_m_s: [0.6, 1.5],
                max_angular_rate_rad_s: 1.5,
                knot_interval_s: 0.8,
                box_count: [8, 13],
                round_pillar_count: [2, 3],
                square_pillar_count: [1, 2],
                partition_count: 1,
                texture_contrast: 0.55,
                image_noise_sigma: 3.0,
                exposure_drift: 0.3,
                stereo_gain_mismatch: 0.06,
            },
        }
    }
}

/// Configuration of a synthetic sequence.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SynthConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Length of the sequence, seconds (frames at `[0, duration)`).
    pub duration_s: f64,
    /// Motion, clutter and imaging difficulty.
    pub difficulty: Difficulty,
    /// Replaces the difficulty's settings when given.
    pub profile: Option<DifficultyProfile>,
    /// Stereo frame rate, Hz (its period in ns must be an integer multiple of the
    /// IMU's).
    pub camera_rate_hz: f64,
    /// IMU rate, Hz.
    pub imu_rate_hz: f64,
    /// Time stamp of the first frame and IMU sample, ns (EuRoC-like epoch).
    pub start_time_ns: i64,
    /// Hover at zero velocity at the start, seconds.
    pub hover_s: f64,
    /// Smallest distance from the body to any surface, metres.
    pub clearance_m: f64,
    /// Downward pitch of the sensor head on the vehicle, degrees.
    pub camera_tilt_deg: f64,
    /// Level-0 texel size, metres.
    pub texel_size_m: f64,
    /// IMU noise and initial biases.
    pub imu_noise: ImuNoiseConfig,
    /// Multiplies the profile's pixel noise (0 = noise-free images).
    pub image_noise_scale: f64,
    /// Brightness lost at the image corners by vignetting, 0..1.
    pub vignetting: f64,
    /// Mean exposure gain (1 maps the textures' radiance to grey levels as is).
    pub exposure_gain: f64,
    /// Where the flight goes: a random walk, or out and back along one so that
    /// places are seen again (see [`trajectory`]).
    pub route: Route,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            duration_s: 30.0,
            difficulty: Difficulty::Medium,
            profile: None,
            camera_rate_hz: 20.0,
            imu_rate_hz: 200.0,
            start_time_ns: 1_403_715_273_262_142_976,
            hover_s: 1.5,
            clearance_m: 0.4,
            camera_tilt_deg: 10.0,
            texel_size_m: 0.005,
            imu_noise: ImuNoiseConfig::default(),
            image_noise_scale: 1.0,
            vignetting: 0.25,
            exposure_gain: 1.25,
            route: Route::Wander,
        }
    }
}

impl SynthConfig {
    /// The difficulty settings in effect.
    #[must_use]
    pub fn resolved_profile(&self) -> DifficultyProfile {
        self.profile.unwrap_or_else(|| self.difficulty.profile())
    }

    /// The world generator's settings.
    #[must_use]
    pub fn world_config(&self) -> WorldConfig {
        let p = self.resolved_profile();
        WorldConfig {
            box_count: p.box_count,
            round_pillar_count: p.round_pillar_count,
            square_pillar_count: p.square_pillar_count,
            partition_count: p.partition_count,
            ..WorldConfig::default()
        }
    }

    /// The trajectory generator's settings.
    #[must_use]
    pub fn trajectory_config(&self) -> TrajectoryConfig {
        let p = self.resolved_profile();
        TrajectoryConfig {
            duration_s: self.duration_s,
            hover_s: self.hover_s,
            knot_interval_s: p.knot_interval_s,
            speed_m_s: p.speed_m_s,
            max_angular_rate_rad_s: p.max_angular_rate_rad_s,
            clearance_m: self.clearance_m,
            camera_tilt_rad: self.camera_tilt_deg.to_radians(),
            route: self.route,
            ..TrajectoryConfig::default()
        }
    }

    /// The texture generator's settings.
    #[must_use]
    pub fn texture_config(&self) -> TextureConfig {
        TextureConfig {
            texel_size_m: self.texel_size_m,
            contrast: self.resolved_profile().texture_contrast,
            ..TextureConfig::default()
        }
    }

    /// The renderer's settings.
    #[must_use]
    pub fn render_config(&self) -> RenderConfig {
        RenderConfig {
            noise_sigma: self.resolved_profile().image_noise_sigma * self.image_noise_scale,
            vignetting: self.vignetting,
            ..RenderConfig::default()
        }
    }

    /// Camera and IMU periods, ns.
    ///
    /// # Errors
    /// If a rate does not give a whole number of nanoseconds, or the camera period
    /// is not a multiple of the IMU period.
    pub fn periods_ns(&self) -> Result<(i64, i64)> {
        let period = |rate: f64, what: &str| -> Result<i64> {
            let p = 1e9 / rate;
            if !(rate > 0.0 && rate <= 10_000.0) || (p - p.round()).abs() > 1e-3 {
                return Err(DatasetError::InvalidArgument(format!(
                    "{what} rate {rate} Hz must be in (0, 10000] with a whole-ns period"
                )));
            }
            Ok(p.round() as i64)
        };
        let camera = period(self.camera_rate_hz, "camera")?;
        let imu = period(self.imu_rate_hz, "IMU")?;
        if camera % imu != 0 {
            return Err(DatasetError::InvalidArgument(format!(
                "camera period {camera} ns is not a multiple of the IMU period {imu} ns"
            )));
        }
        Ok((camera, imu))
    }
}

/// The exposure gain of each camera over time: a common slow drift (three
/// sinusoids with random phases and periods between 1.5 and 20 s, like an
/// auto-exposure hunting under changing light), a small independent drift per
/// camera and a constant stereo mismatch.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureModel {
    /// `(amplitude, angular frequency rad/s, phase rad)` of the common drift.
    common: [(f64, f64, f64); 3],
    /// The same for each camera's own drift.
    own: [[(f64, f64, f64); 2]; 2],
    /// Constant relative gain of each camera.
    offset: [f64; 2],
    /// Mean gain.
    mean: f64,
}

impl ExposureModel {
    /// Draws a model: mean gain `mean`, drift amplitude `drift` (relative),
    /// stereo mismatch `mismatch` (relative).
    #[must_use]
    pub fn new(mean: f64, drift: f64, mismatch: f64, seed: u64) -> Self {
        let mut rng = Rng::stream(seed, &[Stream::Exposure.id()]);
        let mut wave = |amp: f64, period: [f64; 2]| {
            let w = std::f64::consts::TAU / rng.range(period[0], period[1]);
            (amp, w, rng.range(0.0, std::f64::consts::TAU))
        };
        let common = [
            wave(0.6 * drift, [8.0, 20.0]),
            wave(0.3 * drift, [3.0, 8.0]),
            wave(0.1 * drift, [1.5, 3.0]),
        ];
        let own = [
            [
                wave(0.15 * drift, [4.0, 12.0]),
                wave(0.05 * drift, [1.5, 4.0]),
            ],
            [
                wave(0.15 * drift, [4.0, 12.0]),
                wave(0.05 * drift, [1.5, 4.0]),
            ],
        ];
        Self {
            common,
            own,
            offset: [0.5 * mismatch, -0.5 * mismatch],
            mean,
        }
    }

    /// Gain of camera `camera` (0 left, 1 right) at `t_s` seconds since the start.
    #[must_use]
    pub fn gain(&self, camera: usize, t_s: f64) -> f64 {
        let sum = |waves: &[(f64, f64, f64)]| -> f64 {
            waves
                .iter()
                .map(|&(a, w, phi)| a * (w * t_s + phi).sin())
                .sum()
        };
        let own = self.own.get(camera).map_or(0.0, |w| sum(w));
        let offset = self.offset.get(camera).copied().unwrap_or(0.0);
        self.mean * (1.0 + sum(&self.common) + own + offset).max(0.05)
    }
}

/// EuRoC's rig at `cfg`'s rates (the IMU's noise figures scaled by
/// `imu_noise.noise_scale` when it is positive), the renderers of its two
/// cameras and the exposure model: what a sequence and a flight render with.
pub(crate) fn rig_renderers_exposure(
    cfg: &SynthConfig,
) -> Result<(RigCalibration, [CameraRenderer; 2], ExposureModel)> {
    let profile = cfg.resolved_profile();
    let mut cam0 = CameraCalibration::euroc_cam0();
    let mut cam1 = CameraCalibration::euroc_cam1();
    cam0.rate_hz = cfg.camera_rate_hz;
    cam1.rate_hz = cfg.camera_rate_hz;
    let mut imu = ImuCalibration::euroc_adis16448();
    imu.rate_hz = cfg.imu_rate_hz;
    let scale = cfg.imu_noise.noise_scale;
    if scale > 0.0 {
        imu.gyro_noise_density *= scale;
        imu.gyro_random_walk *= scale;
        imu.accel_noise_density *= scale;
        imu.accel_random_walk *= scale;
    }
    let render_cfg = cfg.render_config();
    let renderers = [
        CameraRenderer::new(&cam0, &render_cfg)?,
        CameraRenderer::new(&cam1, &render_cfg)?,
    ];
    let exposure = ExposureModel::new(
        cfg.exposure_gain,
        profile.exposure_drift,
        profile.stereo_gain_mismatch,
        cfg.seed,
    );
    Ok((RigCalibration { cam0, cam1, imu }, renderers, exposure))
}

/// What rendering a stereo pair takes besides the pose: a sequence's and a
/// flight's cameras in their world.
pub(crate) struct PairRenderer<'a> {
    /// Seed of the image noise.
    pub seed: u64,
    /// The rig (each camera's `body_from_cam`).
    pub calibration: &'a RigCalibration,
    /// Camera 0's and camera 1's renderers.
    pub renderers: &'a [CameraRenderer; 2],
    /// The world.
    pub world: &'a World,
    /// Its textures.
    pub textures: &'a SceneTextures,
    /// The exposure gains.
    pub exposure: &'a ExposureModel,
}

impl PairRenderer<'_> {
    /// Renders frame `frame_index` (its image noise is a function of the
    /// seed, the frame and the camera) with the body at `world_from_body`,
    /// `t_s` seconds after the start (the exposure's time), into `out`,
    /// whose images must have the cameras' sizes; `out.t_ns` is the caller's.
    pub(crate) fn render(
        &self,
        frame_index: usize,
        world_from_body: &Isometry3<f64>,
        t_s: f64,
        scratch: &mut RenderScratch,
        out: &mut StereoFrame,
    ) -> Result<()> {
        let cams = [&self.calibration.cam0, &self.calibration.cam1];
        for (c, image) in [&mut out.left, &mut out.right].into_iter().enumerate() {
            let world_from_cam = world_from_body * cams[c].body_from_cam;
            let key = mix_key(&[
                self.seed,
                Stream::ImageNoise.id(),
                frame_index as u64,
                c as u64,
            ]);
            self.renderers[c].render(
                self.world,
                self.textures,
                &world_from_cam,
                self.exposure.gain(c, t_s),
                key,
                scratch,
                image,
            )?;
        }
        Ok(())
    }
}

/// A generated sequence: calibration, world, trajectory, IMU and ground truth;
/// images are rendered on demand.
pub struct SyntheticSequence {
    /// The configuration it was made from.
    pub config: SynthConfig,
    /// EuRoC's camera and IMU calibration (rates from the configuration; IMU noise
    /// figures scaled by `imu_noise.noise_scale` when it is positive).
    pub calibration: RigCalibration,
    /// The world.
    pub world: World,
    /// Its textures.
    pub textures: SceneTextures,
    /// The body's trajectory (time 0 at `start_time_ns`).
    pub trajectory: Trajectory,
    /// IMU samples.
    pub imu: Vec<ImuSample>,
    /// The true IMU biases at every IMU sample.
    pub imu_bias: Vec<ImuBias>,
    /// Ground truth at every frame time.
    pub ground_truth: Vec<GroundTruthState>,
    /// Frame time stamps, ns.
    pub frame_times_ns: Vec<i64>,
    /// Exposure gains over time.
    pub exposure: ExposureModel,
    renderers: [CameraRenderer; 2],
    /// IMU samples per frame.
    imu_per_frame: usize,
    scratch: Mutex<RenderScratch>,
}

impl std::fmt::Debug for SyntheticSequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticSequence")
            .field("seed", &self.config.seed)
            .field("difficulty", &self.config.difficulty)
            .field("frames", &self.frame_times_ns.len())
            .field("imu_samples", &self.imu.len())
            .field("obstacles", &self.world.obstacles.len())
            .field("texture_bytes", &self.textures.bytes())
            .finish_non_exhaustive()
    }
}

impl SyntheticSequence {
    /// Builds the world, textures, trajectory, IMU and ground truth.
    ///
    /// # Errors
    /// If the configuration is invalid (see the component configs), or no
    /// trajectory fits the world.
    pub fn generate(cfg: &SynthConfig) -> Result<Self> {
        let (camera_period, imu_period) = cfg.periods_ns()?;
        if !(cfg.duration_s.is_finite() && cfg.duration_s >= cfg.hover_s + 1.0) {
            return Err(DatasetError::InvalidArgument(format!(
                "duration {} s must be at least the hover ({} s) plus 1 s",
                cfg.duration_s, cfg.hover_s
            )));
        }
        if !(cfg.image_noise_scale >= 0.0 && cfg.image_noise_scale.is_finite()) {
            return Err(DatasetError::InvalidArgument(
                "image_noise_scale must be finite and >= 0".into(),
            ));
        }
        if !(cfg.exposure_gain > 0.0 && cfg.exposure_gain <= 10.0) {
            return Err(DatasetError::InvalidArgument(
                "exposure_gain must be in (0, 10]".into(),
            ));
        }
        let world = World::generate(&cfg.world_config(), cfg.seed)?;
        let textures = SceneTextures::generate(&world, &cfg.texture_config(), cfg.seed)?;
        let trajectory = Trajectory::generate(&world, &cfg.trajectory_config(), cfg.seed)?;

        let (calibration, renderers, exposure) = rig_renderers_exposure(cfg)?;
        let nominal = ImuCalibration::euroc_adis16448();

        let frame_count = (cfg.duration_s * 1e9 / camera_period as f64 - 1e-6).ceil() as usize;
        let imu_per_frame = (camera_period / imu_period) as usize;
        let sim = simulate_imu(
            &trajectory,
            &nominal,
            &cfg.imu_noise,
            cfg.start_time_ns,
            imu_period,
            frame_count * imu_per_frame,
            cfg.seed,
        )?;
        let frame_times_ns: Vec<i64> = (0..frame_count)
            .map(|i| cfg.start_time_ns + i as i64 * camera_period)
            .collect();
        let ground_truth = frame_times_ns
            .iter()
            .enumerate()
            .map(|(i, &t_ns)| {
                let s = trajectory.state((t_ns - cfg.start_time_ns) as f64 * 1e-9);
                GroundTruthState {
                    t_ns,
                    world_from_body: s.world_from_body,
                    v_world: Some(s.velocity),
                    bias: sim.biases.get(i * imu_per_frame).copied(),
                }
            })
            .collect();
        Ok(Self {
            config: cfg.clone(),
            calibration,
            world,
            textures,
            trajectory,
            imu: sim.samples,
            imu_bias: sim.biases,
            ground_truth,
            frame_times_ns,
            exposure,
            renderers,
            imu_per_frame,
            scratch: Mutex::new(RenderScratch::new()),
        })
    }

    /// Number of stereo frames.
    #[must_use]
    pub fn frame_count(&self) -> usize {
        self.frame_times_ns.len()
    }

    /// IMU samples per frame period.
    #[must_use]
    pub fn imu_per_frame(&self) -> usize {
        self.imu_per_frame
    }

    /// A stereo frame of the right size to render into.
    #[must_use]
    pub fn new_frame(&self) -> StereoFrame {
        let (w0, h0) = (self.renderers[0].width(), self.renderers[0].height());
        let (w1, h1) = (self.renderers[1].width(), self.renderers[1].height());
        StereoFrame {
            t_ns: 0,
            left: GrayImage::new(w0, h0),
            right: GrayImage::new(w1, h1),
        }
    }

    /// Seconds since the start for a time stamp.
    fn seconds(&self, t_ns: i64) -> f64 {
        t_ns.saturating_sub(self.config.start_time_ns) as f64 * 1e-9
    }

    /// The exact kinematic state at `t_ns` (clamped to the sequence).
    #[must_use]
    pub fn kinematics_at(&self, t_ns: i64) -> KinematicState {
        self.trajectory.state(self.seconds(t_ns))
    }

    /// The body's pose at `t_ns` (clamped to the sequence).
    #[must_use]
    pub fn pose_at(&self, t_ns: i64) -> Isometry3<f64> {
        self.kinematics_at(t_ns).world_from_body
    }

    /// Ground truth at any `t_ns` (clamped to the sequence): exact pose and
    /// velocity; biases interpolated linearly between IMU samples.
    #[must_use]
    pub fn state_at(&self, t_ns: i64) -> GroundTruthState {
        let s = self.kinematics_at(t_ns);
        let bias = self.imu.first().map(|first| {
            let period = self.calibration_imu_period_ns();
            let x = (t_ns.saturating_sub(first.t_ns) as f64 / period as f64).max(0.0);
            let k = (x.floor() as usize).min(self.imu_bias.len() - 1);
            let k1 = (k + 1).min(self.imu_bias.len() - 1);
            let f = (x - k as f64).clamp(0.0, 1.0);
            let (a, b) = (self.imu_bias[k], self.imu_bias[k1]);
            ImuBias {
                gyro: a.gyro.lerp(&b.gyro, f),
                accel: a.accel.lerp(&b.accel, f),
            }
        });
        GroundTruthState {
            t_ns,
            world_from_body: s.world_from_body,
            v_world: Some(s.velocity),
            bias,
        }
    }

    fn calibration_imu_period_ns(&self) -> i64 {
        match self.imu.as_slice() {
            [a, b, ..] => (b.t_ns - a.t_ns).max(1),
            _ => 1,
        }
    }

    /// The camera renderer of camera 0 (left) or 1 (right).
    #[must_use]
    pub fn renderer(&self, camera: usize) -> Option<&CameraRenderer> {
        self.renderers.get(camera)
    }

    /// Renders frame `frame_index` into `out` (see [`Self::new_frame`]), reusing
    /// the sequence's scratch buffers (a second thread rendering at the same time
    /// gets fresh ones).
    ///
    /// # Errors
    /// If the index is out of range or `out` has the wrong size.
    pub fn render_stereo(&self, frame_index: usize, out: &mut StereoFrame) -> Result<()> {
        match self.scratch.try_lock() {
            Ok(mut scratch) => self.render_stereo_with(frame_index, out, &mut scratch),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                self.render_stereo_with(frame_index, out, &mut p.into_inner())
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                self.render_stereo_with(frame_index, out, &mut RenderScratch::new())
            }
        }
    }

    /// [`Self::render_stereo`] with caller-owned scratch buffers.
    ///
    /// # Errors
    /// If the index is out of range or `out` has the wrong size.
    pub fn render_stereo_with(
        &self,
        frame_index: usize,
        out: &mut StereoFrame,
        scratch: &mut RenderScratch,
    ) -> Result<()> {
        let t_ns = *self.frame_times_ns.get(frame_index).ok_or_else(|| {
            DatasetError::InvalidArgument(format!(
                "frame {frame_index} out of range (the sequence has {})",
                self.frame_count()
            ))
        })?;
        let world_from_body = self.pose_at(t_ns);
        let t_s = self.seconds(t_ns);
        out.t_ns = t_ns;
        PairRenderer {
            seed: self.config.seed,
            calibration: &self.calibration,
            renderers: &self.renderers,
            world: &self.world,
            textures: &self.textures,
            exposure: &self.exposure,
        }
        .render(frame_index, &world_from_body, t_s, scratch, out)
    }
}

#[cfg(test)]
mod tests;
