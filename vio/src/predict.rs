//! Poses at the IMU's rate between the back end's estimates: the last
//! estimate propagated through each IMU sample as it arrives (VINS-Mono's
//! `fastPredictIMU`, OpenVINS' fast state propagation).
//!
//! The back end gives a pose per frame, late by the frame's processing; a
//! flight controller or a motion planner wants one per IMU sample, now.
//! [`ImuPredictor`] keeps the newest [`Estimate`] (its state stands at
//! [`Estimate::imu_t_ns`], on the IMU's clock) and the samples since then;
//! each new sample extends a [`Preintegrated`] from the estimate's time and
//! [`Preintegrated::predict`] gives the pose at the sample's time, with the
//! estimate's biases. A newer estimate replaces the base and the samples
//! after its time are integrated again, so a prediction never goes back
//! further than the newest estimate.
//!
//! Integration is [`Preintegrated::integrate_samples`]' scheme one step at a
//! time (each interval held at the mean of its two ends, the first
//! interpolated at the estimate's time), so the predictions are the back
//! end's own IMU prediction, sample by sample.
//!
//! **Never silently wrong**: no pose comes before the first tracking
//! estimate, after a lost one, across an IMU gap (`max_gap_ns`), or more
//! than `max_horizon_ns` past the estimate (the IMU alone drifts
//! quadratically: 0.2 s is about a millimetre at EuRoC's bias noise, 2 s
//! decimetres). Each is counted in [`PredictorCounts`].
//!
//! Frames and units: `world_from_body` in the back end's world (z up), body
//! = IMU; times in ns on the IMU's clock; velocity in world axes, m/s;
//! angular velocity in body axes, rad/s (bias-corrected).
//!
//! Memory: the samples since the estimate, at most `max_samples` (a ring
//! that never grows past it); nothing is allocated per sample.

use std::collections::VecDeque;

use datasets::{ImuBias, ImuSample};
use nalgebra::{Isometry3, Translation3, Vector3};
use serde::Serialize;

use crate::backend::{Estimate, TrackingMode, TrackingStatus};
use crate::preintegration::{ImuNoise, NavState, Preintegrated};
use crate::{Result, VioError};

/// Limits of an [`ImuPredictor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredictorSettings {
    /// No pose more than this after the estimate it starts from, ns.
    pub max_horizon_ns: i64,
    /// Two samples further apart than this break the prediction until the
    /// next estimate, ns.
    pub max_gap_ns: i64,
    /// Samples kept since the estimate at most (the oldest beyond it
    /// dropped; keep it above `max_horizon_ns` times the IMU's rate).
    pub max_samples: usize,
}

impl Default for PredictorSettings {
    fn default() -> Self {
        Self {
            max_horizon_ns: 200_000_000,
            max_gap_ns: 50_000_000,
            max_samples: 1024,
        }
    }
}

impl PredictorSettings {
    /// Checks the limits.
    ///
    /// # Errors
    /// [`VioError::Config`] when a time is not positive or the ring is empty
    /// or over a million samples.
    pub fn validate(&self) -> Result<()> {
        if self.max_horizon_ns <= 0 || self.max_gap_ns <= 0 {
            return Err(VioError::Config(format!(
                "the IMU-rate prediction's horizon and gap must be positive, got {} ns and {} ns",
                self.max_horizon_ns, self.max_gap_ns
            )));
        }
        if !(2..=1_000_000).contains(&self.max_samples) {
            return Err(VioError::Config(format!(
                "the IMU-rate prediction keeps 2 to 1000000 samples, got {}",
                self.max_samples
            )));
        }
        Ok(())
    }
}

/// A pose at an IMU sample's time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictedPose {
    /// The sample's time on the IMU's clock, ns.
    pub t_ns: i64,
    /// Pose of the body (IMU) in the world.
    pub world_from_body: Isometry3<f64>,
    /// Velocity of the body in world axes, m/s.
    pub v_world: Vector3<f64>,
    /// Angular velocity of the body in body axes (gyro less its bias), rad/s.
    pub w_body: Vector3<f64>,
    /// How far past the estimate it starts from, ns (the IMU alone carried
    /// the pose that long).
    pub since_estimate_ns: i64,
    /// The estimate's world frame ([`Estimate::session`]).
    pub session: u32,
    /// What carried the estimate it starts from.
    pub mode: TrackingMode,
}

/// What an [`ImuPredictor`] did with its samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PredictorCounts {
    /// Poses given.
    pub poses: u64,
    /// Estimates taken as a new base.
    pub estimates: u64,
    /// Samples with no tracking estimate to start from (before the first,
    /// after a lost one).
    pub without_estimate: u64,
    /// Samples further past the estimate than the horizon (no pose).
    pub beyond_horizon: u64,
    /// Samples after a gap in the IMU (no pose until the next estimate).
    pub after_gap: u64,
    /// Samples refused: not finite, or not after the previous one.
    pub refused: u64,
}

#[derive(Debug, Clone, Copy)]
struct Base {
    nav: NavState,
    t_ns: i64,
    session: u32,
    mode: TrackingMode,
    /// An IMU gap after the base: nothing more from it.
    broken: bool,
}

/// The newest estimate propagated through the IMU samples since: see the
/// module documentation.
#[derive(Debug, Clone)]
pub struct ImuPredictor {
    settings: PredictorSettings,
    noise: ImuNoise,
    base: Option<Base>,
    /// The base's time to the newest sample integrated (at the base's bias).
    pre: Preintegrated,
    /// The samples from the last one at or before the base's time on.
    samples: VecDeque<ImuSample>,
    counts: PredictorCounts,
}

impl ImuPredictor {
    /// A predictor with no estimate yet.
    ///
    /// # Errors
    /// As [`PredictorSettings::validate`].
    pub fn new(noise: ImuNoise, settings: PredictorSettings) -> Result<Self> {
        settings.validate()?;
        Ok(Self {
            settings,
            noise,
            base: None,
            pre: Preintegrated::new(&ImuBias::default()),
            samples: VecDeque::with_capacity(settings.max_samples),
            counts: PredictorCounts::default(),
        })
    }

    /// What it did so far.
    #[must_use]
    pub fn counts(&self) -> PredictorCounts {
        self.counts
    }

    /// Takes `estimate` as the base of the poses to come, unless it is older
    /// than the current one; an estimate that is not tracking ends the
    /// predictions until the next one that is. The samples since its time
    /// are integrated again from it.
    pub fn set_estimate(&mut self, estimate: &Estimate) {
        if estimate.status != TrackingStatus::Tracking {
            self.base = None;
            return;
        }
        if self.base.is_some_and(|b| estimate.imu_t_ns < b.t_ns) {
            return;
        }
        self.counts.estimates += 1;
        let t0 = estimate.imu_t_ns;
        self.base = Some(Base {
            nav: NavState {
                rotation: estimate.world_from_body.rotation,
                position: estimate.world_from_body.translation.vector,
                velocity: estimate.v_world,
            },
            t_ns: t0,
            session: estimate.session,
            mode: estimate.mode,
            broken: false,
        });
        self.pre.reset(&estimate.bias);
        // Keep one sample at or before the base's time (the first interval's
        // start), drop the older ones.
        while self.samples.len() >= 2 && self.samples[1].t_ns <= t0 {
            self.samples.pop_front();
        }
        for i in 1..self.samples.len() {
            let (a, b) = (self.samples[i - 1], self.samples[i]);
            if b.t_ns <= t0 {
                continue;
            }
            if b.t_ns - a.t_ns > self.settings.max_gap_ns {
                if let Some(base) = &mut self.base {
                    base.broken = true;
                }
                return;
            }
            self.step(&a, &b, t0);
        }
    }

    /// Takes the next IMU sample and gives the pose at its time, or `None`
    /// (counted) when there is no tracking estimate to start from, the IMU
    /// had a gap since, the sample is past the horizon, or it is refused
    /// (not finite, not after the previous sample).
    pub fn push(&mut self, sample: ImuSample) -> Option<PredictedPose> {
        let finite = sample
            .gyro
            .iter()
            .chain(sample.accel.iter())
            .all(|v| v.is_finite());
        if !finite || self.samples.back().is_some_and(|p| sample.t_ns <= p.t_ns) {
            self.counts.refused += 1;
            return None;
        }
        let previous = self.samples.back().copied();
        if self.samples.len() == self.settings.max_samples {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        let Some(base) = self.base else {
            self.counts.without_estimate += 1;
            return None;
        };
        if sample.t_ns <= base.t_ns {
            // Still before the estimate's time (the IMU lags the camera).
            self.counts.without_estimate += 1;
            return None;
        }
        let gap = previous.is_some_and(|p| sample.t_ns - p.t_ns > self.settings.max_gap_ns);
        if base.broken || gap {
            if let Some(b) = &mut self.base {
                b.broken = true;
            }
            self.counts.after_gap += 1;
            return None;
        }
        let since = sample.t_ns - base.t_ns;
        if since > self.settings.max_horizon_ns {
            self.counts.beyond_horizon += 1;
            return None;
        }
        // The first sample after the base with none before it: its
        // measurement held back to the base's time.
        let from = previous.unwrap_or(sample);
        self.step(&from, &sample, base.t_ns);
        let bias = self.pre.bias;
        let nav = self.pre.predict(&base.nav, &bias);
        self.counts.poses += 1;
        Some(PredictedPose {
            t_ns: sample.t_ns,
            world_from_body: Isometry3::from_parts(Translation3::from(nav.position), nav.rotation),
            v_world: nav.velocity,
            w_body: sample.gyro - self.pre.bias.gyro,
            since_estimate_ns: since,
            session: base.session,
            mode: base.mode,
        })
    }

    /// Integrates the interval from `a` to `b` clipped to start at `t0_ns`,
    /// held at the mean of its ends (the start interpolated).
    fn step(&mut self, a: &ImuSample, b: &ImuSample, t0_ns: i64) {
        let start = a.t_ns.max(t0_ns);
        if b.t_ns <= start {
            return;
        }
        let span = (b.t_ns - a.t_ns) as f64;
        let f = if span > 0.0 {
            (start - a.t_ns) as f64 / span
        } else {
            1.0
        };
        let gyro_start = a.gyro + (b.gyro - a.gyro) * f;
        let accel_start = a.accel + (b.accel - a.accel) * f;
        let gyro = (gyro_start + b.gyro) * 0.5;
        let accel = (accel_start + b.accel) * 0.5;
        let dt = (b.t_ns - start) as f64 * 1e-9;
        self.pre.integrate(&gyro, &accel, dt, &self.noise);
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::{UnitQuaternion, Vector3};

    use super::*;
    use crate::preintegration::gravity_world;

    /// A helix: yaw at `W` rad/s, a circle of radius `R` at the same rate,
    /// climbing at `VZ` m/s; the IMU is exact (bias `BIAS`).
    const W: f64 = 0.8;
    const R: f64 = 1.5;
    const VZ: f64 = 0.3;

    fn bias() -> ImuBias {
        ImuBias {
            gyro: Vector3::new(0.01, -0.02, 0.005),
            accel: Vector3::new(0.05, 0.02, -0.04),
        }
    }

    fn truth(t: f64) -> NavState {
        let (s, c) = (W * t).sin_cos();
        NavState {
            rotation: UnitQuaternion::from_axis_angle(&Vector3::z_axis(), W * t),
            position: Vector3::new(R * c, R * s, VZ * t),
            velocity: Vector3::new(-R * W * s, R * W * c, VZ),
        }
    }

    fn sample(t_ns: i64) -> ImuSample {
        let t = t_ns as f64 * 1e-9;
        let (s, c) = (W * t).sin_cos();
        let a_world = Vector3::new(-R * W * W * c, -R * W * W * s, 0.0);
        let nav = truth(t);
        ImuSample {
            t_ns,
            gyro: Vector3::new(0.0, 0.0, W) + bias().gyro,
            accel: nav.rotation.inverse() * (a_world - gravity_world()) + bias().accel,
        }
    }

    fn estimate(t_ns: i64) -> Estimate {
        let nav = truth(t_ns as f64 * 1e-9);
        Estimate {
            t_ns,
            imu_t_ns: t_ns,
            time_offset_s: 0.0,
            status: TrackingStatus::Tracking,
            mode: TrackingMode::VisualInertial,
            world_from_body: Isometry3::from_parts(Translation3::from(nav.position), nav.rotation),
            v_world: nav.velocity,
            bias: bias(),
            keyframe: false,
            tracked_landmarks: 40,
            session: 1,
            iterations: 3,
            time_ns: 0,
        }
    }

    fn predictor() -> ImuPredictor {
        let noise = ImuNoise {
            gyro_noise_density: 1.7e-4,
            accel_noise_density: 2.0e-3,
            gyro_random_walk: 1.9e-5,
            accel_random_walk: 3.0e-3,
        };
        ImuPredictor::new(noise, PredictorSettings::default())
            .unwrap_or_else(|e| panic!("valid settings: {e}"))
    }

    const PERIOD: i64 = 5_000_000;

    fn error_m(p: &PredictedPose) -> (f64, f64) {
        let t = truth(p.t_ns as f64 * 1e-9);
        let dp = (p.world_from_body.translation.vector - t.position).norm();
        let dr = p.world_from_body.rotation.angle_to(&t.rotation);
        (dp, dr)
    }

    #[test]
    fn poses_follow_the_true_motion_between_estimates() {
        let mut p = predictor();
        // The estimate between two samples (a camera stamp is not on the
        // IMU's grid), the samples after it arriving one by one.
        let t0 = 1_002_500_000;
        for k in 190..=200 {
            assert!(p.push(sample(k * PERIOD)).is_none(), "no estimate yet");
        }
        p.set_estimate(&estimate(t0));
        let mut worst = (0.0f64, 0.0f64);
        for k in 201..=240 {
            let pose = p
                .push(sample(k * PERIOD))
                .unwrap_or_else(|| panic!("within the horizon"));
            assert_eq!(pose.t_ns, k * PERIOD);
            assert_eq!(pose.since_estimate_ns, k * PERIOD - t0);
            let (dp, dr) = error_m(&pose);
            worst = (worst.0.max(dp), worst.1.max(dr));
            let v = truth(pose.t_ns as f64 * 1e-9).velocity;
            assert!(
                (pose.v_world - v).norm() < 1e-5,
                "velocity {}",
                pose.v_world
            );
            assert!((pose.w_body - Vector3::new(0.0, 0.0, W)).norm() < 1e-12);
        }
        // 0.2 s at 200 Hz of a second-order scheme on an exact IMU.
        assert!(worst.0 < 1e-6 && worst.1 < 1e-9, "worst error {worst:?}");
        assert_eq!(p.counts().poses, 40);
        assert_eq!(p.counts().without_estimate, 11);
    }

    #[test]
    fn a_newer_estimate_takes_over_and_integrates_the_samples_since_again() {
        let mut p = predictor();
        p.push(sample(199 * PERIOD));
        p.set_estimate(&estimate(199 * PERIOD));
        for k in 200..=210 {
            p.push(sample(k * PERIOD));
        }
        // An estimate for a frame already passed by the IMU (its processing
        // took time), with a position 1 cm off: the next pose starts from it.
        let t1 = 205 * PERIOD + 1_000_000;
        let mut late = estimate(t1);
        late.world_from_body.translation.vector.x += 0.01;
        p.set_estimate(&late);
        let pose = p
            .push(sample(211 * PERIOD))
            .unwrap_or_else(|| panic!("a pose"));
        assert_eq!(pose.since_estimate_ns, 211 * PERIOD - t1);
        let (dp, _) = error_m(&pose);
        assert!(
            (dp - 0.01).abs() < 1e-6,
            "the offset of the new base carried: {dp}"
        );
        // An older estimate is ignored.
        p.set_estimate(&estimate(200 * PERIOD));
        let pose = p
            .push(sample(212 * PERIOD))
            .unwrap_or_else(|| panic!("a pose"));
        assert_eq!(pose.since_estimate_ns, 212 * PERIOD - t1);
    }

    #[test]
    fn no_pose_past_the_horizon_after_a_gap_or_without_tracking() {
        let mut p = predictor();
        p.push(sample(100 * PERIOD));
        p.set_estimate(&estimate(100 * PERIOD));
        // 200 ms horizon: 40 samples at 5 ms.
        let given = (101..=60 + 100)
            .filter(|&k| p.push(sample(k * PERIOD)).is_some())
            .count();
        assert_eq!(given, 40);
        assert_eq!(p.counts().beyond_horizon, 20);
        // A new estimate revives it; a 100 ms gap ends it again.
        p.set_estimate(&estimate(160 * PERIOD));
        assert!(p.push(sample(161 * PERIOD)).is_some());
        assert!(p.push(sample(181 * PERIOD)).is_none());
        assert!(
            p.push(sample(182 * PERIOD)).is_none(),
            "broken until the next estimate"
        );
        assert_eq!(p.counts().after_gap, 2);
        p.set_estimate(&estimate(182 * PERIOD));
        assert!(p.push(sample(183 * PERIOD)).is_some());
        // A lost estimate ends the predictions.
        let mut lost = estimate(183 * PERIOD);
        lost.status = TrackingStatus::Lost;
        p.set_estimate(&lost);
        assert!(p.push(sample(184 * PERIOD)).is_none());
        // Refused: out of order, not finite.
        let before = p.counts().refused;
        p.push(sample(150 * PERIOD));
        let mut bad = sample(185 * PERIOD);
        bad.accel.x = f64::NAN;
        p.push(bad);
        assert_eq!(p.counts().refused, before + 2);
    }

    #[test]
    fn memory_stays_within_the_ring() {
        let mut p = ImuPredictor::new(
            predictor().noise,
            PredictorSettings {
                max_samples: 8,
                ..PredictorSettings::default()
            },
        )
        .unwrap_or_else(|e| panic!("valid: {e}"));
        p.set_estimate(&estimate(0));
        for k in 1..1000 {
            p.push(sample(k * PERIOD));
            assert!(p.samples.len() <= 8);
        }
        assert!(
            PredictorSettings {
                max_samples: 1,
                ..PredictorSettings::default()
            }
            .validate()
            .is_err()
        );
    }
}
