//! The time offset between the IMU's and the cameras' clocks, estimated from
//! the stream as it runs: a health check, not a calibration in the window.
//!
//! A sample stamped `t` by the IMU was measured at camera time `t - offset`
//! (positive: the IMU's stamps lag). The estimator compares the body's
//! angular velocity seen two ways over the last
//! [`TimeOffsetMonitor::WINDOW_S`] seconds:
//!
//! - **by the cameras**: between consecutive frames, the rigid motion that
//!   best carries the stereo points of the features both frames matched in
//!   both cameras (each triangulated in its frame's cam0) onto the previous
//!   frame's (Kabsch's SVD solution with centroids, weighted by inverse
//!   squared depth, as stereo depth errors grow with the square of depth);
//!   its rotation, taken to the body frame by the calibrated
//!   `body_from_cam0` and divided by the interval. Points, not bearings: a
//!   rotation fitted to bearings alone takes the translation's parallax for
//!   rotation, which on a flying robot follows its turns and biased the
//!   offset by tens of milliseconds;
//! - **by the gyro**: the mean rate over the same interval shifted by a
//!   candidate offset (from the samples' running integral).
//!
//! Each series has its mean removed (the gyro's bias, and the slow error the
//! translation's parallax puts into a rotation-only fit), and the offset is
//! the candidate, on a 1 ms grid within [`HealthConfig::max_time_offset_s`]
//! times four, with the smallest squared difference, refined by a parabola
//! through its neighbours. This is the correlation of angular rates that
//! temporal calibration tools use (e.g. Kalibr; Furgale, Rehder & Siegwart,
//! IROS 2013, estimate the same offset in a continuous-time batch);
//! OpenVINS and VINS-Mono estimate it online in the filter or the window
//! instead. A window without rotation (rates varying by less than
//! [`TimeOffsetMonitor::MIN_RATE_RAD_S`]) gives no estimate, nor one whose
//! standard error (from the residual and the curvature at the minimum) is
//! above half the limit.
//!
//! When the estimate exceeds [`HealthConfig::max_time_offset_s`] on three
//! checks in a row, the monitor reports a [`SensorFault::TimeOffset`].
//! Units: times in ns on the sensors' clocks, offsets in s, rates in rad/s
//! (body = IMU frame).

use std::collections::VecDeque;

use datasets::{ImuSample, RigCalibration};
use nalgebra::{Isometry3, Matrix3, Rotation3, Vector3};

use crate::backend::reprojection::stereo_inverse_depth;
use crate::frontend::FrameTracks;
use crate::health::{HealthConfig, SensorFault};
use crate::so3::so3_log;

/// One frame interval's angular velocity seen by the cameras.
#[derive(Debug, Clone, Copy)]
struct VisualRate {
    t0_ns: i64,
    t1_ns: i64,
    /// Body angular velocity, rad/s.
    omega: Vector3<f64>,
}

/// Estimates the IMU-camera time offset ([module docs](self)).
#[derive(Debug, Clone)]
pub struct TimeOffsetMonitor {
    body_from_cam0: Matrix3<f64>,
    cam1_from_cam0: Isometry3<f64>,
    report_above_s: f64,
    search_s: f64,
    /// Samples with their running integral of the rate (rad), time-ordered.
    imu: VecDeque<(ImuSample, Vector3<f64>)>,
    /// The previous frame's stereo points: (id, point in cam0, m), by id.
    previous: Vec<(u64, Vector3<f64>)>,
    current: Vec<(u64, Vector3<f64>)>,
    previous_t_ns: Option<i64>,
    rates: VecDeque<VisualRate>,
    frames_since_check: usize,
    estimate_s: Option<f64>,
    /// Checks in a row whose estimate exceeded the limit.
    over: usize,
    reported_s: Option<f64>,
    pending: Vec<SensorFault>,
}

impl TimeOffsetMonitor {
    /// Seconds of frames an estimate uses.
    pub const WINDOW_S: f64 = 10.0;
    /// Frames between two estimates.
    pub const CHECK_EVERY: usize = 20;
    /// Smallest spread (RMS about the mean) of the visual rates that gives
    /// an estimate, rad/s.
    pub const MIN_RATE_RAD_S: f64 = 0.1;
    /// Fewest features tracked between two frames for a visual rate.
    const MIN_FEATURES: usize = 12;

    /// Nearest and farthest stereo point used, m.
    const DEPTH_RANGE_M: (f64, f64) = (0.2, 20.0);

    /// A monitor for `rig` (its cameras' extrinsics), with `config`'s limit.
    #[must_use]
    pub fn new(rig: &RigCalibration, config: &HealthConfig) -> Self {
        Self {
            body_from_cam0: *rig
                .cam0
                .body_from_cam
                .rotation
                .to_rotation_matrix()
                .matrix(),
            cam1_from_cam0: rig.cam1.body_from_cam.inverse() * rig.cam0.body_from_cam,
            report_above_s: config.max_time_offset_s,
            search_s: 4.0 * config.max_time_offset_s,
            imu: VecDeque::new(),
            previous: Vec::new(),
            current: Vec::new(),
            previous_t_ns: None,
            rates: VecDeque::new(),
            frames_since_check: 0,
            estimate_s: None,
            over: 0,
            reported_s: None,
            pending: Vec::new(),
        }
    }

    /// The last estimate, s (positive: the IMU's stamps lag the cameras').
    #[must_use]
    pub fn estimate_s(&self) -> Option<f64> {
        self.estimate_s
    }

    /// Adds IMU samples (time-ordered, after those given before).
    pub fn push_imu(&mut self, samples: &[ImuSample]) {
        for s in samples {
            let integral = match self.imu.back() {
                Some((prev, acc)) if s.t_ns > prev.t_ns => {
                    acc + (prev.gyro + s.gyro) * (0.5 * (s.t_ns - prev.t_ns) as f64 * 1e-9)
                }
                Some(_) => continue,
                None => Vector3::zeros(),
            };
            self.imu.push_back((*s, integral));
        }
    }

    /// Adds a frame's tracks; every [`Self::CHECK_EVERY`] frames estimates
    /// the offset from the last [`Self::WINDOW_S`] seconds.
    pub fn check_tracks(&mut self, tracks: &FrameTracks) {
        self.current.clear();
        let (near, far) = Self::DEPTH_RANGE_M;
        let cam1_from_cam0 = &self.cam1_from_cam0;
        self.current.extend(tracks.features.iter().filter_map(|f| {
            let rho = stereo_inverse_depth(cam1_from_cam0, &f.left_bearing, &f.right_bearing?)?;
            let point = f.left_bearing / rho;
            (near..=far).contains(&point.z).then_some((f.id, point))
        }));
        self.current.sort_unstable_by_key(|f| f.0);
        if let Some(t0) = self.previous_t_ns
            && tracks.t_ns > t0
            && let Some(omega) = self.visual_rate(tracks.t_ns - t0)
        {
            self.rates.push_back(VisualRate {
                t0_ns: t0,
                t1_ns: tracks.t_ns,
                omega,
            });
        }
        std::mem::swap(&mut self.previous, &mut self.current);
        self.previous_t_ns = Some(tracks.t_ns);
        let window_ns = (Self::WINDOW_S * 1e9) as i64;
        while self
            .rates
            .front()
            .is_some_and(|r| tracks.t_ns - r.t0_ns > window_ns)
        {
            self.rates.pop_front();
        }
        // Keep the samples the window's intervals may shift onto.
        let keep_from = self
            .rates
            .front()
            .map_or(tracks.t_ns, |r| r.t0_ns)
            .saturating_sub((self.search_s * 1e9) as i64 + 50_000_000);
        while self.imu.len() > 2 && self.imu.get(1).is_some_and(|s| s.0.t_ns < keep_from) {
            self.imu.pop_front();
        }
        self.frames_since_check += 1;
        if self.frames_since_check >= Self::CHECK_EVERY {
            self.frames_since_check = 0;
            self.update(tracks.t_ns);
        }
    }

    /// Forgets the samples, the frames and the estimate (after the caller
    /// corrected the stamps by the offset found).
    pub fn reset(&mut self) {
        self.imu.clear();
        self.previous.clear();
        self.previous_t_ns = None;
        self.rates.clear();
        self.frames_since_check = 0;
        self.estimate_s = None;
        self.over = 0;
        self.reported_s = None;
    }

    /// The faults found since the last call.
    pub fn take_faults(&mut self) -> Vec<SensorFault> {
        std::mem::take(&mut self.pending)
    }

    /// The body angular velocity between the previous frame and this one
    /// from the stereo points both have, rad/s.
    fn visual_rate(&self, dt_ns: i64) -> Option<Vector3<f64>> {
        // The pairs (previous point p, current point q), weight 1 / z^2.
        let mut pairs: Vec<(Vector3<f64>, Vector3<f64>, f64)> = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.previous.len() && j < self.current.len() {
            let (a, b) = (&self.previous[i], &self.current[j]);
            match a.0.cmp(&b.0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let w = 1.0 / (a.1.z * a.1.z + b.1.z * b.1.z);
                    pairs.push((a.1, b.1, w));
                    i += 1;
                    j += 1;
                }
            }
        }
        if pairs.len() < Self::MIN_FEATURES {
            return None;
        }
        // Kabsch with centroids: p = R q + t.
        let total: f64 = pairs.iter().map(|p| p.2).sum();
        let p_mean = pairs.iter().map(|p| p.0 * p.2).sum::<Vector3<f64>>() / total;
        let q_mean = pairs.iter().map(|p| p.1 * p.2).sum::<Vector3<f64>>() / total;
        let h: Matrix3<f64> = pairs
            .iter()
            .map(|(p, q, w)| (q - q_mean) * (p - p_mean).transpose() * *w)
            .sum();
        let svd = h.svd(true, true);
        let (u, v_t) = (svd.u?, svd.v_t?);
        let v = v_t.transpose();
        let d = (v * u.transpose()).determinant().signum();
        let r = v * Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, d)) * u.transpose();
        // `r` is cam_prev_from_cam_cur: the camera's own turn.
        let turn = so3_log(&Rotation3::from_matrix_unchecked(r));
        let omega = self.body_from_cam0 * turn / (dt_ns as f64 * 1e-9);
        omega.iter().all(|x| x.is_finite()).then_some(omega)
    }

    /// The integral of the gyro rate from the first sample to `t_ns`, rad
    /// (`None` outside the samples).
    fn integral_at(&self, t_ns: i64) -> Option<Vector3<f64>> {
        let k = self.imu.partition_point(|s| s.0.t_ns <= t_ns);
        let (a, b) = (self.imu.get(k.checked_sub(1)?)?, self.imu.get(k)?);
        let span = (b.0.t_ns - a.0.t_ns) as f64 * 1e-9;
        let x = (t_ns - a.0.t_ns) as f64 * 1e-9;
        // The rate is linear between the samples: the integral is quadratic.
        let rate_at_x = a.0.gyro + (b.0.gyro - a.0.gyro) * (x / span);
        Some(a.1 + (a.0.gyro + rate_at_x) * (0.5 * x))
    }

    /// The mean squared difference of the de-meaned rate series at
    /// `offset_s`, or `None` when the gyro does not cover every interval.
    fn mismatch(&self, offset_s: f64, rates: &[VisualRate]) -> Option<f64> {
        let shift = (offset_s * 1e9).round() as i64;
        let mut gyro = Vec::with_capacity(rates.len());
        for r in rates {
            let (a, b) = (
                self.integral_at(r.t0_ns + shift)?,
                self.integral_at(r.t1_ns + shift)?,
            );
            gyro.push((b - a) / ((r.t1_ns - r.t0_ns) as f64 * 1e-9));
        }
        let n = rates.len() as f64;
        let mean_v = rates.iter().map(|r| r.omega).sum::<Vector3<f64>>() / n;
        let mean_g = gyro.iter().sum::<Vector3<f64>>() / n;
        Some(
            rates
                .iter()
                .zip(&gyro)
                .map(|(r, g)| ((r.omega - mean_v) - (g - mean_g)).norm_squared())
                .sum::<f64>()
                / n,
        )
    }

    fn update(&mut self, t_ns: i64) {
        // The intervals whose every candidate shift the gyro covers.
        let Some(last_imu) = self.imu.back().map(|s| s.0.t_ns) else {
            return;
        };
        let reach = (self.search_s * 1e9) as i64;
        let rates: Vec<VisualRate> = self
            .rates
            .iter()
            .filter(|r| r.t1_ns + reach < last_imu)
            .copied()
            .collect();
        if rates.len() < 40 {
            return;
        }
        let n = rates.len() as f64;
        let mean = rates.iter().map(|r| r.omega).sum::<Vector3<f64>>() / n;
        let spread = (rates
            .iter()
            .map(|r| (r.omega - mean).norm_squared())
            .sum::<f64>()
            / n)
            .sqrt();
        if spread < Self::MIN_RATE_RAD_S {
            return;
        }
        let steps = (self.search_s * 1e3).round() as i64;
        let costs: Vec<Option<f64>> = (-steps..=steps)
            .map(|k| self.mismatch(k as f64 * 1e-3, &rates))
            .collect();
        let Some((best, c0)) = costs
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (i, c)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
        else {
            return;
        };
        let mut offset = (best as i64 - steps) as f64 * 1e-3;
        let (Some(Some(cm)), Some(Some(cp))) = (
            best.checked_sub(1).map(|i| costs[i]),
            costs.get(best + 1).copied(),
        ) else {
            // At the edge of the search: not a minimum.
            return;
        };
        // Second difference over 1 ms steps: the cost's curvature, per s^2.
        let curvature = (cm - 2.0 * c0 + cp) / 1e-6;
        if curvature <= 0.0 {
            return;
        }
        offset += 0.5 * (cm - cp) / (cm - 2.0 * c0 + cp) * 1e-3;
        // The cost is a mean of squared residuals (3 axes an interval): the
        // least-squares standard error of the offset.
        let standard_error = (2.0 * c0 / (n * curvature)).sqrt();
        tracing::debug!(
            "time offset at t = {:.3} s: {:.2} ms +- {:.2} ms ({} intervals, rate spread {spread:.3} rad/s, residual {:.4} rad/s)",
            t_ns as f64 * 1e-9,
            offset * 1e3,
            standard_error * 1e3,
            rates.len(),
            c0.sqrt()
        );
        if standard_error > self.report_above_s / 2.0 {
            return;
        }
        self.estimate_s = Some(offset);
        if offset.abs() > self.report_above_s {
            self.over += 1;
        } else {
            self.over = 0;
        }
        let new = self
            .reported_s
            .is_none_or(|r| (r - offset).abs() > self.report_above_s);
        if self.over >= 3 && new {
            tracing::warn!(
                "the IMU's time stamps {} the cameras' by {:.1} ms (estimated at t = {:.3} s from {} frame intervals)",
                if offset > 0.0 { "lag" } else { "lead" },
                offset.abs() * 1e3,
                t_ns as f64 * 1e-9,
                rates.len()
            );
            self.reported_s = Some(offset);
            self.pending.push(SensorFault::TimeOffset {
                t_ns,
                offset_s: offset,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::{UnitQuaternion, Vector2};

    use super::*;
    use crate::frontend::Feature;

    fn rig() -> RigCalibration {
        RigCalibration {
            cam0: datasets::CameraCalibration::euroc_cam0(),
            cam1: datasets::CameraCalibration::euroc_cam1(),
            imu: datasets::ImuCalibration::euroc_adis16448(),
        }
    }

    /// A body turning at `omega(t)` (rad/s, body frame) and moving at up to
    /// 1 m/s among 300 points 3 to 6 m away, seen by EuRoC's stereo rig (the
    /// points both cameras see, without noise); the gyro sampled at 200 Hz
    /// with a bias and stamped `offset_s` late; frames at 20 Hz for
    /// `seconds`.
    fn estimate(offset_s: f64, seconds: f64) -> (Option<f64>, Vec<SensorFault>) {
        let omega = |t: f64| {
            Vector3::new(
                0.6 * (2.1 * t).sin(),
                0.4 * (1.3 * t + 0.5).cos(),
                0.5 * (0.7 * t).sin() + 0.2 * (3.0 * t).sin(),
            )
        };
        let velocity = |t: f64| {
            Vector3::new(
                0.8 * (0.9 * t).sin(),
                0.6 * (0.6 * t).cos(),
                0.2 * (1.7 * t).sin(),
            )
        };
        let rig = rig();
        let body_from_cam0 = rig.cam0.body_from_cam;
        let cam1_from_cam0 = rig.cam1.body_from_cam.inverse() * rig.cam0.body_from_cam;
        let config = HealthConfig::default();
        let mut monitor = TimeOffsetMonitor::new(&rig, &config);
        let points: Vec<Vector3<f64>> = (0..300)
            .map(|k| {
                let a = k as f64 * 2.399;
                let z = 1.0 - 2.0 * (k as f64 + 0.5) / 300.0;
                let r = (1.0 - z * z).sqrt();
                Vector3::new(r * a.cos(), r * a.sin(), z)
                    * (3.0 + 3.0 * ((k * 7) % 11) as f64 / 10.0)
            })
            .collect();
        let mut rotation = UnitQuaternion::identity();
        let mut position = Vector3::zeros();
        let dt = 0.001;
        let mut imu = Vec::new();
        let (mut t, mut next_imu, mut next_frame, mut frame) = (0.0, 0.0, 0.0, 0u64);
        while t < seconds {
            if t >= next_imu - 1e-9 {
                imu.push(ImuSample {
                    t_ns: ((t + offset_s) * 1e9).round() as i64,
                    gyro: omega(t) + Vector3::new(0.01, -0.02, 0.005),
                    accel: Vector3::zeros(),
                });
                next_imu += 0.005;
            }
            if t >= next_frame - 1e-9 {
                monitor.push_imu(&imu);
                imu.clear();
                let world_from_body = Isometry3::from_parts(position.into(), rotation);
                let cam0_from_world = (world_from_body * body_from_cam0).inverse();
                let features = points
                    .iter()
                    .enumerate()
                    .filter_map(|(k, p)| {
                        let p0 = cam0_from_world * nalgebra::Point3::from(*p);
                        let p1 = cam1_from_cam0 * p0;
                        (p0.z > 0.3 && p1.z > 0.3).then(|| Feature {
                            id: k as u64,
                            age: 1,
                            left: Vector2::zeros(),
                            right: None,
                            left_bearing: p0.coords.normalize(),
                            right_bearing: Some(p1.coords.normalize()),
                        })
                    })
                    .collect();
                monitor.check_tracks(&FrameTracks {
                    t_ns: (t * 1e9).round() as i64,
                    frame_index: frame,
                    features,
                    ..FrameTracks::default()
                });
                frame += 1;
                next_frame += 0.05;
            }
            rotation *= UnitQuaternion::from_scaled_axis(omega(t + 0.5 * dt) * dt);
            position += velocity(t + 0.5 * dt) * dt;
            t += dt;
        }
        (monitor.estimate_s(), monitor.take_faults())
    }

    #[test]
    fn an_offset_is_found_within_a_millisecond_and_reported_beyond_the_limit() {
        for offset in [-0.03, -0.012, 0.0, 0.005, 0.02, 0.035] {
            let (found, faults) = estimate(offset, 20.0);
            let found = found.unwrap_or_else(|| panic!("no estimate for {offset}"));
            assert!(
                (found - offset).abs() < 1e-3,
                "offset {offset} s estimated {found} s"
            );
            let limit = HealthConfig::default().max_time_offset_s;
            if offset.abs() > limit {
                assert_eq!(faults.len(), 1, "{offset}: {faults:?}");
                let SensorFault::TimeOffset { offset_s, .. } = faults[0] else {
                    panic!("{faults:?}")
                };
                assert!((offset_s - offset).abs() < 1e-3);
            } else {
                assert!(faults.is_empty(), "{offset}: {faults:?}");
            }
        }
    }

    #[test]
    fn no_rotation_gives_no_estimate() {
        let rig = rig();
        let cam1_from_cam0 = rig.cam1.body_from_cam.inverse() * rig.cam0.body_from_cam;
        let mut monitor = TimeOffsetMonitor::new(&rig, &HealthConfig::default());
        let features: Vec<Feature> = (0..50)
            .map(|k| {
                let p = nalgebra::Point3::new(0.05 * k as f64 - 1.0, 0.3, 3.0);
                Feature {
                    id: k,
                    age: 1,
                    left: Vector2::zeros(),
                    right: None,
                    left_bearing: p.coords.normalize(),
                    right_bearing: Some((cam1_from_cam0 * p).coords.normalize()),
                }
            })
            .collect();
        for f in 0..200 {
            let t_ns = f * 50_000_000;
            let imu: Vec<ImuSample> = (0..10)
                .map(|k| ImuSample {
                    t_ns: t_ns + k * 5_000_000,
                    gyro: Vector3::new(0.01, 0.0, 0.0),
                    accel: Vector3::zeros(),
                })
                .collect();
            monitor.push_imu(&imu);
            monitor.check_tracks(&FrameTracks {
                t_ns,
                features: features.clone(),
                ..FrameTracks::default()
            });
        }
        assert!(monitor.estimate_s().is_none());
        assert!(monitor.take_faults().is_empty());
    }
}
