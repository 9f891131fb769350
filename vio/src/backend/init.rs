//! Initialization: gravity direction, gyro bias and velocity at the first
//! keyframe.
//!
//! The back end watches the first frames. When the features stay within
//! `still_max_flow_px` (median) of where they were for `init_still_s` seconds,
//! the rig is still: the mean specific force over that time is gravity
//! in body axes (roll and pitch to within the accelerometer bias over g, about
//! 5 mrad for 0.05 m/s^2), the mean angular rate is the gyro bias, and the
//! velocity is zero. When nothing is still after `init_timeout_s`, it starts in
//! motion: the mean specific force over the last half second still approximates
//! gravity (off by the mean acceleration), so roll and pitch get a loose prior,
//! and the velocity starts at zero with a loose prior; the visual-inertial window
//! then finds both, stereo depth giving the metric scale. The world frame has z
//! up, its origin at the first keyframe's body, and the body's yaw there is zero
//! change from the gravity alignment (yaw is unobservable). The averages use at
//! most the last second of IMU samples (what the back end keeps while it
//! initializes). This is the static initialization common to filter and
//! optimization VIOs (e.g. OpenVINS, Geneva et al., ICRA 2020); the start in
//! motion leans on stereo instead of the visual-inertial alignment of VINS-Mono
//! (Qin et al., T-RO 2018), since stereo depth fixes the scale from the first
//! keyframe.

use datasets::{ImuBias, ImuSample};
use nalgebra::Vector3;

use super::BackEndConfig;
use crate::frontend::FrameTracks;
use crate::preintegration::NavState;

/// Standard deviations of the prior on the first state of a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriorSigmas {
    /// Roll and pitch, rad.
    pub roll_pitch: f64,
    /// Yaw, rad (the gauge: small).
    pub yaw: f64,
    /// Position, m (the gauge: small).
    pub position: f64,
    /// Velocity, m/s.
    pub velocity: f64,
    /// Gyro bias, rad/s.
    pub gyro_bias: f64,
    /// Accelerometer bias, m/s^2.
    pub accel_bias: f64,
}

impl PriorSigmas {
    /// After a still start.
    #[must_use]
    pub fn still() -> Self {
        Self {
            roll_pitch: 0.02,
            yaw: 1e-3,
            position: 1e-3,
            velocity: 0.02,
            gyro_bias: 0.005,
            accel_bias: 0.2,
        }
    }

    /// After a start in motion.
    #[must_use]
    pub fn moving() -> Self {
        Self {
            roll_pitch: 0.2,
            yaw: 1e-3,
            position: 1e-3,
            velocity: 2.0,
            gyro_bias: 0.02,
            accel_bias: 0.2,
        }
    }

    /// After a loss of tracking, from the last good state propagated by the IMU.
    #[must_use]
    pub fn restart() -> Self {
        Self {
            roll_pitch: 0.05,
            yaw: 0.05,
            position: 0.05,
            velocity: 0.5,
            gyro_bias: 0.01,
            accel_bias: 0.1,
        }
    }
}

/// A decided start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Start {
    /// The first state.
    pub nav: NavState,
    /// The biases.
    pub bias: ImuBias,
    /// Its prior.
    pub sigmas: PriorSigmas,
    /// Whether the rig was still.
    pub still: bool,
}

/// What the initializer says after a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InitDecision {
    /// Not yet.
    Wait,
    /// Start the window at this frame.
    Start(Start),
}

/// Fewest stereo features needed to start.
const MIN_STEREO_FEATURES: usize = 20;
/// Fewest IMU samples to average.
const MIN_SAMPLES: usize = 10;

/// Watches the first frames; see the module documentation.
#[derive(Debug, Clone)]
pub struct Initializer {
    still_s: f64,
    max_flow_px: f64,
    timeout_s: f64,
    first_t: Option<i64>,
    still_since: Option<i64>,
    previous: Vec<(u64, nalgebra::Vector2<f64>)>,
    flows: Vec<f64>,
}

impl Initializer {
    /// From the back end's configuration.
    #[must_use]
    pub fn new(config: &BackEndConfig) -> Self {
        Self {
            still_s: config.init_still_s,
            max_flow_px: config.still_max_flow_px,
            timeout_s: config.init_timeout_s,
            first_t: None,
            still_since: None,
            previous: Vec::new(),
            flows: Vec::new(),
        }
    }

    /// Looks at one frame, at `t` on the IMU's clock (its stamp plus the
    /// camera-IMU time offset), and the IMU samples held (time-ordered).
    pub fn observe(
        &mut self,
        tracks: &FrameTracks,
        t: i64,
        samples: &[ImuSample],
        gravity: &Vector3<f64>,
    ) -> InitDecision {
        let first = *self.first_t.get_or_insert(t);
        // Median image motion since the still run began (an anchor frame): a
        // still camera's features stay within the tracker's noise of where they
        // were, a slowly moving one's drift away however slow the motion.
        self.flows.clear();
        for f in &tracks.features {
            if let Ok(i) = self.previous.binary_search_by_key(&f.id, |p| p.0) {
                self.flows.push((f.left - self.previous[i].1).norm());
            }
        }
        let judged = self.flows.len() >= MIN_STEREO_FEATURES;
        let moving = judged && {
            self.flows.sort_by(f64::total_cmp);
            self.flows[self.flows.len() / 2] > self.max_flow_px
        };
        if moving || !judged || self.still_since.is_none() {
            // (Re)start the still run at this frame.
            self.previous.clear();
            self.previous
                .extend(tracks.features.iter().map(|f| (f.id, f.left)));
            self.previous.sort_by_key(|p| p.0);
            self.still_since = Some(t);
        }
        let stereo = tracks
            .features
            .iter()
            .filter(|f| f.right_bearing.is_some())
            .count();
        if stereo < MIN_STEREO_FEATURES {
            return InitDecision::Wait;
        }
        if let Some(since) = self.still_since
            && t.saturating_sub(since) as f64 * 1e-9 >= self.still_s
            && let Some((accel, gyro)) = mean_imu(samples, since, t)
        {
            return InitDecision::Start(start(&accel, gyro, gravity, PriorSigmas::still(), true));
        }
        if t.saturating_sub(first) as f64 * 1e-9 >= self.timeout_s
            && let Some((accel, _)) = mean_imu(samples, t.saturating_sub(500_000_000), t)
        {
            return InitDecision::Start(start(
                &accel,
                Vector3::zeros(),
                gravity,
                PriorSigmas::moving(),
                false,
            ));
        }
        InitDecision::Wait
    }
}

fn start(
    accel: &Vector3<f64>,
    gyro_bias: Vector3<f64>,
    gravity: &Vector3<f64>,
    sigmas: PriorSigmas,
    still: bool,
) -> Start {
    // At rest the specific force is -g in body axes: R f = -g (world up).
    let up = -gravity;
    let rotation = nalgebra::UnitQuaternion::rotation_between(accel, &up).unwrap_or_else(|| {
        nalgebra::UnitQuaternion::from_axis_angle(&Vector3::x_axis(), std::f64::consts::PI)
    });
    Start {
        nav: NavState {
            rotation,
            position: Vector3::zeros(),
            velocity: Vector3::zeros(),
        },
        bias: ImuBias {
            gyro: gyro_bias,
            accel: Vector3::zeros(),
        },
        sigmas,
        still,
    }
}

/// Mean specific force and angular rate of the samples in `[t0, t1]`.
fn mean_imu(samples: &[ImuSample], t0: i64, t1: i64) -> Option<(Vector3<f64>, Vector3<f64>)> {
    let mut n = 0usize;
    let mut a = Vector3::zeros();
    let mut g = Vector3::zeros();
    for s in samples.iter().filter(|s| s.t_ns >= t0 && s.t_ns <= t1) {
        a += s.accel;
        g += s.gyro;
        n += 1;
    }
    if n < MIN_SAMPLES || a.norm() < 1e-6 {
        return None;
    }
    Some((a / n as f64, g / n as f64))
}
