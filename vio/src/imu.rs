//! Gyro-only rotation between two instants, for the front end's rotation prior.
//!
//! `body_t0_from_body_t1 = prod_k Exp((omega_k - b_g) dt_k)` over the IMU samples
//! covering `[t0, t1]` (body frame = IMU frame, rad/s), with the angular rate
//! interpolated linearly between samples and each piece integrated at its
//! midpoint (second order in dt). Full preintegration of rotation, velocity and
//! position with covariances comes with the back end (Forster et al., TRO 2017).
//!
//! [`covers_without_gap`] says whether samples can be integrated over an
//! interval at all: an interval the stream has a gap in (see
//! [`crate::health`]) would be bridged by interpolating across the gap,
//! which over a tenth of a second or more is no measurement.

use datasets::ImuSample;
use nalgebra::{UnitQuaternion, Vector3};

/// The rotation of the body from `t0_ns` to `t1_ns`: `p_t0 = R p_t1` for a
/// direction fixed in the world. `samples` must be sorted by time and cover the
/// interval (the first at or before `t0`, the last at or after `t1`); `None`
/// otherwise or when `t1 < t0`.
#[must_use]
pub fn integrate_gyro(
    samples: &[ImuSample],
    t0_ns: i64,
    t1_ns: i64,
    gyro_bias: &Vector3<f64>,
) -> Option<UnitQuaternion<f64>> {
    if t1_ns < t0_ns {
        return None;
    }
    let first = samples.first()?;
    let last = samples.last()?;
    if first.t_ns > t0_ns || last.t_ns < t1_ns {
        return None;
    }
    let rate_at = |t: i64| -> Vector3<f64> {
        let i = samples.partition_point(|s| s.t_ns <= t);
        match (samples.get(i.wrapping_sub(1)), samples.get(i)) {
            (Some(a), Some(b)) if b.t_ns > a.t_ns => {
                let w = (t - a.t_ns) as f64 / (b.t_ns - a.t_ns) as f64;
                a.gyro * (1.0 - w) + b.gyro * w
            }
            (Some(a), _) => a.gyro,
            (None, Some(b)) => b.gyro,
            (None, None) => Vector3::zeros(),
        }
    };
    let mut q = UnitQuaternion::identity();
    let mut t = t0_ns;
    let start = samples.partition_point(|s| s.t_ns <= t0_ns);
    let knots = samples[start..]
        .iter()
        .map(|s| s.t_ns)
        .take_while(|&ts| ts < t1_ns)
        .chain(std::iter::once(t1_ns));
    for t_next in knots {
        if t_next <= t {
            continue;
        }
        let dt = (t_next - t) as f64 * 1e-9;
        let mid = t + (t_next - t) / 2;
        let omega = rate_at(mid) - gyro_bias;
        q *= UnitQuaternion::from_scaled_axis(omega * dt);
        t = t_next;
    }
    Some(q)
}

/// Whether the time-ordered `samples` cover `[t0_ns, t1_ns]` with no gap
/// longer than `max_gap_ns`: one at or before `t0_ns`, no two consecutive
/// samples of the stretch further apart, and the last at or after `t1_ns`
/// or at most `max_gap_ns` before it (its measurement then held, as
/// [`crate::preintegration::Preintegrated::integrate_samples_holding`]
/// does: a stream whose IMU lags the cameras a little).
#[must_use]
pub fn covers_without_gap(samples: &[ImuSample], t0_ns: i64, t1_ns: i64, max_gap_ns: i64) -> bool {
    if t1_ns < t0_ns {
        return false;
    }
    let start = samples.partition_point(|s| s.t_ns <= t0_ns);
    let Some(first) = start.checked_sub(1) else {
        return false;
    };
    let end = samples
        .partition_point(|s| s.t_ns < t1_ns)
        .min(samples.len() - 1);
    let Some(stretch) = samples.get(first..=end) else {
        return false;
    };
    let reaches = stretch
        .last()
        .is_some_and(|s| t1_ns.saturating_sub(s.t_ns) <= max_gap_ns);
    reaches
        && stretch
            .windows(2)
            .all(|w| w[1].t_ns.saturating_sub(w[0].t_ns) <= max_gap_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_needs_samples_on_both_sides_and_no_gap_between() {
        // Every 5 ms from 0 to 500 ms, then nothing until 900 ms, then to 1 s.
        let mut imu = samples(|_| Vector3::zeros(), 101, 5_000_000);
        imu.extend(
            samples(|_| Vector3::zeros(), 21, 5_000_000)
                .into_iter()
                .map(|s| ImuSample {
                    t_ns: s.t_ns + 900_000_000,
                    ..s
                }),
        );
        let gap = 50_000_000;
        assert!(covers_without_gap(&imu, 12_000_000, 480_000_000, gap));
        assert!(covers_without_gap(&imu, 0, 500_000_000, gap));
        // Across the 400 ms gap, or ending in it (the sample after would be
        // interpolated across it).
        assert!(!covers_without_gap(&imu, 480_000_000, 920_000_000, gap));
        assert!(!covers_without_gap(&imu, 480_000_000, 510_000_000, gap));
        assert!(covers_without_gap(
            &imu,
            480_000_000,
            920_000_000,
            500_000_000
        ));
        // After the gap; past either end; backwards.
        assert!(covers_without_gap(&imu, 905_000_000, 1_000_000_000, gap));
        assert!(covers_without_gap(&imu, 905_000_000, 1_040_000_000, gap));
        assert!(!covers_without_gap(&imu, 905_000_000, 1_050_000_001, gap));
        assert!(!covers_without_gap(&imu, -1, 10_000_000, gap));
        assert!(!covers_without_gap(&imu, 20_000_000, 10_000_000, gap));
        assert!(!covers_without_gap(&[], 0, 0, gap));
    }

    fn samples(rate: impl Fn(f64) -> Vector3<f64>, n: usize, dt_ns: i64) -> Vec<ImuSample> {
        (0..n)
            .map(|i| {
                let t_ns = i as i64 * dt_ns;
                ImuSample {
                    t_ns,
                    gyro: rate(t_ns as f64 * 1e-9),
                    accel: Vector3::zeros(),
                }
            })
            .collect()
    }

    #[test]
    fn constant_rate_gives_the_exact_rotation_and_bias_is_removed() {
        let w = Vector3::new(0.3, -0.2, 0.5);
        let bias = Vector3::new(0.01, 0.02, -0.03);
        let imu = samples(|_| w + bias, 101, 5_000_000);
        // Between samples, 12.5 ms to 262.5 ms.
        let Some(q) = integrate_gyro(&imu, 12_500_000, 262_500_000, &bias) else {
            panic!("covered interval rejected")
        };
        let exact = UnitQuaternion::from_scaled_axis(w * 0.25);
        assert!(q.angle_to(&exact) < 1e-12, "{}", q.angle_to(&exact));
        assert!(integrate_gyro(&imu, 0, 600_000_000, &bias).is_none());
        assert!(integrate_gyro(&imu, 10, 5, &bias).is_none());
    }

    #[test]
    fn varying_rate_about_a_fixed_axis_integrates_the_angle() {
        // omega(t) = axis * (1 + sin t): angle = t + 1 - cos t over [0, T].
        let axis = Vector3::new(1.0, 2.0, 2.0) / 3.0;
        let imu = samples(|t| axis * (1.0 + t.sin()), 2001, 1_000_000);
        let Some(q) = integrate_gyro(&imu, 0, 2_000_000_000, &Vector3::zeros()) else {
            panic!()
        };
        let expected = UnitQuaternion::from_scaled_axis(axis * (2.0 + 1.0 - 2f64.cos()));
        assert!(q.angle_to(&expected) < 1e-6, "{}", q.angle_to(&expected));
    }
}
