//! Tests of the preintegration against exact motion, finite differences and
//! Monte Carlo.

use datasets::ImuSample;
use nalgebra::{Rotation3, UnitQuaternion, Vector3};

use super::*;

/// A motion with a closed form: `R(t) = R0 Exp(alpha(t) u1) Exp(beta(t) u2)`
/// (a time-varying, non-commuting angular rate of about 1 rad/s) and
/// `p(t) = p0 + v0 t + amp * sin(freq t + phase)` per axis (accelerations up to
/// about 0.9 m/s^2 besides gravity).
struct Motion {
    r0: Rotation3<f64>,
    u1: Vector3<f64>,
    u2: Vector3<f64>,
    p0: Vector3<f64>,
    v0: Vector3<f64>,
    amp: Vector3<f64>,
    freq: Vector3<f64>,
    phase: Vector3<f64>,
}

impl Motion {
    fn new() -> Self {
        Self {
            r0: so3_exp(&Vector3::new(0.2, -0.4, 1.1)),
            u1: Vector3::new(0.2, 0.3, 1.0).normalize(),
            u2: Vector3::new(1.0, -0.5, 0.2).normalize(),
            p0: Vector3::new(1.0, -2.0, 1.5),
            v0: Vector3::new(0.3, 0.1, -0.05),
            amp: Vector3::new(0.5, 0.4, 0.2),
            freq: Vector3::new(1.3, 0.9, 2.1),
            phase: Vector3::new(0.1, 0.7, -0.4),
        }
    }

    fn angles(t: f64) -> (f64, f64, f64, f64) {
        let alpha = 0.8 * t + 0.3 * (2.0 * t).sin();
        let alpha_dot = 0.8 + 0.6 * (2.0 * t).cos();
        let beta = 0.5 * (1.5 * t).sin();
        let beta_dot = 0.75 * (1.5 * t).cos();
        (alpha, alpha_dot, beta, beta_dot)
    }

    fn rotation(&self, t: f64) -> Rotation3<f64> {
        let (alpha, _, beta, _) = Self::angles(t);
        self.r0 * so3_exp(&(self.u1 * alpha)) * so3_exp(&(self.u2 * beta))
    }

    fn omega_body(&self, t: f64) -> Vector3<f64> {
        let (_, alpha_dot, beta, beta_dot) = Self::angles(t);
        self.u2 * beta_dot + so3_exp(&(self.u2 * beta)).inverse() * self.u1 * alpha_dot
    }

    fn arg(&self, t: f64) -> Vector3<f64> {
        self.freq * t + self.phase
    }

    fn position(&self, t: f64) -> Vector3<f64> {
        self.p0 + self.v0 * t + self.amp.component_mul(&self.arg(t).map(f64::sin))
    }

    fn velocity(&self, t: f64) -> Vector3<f64> {
        self.v0
            + self
                .amp
                .component_mul(&self.freq)
                .component_mul(&self.arg(t).map(f64::cos))
    }

    fn acceleration(&self, t: f64) -> Vector3<f64> {
        -self
            .amp
            .component_mul(&self.freq.component_mul(&self.freq))
            .component_mul(&self.arg(t).map(f64::sin))
    }

    fn state(&self, t: f64) -> NavState {
        NavState {
            rotation: UnitQuaternion::from_rotation_matrix(&self.rotation(t)),
            position: self.position(t),
            velocity: self.velocity(t),
        }
    }

    /// Exact measurements (plus `bias`) at `rate_hz` from time 0 to `t_end`.
    fn samples(&self, rate_hz: f64, t_end: f64, bias: &ImuBias) -> Vec<ImuSample> {
        let period_ns = (1e9 / rate_hz).round() as i64;
        let count = (t_end * rate_hz).ceil() as i64 + 1;
        (0..count)
            .map(|k| {
                let t_ns = k * period_ns;
                let t = t_ns as f64 * 1e-9;
                let r = self.rotation(t);
                ImuSample {
                    t_ns,
                    gyro: self.omega_body(t) + bias.gyro,
                    accel: r.inverse() * (self.acceleration(t) - gravity_world()) + bias.accel,
                }
            })
            .collect()
    }

    /// The true deltas between `ti` and `tj` (eq. 33 solved for them).
    fn deltas(&self, ti: f64, tj: f64) -> (Rotation3<f64>, Vector3<f64>, Vector3<f64>) {
        let dt = tj - ti;
        let g = gravity_world();
        let ri_t = self.rotation(ti).inverse();
        (
            ri_t * self.rotation(tj),
            ri_t * (self.velocity(tj) - self.velocity(ti) - g * dt),
            ri_t * (self.position(tj)
                - self.position(ti)
                - self.velocity(ti) * dt
                - g * (0.5 * dt * dt)),
        )
    }
}

fn bias() -> ImuBias {
    ImuBias {
        gyro: Vector3::new(0.01, -0.02, 0.015),
        accel: Vector3::new(0.1, -0.05, 0.2),
    }
}

fn euroc_noise() -> ImuNoise {
    ImuNoise::from(&datasets::ImuCalibration::euroc_adis16448())
}

fn ns(t: f64) -> i64 {
    (t * 1e9).round() as i64
}

/// Errors (rad, m/s, m) of a preintegration against deltas.
fn errors(
    pre: &Preintegrated,
    truth: &(Rotation3<f64>, Vector3<f64>, Vector3<f64>),
) -> (f64, f64, f64) {
    (
        so3_log(&(truth.0.inverse() * pre.delta_r)).norm(),
        (pre.delta_v - truth.1).norm(),
        (pre.delta_p - truth.2).norm(),
    )
}

/// SplitMix64 with Box-Muller normals: deterministic, no dependency.
struct TestRng(u64);

impl TestRng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn gaussian(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn gaussian3(&mut self) -> Vector3<f64> {
        Vector3::new(self.gaussian(), self.gaussian(), self.gaussian())
    }
}

/// Forster's eq. 35 as printed (acceleration rotated with the attitude at the
/// start of the step), deltas only: the reference the mid-step rotation improves on.
fn forster_euler_deltas(
    samples: &[ImuSample],
    t0_ns: i64,
    t1_ns: i64,
    bias: &ImuBias,
) -> (Rotation3<f64>, Vector3<f64>, Vector3<f64>) {
    let (mut r, mut v, mut p) = (Rotation3::identity(), Vector3::zeros(), Vector3::zeros());
    for pair in samples.windows(2) {
        let [a, b] = pair else { continue };
        let (lo, hi) = (a.t_ns.max(t0_ns), b.t_ns.min(t1_ns));
        if hi <= lo {
            continue;
        }
        let x = 0.5 * ((lo - a.t_ns) + (hi - a.t_ns)) as f64 / (b.t_ns - a.t_ns) as f64;
        let w = a.gyro + (b.gyro - a.gyro) * x - bias.gyro;
        let acc = a.accel + (b.accel - a.accel) * x - bias.accel;
        let dt = (hi - lo) as f64 * 1e-9;
        p += v * dt + r * acc * (0.5 * dt * dt);
        v += r * acc * dt;
        r *= so3_exp(&(w * dt));
    }
    (r, v, p)
}

#[test]
fn preintegration_matches_exact_motion_to_second_order() {
    let motion = Motion::new();
    let b = bias();
    let noise = euroc_noise();
    // Starts between samples at both rates, so the interpolation is exercised.
    let t0 = 0.3017;
    let mut worst = [[0.0_f64; 3]; 2];
    for (length_index, length) in [0.5, 2.0].into_iter().enumerate() {
        let mut errs = Vec::new();
        for rate in [200.0, 400.0] {
            let samples = motion.samples(rate, 3.0, &b);
            let mut pre = Preintegrated::new(&b);
            pre.integrate_samples(&samples, ns(t0), ns(t0 + length), &noise)
                .unwrap_or_else(|e| panic!("{e}"));
            assert!((pre.dt - length).abs() < 1e-12, "{}", pre.dt);
            let truth = motion.deltas(t0, t0 + length);
            let e = errors(&pre, &truth);
            let euler = forster_euler_deltas(&samples, ns(t0), ns(t0 + length), &b);
            let euler_v = (euler.1 - truth.1).norm();
            let euler_p = (euler.2 - truth.2).norm();
            println!(
                "{length} s at {rate} Hz: rotation {:.2e} rad, velocity {:.2e} m/s, \
                 position {:.2e} m (start-of-step rotation: velocity {euler_v:.2e} m/s, \
                 position {euler_p:.2e} m)",
                e.0, e.1, e.2
            );
            // The mid-step rotation of the acceleration is what makes the scheme
            // second order: the start-of-step variant is far worse at 200 Hz.
            if rate == 200.0 {
                assert!(e.1 * 20.0 < euler_v, "{} vs {euler_v}", e.1);
                worst[length_index] = [e.0, e.1, e.2];
            }
            // Predicting the end state and the residual there agree with the deltas.
            let end = pre.predict(&motion.state(t0), &b);
            let truth_end = motion.state(t0 + length);
            let (r, _, _) = imu_residual(&pre, &motion.state(t0), &b, &truth_end);
            let residual_r = r.fixed_rows::<3>(0).norm();
            assert!((residual_r - e.0).abs() < 1e-12, "{residual_r} vs {}", e.0);
            assert!(((end.velocity - truth_end.velocity).norm() - e.1).abs() < 1e-9);
            assert!(((end.position - truth_end.position).norm() - e.2).abs() < 1e-9);
            // Orthonormality after up to 800 compositions.
            let m = pre.delta_r.matrix();
            assert!((m.transpose() * m - nalgebra::Matrix3::identity()).amax() < 1e-14);
            errs.push(e);
        }
        // Halving dt divides the errors by about 4 (second order).
        let ratio = |a: f64, b: f64| a / b;
        let (r_rot, r_vel, r_pos) = (
            ratio(errs[0].0, errs[1].0),
            ratio(errs[0].1, errs[1].1),
            ratio(errs[0].2, errs[1].2),
        );
        println!("{length} s: error ratio 200 Hz / 400 Hz: {r_rot:.2} {r_vel:.2} {r_pos:.2}");
        for ratio in [r_rot, r_vel, r_pos] {
            assert!((3.5..4.5).contains(&ratio), "{ratio}");
        }
    }
    // Tolerances at 200 Hz: about twice the measured errors (printed above; the
    // scheme is deterministic, so the margin only covers platform rounding and
    // small edits). They are far below what the EuRoC IMU noise adds over the
    // same time (2 s: 2.4e-4 rad, 2.8e-3 m/s, 2.3e-3 m, 1 sigma).
    let limits = [[5e-6, 2e-5, 8e-6], [1e-5, 5e-5, 2e-5]];
    for (w, l) in worst.iter().zip(limits) {
        for (e, l) in w.iter().zip(l) {
            assert!(e < &l, "{w:?} vs {l:?}");
        }
    }
}

#[test]
fn preintegration_matches_a_noise_free_synthetic_sequence() {
    // The world, trajectory and IMU of a medium `SyntheticSequence`, built from its
    // components: `SyntheticSequence::generate` would also make the textures
    // (about 2 s here in the test profile), which the IMU does not need.
    use datasets::synth::imu::{ImuNoiseConfig, simulate_imu};
    use datasets::synth::trajectory::Trajectory;
    use datasets::synth::world::World;
    use datasets::synth::{Difficulty, SynthConfig};
    let cfg = SynthConfig {
        seed: 3,
        duration_s: 8.0,
        hover_s: 0.5,
        difficulty: Difficulty::Medium,
        imu_noise: ImuNoiseConfig {
            noise_scale: 0.0,
            ..ImuNoiseConfig::default()
        },
        ..SynthConfig::default()
    };
    let started = std::time::Instant::now();
    let world = World::generate(&cfg.world_config(), cfg.seed).unwrap_or_else(|e| panic!("{e}"));
    let trajectory = Trajectory::generate(&world, &cfg.trajectory_config(), cfg.seed)
        .unwrap_or_else(|e| panic!("{e}"));
    let calibration = datasets::ImuCalibration::euroc_adis16448();
    let period_ns = 5_000_000;
    let start_ns = cfg.start_time_ns;
    let sim = simulate_imu(
        &trajectory,
        &calibration,
        &cfg.imu_noise,
        start_ns,
        period_ns,
        1600,
        cfg.seed,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "world, trajectory and IMU: {:.3} s",
        started.elapsed().as_secs_f64()
    );
    let noise = ImuNoise::from(&calibration);
    let state = |k: usize| {
        let s = trajectory.state(k as f64 * period_ns as f64 * 1e-9);
        NavState {
            rotation: s.world_from_body.rotation,
            position: s.position,
            velocity: s.velocity,
        }
    };
    // Keyframes at IMU samples (as the camera frames are), 0.5 s and 1.5 s apart,
    // in full flight.
    for (i, j) in [(800, 900), (800, 1100)] {
        let (ti, tj) = (sim.samples[i].t_ns, sim.samples[j].t_ns);
        let (si, sj) = (state(i), state(j));
        let bias = sim.biases[i];
        assert_eq!(bias, sim.biases[j], "noise-free biases are constant");
        assert!(bias.accel.norm() > 0.01, "the bias is exercised");
        let mut pre = Preintegrated::new(&bias);
        pre.integrate_samples(&sim.samples, ti, tj, &noise)
            .unwrap_or_else(|e| panic!("{e}"));
        let (r, _, _) = imu_residual(&pre, &si, &bias, &sj);
        let (er, ev, ep) = (
            r.fixed_rows::<3>(0).norm(),
            r.fixed_rows::<3>(3).norm(),
            r.fixed_rows::<3>(6).norm(),
        );
        let moved = (sj.position - si.position).norm();
        let turned = (si.rotation.inverse() * sj.rotation).angle();
        println!(
            "samples {i}..{j} ({:.2} s, {moved:.2} m, {turned:.2} rad): rotation {er:.2e} rad, \
             velocity {ev:.2e} m/s, position {ep:.2e} m",
            pre.dt
        );
        assert!(moved > 0.2 && turned > 0.05, "the body moves");
        // About twice the measured errors of the 1.5 s interval.
        assert!(er < 1.5e-6 && ev < 7e-6 && ep < 4e-6, "{er} {ev} {ep}");
    }
}

/// Integrates `samples` over `[t0, t1]` with `bias` as the linearization point.
fn preintegrate(samples: &[ImuSample], t0: f64, t1: f64, bias: &ImuBias) -> Preintegrated {
    let mut pre = Preintegrated::new(bias);
    pre.integrate_samples(samples, ns(t0), ns(t1), &euroc_noise())
        .unwrap_or_else(|e| panic!("{e}"));
    pre
}

#[test]
fn preintegration_bias_jacobians_match_re_integration() {
    let motion = Motion::new();
    let true_bias = bias();
    let samples = motion.samples(200.0, 2.0, &true_bias);
    let (t0, t1) = (0.2, 1.2);
    let b0 = ImuBias::default();
    let pre = preintegrate(&samples, t0, t1, &b0);
    let h = 1e-5;
    let mut worst: f64 = 0.0;
    for k in 0..6 {
        let shifted = |sign: f64| {
            let mut b = b0;
            if k < 3 {
                b.gyro[k] += sign * h;
            } else {
                b.accel[k - 3] += sign * h;
            }
            preintegrate(&samples, t0, t1, &b)
        };
        let (plus, minus) = (shifted(1.0), shifted(-1.0));
        let d_r = (so3_log(&(pre.delta_r.inverse() * plus.delta_r))
            - so3_log(&(pre.delta_r.inverse() * minus.delta_r)))
            / (2.0 * h);
        let d_v = (plus.delta_v - minus.delta_v) / (2.0 * h);
        let d_p = (plus.delta_p - minus.delta_p) / (2.0 * h);
        let (j_r, j_v, j_p) = if k < 3 {
            (
                pre.dr_dbg.column(k).into_owned(),
                pre.dv_dbg.column(k).into_owned(),
                pre.dp_dbg.column(k).into_owned(),
            )
        } else {
            (
                Vector3::zeros(),
                pre.dv_dba.column(k - 3).into_owned(),
                pre.dp_dba.column(k - 3).into_owned(),
            )
        };
        for (numeric, analytic) in [(d_r, j_r), (d_v, j_v), (d_p, j_p)] {
            let err = (numeric - analytic).norm();
            worst = worst.max(err);
            assert!(err < 1e-7 * analytic.norm().max(1.0), "bias {k}: {err}");
        }
    }
    println!("bias Jacobians vs central differences (h = {h}): max error {worst:.2e}");

    // A realistic bias change (and half of it): the first-order correction
    // against re-integration. Its remainder is second order in the change.
    let mut remainders = Vec::new();
    for scale in [1.0, 0.5] {
        let changed = ImuBias {
            gyro: true_bias.gyro * scale,
            accel: true_bias.accel * scale,
        };
        let reintegrated = preintegrate(&samples, t0, t1, &changed);
        let (r, v, p) = pre.corrected(&changed);
        let corrected = [
            so3_log(&(reintegrated.delta_r.inverse() * r)).norm(),
            (reintegrated.delta_v - v).norm(),
            (reintegrated.delta_p - p).norm(),
        ];
        let uncorrected = [
            so3_log(&(reintegrated.delta_r.inverse() * pre.delta_r)).norm(),
            (reintegrated.delta_v - pre.delta_v).norm(),
            (reintegrated.delta_p - pre.delta_p).norm(),
        ];
        println!(
            "bias change |dbg| {:.4} rad/s, |dba| {:.3} m/s^2 over 1 s: uncorrected \
             {:.2e} rad, {:.2e} m/s, {:.2e} m; corrected {:.2e} rad, {:.2e} m/s, {:.2e} m",
            changed.gyro.norm(),
            changed.accel.norm(),
            uncorrected[0],
            uncorrected[1],
            uncorrected[2],
            corrected[0],
            corrected[1],
            corrected[2],
        );
        for (c, u) in corrected.iter().zip(&uncorrected) {
            assert!(c * 100.0 < *u, "{c} vs {u}");
        }
        remainders.push(corrected);
    }
    // About 1.5x the measured remainders for the full change.
    let [er, ev, ep] = remainders[0];
    assert!(er < 8e-5 && ev < 2.2e-3 && ep < 8e-4, "{er} {ev} {ep}");
    for (full, half) in remainders[0].iter().zip(&remainders[1]) {
        let ratio = full / half;
        assert!((3.5..4.5).contains(&ratio), "remainder ratio {ratio}");
    }
}

/// Applies a 15-dim error-state perturbation `[dtheta, dp, dv, dbg, dba]`.
fn perturb(state: &NavState, bias: &ImuBias, d: &SVector<f64, 15>) -> (NavState, ImuBias) {
    let dtheta = Vector3::new(d[0], d[1], d[2]);
    (
        NavState {
            rotation: state.rotation * UnitQuaternion::from_rotation_matrix(&so3_exp(&dtheta)),
            position: state.position + Vector3::new(d[3], d[4], d[5]),
            velocity: state.velocity + Vector3::new(d[6], d[7], d[8]),
        },
        ImuBias {
            gyro: bias.gyro + Vector3::new(d[9], d[10], d[11]),
            accel: bias.accel + Vector3::new(d[12], d[13], d[14]),
        },
    )
}

#[test]
fn preintegration_residual_jacobians_match_central_differences() {
    let motion = Motion::new();
    let samples = motion.samples(200.0, 2.0, &bias());
    let pre = preintegrate(&samples, 0.4, 1.4, &bias());
    let mut rng = TestRng(7);
    let state_i = NavState {
        rotation: UnitQuaternion::from_rotation_matrix(&so3_exp(&(rng.gaussian3() * 1.0))),
        position: rng.gaussian3() * 3.0,
        velocity: rng.gaussian3(),
    };
    // Keyframe i's bias away from the linearization point.
    let bias_i = ImuBias {
        gyro: pre.bias.gyro + rng.gaussian3() * 0.02,
        accel: pre.bias.accel + rng.gaussian3() * 0.2,
    };
    let predicted = pre.predict(&state_i, &bias_i);
    let state_j = NavState {
        rotation: predicted.rotation
            * UnitQuaternion::from_rotation_matrix(&so3_exp(&(rng.gaussian3() * 0.05))),
        position: predicted.position + rng.gaussian3() * 0.1,
        velocity: predicted.velocity + rng.gaussian3() * 0.1,
    };
    let (r, jac_i, jac_j) = imu_residual(&pre, &state_i, &bias_i, &state_j);
    assert!(r.norm() > 0.05, "{}", r.norm());
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for k in 0..30 {
        let mut d = SVector::<f64, 15>::zeros();
        d[k % 15] = h;
        let residual = |d: &SVector<f64, 15>| {
            if k < 15 {
                let (si, bi) = perturb(&state_i, &bias_i, d);
                imu_residual(&pre, &si, &bi, &state_j).0
            } else {
                let (sj, _) = perturb(&state_j, &bias_i, d);
                imu_residual(&pre, &state_i, &bias_i, &sj).0
            }
        };
        let numeric = (residual(&d) - residual(&-d)) / (2.0 * h);
        let analytic = if k < 15 {
            jac_i.column(k).into_owned()
        } else {
            jac_j.column(k - 15).into_owned()
        };
        let err = (numeric - analytic).amax();
        worst = worst.max(err);
        assert!(err < 1e-7, "column {k}: {err}\n{numeric}\n{analytic}");
    }
    println!(
        "residual {:.3}: 30 Jacobian columns vs central differences, max error {worst:.2e}",
        r.norm()
    );
}

#[test]
fn preintegration_residual_vanishes_at_the_predicted_state() {
    let motion = Motion::new();
    let samples = motion.samples(200.0, 2.0, &bias());
    let pre = preintegrate(&samples, 0.4, 1.4, &ImuBias::default());
    let state_i = motion.state(0.4);
    for b in [ImuBias::default(), bias()] {
        let predicted = pre.predict(&state_i, &b);
        let (r, _, _) = imu_residual(&pre, &state_i, &b, &predicted);
        assert!(r.amax() < 1e-12, "{r}");
    }
}

#[test]
fn preintegration_covariance_matches_monte_carlo() {
    let motion = Motion::new();
    let b = bias();
    let rate = 200.0;
    let clean = motion.samples(rate, 1.0, &b);
    // Noise chosen so that the gyro noise's coupling into v and p through
    // gravity is as large as the accelerometer's own contribution.
    let noise = ImuNoise {
        gyro_noise_density: 0.01,
        accel_noise_density: 0.02,
        gyro_random_walk: 0.0,
        accel_random_walk: 0.0,
    };
    let (t0, t1) = (0.3, 0.5);
    let mut reference = Preintegrated::new(&b);
    reference
        .integrate_samples(&clean, ns(t0), ns(t1), &noise)
        .unwrap_or_else(|e| panic!("{e}"));
    let sigma = reference.covariance;
    let (state_i, state_j) = (motion.state(t0), motion.state(t1));

    let runs = 2000;
    let mut rng = TestRng(42);
    let mut noisy = clean.clone();
    let dt = 1.0 / rate;
    let (sg, sa) = (
        noise.gyro_noise_density / dt.sqrt(),
        noise.accel_noise_density / dt.sqrt(),
    );
    let mut sum = Vector9::zeros();
    let mut sum_sq = Matrix9::zeros();
    let mut nees = 0.0;
    let Some(info) = sigma.try_inverse() else {
        panic!("singular covariance")
    };
    let mut pre = Preintegrated::new(&b);
    for _ in 0..runs {
        for (n, c) in noisy.iter_mut().zip(&clean) {
            n.gyro = c.gyro + rng.gaussian3() * sg;
            n.accel = c.accel + rng.gaussian3() * sa;
        }
        pre.reset(&b);
        pre.integrate_samples(&noisy, ns(t0), ns(t1), &noise)
            .unwrap_or_else(|e| panic!("{e}"));
        let (r, _, _) = imu_residual(&pre, &state_i, &b, &state_j);
        sum += r;
        sum_sq += r * r.transpose();
        nees += (r.transpose() * info * r)[0];
    }
    let n = runs as f64;
    let mean = sum / n;
    let sample = (sum_sq - mean * mean.transpose() * n) / (n - 1.0);
    let mut worst_diag: f64 = 0.0;
    let mut worst_corr: f64 = 0.0;
    let mut worst_mean: f64 = 0.0;
    for a in 0..9 {
        worst_diag = worst_diag.max((sample[(a, a)] / sigma[(a, a)] - 1.0).abs());
        worst_mean = worst_mean.max(mean[a].abs() / sigma[(a, a)].sqrt());
        for c in 0..a {
            let rho_s = sample[(a, c)] / (sample[(a, a)] * sample[(c, c)]).sqrt();
            let rho = sigma[(a, c)] / (sigma[(a, a)] * sigma[(c, c)]).sqrt();
            worst_corr = worst_corr.max((rho_s - rho).abs());
        }
    }
    let nees = nees / n;
    println!(
        "Monte Carlo, {runs} runs over {:.1} s: sigma diag {:.2e}; diagonal relative error \
         max {worst_diag:.3}, correlation error max {worst_corr:.3}, |mean| max \
         {worst_mean:.3} sigma, NEES {nees:.2} (9 expected)",
        t1 - t0,
        sigma.diagonal().map(f64::sqrt).transpose()
    );
    // The sampling spread of a variance from 2000 runs is 3.2 % (1 sigma), of a
    // correlation at most 0.022, of a mean 0.022 sigma, of the mean NEES 0.095.
    assert!(worst_diag < 0.15, "{worst_diag}");
    assert!(worst_corr < 0.1, "{worst_corr}");
    assert!(worst_mean < 0.1, "{worst_mean}");
    assert!((nees - 9.0).abs() < 0.5, "{nees}");
    // The gyro noise's coupling is significant: velocity is correlated with angle.
    let corr_v_theta = (0..3)
        .flat_map(|a| (3..6).map(move |c| (a, c)))
        .map(|(a, c)| (sigma[(a, c)] / (sigma[(a, a)] * sigma[(c, c)]).sqrt()).abs())
        .fold(0.0, f64::max);
    assert!(corr_v_theta > 0.3, "{corr_v_theta}");
}

#[test]
fn preintegration_append_equals_integrating_the_whole_interval() {
    let motion = Motion::new();
    let b = bias();
    let samples = motion.samples(200.0, 2.0, &b);
    let noise = euroc_noise();
    // Starts and ends between samples; the joins are sample times.
    let (t0, t1) = (ns(0.2013), ns(1.5071));
    let joins = [ns(0.6), ns(1.1)];
    let mut whole = Preintegrated::new(&b);
    whole
        .integrate_samples(&samples, t0, t1, &noise)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut pieces = Preintegrated::new(&b);
    let mut from = t0;
    for to in joins.into_iter().chain([t1]) {
        let mut piece = Preintegrated::new(&b);
        piece
            .integrate_samples(&samples, from, to, &noise)
            .unwrap_or_else(|e| panic!("{e}"));
        pieces.append(&piece);
        from = to;
    }
    let rel = |a: &[f64], b: &[f64]| -> f64 {
        let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
        a.iter()
            .zip(b)
            .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
            / scale
    };
    let pairs: [(&str, &[f64], &[f64]); 9] = [
        (
            "delta_r",
            pieces.delta_r.matrix().as_slice(),
            whole.delta_r.matrix().as_slice(),
        ),
        (
            "delta_v",
            pieces.delta_v.as_slice(),
            whole.delta_v.as_slice(),
        ),
        (
            "delta_p",
            pieces.delta_p.as_slice(),
            whole.delta_p.as_slice(),
        ),
        (
            "covariance",
            pieces.covariance.as_slice(),
            whole.covariance.as_slice(),
        ),
        ("dr_dbg", pieces.dr_dbg.as_slice(), whole.dr_dbg.as_slice()),
        ("dv_dbg", pieces.dv_dbg.as_slice(), whole.dv_dbg.as_slice()),
        ("dv_dba", pieces.dv_dba.as_slice(), whole.dv_dba.as_slice()),
        ("dp_dbg", pieces.dp_dbg.as_slice(), whole.dp_dbg.as_slice()),
        ("dp_dba", pieces.dp_dba.as_slice(), whole.dp_dba.as_slice()),
    ];
    let mut worst: f64 = 0.0;
    for (name, a, w) in pairs {
        let e = rel(a, w);
        worst = worst.max(e);
        assert!(e < 1e-9, "{name}: {e}");
    }
    println!("append vs whole: max relative difference {worst:.2e}");
    assert!((pieces.dt - whole.dt).abs() < 1e-12);
}

#[test]
fn preintegration_rejects_bad_input_and_zero_length_is_identity() {
    let motion = Motion::new();
    let b = bias();
    let noise = euroc_noise();
    let mut samples = motion.samples(200.0, 1.0, &b);
    let empty = Preintegrated::new(&b);
    let mut pre = Preintegrated::new(&b);
    let message = |r: Result<()>| match r {
        Err(VioError::Input(m)) => m,
        other => panic!("expected an input error, got {other:?}"),
    };

    let m = message(pre.integrate_samples(&samples, ns(0.5), ns(0.4), &noise));
    assert!(m.contains("500000000") && m.contains("400000000"), "{m}");
    let m = message(pre.integrate_samples(&samples, -1, ns(0.4), &noise));
    assert!(m.contains("[-1, 400000000]"), "{m}");
    let m = message(pre.integrate_samples(&samples, ns(0.5), ns(1.2), &noise));
    assert!(m.contains("1200000000"), "{m}");
    let m = message(pre.integrate_samples(&[], 0, 0, &noise));
    assert!(m.contains("no IMU samples"), "{m}");
    assert_eq!(pre, empty, "nothing integrated on errors");

    // Zero-length intervals, at a sample and between samples.
    pre.integrate_samples(&samples, ns(0.5), ns(0.5), &noise)
        .unwrap_or_else(|e| panic!("{e}"));
    pre.integrate_samples(&samples, ns(0.5023), ns(0.5023), &noise)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pre, empty);
    pre.integrate(&Vector3::x(), &Vector3::y(), 0.0, &noise);
    pre.integrate(&Vector3::x(), &Vector3::y(), f64::NAN, &noise);
    assert_eq!(pre, empty);

    // A non-finite sample inside the interval (or bracketing it) is refused; one
    // outside is not used.
    samples[100].accel.y = f64::NAN;
    let m = message(pre.integrate_samples(&samples, ns(0.45), ns(0.55), &noise));
    assert!(m.contains("500000000") && m.contains("not finite"), "{m}");
    let m = message(pre.integrate_samples(&samples, ns(0.3), ns(0.4999), &noise));
    assert!(m.contains("not finite"), "{m}");
    assert_eq!(pre, empty);
    pre.integrate_samples(&samples, ns(0.3), ns(0.495), &noise)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(pre.dt > 0.19 && pre.delta_v.iter().all(|x| x.is_finite()));
    samples[100].accel.y = 0.0;

    // Out of order.
    samples.swap(60, 61);
    let m = message(pre.integrate_samples(&samples, ns(0.2), ns(0.4), &noise));
    assert!(m.contains("300000000") && m.contains("305000000"), "{m}");
}

#[test]
fn preintegration_noise_from_calibration() {
    let c = datasets::ImuCalibration::euroc_adis16448();
    let n = ImuNoise::from(&c);
    assert_eq!(n.gyro_noise_density, c.gyro_noise_density);
    assert_eq!(n.accel_noise_density, c.accel_noise_density);
    assert_eq!(n.gyro_random_walk, c.gyro_random_walk);
    assert_eq!(n.accel_random_walk, c.accel_random_walk);
}

/// Holding the last sample: with a constant measurement, integrating to a
/// sample and holding it 20 ms further equals integrating samples that
/// reach the end (to the scheme's second order: one 20 ms step against four
/// of 5 ms while turning); a hold longer than allowed is refused, and nothing is
/// integrated then.
#[test]
fn preintegration_holds_the_last_sample_up_to_the_limit() {
    let noise = euroc_noise();
    let b = bias();
    let constant = |t_ns: i64| ImuSample {
        t_ns,
        gyro: Vector3::new(0.3, -0.2, 0.1),
        accel: Vector3::new(0.5, 0.2, 9.7),
    };
    let full: Vec<ImuSample> = (0..=30).map(|k| constant(k * 5_000_000)).collect();
    let short = &full[..27]; // to 130 ms
    let mut reference = Preintegrated::new(&b);
    reference
        .integrate_samples(&full, 10_000_000, 150_000_000, &noise)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut held = Preintegrated::new(&b);
    held.integrate_samples_holding(short, 10_000_000, 150_000_000, 20_000_000, &noise)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!((held.dt - reference.dt).abs() < 1e-12);
    assert!((held.delta_p - reference.delta_p).norm() < 1e-5);
    assert!((held.delta_v - reference.delta_v).norm() < 1e-6);
    // (`angle_to` resolves about 3e-8 rad near zero.)
    assert!(held.delta_r.angle_to(&reference.delta_r) < 1e-7);
    // An interval that starts after the last sample, within the hold.
    let mut after = Preintegrated::new(&b);
    after
        .integrate_samples_holding(short, 135_000_000, 145_000_000, 20_000_000, &noise)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!((after.dt - 0.010).abs() < 1e-12);
    // Too far past the last sample.
    let mut refused = Preintegrated::new(&b);
    assert!(
        refused
            .integrate_samples_holding(short, 10_000_000, 151_000_000, 20_000_000, &noise)
            .is_err()
    );
    assert_eq!(refused, Preintegrated::new(&b));
}
