//! IMU simulation consistent with a trajectory: exact angular velocity and specific
//! force from the trajectory's derivatives, plus the discrete-time equivalent of
//! the continuous noise model in the IMU calibration.
//!
//! Model (Kalibr's IMU noise model, after Trawny & Roumeliotis, "Indirect Kalman
//! filter for 3D attitude estimation", 2005, and Furgale et al., IROS 2013), per
//! sample `k` at period `dt` (seconds):
//!
//! ```text
//! gyro_k  = omega_B(t_k) + b_g,k + n_g,k     n_g,k ~ N(0, (sigma_g / sqrt(dt))^2)
//! accel_k = f_B(t_k)     + b_a,k + n_a,k     n_a,k ~ N(0, (sigma_a / sqrt(dt))^2)
//! b_.,k+1 = b_.,k + sigma_b. sqrt(dt) w_k     w_k  ~ N(0, I)
//! ```
//!
//! with `sigma_g`, `sigma_a` the white-noise densities and `sigma_bg`, `sigma_ba`
//! the bias random walks of [`ImuCalibration`] (all scaled by
//! [`ImuNoiseConfig::noise_scale`]), and `b_.,0` drawn from a zero-mean Gaussian.
//! Frames: body = IMU frame; `omega_B` in rad/s, `f_B = R_WB^T (a_W - g_W)` in
//! m/s^2 with `g_W = (0, 0, -9.81)`. The bias at every sample is returned too, the
//! ground truth a VIO back end's bias estimate is compared with.

use super::rng::{Rng, Stream};
use super::trajectory::Trajectory;
use crate::model::{ImuBias, ImuCalibration, ImuSample};
use crate::{DatasetError, Result};

/// IMU noise switches and the initial bias spread.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ImuNoiseConfig {
    /// Multiplies the calibration's noise densities and random walks; 0 gives
    /// exact measurements with constant biases, 1 the calibrated sensor.
    pub noise_scale: f64,
    /// Standard deviation of each axis of the initial gyroscope bias, rad/s.
    pub initial_gyro_bias_sigma_rad_s: f64,
    /// Standard deviation of each axis of the initial accelerometer bias, m/s^2.
    pub initial_accel_bias_sigma_m_s2: f64,
}

impl Default for ImuNoiseConfig {
    fn default() -> Self {
        Self {
            noise_scale: 1.0,
            initial_gyro_bias_sigma_rad_s: 0.005,
            initial_accel_bias_sigma_m_s2: 0.05,
        }
    }
}

impl ImuNoiseConfig {
    /// No noise and zero biases: the measurements are the exact derivatives.
    #[must_use]
    pub fn noise_free() -> Self {
        Self {
            noise_scale: 0.0,
            initial_gyro_bias_sigma_rad_s: 0.0,
            initial_accel_bias_sigma_m_s2: 0.0,
        }
    }
}

/// Simulated IMU samples with the true bias at each.
#[derive(Debug, Clone, PartialEq)]
pub struct ImuSimulation {
    /// Measurements, in time order.
    pub samples: Vec<ImuSample>,
    /// The true biases at each sample (same length and order).
    pub biases: Vec<ImuBias>,
}

/// An IMU sampled one reading at a time along a trajectory that may still be
/// growing (a closed-loop flight appends control points as it plans): the
/// same model and the same random stream as [`simulate_imu`], which is this
/// simulator run over a finished trajectory.
#[derive(Debug, Clone)]
pub struct ImuSimulator {
    rng: Rng,
    bias: ImuBias,
    gyro_white: f64,
    accel_white: f64,
    gyro_walk: f64,
    accel_walk: f64,
    start_ns: i64,
    period_ns: i64,
    next: usize,
}

impl ImuSimulator {
    /// An IMU whose first reading is at `start_ns` (the trajectory's time 0),
    /// then every `period_ns`. Deterministic in `seed`.
    ///
    /// # Errors
    /// If the period is not positive or the noise settings are negative or not
    /// finite.
    pub fn new(
        calibration: &ImuCalibration,
        noise: &ImuNoiseConfig,
        start_ns: i64,
        period_ns: i64,
        seed: u64,
    ) -> Result<Self> {
        let finite_nonneg = |x: f64| x.is_finite() && x >= 0.0;
        if period_ns <= 0 {
            return Err(DatasetError::InvalidArgument(format!(
                "IMU period {period_ns} ns must be positive"
            )));
        }
        if !finite_nonneg(noise.noise_scale)
            || !finite_nonneg(noise.initial_gyro_bias_sigma_rad_s)
            || !finite_nonneg(noise.initial_accel_bias_sigma_m_s2)
        {
            return Err(DatasetError::InvalidArgument(
                "IMU noise settings must be finite and >= 0".into(),
            ));
        }
        let mut rng = Rng::stream(seed, &[Stream::Imu.id()]);
        let dt = period_ns as f64 * 1e-9;
        let s = noise.noise_scale;
        // Draws are made even when a sigma is zero so that the stream (and so
        // the other quantities) does not depend on which noise terms are on.
        let bias = ImuBias {
            gyro: rng.gaussian3() * noise.initial_gyro_bias_sigma_rad_s,
            accel: rng.gaussian3() * noise.initial_accel_bias_sigma_m_s2,
        };
        Ok(Self {
            rng,
            bias,
            gyro_white: s * calibration.gyro_noise_density / dt.sqrt(),
            accel_white: s * calibration.accel_noise_density / dt.sqrt(),
            gyro_walk: s * calibration.gyro_random_walk * dt.sqrt(),
            accel_walk: s * calibration.accel_random_walk * dt.sqrt(),
            start_ns,
            period_ns,
            next: 0,
        })
    }

    /// Time of the next reading, ns.
    #[must_use]
    pub fn next_t_ns(&self) -> i64 {
        self.start_ns + self.next as i64 * self.period_ns
    }

    /// The next reading along `trajectory` (its time 0 at the start time) and
    /// the true bias it carries.
    pub fn sample(&mut self, trajectory: &Trajectory) -> (ImuSample, ImuBias) {
        let t_ns = self.next_t_ns();
        let dt = self.period_ns as f64 * 1e-9;
        let state = trajectory.state(self.next as f64 * dt);
        let rng = &mut self.rng;
        let gyro = state.angular_velocity_body + self.bias.gyro + rng.gaussian3() * self.gyro_white;
        let accel =
            state.specific_force_body + self.bias.accel + rng.gaussian3() * self.accel_white;
        let bias = self.bias;
        self.bias.gyro += rng.gaussian3() * self.gyro_walk;
        self.bias.accel += rng.gaussian3() * self.accel_walk;
        self.next += 1;
        (ImuSample { t_ns, gyro, accel }, bias)
    }
}

/// Simulates `count` IMU samples at `start_ns + k * period_ns` along `trajectory`
/// (whose time 0 is `start_ns`). Deterministic in `seed`.
///
/// # Errors
/// If the period is not positive or the noise settings are negative or not finite.
pub fn simulate_imu(
    trajectory: &Trajectory,
    calibration: &ImuCalibration,
    noise: &ImuNoiseConfig,
    start_ns: i64,
    period_ns: i64,
    count: usize,
    seed: u64,
) -> Result<ImuSimulation> {
    let mut imu = ImuSimulator::new(calibration, noise, start_ns, period_ns, seed)?;
    let mut samples = Vec::with_capacity(count);
    let mut biases = Vec::with_capacity(count);
    for _ in 0..count {
        let (sample, bias) = imu.sample(trajectory);
        samples.push(sample);
        biases.push(bias);
    }
    Ok(ImuSimulation { samples, biases })
}

#[cfg(test)]
mod tests {
    use nalgebra::{UnitQuaternion, Vector3};

    use super::*;
    use crate::synth::trajectory::TrajectoryConfig;
    use crate::synth::world::{World, WorldConfig};

    /// Cubic Lagrange interpolation through 4 samples at times -1, 0, 1, 2 (in
    /// sample periods), evaluated at `x` in [0, 1].
    fn cubic(y: [Vector3<f64>; 4], x: f64) -> Vector3<f64> {
        let l0 = -x * (x - 1.0) * (x - 2.0) / 6.0;
        let l1 = (x + 1.0) * (x - 1.0) * (x - 2.0) / 2.0;
        let l2 = -(x + 1.0) * x * (x - 2.0) / 2.0;
        let l3 = (x + 1.0) * x * (x - 1.0) / 6.0;
        y[0] * l0 + y[1] * l1 + y[2] * l2 + y[3] * l3
    }

    /// Integrates IMU samples (biases subtracted) from an initial state with RK4 on
    /// (q, v, p), the measurements between samples from cubic interpolation: a
    /// fourth-order scheme, so its own error is far below the simulator's.
    fn integrate(
        samples: &[ImuSample],
        biases: &[ImuBias],
        q0: UnitQuaternion<f64>,
        v0: Vector3<f64>,
        p0: Vector3<f64>,
        steps: usize,
    ) -> (UnitQuaternion<f64>, Vector3<f64>, Vector3<f64>) {
        let g = Vector3::new(0.0, 0.0, -crate::model::GRAVITY);
        let dt = (samples[1].t_ns - samples[0].t_ns) as f64 * 1e-9;
        let n = samples.len();
        let at = |k: isize| -> (Vector3<f64>, Vector3<f64>) {
            let k = k.clamp(0, n as isize - 1) as usize;
            (
                samples[k].gyro - biases[k].gyro,
                samples[k].accel - biases[k].accel,
            )
        };
        let (mut q, mut v, mut p) = (q0.into_inner(), v0, p0);
        for k in 0..steps {
            let k = k as isize;
            let pts = [at(k - 1), at(k), at(k + 1), at(k + 2)];
            let w = [pts[0].0, pts[1].0, pts[2].0, pts[3].0];
            let f = [pts[0].1, pts[1].1, pts[2].1, pts[3].1];
            let deriv = |x: f64, q: &nalgebra::Quaternion<f64>, v: &Vector3<f64>| {
                let omega = cubic(w, x);
                let force = cubic(f, x);
                let qn = UnitQuaternion::from_quaternion(*q);
                let q_dot = q * nalgebra::Quaternion::from_imag(omega) * 0.5;
                let v_dot = qn * force + g;
                (q_dot, v_dot, *v)
            };
            let (k1q, k1v, k1p) = deriv(0.0, &q, &v);
            let (k2q, k2v, k2p) = deriv(0.5, &(q + k1q * (dt / 2.0)), &(v + k1v * (dt / 2.0)));
            let (k3q, k3v, k3p) = deriv(0.5, &(q + k2q * (dt / 2.0)), &(v + k2v * (dt / 2.0)));
            let (k4q, k4v, k4p) = deriv(1.0, &(q + k3q * dt), &(v + k3v * dt));
            q += (k1q + k2q * 2.0 + k3q * 2.0 + k4q) * (dt / 6.0);
            v += (k1v + k2v * 2.0 + k3v * 2.0 + k4v) * (dt / 6.0);
            p += (k1p + k2p * 2.0 + k3p * 2.0 + k4p) * (dt / 6.0);
            q = q.normalize();
        }
        (UnitQuaternion::from_quaternion(q), v, p)
    }

    fn trajectory(seed: u64, duration_s: f64) -> Trajectory {
        let world =
            World::generate(&WorldConfig::default(), seed).unwrap_or_else(|e| panic!("{e}"));
        let cfg = TrajectoryConfig {
            duration_s,
            speed_m_s: [0.6, 1.5],
            max_angular_rate_rad_s: 1.5,
            knot_interval_s: 0.8,
            ..TrajectoryConfig::default()
        };
        Trajectory::generate(&world, &cfg, seed).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn noise_free_imu_integrates_back_to_the_trajectory() {
        for seed in [1, 2] {
            let traj = trajectory(seed, 11.0);
            let calib = ImuCalibration::euroc_adis16448();
            let sim = simulate_imu(
                &traj,
                &calib,
                &ImuNoiseConfig::noise_free(),
                0,
                5_000_000,
                2101,
                seed,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let s0 = traj.state(0.0);
            let steps = 2000; // 10 s
            let (q, v, p) = integrate(
                &sim.samples,
                &sim.biases,
                s0.world_from_body.rotation,
                s0.velocity,
                s0.position,
                steps,
            );
            let truth = traj.state(10.0);
            let p_err = (p - truth.position).norm();
            let v_err = (v - truth.velocity).norm();
            let r_err = (q.inverse() * truth.world_from_body.rotation).angle();
            let travelled: f64 = (0..1000)
                .map(|k| {
                    (traj.state((k + 1) as f64 * 0.01).position
                        - traj.state(k as f64 * 0.01).position)
                        .norm()
                })
                .sum();
            println!(
                "seed {seed}: after 10 s and {travelled:.1} m: position error {p_err:.2e} m, \
                 velocity {v_err:.2e} m/s, rotation {r_err:.2e} rad"
            );
            assert!(
                travelled > 5.0,
                "seed {seed}: the body moved only {travelled} m"
            );
            assert!(p_err < 0.01, "seed {seed}: position error {p_err} m");
            assert!(v_err < 0.002, "seed {seed}: velocity error {v_err} m/s");
            assert!(r_err < 1e-4, "seed {seed}: rotation error {r_err} rad");
            // Tighter than the acceptance bound: the scheme is fourth order.
            assert!(p_err < 1e-3, "seed {seed}: position error {p_err} m");
        }
    }

    #[test]
    fn hover_reads_gravity_and_no_rotation() {
        let traj = trajectory(4, 5.0);
        let calib = ImuCalibration::euroc_adis16448();
        let sim = simulate_imu(
            &traj,
            &calib,
            &ImuNoiseConfig::noise_free(),
            0,
            5_000_000,
            200,
            4,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for s in &sim.samples[..250.min(sim.samples.len())] {
            if s.t_ns > 1_400_000_000 {
                break;
            }
            assert!(s.gyro.norm() < 1e-12);
            assert!((s.accel.norm() - crate::model::GRAVITY).abs() < 1e-9);
            // Body x is up (EuRoC's IMU): most of gravity's reaction is on +x.
            assert!(s.accel.x > 9.0, "{:?}", s.accel);
        }
    }

    #[test]
    fn noise_and_bias_walk_have_the_calibrated_statistics() {
        let traj = trajectory(5, 30.0);
        let calib = ImuCalibration::euroc_adis16448();
        let noise = ImuNoiseConfig {
            noise_scale: 1.0,
            ..ImuNoiseConfig::noise_free()
        };
        let exact = simulate_imu(
            &traj,
            &calib,
            &ImuNoiseConfig::noise_free(),
            0,
            5_000_000,
            6000,
            5,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let noisy = simulate_imu(&traj, &calib, &noise, 0, 5_000_000, 6000, 5)
            .unwrap_or_else(|e| panic!("{e}"));
        let dt: f64 = 0.005;
        let (mut sg, mut sa) = (0.0, 0.0);
        for ((e, n), b) in exact.samples.iter().zip(&noisy.samples).zip(&noisy.biases) {
            sg += (n.gyro - e.gyro - b.gyro).norm_squared();
            sa += (n.accel - e.accel - b.accel).norm_squared();
        }
        let count = 3.0 * exact.samples.len() as f64;
        let gyro_sigma = (sg / count).sqrt();
        let accel_sigma = (sa / count).sqrt();
        let expected_g = calib.gyro_noise_density / dt.sqrt();
        let expected_a = calib.accel_noise_density / dt.sqrt();
        assert!(
            (gyro_sigma / expected_g - 1.0).abs() < 0.05,
            "{gyro_sigma} vs {expected_g}"
        );
        assert!(
            (accel_sigma / expected_a - 1.0).abs() < 0.05,
            "{accel_sigma} vs {expected_a}"
        );
        // Bias increments have sigma rw * sqrt(dt).
        let mut sb = 0.0;
        for w in noisy.biases.windows(2) {
            sb += (w[1].accel - w[0].accel).norm_squared();
        }
        let walk = (sb / (3.0 * (noisy.biases.len() - 1) as f64)).sqrt();
        let expected_w = calib.accel_random_walk * dt.sqrt();
        assert!(
            (walk / expected_w - 1.0).abs() < 0.05,
            "{walk} vs {expected_w}"
        );
    }
}
