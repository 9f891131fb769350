//! Sensor health: what the sensors' streams say about themselves before any
//! estimate is made from them.
//!
//! [`SensorHealth`] watches the IMU samples and the stereo frames as the
//! back end gets them and reports [`SensorFault`]s with their times:
//!
//! - **IMU gap**: two consecutive samples further apart than
//!   [`HealthConfig::imu_gap_s`] (a 200 Hz IMU has 5 ms between samples;
//!   preintegration bridges a gap with the last sample held, which over a
//!   second or more is no measurement at all).
//! - **IMU sample out of range**: a rate or a specific force beyond what the
//!   sensor can report ([`HealthConfig::max_gyro_rad_s`],
//!   [`HealthConfig::max_accel_m_s2`]: a MEMS IMU saturates near 2000 deg/s
//!   and 16 g, the EuRoC ADIS16448 at 1000 deg/s and 18 g). Such a sample is
//!   a transmission or driver error; the caller drops it (one sample of
//!   1e300 integrated used to cost 41 frames and a re-initialization).
//! - **Camera gap**: two consecutive frames further apart than
//!   [`HealthConfig::camera_gap_periods`] camera periods (dropped or
//!   missing pairs).
//!
//! Units: times in ns on the sensors' clock, rates in rad/s, specific force
//! in m/s^2 (IMU frame). The checks are the sensors' own; what the estimator
//! makes of a fault (visual-only tracking across an IMU gap) is the back
//! end's.

use datasets::ImuSample;
use serde::{Deserialize, Serialize};

use crate::{Result, VioError};

/// Limits of [`SensorHealth`] (`[health]` in the pipeline file).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Longest interval between two IMU samples that is not a gap, s.
    pub imu_gap_s: f64,
    /// Largest plausible angular rate on any axis, rad/s.
    pub max_gyro_rad_s: f64,
    /// Largest plausible specific force on any axis, m/s^2.
    pub max_accel_m_s2: f64,
    /// Longest interval between two frames that is not a gap, in camera
    /// periods (of the calibrated rate).
    pub camera_gap_periods: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            // Ten samples at 200 Hz: jitter and a lost packet are not gaps.
            imu_gap_s: 0.05,
            // 2000 deg/s and 16 g, the widest ranges of common MEMS IMUs.
            max_gyro_rad_s: 35.0,
            max_accel_m_s2: 160.0,
            camera_gap_periods: 2.5,
        }
    }
}

impl HealthConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`VioError::Config`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        for (name, v, lo, hi) in [
            ("imu_gap_s", self.imu_gap_s, 1e-4, 60.0),
            ("max_gyro_rad_s", self.max_gyro_rad_s, 1.0, 1e3),
            ("max_accel_m_s2", self.max_accel_m_s2, 10.0, 1e4),
            ("camera_gap_periods", self.camera_gap_periods, 1.5, 1e3),
        ] {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(VioError::Config(format!(
                    "health.{name} must be in [{lo}, {hi}], got {v}"
                )));
            }
        }
        Ok(())
    }
}

/// A fault in a sensor's stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SensorFault {
    /// No IMU sample between two times, ns.
    ImuGap {
        /// The last sample before the gap.
        from_ns: i64,
        /// The first sample after it.
        to_ns: i64,
    },
    /// An IMU sample beyond the sensor's range (dropped).
    ImuOutOfRange {
        /// Its time.
        t_ns: i64,
        /// Its largest rate on an axis, rad/s.
        gyro_rad_s: f64,
        /// Its largest specific force on an axis, m/s^2.
        accel_m_s2: f64,
    },
    /// No stereo frame between two times, ns.
    CameraGap {
        /// The last frame before the gap.
        from_ns: i64,
        /// The first frame after it.
        to_ns: i64,
    },
}

impl SensorFault {
    /// When it began, ns.
    #[must_use]
    pub fn t_ns(&self) -> i64 {
        match *self {
            Self::ImuGap { from_ns, .. } | Self::CameraGap { from_ns, .. } => from_ns,
            Self::ImuOutOfRange { t_ns, .. } => t_ns,
        }
    }

    /// How long it lasted, s (0 for a single sample).
    #[must_use]
    pub fn duration_s(&self) -> f64 {
        match *self {
            Self::ImuGap { from_ns, to_ns } | Self::CameraGap { from_ns, to_ns } => {
                to_ns.saturating_sub(from_ns) as f64 * 1e-9
            }
            Self::ImuOutOfRange { .. } => 0.0,
        }
    }
}

/// Watches the IMU and camera streams ([module docs](self)).
#[derive(Debug, Clone)]
pub struct SensorHealth {
    config: HealthConfig,
    imu_gap_ns: i64,
    camera_gap_ns: i64,
    last_imu_ns: Option<i64>,
    last_frame_ns: Option<i64>,
    /// Faults found since the last [`Self::take_faults`].
    pending: Vec<SensorFault>,
}

impl SensorHealth {
    /// A monitor for a camera at `camera_rate_hz`.
    ///
    /// # Errors
    /// [`VioError::Config`] when a limit or the rate is out of range.
    pub fn new(config: HealthConfig, camera_rate_hz: f64) -> Result<Self> {
        config.validate()?;
        if !(camera_rate_hz.is_finite() && (0.1..=1e4).contains(&camera_rate_hz)) {
            return Err(VioError::Config(format!(
                "the camera rate must be in [0.1, 10000] Hz, got {camera_rate_hz}"
            )));
        }
        Ok(Self {
            config,
            imu_gap_ns: (config.imu_gap_s * 1e9).round() as i64,
            camera_gap_ns: (config.camera_gap_periods / camera_rate_hz * 1e9).round() as i64,
            last_imu_ns: None,
            last_frame_ns: None,
            pending: Vec::new(),
        })
    }

    /// Checks one IMU sample (time-ordered); `false` when it is out of range
    /// and must be dropped.
    pub fn check_imu(&mut self, sample: &ImuSample) -> bool {
        let finite = sample
            .gyro
            .iter()
            .chain(sample.accel.iter())
            .all(|v| v.is_finite());
        let gyro = sample.gyro.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let accel = sample.accel.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if !(finite && gyro <= self.config.max_gyro_rad_s && accel <= self.config.max_accel_m_s2) {
            self.pending.push(SensorFault::ImuOutOfRange {
                t_ns: sample.t_ns,
                gyro_rad_s: gyro,
                accel_m_s2: accel,
            });
            return false;
        }
        if let Some(last) = self.last_imu_ns
            && sample.t_ns.saturating_sub(last) > self.imu_gap_ns
        {
            self.pending.push(SensorFault::ImuGap {
                from_ns: last,
                to_ns: sample.t_ns,
            });
        }
        self.last_imu_ns = Some(sample.t_ns);
        true
    }

    /// Checks a frame's time (time-ordered).
    pub fn check_frame(&mut self, t_ns: i64) {
        if let Some(last) = self.last_frame_ns
            && t_ns.saturating_sub(last) > self.camera_gap_ns
        {
            self.pending.push(SensorFault::CameraGap {
                from_ns: last,
                to_ns: t_ns,
            });
        }
        self.last_frame_ns = Some(t_ns);
    }

    /// The faults found since the last call, oldest first.
    pub fn take_faults(&mut self) -> Vec<SensorFault> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::Vector3;

    use super::*;

    fn sample(t_ns: i64, gyro: f64, accel: f64) -> ImuSample {
        ImuSample {
            t_ns,
            gyro: Vector3::new(gyro, 0.0, 0.0),
            accel: Vector3::new(0.0, 0.0, accel),
        }
    }

    #[test]
    fn gaps_and_implausible_samples_are_reported_with_their_times() {
        let mut h =
            SensorHealth::new(HealthConfig::default(), 20.0).unwrap_or_else(|e| panic!("{e}"));
        let ms = 1_000_000;
        // 200 Hz for 1 s, then 1 s without a sample, then on.
        let mut t = 0;
        while t <= 1000 * ms {
            assert!(h.check_imu(&sample(t, 0.1, 9.81)));
            t += 5 * ms;
        }
        assert!(h.take_faults().is_empty());
        assert!(h.check_imu(&sample(2000 * ms, 0.1, 9.81)));
        assert_eq!(
            h.take_faults(),
            vec![SensorFault::ImuGap {
                from_ns: 1000 * ms,
                to_ns: 2000 * ms
            }]
        );
        // A sample of 1e300 and a NaN: dropped, reported, no gap after them.
        assert!(!h.check_imu(&sample(2005 * ms, 1e300, 9.81)));
        assert!(!h.check_imu(&sample(2010 * ms, 0.1, f64::NAN)));
        assert!(h.check_imu(&sample(2015 * ms, 0.1, 9.81)));
        let faults = h.take_faults();
        assert_eq!(faults.len(), 2, "{faults:?}");
        assert!(matches!(faults[0], SensorFault::ImuOutOfRange { t_ns, .. } if t_ns == 2005 * ms));
        assert!(faults[1].duration_s() == 0.0 && faults[1].t_ns() == 2010 * ms);
        // Frames at 20 Hz with one pair missing (100 ms): no gap at 2.5
        // periods; three missing (200 ms): a gap.
        for t in [0, 50, 100, 200, 400] {
            h.check_frame(t * ms);
        }
        let faults = h.take_faults();
        assert_eq!(
            faults,
            vec![SensorFault::CameraGap {
                from_ns: 200 * ms,
                to_ns: 400 * ms
            }]
        );
        assert!((faults[0].duration_s() - 0.2).abs() < 1e-12);
    }

    #[test]
    fn limits_out_of_range_are_refused_by_name() {
        for (cfg, name) in [
            (
                HealthConfig {
                    imu_gap_s: 0.0,
                    ..HealthConfig::default()
                },
                "imu_gap_s",
            ),
            (
                HealthConfig {
                    max_gyro_rad_s: f64::NAN,
                    ..HealthConfig::default()
                },
                "max_gyro_rad_s",
            ),
            (
                HealthConfig {
                    max_accel_m_s2: 1e300,
                    ..HealthConfig::default()
                },
                "max_accel_m_s2",
            ),
            (
                HealthConfig {
                    camera_gap_periods: 1.0,
                    ..HealthConfig::default()
                },
                "camera_gap_periods",
            ),
        ] {
            let e = SensorHealth::new(cfg, 20.0)
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert!(e.as_ref().is_err_and(|m| m.contains(name)), "{e:?}");
        }
        assert!(SensorHealth::new(HealthConfig::default(), 0.0).is_err());
    }
}
